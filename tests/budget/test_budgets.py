"""Budget files and their evaluation per period and scope."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from helpers import openai_record, priced_store
from tokaudit.budget import evaluate_budgets, load_budgets
from tokaudit.budget.config import parse_budgets
from tokaudit.errors import ConfigError

# gpt-4o-mini: 1,000,000 prompt tokens = $0.15, 100,000 completion = $0.06.
RECORDS = [
    openai_record("2026-09-30T23:59:59Z", "gpt-4o-mini", 1_000_000, 0, team="search"),
    openai_record("2026-10-01T00:00:00Z", "gpt-4o-mini", 1_000_000, 100_000, team="search"),
    openai_record("2026-10-15T12:00:00Z", "gpt-4o-mini", 2_000_000, 0, team="search"),
    openai_record("2026-10-15T13:00:00Z", "gpt-4o-mini", 1_000_000, 0, team="ads"),
    openai_record("2026-10-16T13:00:00Z", "mystery-model", 10, 10, team="ads"),
]


def test_issue_example_shape(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_text(
        "budgets:\n"
        "  - name: all spend\n    period: all\n    max_cost_usd: 5000\n"
        "  - name: search team, monthly\n    scope: {team: search}\n    period: month\n"
        "    max_cost_usd: 800\n",
        "utf-8",
    )
    budgets = load_budgets(path)
    assert [(b.name, b.period, b.max_cost_usd, b.scope) for b in budgets] == [
        ("all spend", "all", Decimal(5000), {}),
        ("search team, monthly", "month", Decimal(800), {"team": "search"}),
    ]


def test_monthly_buckets_and_scope(tmp_path: Path) -> None:
    con = priced_store(tmp_path, RECORDS)
    budgets = parse_budgets(
        {
            "budgets": [
                {
                    "name": "search monthly",
                    "scope": {"team": "search"},
                    "period": "month",
                    "max_cost_usd": "0.45",
                },
                {"name": "all", "period": "all", "max_cost_usd": 1},
                {"name": "daily", "period": "day", "max_cost_usd": "0.3"},
            ]
        },
        "inline",
    )
    report = evaluate_budgets(con, budgets)
    search, everything, daily = report.outcomes
    # October for search: 0.15 + 0.06 + 0.30 = 0.51 > 0.45; September 0.15 is within.
    assert search.worst_period == "2026-10" and search.worst_cost_usd == Decimal("0.51")
    assert search.exceeded_periods == [("2026-10", Decimal("0.51"))]
    assert search.unpriced_requests == 0
    # Everything: 0.15 + 0.21 + 0.30 + 0.15 = 0.81 <= 1; the unknown model is counted apart.
    assert not everything.exceeded and everything.worst_cost_usd == Decimal("0.81")
    assert everything.unpriced_requests == 1
    # Daily: 2026-10-15 spent 0.45 > 0.3.
    assert daily.exceeded_periods == [("2026-10-15", Decimal("0.45"))]
    assert report.violated


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "budgets:"),
        ({"budgets": [{"period": "all", "max_cost_usd": 1}]}, "'name' is required"),
        ({"budgets": [{"name": ["a"], "max_cost_usd": 1}]}, "'name' must be text"),
        ({"budgets": [{"name": 2026.1, "max_cost_usd": 1}]}, "quote the name"),
        ({"budgets": [{"name": "x", "period": "year", "max_cost_usd": 1}]}, "period 'year'"),
        ({"budgets": [{"name": "x", "max_cost_usd": "lots"}]}, "not a number"),
        ({"budgets": [{"name": "x", "max_cost_usd": -1}]}, "zero or more"),
        ({"budgets": [{"name": "x", "max_cost_usd": float("inf")}]}, "a finite amount"),
        ({"budgets": [{"name": "x", "max_cost_usd": "nan"}]}, "a finite amount"),
        ({"budgets": [{"name": "x"}]}, "'max_cost_usd' is required"),
        ({"budgets": [{"name": "x", "max_cost_usd": 1, "scope": {"squad": "a"}}]}, "squad"),
        ({"budgets": [{"name": "x", "max_cost_usd": 1, "limit": 2}]}, "unknown key"),
        # a falsy scope read as all spend (QA); only absent or null means that
        ({"budgets": [{"name": "x", "max_cost_usd": 1, "scope": False}]}, "scope must be"),
        ({"budgets": [{"name": "x", "max_cost_usd": 1, "scope": ""}]}, "scope must be"),
        ({"budgets": [{"name": "x", "max_cost_usd": 1, "scope": []}]}, "scope must be"),
        (
            {"budgets": [{"name": "x", "max_cost_usd": 1}, {"name": "x", "max_cost_usd": 2}]},
            "unique",
        ),
        (
            {"budgets": [{"name": "x", "max_cost_usd": 1}], "defaults": {"period": "month"}},
            "unknown key(s) defaults (allowed: budgets)",
        ),
    ],
)
def test_config_errors_name_the_problem(data: object, needle: str) -> None:
    with pytest.raises(ConfigError, match=r"budgets\.yaml") as info:
        parse_budgets(data, "budgets.yaml")
    assert needle in str(info.value)


def test_a_number_as_a_name_is_that_name() -> None:
    """`name: 2026` is a number to YAML; it was refused as "'name' is required" (QA)."""
    (budget,) = parse_budgets({"budgets": [{"name": 2026, "max_cost_usd": 1}]}, "b.yaml")
    assert budget.name == "2026"


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_budgets(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("budgets: [unclosed", "utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_budgets(bad)


def test_a_key_given_twice_in_a_budget_is_refused(tmp_path: Path) -> None:
    """PyYAML keeps the last value: the gate ran with a limit of 500 without a word."""
    path = tmp_path / "budgets.yaml"
    path.write_text("budgets:\n  - name: x\n    max_cost_usd: 5\n    max_cost_usd: 500\n", "utf-8")
    with pytest.raises(ConfigError, match="duplicate key 'max_cost_usd'") as info:
        load_budgets(path)
    assert str(info.value).startswith(f"{path}: ")


def test_a_budget_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "budgets.yaml"
    path.write_bytes("budgets:\n  - name: caf\u00e9\n    max_cost_usd: 5\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_budgets(path)
    assert str(info.value) == (
        f"{path}: not valid UTF-8 (byte 0xe9 at byte 23); save the budget file as UTF-8"
    )
