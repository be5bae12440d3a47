"""The DuckDB store: one file, a documented schema, stable views for ad-hoc SQL."""

from tokaudit.store.connection import open_store, open_store_read_only

__all__ = ["open_store", "open_store_read_only"]
