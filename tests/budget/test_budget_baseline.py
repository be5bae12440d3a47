"""The regression gate: `check --baseline` against relative budgets (max_increase_pct), and
the absolute per-request limit (max_cost_per_request_usd).

Every expected value is computed by hand from the shipped gpt-4o-mini prices
(pricing/providers/openai.yaml, from https://developers.openai.com/api/docs/pricing):
$0.15 per 1M uncached input tokens, $0.075 per 1M cached (cache read), $0.60 per 1M output.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from helpers import copy_store, openai_record, write_jsonl
from tokaudit.budget.config import parse_budgets
from tokaudit.cli import app
from tokaudit.errors import ConfigError

runner = CliRunner()
MINI = "gpt-4o-mini"

# main's run, team search:
#   1,000,000 prompt tokens of which 400,000 cached, 100,000 completion:
#     600,000 x 0.15/1M + 400,000 x 0.075/1M + 100,000 x 0.60/1M = 0.09 + 0.03 + 0.06 = $0.18
#   1,000,000 prompt tokens, no completion: $0.15
#   -> $0.33 for 2 requests: $0.165 per request, 1,000,000 input and 50,000 output tokens
#      per request (input: every input class, cached included, as OpenAI counts prompt_tokens)
# plus an unknown model on team ads: unpriced, its cost unknown (never $0)
MAIN = [
    openai_record("2026-10-01T10:00:00Z", MINI, 1_000_000, 100_000, team="search", cached=400_000),
    openai_record("2026-10-02T10:00:00Z", MINI, 1_000_000, 0, team="search"),
    openai_record("2026-10-02T11:00:00Z", "mystery-model", 10, 10, team="ads"),
]


def _pr(extra_tokens: int = 0) -> list[dict[str, Any]]:
    """The PR's run, team search: the first request as on main ($0.18), the second with
    1,220,000 prompt tokens ($0.183): $0.363 for 2, $0.1815 per request, exactly +10 %
    over $0.165. Input per request (1,000,000 + 1,220,000) / 2 = 1,110,000: +11 %; output
    50,000: +0 %. Team new (absent from main): 1,000,000 prompt tokens, $0.15.
    ``extra_tokens`` more prompt tokens on the second request cost $0.00000015 each."""
    return [
        openai_record(
            "2026-11-01T10:00:00Z", MINI, 1_000_000, 100_000, team="search", cached=400_000
        ),
        openai_record("2026-11-02T10:00:00Z", MINI, 1_220_000 + extra_tokens, 0, team="search"),
        openai_record("2026-11-02T11:00:00Z", MINI, 1_000_000, 0, team="new"),
    ]


def _store(tmp_path: Path, name: str, records: list[dict[str, Any]]) -> Path:
    db = tmp_path / f"{name}.duckdb"
    log = write_jsonl(tmp_path / f"{name}.jsonl", records)
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    return db


@pytest.fixture(scope="module")
def _stores_made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    made = tmp_path_factory.mktemp("stores")
    return _store(made, "pr", _pr()), _store(made, "main", MAIN)


@pytest.fixture
def stores(tmp_path: Path, _stores_made: tuple[Path, Path]) -> tuple[Path, Path]:
    """(the PR's store, main's store): each test's own copies of two stores ingested once."""
    pr, main = _stores_made
    return copy_store(pr, tmp_path), copy_store(main, tmp_path)


def _check(db: Path, budgets: str, *args: str, baseline: Path | None = None) -> Any:
    budget = db.parent / "budgets.yaml"
    budget.write_text(budgets, "utf-8")
    extra = ["--baseline", str(baseline)] if baseline is not None else []
    return runner.invoke(app, ["check", "--db", str(db), "--budget", str(budget), *extra, *args])


RELATIVE = (
    "budgets:\n"
    "  - {name: cpr, scope: {team: search}, max_increase_pct: 10, metric: cost_per_request}\n"
    "  - {name: in, scope: {team: search}, max_increase_pct: 10,"
    " metric: input_tokens_per_request}\n"
    "  - {name: out, scope: {team: search}, max_increase_pct: 0,"
    " metric: output_tokens_per_request}\n"
    "  - {name: total, max_increase_pct: 50, metric: cost}\n"
    "  - {name: new, scope: {team: new}, max_increase_pct: 10, metric: cost}\n"
)


def test_relative_budgets_against_a_baseline_in_json(stores: tuple[Path, Path]) -> None:
    pr, main = stores
    result = _check(pr, RELATIVE, "-f", "json", baseline=main)
    assert result.exit_code == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["baseline"] == str(main) and data["violated"] is True
    got = {
        b["name"]: (
            b["metric"],
            b["max_increase_pct"],
            b["baseline"]["value"],
            b["value"],
            b["change_pct"],
            b["exceeded"],
        )
        for b in data["budgets"]
    }
    assert got == {
        # $0.1815 against $0.165: +10 % exactly, which a limit of 10 allows
        "cpr": ("cost_per_request", "10", "0.165", "0.1815", "10", False),
        "in": ("input_tokens_per_request", "10", "1000000", "1110000", "11", True),
        "out": ("output_tokens_per_request", "0", "50000", "50000", "0", False),
        # all spend: $0.363 + $0.15 = $0.513 against $0.33 (priced only): +55.4545...%
        "total": ("cost", "50", "0.33", "0.513", "55.4545454545", True),
        # no request of team new on main: nothing to compare with, it passes
        "new": ("cost", "10", "0", "0.15", None, False),
    }
    by_name = {b["name"]: b for b in data["budgets"]}
    total = by_name["total"]
    assert total["max_cost_usd"] is None and total["worst_cost_usd"] == "0.513"
    assert total["exceeded_periods"] == [{"period": "all", "cost_usd": "0.513"}]
    assert by_name["in"]["exceeded_periods"] == [{"period": "all", "value": "1110000"}]
    # the baseline's unpriced request is reported on its side, by model and reason
    assert total["baseline"] == {
        "value": "0.33",
        "matched_requests": 3,
        "unpriced_requests": 1,
        "unpriced": [
            {
                "model": "mystery-model",
                "provider": "openai",
                "requests": 1,
                "reason": "unknown_model",
            }
        ],
        "estimated_requests": 0,
        "estimated_cost_usd": "0",
    }
    assert by_name["new"]["baseline"]["matched_requests"] == 0
    assert by_name["new"]["not_compared"].startswith("new: no request in scope in the baseline")
    assert by_name["cpr"]["not_compared"] is None
    # stderr: each broken budget, exactly; the new scope and the unpriced baseline warned
    assert (
        f"budget exceeded: 'in' input tokens per request rose 11% from 1000000 to 1110000 "
        f"tokens per request over the baseline {main}, limit +10%" in result.stderr
    )
    assert (
        f"budget exceeded: 'total' cost rose 55.4545454545% from 0.33 to 0.513 USD over the "
        f"baseline {main}, limit +50%" in result.stderr
    )
    assert "'cpr'" not in result.stderr and "'out'" not in result.stderr
    assert "warning: budget 'new': not compared, it passes: new: no request" in result.stderr
    assert (
        "warning: budget 'total': 1 request(s) in scope of the baseline are unpriced; their "
        "cost is unknown and not counted: mystery-model (openai) x1: unknown_model"
    ) in result.stderr


@pytest.mark.parametrize(("extra", "code"), [(0, 0), (1, 1)])
def test_a_limit_is_compared_exactly(tmp_path: Path, extra: int, code: int) -> None:
    """+10 % exactly passes a limit of 10; one prompt token more ($0.00000015) fails it,
    though the change, +10.0000454545...%, rounds to +10.00 %: the table then shows it
    exactly."""
    main = _store(tmp_path, "main", MAIN)
    pr = _store(tmp_path, "pr", _pr(extra))
    budgets = (
        "budgets:\n"
        "  - {name: cpr, scope: {team: search}, max_increase_pct: 10, metric: cost_per_request}\n"
    )
    result = _check(pr, budgets, baseline=main)
    assert result.exit_code == code, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("│ cpr"))
    if extra:
        # (0.18 + 0.18300015) / 2 = 0.181500075; / 0.165 = 1.10000045454...
        assert "+10.0000454545%" in row and "EXCEEDED" in row
        assert (
            "budget exceeded: 'cpr' cost per request rose 10.0000454545% from 0.165 to "
            f"0.181500075 USD per request over the baseline {main}, limit +10%"
        ) in result.stderr
    else:
        assert "+10.00%" in row and "ok" in row and "$0.1815" in row and "$0.1650" in row
        assert "budget exceeded" not in result.stderr


def test_csv_and_markdown_carry_the_baseline_and_the_change(stores: tuple[Path, Path]) -> None:
    pr, main = stores
    budgets = (
        "budgets:\n"
        "  - {name: cpr, scope: {team: search}, max_increase_pct: 10, metric: cost_per_request}\n"
        "  - {name: total, max_increase_pct: 50, metric: cost}\n"
        "  - {name: new, scope: {team: new}, max_increase_pct: 10, metric: cost}\n"
        "  - {name: spend, max_cost_usd: 1}\n"
    )
    result = _check(pr, budgets, "-f", "csv", baseline=main)
    assert result.exit_code == 1, result.stderr
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    fields = (
        "metric",
        "max_increase_pct",
        "baseline_value",
        "value",
        "change_pct",
        "exceeded",
        "baseline_matched_requests",
        "baseline_unpriced_requests",
        "max_cost_usd",
    )
    assert {n: tuple(r[f] for f in fields) for n, r in rows.items()} == {
        "cpr": ("cost_per_request", "10", "0.165", "0.1815", "10", "false", "2", "0", ""),
        "total": ("cost", "50", "0.33", "0.513", "55.4545454545", "true", "3", "1", ""),
        "new": ("cost", "10", "0", "0.15", "", "false", "0", "0", ""),
        # a spend budget as before: $0.513 within $1; no baseline columns
        "spend": ("cost", "", "", "0.513", "", "false", "", "", "1"),
    }
    assert rows["new"]["not_compared"].startswith("new: ")
    md = _check(pr, budgets, "-f", "markdown", baseline=main)
    assert md.exit_code == 1, md.stderr
    assert (
        "| budget | scope | period | limit | worst period | value | baseline | change | unpriced |"
    ) in md.stdout
    lines = md.stdout.splitlines()
    assert [line for line in lines if line.startswith("| ✅") or line.startswith("| ❌")] == [
        "| ✅ cpr | team=search | all | +10% cost per request | all | $0.1815 | $0.1650 | "
        "+10.00% | 0 |",
        "| ❌ total | all spend | all | +50% cost | all | $0.5130 | $0.3300 (+1 unpriced) | "
        "+55.45% | 0 |",
        "| ✅ new | team=new | all | +10% cost | all | $0.1500 | none | new | 0 |",
        "| ✅ spend | all spend | all | $1.00 | all | $0.5130 | — | — | 0 |",
    ]
    # the path is data: its underscores escaped, not emphasis
    assert f"Baseline: {str(main).replace('_', chr(92) + '_')}." in md.stdout


def test_a_per_request_metric_matching_nothing_in_the_store_is_not_compared(
    tmp_path: Path,
) -> None:
    """Team search has two requests on main ($0.165 and 1,000,000 input tokens per request)
    and none in a PR's store that ran team new only: nothing there gives a cost or tokens
    per request. That is no comparison, not an infinite increase: it showed `+∞ (from 0)`
    and change_pct null (what an increase from a baseline of 0 gives), with not_compared
    null (QA)."""
    pr, main = _store(tmp_path, "pr", _pr()[2:]), _store(tmp_path, "main", MAIN)
    budgets = (
        "budgets:\n"
        "  - {name: cpr, scope: {team: search}, max_increase_pct: 10, metric: cost_per_request}\n"
        "  - {name: in, scope: {team: search}, max_increase_pct: 10,"
        " metric: input_tokens_per_request}\n"
    )
    result = _check(pr, budgets, "-f", "json", baseline=main)
    assert result.exit_code == 0, result.stderr
    got = {
        b["name"]: (b["value"], b["baseline"]["value"], b["change_pct"], b["not_compared"])
        for b in json.loads(result.stdout)["budgets"]
    }
    nothing = "no request in scope in the store"
    assert got == {"cpr": (None, "0.165", None, nothing), "in": (None, "1000000", None, nothing)}
    # warned once each, as any scope that matches no request
    assert result.stderr.count("scope team=search matches no request") == 2
    assert "not compared" not in result.stderr
    table = _check(pr, budgets, baseline=main)
    assert table.exit_code == 0
    assert "∞" not in table.stdout
    rows = [line for line in table.stdout.splitlines() if line.startswith(("│ cpr", "│ in "))]
    assert len(rows) == 2 and all("not compared" in row for row in rows)


def test_per_request_limit_per_period_needs_no_baseline(tmp_path: Path) -> None:
    """max_cost_per_request_usd: the average cost of a priced request in each period. On
    main, 2026-10-01 has one request of $0.18 and 2026-10-02 one of $0.15 (and an unpriced
    one, left out: its cost is unknown); over all time $0.33 / 2 = $0.165."""
    main = _store(tmp_path, "main", MAIN)
    budgets = (
        "budgets:\n"
        "  - {name: daily, period: day, max_cost_per_request_usd: '0.16'}\n"
        "  - {name: exact, max_cost_per_request_usd: '0.165'}\n"
        "  - {name: under, max_cost_per_request_usd: '0.1649'}\n"
    )
    result = _check(main, budgets, "-f", "json")
    assert result.exit_code == 1, result.stderr
    got = {
        b["name"]: (b["worst_period"], b["value"], b["worst_cost_usd"], b["exceeded_periods"])
        for b in json.loads(result.stdout)["budgets"]
    }
    assert got == {
        "daily": ("2026-10-01", "0.18", "0.18", [{"period": "2026-10-01", "value": "0.18"}]),
        "exact": ("all", "0.165", "0.33", []),
        "under": ("all", "0.165", "0.33", [{"period": "all", "value": "0.165"}]),
    }
    assert (
        "budget exceeded: 'daily' (day) cost 0.18 USD per request in 2026-10-01, limit 0.16 "
        "USD per request"
    ) in result.stderr
    assert "'exact'" not in result.stderr.replace("warning: budget 'exact'", "")
    table = _check(main, budgets)
    assert table.exit_code == 1
    row = next(line for line in table.stdout.splitlines() if line.startswith("│ daily"))
    assert "$0.1600 per request" in row and "$0.1800" in row and "EXCEEDED" in row


def _failed(ts: str) -> dict[str, Any]:
    """A rate-limited call of team search: an error without usage, which costs nothing."""
    return {
        "timestamp": ts,
        "provider": "openai",
        "metadata": {"team": "search"},
        "request": {"model": MINI, "messages": [{"role": "user", "content": ts}]},
        "error": {"status": 429, "type": "rate_limit_error", "message": "slow down"},
    }


def test_failed_calls_without_usage_are_no_requests_of_a_cost_per_request(
    tmp_path: Path,
) -> None:
    """The PR's two search requests ($0.18 on 2026-11-01, $0.183 on 2026-11-02) plus three
    429s (two on 11-02, one on 11-03). A failed call without usage has no tokens, so the
    token metrics leave it out; the cost per request counted it as a $0 request, so more
    failures read as a cheaper PR: $0.363 / 5 = $0.0726, -56 % (QA). Without them: $0.363 /
    2 = $0.1815, +10 % over $0.165, and 11-02 costs $0.183 per request, above $0.18."""
    failed = [_failed("2026-11-02T12:00:00Z"), _failed("2026-11-02T12:01:00Z")]
    pr = _store(tmp_path, "pr", [*_pr()[:2], *failed, _failed("2026-11-03T12:00:00Z")])
    main = _store(tmp_path, "main", MAIN)
    budgets = (
        "budgets:\n"
        "  - {name: cpr, scope: {team: search}, max_increase_pct: 10, metric: cost_per_request}\n"
        "  - {name: in, scope: {team: search}, max_increase_pct: 10,"
        " metric: input_tokens_per_request}\n"
        "  - {name: daily, period: day, max_cost_per_request_usd: '0.18'}\n"
    )
    result = _check(pr, budgets, "-f", "json", baseline=main)
    assert result.exit_code == 1, result.stderr
    got = {b["name"]: b for b in json.loads(result.stdout)["budgets"]}
    cpr = got["cpr"]
    assert (cpr["value"], cpr["change_pct"], cpr["exceeded"]) == ("0.1815", "10", False)
    assert cpr["matched_requests"] == 5
    # (1,000,000 + 1,220,000) / 2 = 1,110,000: +11 %, as before (failures never counted)
    assert (got["in"]["value"], got["in"]["change_pct"]) == ("1110000", "11")
    daily = got["daily"]
    assert daily["exceeded_periods"] == [{"period": "2026-11-02", "value": "0.183"}]
    assert (daily["worst_period"], daily["value"]) == ("2026-11-02", "0.183")


def test_a_relative_budget_without_a_baseline_is_exit_2(stores: tuple[Path, Path]) -> None:
    pr, _ = stores
    result = _check(pr, RELATIVE)
    assert result.exit_code == 2
    assert "budget(s) 'cpr', 'in', 'out', 'total', 'new' compare with a baseline" in (result.stderr)
    assert "--baseline" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_bad_baseline_is_exit_2(stores: tuple[Path, Path], tmp_path: Path) -> None:
    pr, main = stores
    missing = _check(pr, RELATIVE, baseline=tmp_path / "nope.duckdb")
    assert missing.exit_code == 2
    assert f"no baseline store at {tmp_path / 'nope.duckdb'}" in missing.stderr
    itself = _check(pr, RELATIVE, baseline=pr)
    assert itself.exit_code == 2
    assert "is the store --db names: a store compared with itself never regresses" in (
        itself.stderr
    )
    text = tmp_path / "notes.duckdb"
    text.write_text("not a database\n", "utf-8")
    foreign = _check(pr, RELATIVE, baseline=text)
    assert foreign.exit_code == 2 and "error: the baseline: cannot open the store" in (
        foreign.stderr
    )
    # a store a newer tokaudit wrote: its columns may mean other things
    con = duckdb.connect(str(main))
    con.execute("UPDATE schema_info SET value = '999' WHERE key = 'schema_version'")
    con.close()
    newer = _check(pr, RELATIVE, baseline=main)
    assert newer.exit_code == 2
    assert "error: the baseline: " in newer.stderr and "schema version 999" in newer.stderr
    for result in (missing, itself, foreign, newer):
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_bad_key_in_a_file_is_exit_2_naming_it(stores: tuple[Path, Path]) -> None:
    pr, main = stores
    result = _check(
        pr,
        "budgets:\n  - {name: x, max_increase_pct: 10, metric: cost, max_increse: 5}\n",
        baseline=main,
    )
    assert result.exit_code == 2
    assert "budgets[0]: unknown key(s) max_increse (allowed: name, period" in result.stderr


def test_a_baseline_no_budget_uses_is_named(stores: tuple[Path, Path]) -> None:
    pr, main = stores
    result = _check(pr, "budgets:\n  - {name: all, max_cost_usd: 5}\n", baseline=main)
    assert result.exit_code == 0, result.stderr
    assert f"warning: --baseline {main}: no budget compares with it" in result.stderr


@pytest.mark.parametrize(
    ("budget", "needle"),
    [
        ({"max_increase_pct": 10}, "max_increase_pct needs a metric: one of cost, "),
        ({"max_increase_pct": 10, "metric": "tokens"}, "got 'tokens'"),
        ({"max_increase_pct": -1, "metric": "cost"}, "max_increase_pct must be zero or more"),
        ({"max_increase_pct": "ten", "metric": "cost"}, "max_increase_pct 'ten' is not a number"),
        ({"max_increase_pct": True, "metric": "cost"}, "max_increase_pct must be a number"),
        ({"max_increase_pct": float("inf"), "metric": "cost"}, "max_increase_pct must be a finite"),
        (
            {"max_increase_pct": 10, "metric": "cost", "period": "month"},
            "period 'month': a relative budget (max_increase_pct) compares the whole",
        ),
        ({"max_cost_per_request_usd": -0.01}, "max_cost_per_request_usd must be zero or more"),
        ({"max_cost_per_request_usd": [1]}, "max_cost_per_request_usd must be a number"),
        (
            {"max_cost_usd": 5, "max_increase_pct": 10, "metric": "cost"},
            "max_cost_usd and max_increase_pct given together",
        ),
        ({"max_cost_usd": 5, "metric": "cost"}, "metric is for a relative budget"),
        ({"metric": "cost"}, "'max_cost_usd' is required (or max_cost_per_request_usd"),
    ],
)
def test_new_keys_are_validated(budget: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_budgets({"budgets": [{"name": "x", **budget}]}, "budgets.yaml")
    assert str(info.value).startswith("budgets.yaml: budget 'x': ")
    assert needle in str(info.value)


def test_relative_keys_are_read() -> None:
    (budget,) = parse_budgets(
        {"budgets": [{"name": "x", "max_increase_pct": "2.5", "metric": "cost_per_request"}]},
        "b.yaml",
    )
    assert (budget.max_increase_pct, budget.metric, budget.period, budget.relative) == (
        Decimal("2.5"),
        "cost_per_request",
        "all",
        True,
    )
    assert budget.max_cost_usd is None


def test_an_increase_from_zero_exceeds_any_limit() -> None:
    """A baseline of $0 (a free model): any spend is an infinite increase; none is none."""
    from tokaudit.budget.evaluate import _increase  # imported here: new in this change

    assert _increase((Decimal("0.01"), 1), (Decimal(0), 3), Decimal(1000)) == (True, None)
    assert _increase((Decimal(0), 2), (Decimal(0), 3), Decimal(0)) == (False, Decimal(0))
    # a decrease is a negative change, within any limit
    assert _increase((Decimal(1), 4), (Decimal(1), 2), Decimal(0)) == (False, Decimal(-50))


def test_strict_counts_unpriced_requests_in_the_baseline(stores: tuple[Path, Path]) -> None:
    """The PR's store prices everything; main's mystery-model request is unpriced, so the
    baseline's spend is partly unknown: --strict fails the comparison (exit 2)."""
    pr, main = stores
    budgets = "budgets:\n  - {name: total, max_increase_pct: 100, metric: cost}\n"
    assert _check(pr, budgets, baseline=main).exit_code == 0
    strict = _check(pr, budgets, "--strict", baseline=main)
    assert strict.exit_code == 2
    assert "1 request(s) in scope of the baseline are unpriced" in strict.stderr
    assert "error: --strict: unpriced requests" in strict.stderr


def test_unpriced_requests_of_a_token_metric_are_counted_by_their_tokens(
    stores: tuple[Path, Path],
) -> None:
    """A token metric counts the tokens of unpriced requests (their cost alone is unknown):
    the warning said they were "not counted" at all. The baseline's mystery-model request
    (10 input tokens) is in the all-traffic input average: (1,000,000 + 1,000,000 + 10) / 3."""
    pr, main = stores
    budgets = (
        "budgets:\n  - {name: all-in, max_increase_pct: 100, metric: input_tokens_per_request}\n"
    )
    result = _check(pr, budgets, "-f", "json", baseline=main)
    assert result.exit_code == 0, result.stderr
    [budget] = json.loads(result.stdout)["budgets"]
    assert Decimal(budget["baseline"]["value"]) == (Decimal(2_000_010) / 3).quantize(
        Decimal("1e-4")
    )
    assert (
        "warning: budget 'all-in': 1 request(s) in scope of the baseline are unpriced; their "
        "cost is unknown and not counted (their tokens are): mystery-model (openai) x1"
    ) in result.stderr
