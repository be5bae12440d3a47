"""Versioned pricing tables: load and verify, resolve (model, date, context) to prices.

Import from the submodules (``table``, ``bands``, ``store_tables``, ``manifest``); this
package imports nothing so ``python -m tokaudit.pricing.manifest`` runs cleanly.
"""
