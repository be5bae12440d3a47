"""Waste findings: one module per rule, run over the priced store."""

from __future__ import annotations

import math
from importlib import resources
from typing import Any

import duckdb
import yaml

from tokaudit.errors import ConfigError
from tokaudit.findings.billing_discrepancy import BillingDiscrepancy
from tokaudit.findings.common import CLAIMED
from tokaudit.findings.duplicate_requests import DuplicateRequests
from tokaudit.findings.interface import WasteRule
from tokaudit.findings.overkill_model import OverkillModel
from tokaudit.findings.uncached_prefix import UncachedPrefix
from tokaudit.models import Finding

# In the catalogue's precedence for counting dollars once (D04 > D01 > D09; D15 saves
# nothing): each rule leaves out of its savings the requests an earlier one counted.
RULES: list[WasteRule] = [
    DuplicateRequests(),
    UncachedPrefix(),
    OverkillModel(),
    BillingDiscrepancy(),
]


def default_settings() -> dict[str, Any]:
    text = resources.files("tokaudit.findings").joinpath("defaults.yaml").read_text("utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _checked(defaults: dict[str, Any], rule_id: str, values: Any) -> dict[str, Any]:
    """An override of one rule's thresholds, refused (ConfigError) unless it names a rule
    and keys that exist, each of its default's type: a typo must not pass silently."""
    if rule_id not in defaults:
        raise ConfigError(
            f"findings settings: unknown rule {rule_id!r} (rules: {', '.join(defaults)})"
        )
    if not isinstance(values, dict):
        raise ConfigError(f"findings settings: {rule_id} must be a mapping of thresholds")
    known = defaults[rule_id]
    for key, value in values.items():
        if key not in known:
            raise ConfigError(
                f"findings settings: {rule_id} has no threshold {key!r} "
                f"(thresholds: {', '.join(known)})"
            )
        default = known[key]
        numeric = (int, float) if isinstance(default, int | float) else (type(default),)
        if isinstance(value, bool) is not isinstance(default, bool) or not isinstance(
            value, numeric
        ):
            raise ConfigError(
                f"findings settings: {rule_id}.{key} must be like its default "
                f"{default!r}, got {value!r}"
            )
        problem = _threshold_problem(key, value)
        if problem:
            raise ConfigError(f"findings settings: {rule_id}.{key} {problem}, got {value!r}")
    return values


# Thresholds that count things (tokens, requests): whole numbers. The others (hours,
# minutes, ratios, percentages, shares) may have a fraction, and none may be negative.
_WHOLE = {"openai_increment", "min_requests", "max_user_input_tokens", "max_output_tokens"}
# Above any sensible threshold, and small enough that every rule's arithmetic fits its
# integers (a billion hours is 3.6e18 microseconds, under 2^63)
_LARGEST = 1_000_000_000


def _threshold_problem(key: str, value: Any) -> str | None:
    """Why a threshold's value is unusable, or None. A fraction where a whole number is
    meant was silently cut (window_hours 1.5 judged as 1), a negative turned a rule off."""
    if isinstance(value, dict):  # min_prefix_tokens (model -> tokens), routing (model -> model)
        for name, inner in value.items():
            if key == "routing" and not (isinstance(name, str) and isinstance(inner, str)):
                return "must map a model name to a model name"
            if key == "min_prefix_tokens" and (
                isinstance(inner, bool)
                or not isinstance(inner, int | float)
                or _threshold_problem("min_requests", inner)
            ):
                return f"must map a model name to a whole number of tokens ({name}: {inner!r})"
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # its type was checked against the default's
    if not math.isfinite(value) or value > _LARGEST:
        # YAML's .inf and .nan, or a value no rule can use (hours in microseconds and
        # counts in SQL integers overflowed, a NaN share turned D09 off: QA)
        return f"must be a finite number no greater than {_LARGEST:,}"
    if value < 0:
        return "cannot be negative"
    if key in _WHOLE and not float(value).is_integer():
        return "must be a whole number"
    if key == "min_candidate_share" and value > 1:
        return "is a share of the requests, from 0 to 1"
    return None


def with_overrides(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The default thresholds with ``overrides`` applied (ConfigError on a bad one)."""
    settings = default_settings()
    for rule_id, values in (overrides or {}).items():
        checked = _checked(settings, rule_id, values)
        settings[rule_id].update(checked)
    return settings


def run_rules(
    con: duckdb.DuckDBPyConnection, overrides: dict[str, Any] | None = None
) -> list[Finding]:
    """Every rule's findings, largest savings first, in a total order (same store, same
    output: findings with equal savings swapped places between runs)."""
    settings = with_overrides(overrides)
    con.execute(f"DROP TABLE IF EXISTS {CLAIMED}")
    try:
        found = [f for rule in RULES for f in rule.evaluate(con, settings.get(rule.rule_id, {}))]
    finally:
        con.execute(f"DROP TABLE IF EXISTS {CLAIMED}")
    return sorted(found, key=_order)


def _order(f: Finding) -> tuple[Any, ...]:
    """Savings, rule, then every identifying field (None before any text)."""
    named = ((value is not None, value or "") for value in (f.team, f.model, f.prompt))
    return (-f.savings_usd, f.rule_id, *named, f.kind, f.title, f.detail, f.requests)
