"""Budget scopes: malformed values are config errors, a scope matching nothing is flagged, and
a model scope matches the price-table model a dated name was priced as."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import openai_record, priced_store, write_jsonl
from tokaudit.budget import evaluate_budgets, load_budgets, unmatched_scope_warnings
from tokaudit.budget.config import parse_budgets
from tokaudit.cli import app
from tokaudit.errors import ConfigError
from tokaudit.report.renderers import csv_format, json_format

# gpt-4o (table price $2.50 per 1M input) logged under its dated name, and gpt-4o-mini
# ($0.15 per 1M input), 1,000,000 input tokens each.
RECORDS = [
    openai_record("2026-10-01T00:00:00Z", "gpt-4o-2024-08-06", 1_000_000, 0, team="search"),
    openai_record("2026-10-02T00:00:00Z", "gpt-4o-2024-08-06", 1_000_000, 0, team="search"),
    openai_record("2026-10-03T00:00:00Z", "gpt-4o-mini", 1_000_000, 0, team="ads"),
]


def _budget(scope: Any, limit: str = "1") -> dict[str, Any]:
    return {"budgets": [{"name": "scoped", "period": "all", "max_cost_usd": limit, "scope": scope}]}


@pytest.mark.parametrize(
    "scope",
    [
        {"team": ["search", "growth"]},
        {"team": 5},
        {"model": ""},
        {"feature": "   "},
        {"user": None},
        {"team": True},
        {"provider": {"name": "openai"}},
    ],
)
def test_scope_values_must_be_non_empty_strings(scope: dict[str, Any]) -> None:
    key = next(iter(scope))
    with pytest.raises(ConfigError) as info:
        parse_budgets(_budget(scope), "budgets.yaml")
    message = str(info.value)
    assert message.startswith("budgets.yaml: budget 'scoped': ")
    assert f"scope {key} must be a non-empty string, got {scope[key]!r}" in message


def test_scope_keys_that_are_not_strings_are_named() -> None:
    with pytest.raises(ConfigError, match="scope key\\(s\\) 5 not one of team"):
        parse_budgets(_budget({5: "x"}), "budgets.yaml")


def test_malformed_scope_in_a_file_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    log = write_jsonl(tmp_path / "log.jsonl", RECORDS)
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0
    budget = tmp_path / "b.yaml"
    budget.write_text(
        "budgets:\n  - name: x\n    max_cost_usd: 5\n    scope: {team: [search, growth]}\n",
        "utf-8",
    )
    with pytest.raises(ConfigError, match="budget 'x': scope team"):
        load_budgets(budget)
    result = runner.invoke(app, ["check", "--db", str(db), "--budget", str(budget)])
    assert result.exit_code == 2
    assert f"error: {budget}: budget 'x': scope team must be a non-empty string" in result.stderr


def test_model_scope_matches_the_priced_model_too(tmp_path: Path) -> None:
    con = priced_store(tmp_path, RECORDS)
    budgets = parse_budgets(
        {
            "budgets": [
                {"name": "alias", "max_cost_usd": 4, "scope": {"model": "gpt-4o"}},
                {"name": "dated", "max_cost_usd": 4, "scope": {"model": "gpt-4o-2024-08-06"}},
                {"name": "mini", "max_cost_usd": 4, "scope": {"model": "gpt-4o-mini"}},
                {
                    "name": "alias+team",
                    "max_cost_usd": 4,
                    "scope": {"model": "gpt-4o", "team": "ads"},
                },
            ]
        },
        "inline",
    )
    alias, dated, mini, alias_ads = evaluate_budgets(con, budgets).outcomes
    # Two dated gpt-4o requests at $2.50 each: the table name and the logged name both see $5.
    for outcome in (alias, dated):
        assert (outcome.worst_cost_usd, outcome.matched_requests) == (Decimal(5), 2)
        assert outcome.exceeded_periods == [("all", Decimal(5))]
    # "gpt-4o" is not a prefix match: gpt-4o-mini stays out of it and has its own $0.15.
    assert (mini.worst_cost_usd, mini.matched_requests, mini.exceeded) == (
        Decimal("0.15"),
        1,
        False,
    )
    # Scope keys still combine with AND.
    assert (alias_ads.worst_cost_usd, alias_ads.matched_requests) == (Decimal(0), 0)


def test_a_scope_matching_nothing_is_flagged(tmp_path: Path) -> None:
    con = priced_store(tmp_path, RECORDS)
    budgets = parse_budgets(
        {
            "budgets": [
                {"name": "typo", "max_cost_usd": 1, "scope": {"team": "serach"}},
                {"name": "search", "max_cost_usd": 1, "scope": {"team": "search"}},
                {"name": "all", "period": "month", "max_cost_usd": 10},
            ]
        },
        "inline",
    )
    report = evaluate_budgets(con, budgets)
    typo, search, everything = report.outcomes
    assert (typo.matched_requests, typo.worst_period, typo.exceeded) == (0, None, False)
    assert (search.matched_requests, search.exceeded) == (2, True)
    assert everything.matched_requests == 3
    assert unmatched_scope_warnings(report) == [
        "budget 'typo': scope team=serach matches no request in the store "
        "(check the spelling); its spend is 0"
    ]
    data = json.loads(json_format.render_budget(report))
    assert [b["matched_requests"] for b in data["budgets"]] == [0, 2, 3]
    table = list(csv.DictReader(io.StringIO(csv_format.render_budget(report))))
    assert [r["matched_requests"] for r in table] == ["0", "2", "3"]


def _check(tmp_path: Path, log: Path, budgets: str, fmt: str) -> Any:
    """``tokaudit check`` of ``budgets`` (YAML text) over a new store of ``log``."""
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0
    budget = tmp_path / "b.yaml"
    budget.write_text(budgets, "utf-8")
    return runner.invoke(app, ["check", "--db", str(db), "--budget", str(budget), "-f", fmt])


def test_csv_writes_exceeded_as_lowercase_booleans(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "log.jsonl", RECORDS)
    budgets = (
        "budgets:\n"
        "  - {name: search, scope: {team: search}, max_cost_usd: 1}\n"  # $5 spent
        "  - {name: ads, scope: {team: ads}, max_cost_usd: 1}\n"  # $0.15 spent
    )
    result = _check(tmp_path, log, budgets, "csv")
    assert result.exit_code == 1
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["name"], r["worst_cost_usd"], r["exceeded"]) for r in rows] == [
        ("search", "5", "true"),
        ("ads", "0.15", "false"),
    ]


def test_an_empty_store_is_named_as_empty_not_as_a_spelling_mistake(tmp_path: Path) -> None:
    """The gate passes on a store with no requests (its spend is 0); the warning said to
    check the spelling of "all spend" (QA)."""
    con = priced_store(tmp_path, [])
    budgets = parse_budgets({"budgets": [{"name": "all", "max_cost_usd": 10}]}, "inline")
    assert unmatched_scope_warnings(evaluate_budgets(con, budgets)) == [
        "budget 'all': the store holds no requests, so its spend is 0 (was anything "
        "ingested into it?)"
    ]


def _usage_result(project: str, calls: int) -> dict[str, Any]:
    """One OpenAI Usage API result: 1,000,000 input tokens (none cached), no output."""
    return {
        "object": "organization.usage.completions.result",
        "input_tokens": 1_000_000,
        "output_tokens": 0,
        "input_cached_tokens": 0,
        "num_model_requests": calls,
        "model": "gpt-4o-mini",
        "project_id": project,
    }


def test_a_project_scope_covers_a_usage_export_attributed_by_project(tmp_path: Path) -> None:
    """Reports group by project (an OpenAI usage export's project_id is all it attributes
    spend to), and docs/attribution.md says budgets do too, but `scope: {project: …}` was a
    config error (exit 2): such an export could have no budget but the whole store's."""
    page = {
        "object": "page",
        "data": [
            {
                "object": "bucket",
                "start_time": 1790812800,  # 2026-10-01T00:00:00Z
                "end_time": 1790899200,
                "results": [_usage_result("proj_web", 10), _usage_result("proj_batch", 3)],
            }
        ],
        "has_more": False,
    }
    log = tmp_path / "usage.json"
    log.write_text(json.dumps(page), "utf-8")
    budgets = (
        "budgets:\n"
        "  - {name: web, scope: {project: proj_web}, period: day, max_cost_usd: '0.1'}\n"
        "  - {name: batch, scope: {project: proj_batch}, period: day, max_cost_usd: '0.2'}\n"
    )
    result = _check(tmp_path, log, budgets, "json")
    assert result.exit_code == 1, result.stderr
    # 1,000,000 input tokens at gpt-4o-mini's $0.15 per 1M: $0.15 per project and day
    got = {
        b["name"]: (b["worst_period"], b["worst_cost_usd"], b["matched_requests"], b["exceeded"])
        for b in json.loads(result.stdout)["budgets"]
    }
    assert got == {
        "web": ("2026-10-01", "0.15", 10, True),
        "batch": ("2026-10-01", "0.15", 3, False),
    }
    assert "budget exceeded: 'web' (day) spent 0.15 USD in 2026-10-01" in result.stderr
