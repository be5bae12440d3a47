"""Waste findings: one module per rule, run over the priced store."""

from __future__ import annotations

from importlib import resources
from typing import Any

import duckdb
import yaml

from tokaudit.findings.billing_discrepancy import BillingDiscrepancy
from tokaudit.findings.duplicate_requests import DuplicateRequests
from tokaudit.findings.interface import WasteRule
from tokaudit.findings.overkill_model import OverkillModel
from tokaudit.findings.uncached_prefix import UncachedPrefix
from tokaudit.models import Finding

RULES: list[WasteRule] = [
    UncachedPrefix(),
    DuplicateRequests(),
    OverkillModel(),
    BillingDiscrepancy(),
]


def default_settings() -> dict[str, Any]:
    text = resources.files("tokaudit.findings").joinpath("defaults.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def run_rules(
    con: duckdb.DuckDBPyConnection, overrides: dict[str, Any] | None = None
) -> list[Finding]:
    """Every rule's findings, largest savings first."""
    settings = default_settings()
    for rule_id, values in (overrides or {}).items():
        settings.setdefault(rule_id, {}).update(values)
    found = [f for rule in RULES for f in rule.evaluate(con, settings.get(rule.rule_id, {}))]
    return sorted(found, key=lambda f: (-f.savings_usd, f.rule_id, f.team or "", f.model or ""))
