"""Read and validate a budget file; every error names the file, the budget and the key.

A budget has one limit: ``max_cost_usd`` (spend per period), ``max_cost_per_request_usd``
(the average cost of a priced request per period) or ``max_increase_pct`` with a
``metric`` (a regression against a baseline store, ``check --baseline``; whole stores only).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tokaudit.config_file import read_yaml, reject_unknown
from tokaudit.errors import ConfigError

PERIODS = ("day", "week", "month", "all")
# what a relative budget compares between the baseline store and the current one
METRICS = ("cost", "cost_per_request", "input_tokens_per_request", "output_tokens_per_request")
LIMITS = ("max_cost_usd", "max_cost_per_request_usd", "max_increase_pct")
KEYS = ("name", "period", "scope", *LIMITS, "metric")
# every attribution column a report groups by (docs/attribution.md): project is all a usage
# export (OpenAI project_id, Anthropic workspace_id) attributes its spend to
SCOPE_KEYS = ("team", "model", "prompt", "user", "feature", "project", "provider")


@dataclass(frozen=True)
class Budget:
    name: str
    period: str
    max_cost_usd: Decimal | None  # None: the budget has another limit
    scope: dict[str, str]
    max_cost_per_request_usd: Decimal | None = None
    max_increase_pct: Decimal | None = None  # set: compared with a baseline store
    metric: str = "cost"  # what is limited: spend, or one of METRICS for a relative budget

    @property
    def relative(self) -> bool:
        """Whether the budget compares the store with a baseline (``check --baseline``)."""
        return self.max_increase_pct is not None


def _limit(value: Any, where: str, key: str = "max_cost_usd") -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    try:
        limit = Decimal(str(value))  # str() keeps the digits the user wrote
    except InvalidOperation as exc:
        raise ConfigError(f"{where}: {key} {value!r} is not a number") from exc
    if not limit.is_finite():  # .inf, .nan: "no limit" is a budget left out
        raise ConfigError(
            f"{where}: {key} must be a finite amount, got {value!r} "
            "(leave the budget out for no limit)"
        )
    if limit < 0:
        raise ConfigError(f"{where}: {key} must be zero or more")
    return limit


def _limits(item: dict[Any, Any], period: str, where: str) -> dict[str, Any]:
    """The budget's one limit (and metric) as ``Budget`` keyword arguments."""
    given = [k for k in LIMITS if k in item]
    if not given:
        raise ConfigError(
            f"{where}: 'max_cost_usd' is required (or max_cost_per_request_usd, or "
            "max_increase_pct with a metric)"
        )
    if len(given) > 1:
        raise ConfigError(
            f"{where}: {' and '.join(given)} given together; a budget has one limit "
            "(write one budget per limit)"
        )
    key = given[0]
    limits: dict[str, Any] = {"max_cost_usd": None, key: _limit(item[key], where, key)}
    if key == "max_cost_per_request_usd":
        limits["metric"] = "cost_per_request"
    if key != "max_increase_pct":
        if "metric" in item:
            raise ConfigError(
                f"{where}: metric is for a relative budget (max_increase_pct); {key} limits "
                f"{limits.get('metric', 'cost')} already"
            )
        return limits
    metric = item.get("metric")
    if metric not in METRICS:
        raise ConfigError(
            f"{where}: max_increase_pct needs a metric: one of {', '.join(METRICS)}"
            + ("" if metric is None else f", got {metric!r}")
        )
    if period != "all":
        # the two stores hold different runs, usually of different dates: no day, week or
        # month of one has a counterpart in the other
        raise ConfigError(
            f"{where}: period {period!r}: a relative budget (max_increase_pct) compares the "
            "whole of each store; leave period out or write period: all"
        )
    limits["metric"] = metric
    return limits


def _scope(scope: dict[Any, Any], where: str) -> dict[str, str]:
    """Keys and values as written; a list, number or blank would silently match nothing."""
    bad = sorted(str(k) for k in scope if k not in SCOPE_KEYS)
    if bad:
        raise ConfigError(
            f"{where}: scope key(s) {', '.join(bad)} not one of {', '.join(SCOPE_KEYS)}"
        )
    for key, value in scope.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{where}: scope {key} must be a non-empty string, got {value!r} "
                "(quote a number; write one budget per value to cover several)"
            )
    return dict(scope)


def parse_budgets(data: Any, origin: str) -> list[Budget]:
    if not isinstance(data, dict) or not isinstance(data.get("budgets"), list):
        raise ConfigError(f"{origin}: expected a top-level 'budgets:' list")
    reject_unknown(data, ("budgets",), f"{origin}: top level")
    budgets = []
    for i, item in enumerate(data["budgets"]):
        where = f"{origin}: budgets[{i}]"
        if not isinstance(item, dict):
            raise ConfigError(f"{where}: each budget must be a mapping")
        reject_unknown(item, KEYS, where)
        name = item.get("name")
        if isinstance(name, int) and not isinstance(name, bool):
            name = str(name)  # `name: 2026` is YAML's number: the year the budget is for
        if isinstance(name, float):  # `name: 2026.10` reads as 2026.1: not what was written
            raise ConfigError(
                f"{where}: quote the name {name!r} ('...'): YAML reads it as a number"
            )
        if name is None or (isinstance(name, str) and not name.strip()):
            raise ConfigError(f"{where}: 'name' is required")
        if not isinstance(name, str):
            raise ConfigError(f"{where}: 'name' must be text, got {name!r}")
        where = f"{origin}: budget {name!r}"
        period = item.get("period", "all")
        if period not in PERIODS:
            raise ConfigError(f"{where}: period {period!r} must be one of {', '.join(PERIODS)}")
        limits = _limits(item, period, where)
        # absent or null: all spend; any other non-mapping (0, false, "", []) is a mistake
        scope = {} if item.get("scope") is None else item["scope"]
        if not isinstance(scope, dict):
            raise ConfigError(f"{where}: scope must be a mapping such as {{team: search}}")
        budgets.append(Budget(name=name, period=period, scope=_scope(scope, where), **limits))
    names = [b.name for b in budgets]
    if len(set(names)) != len(names):
        raise ConfigError(f"{origin}: budget names must be unique")
    return budgets


def load_budgets(path: Path) -> list[Budget]:
    return parse_budgets(read_yaml(path, "budget file"), str(path))
