"""`report --compare-pricing`: a request unpriced under either table is left out of both sides.

Counting it as $0 on the side that cannot price it showed a saving (or a rise) that is not
there. Figures are hand-computed from the two small tables below (USD per 1M tokens).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from pricing_testkit import make_table, openai_envelope, priced_store, write_jsonl
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.pricing.compare import compare_pricing, comparison_dict, comparison_rows
from tokaudit.pricing.table import load_price_table

D = Decimal
URL = "source: {url: 'https://example.com/pricing'}"


def _model(name: str, price: str) -> str:
    return (
        f"- id: {name}\n  versions:\n"
        f"  - {{effective_from: null, effective_to: null, {URL}, "
        f"prices: {{input: '{price}', output: '1'}}}}\n"
    )


def _tables(tmp_path: Path) -> tuple[Path, Path]:
    """Current: alpha $1, beta $3. Compared: alpha $2, gamma $5 (no beta)."""
    current = make_table(tmp_path / "current", _model("alpha", "1") + _model("beta", "3"))
    other = make_table(tmp_path / "other", _model("alpha", "2") + _model("gamma", "5"))
    return current, other


def _envelopes() -> list[dict[str, Any]]:
    """1M input tokens each: alpha x2 and beta in team a, gamma in team b."""
    out = []
    for model, team in [("alpha", "a"), ("alpha", "a"), ("beta", "a"), ("gamma", "b")]:
        envelope = openai_envelope(model, "2026-10-01T12:00:00Z", 1_000_000, 0)
        envelope["metadata"]["team"] = team
        out.append(envelope)
    return out


def test_status_changes_count_the_calls_an_aggregated_row_stands_for(tmp_path: Path) -> None:
    """status_changes counted rows where every other comparison count sums the calls a
    usage-export row stands for (QA): beta's row standing for 5 calls is 5 changes."""
    current, other = _tables(tmp_path)
    current_table = load_price_table(current)
    con = priced_store(tmp_path, _envelopes(), table=current_table)
    con.execute("UPDATE requests SET request_count = 5 WHERE model = 'beta'")
    result = compare_pricing(con, current_table, load_price_table(other), ["team"])
    assert (result.status_changes, result.totals.excluded_requests) == (6, 6)


def test_unpriced_under_either_table_is_in_neither_cost(tmp_path: Path) -> None:
    current, other = _tables(tmp_path)
    current_table = load_price_table(current)
    con = priced_store(tmp_path, _envelopes(), table=current_table)
    result = compare_pricing(con, current_table, load_price_table(other), ["team"])
    rows = {r.keys["team"]: r for r in result.rows}
    # Team a: only the two alpha requests are priced under both: $2 now, $4 compared.
    # beta ($3 now, unpriced compared) is left out of both sides, not counted as a $3 saving.
    a = rows["a"]
    assert (a.requests, a.cost_usd, a.compare_cost_usd, a.delta_usd) == (3, D(2), D(4), D(2))
    assert (a.unpriced_requests, a.compare_unpriced_requests, a.excluded_requests) == (0, 1, 1)
    # Team b: gamma is unpriced now, so nothing can be compared: no costs, no delta (not $5).
    b = rows["b"]
    assert (b.requests, b.cost_usd, b.compare_cost_usd, b.delta_usd) == (1, None, None, None)
    assert (b.unpriced_requests, b.compare_unpriced_requests, b.excluded_requests) == (1, 0, 1)
    t = result.totals
    assert (t.requests, t.cost_usd, t.compare_cost_usd, t.delta_usd) == (4, D(2), D(4), D(2))
    assert t.excluded_requests == 2 and result.status_changes == 2
    # The group that cannot be compared sorts after the ones that can.
    assert [r.keys["team"] for r in result.rows] == ["a", "b"]
    columns, flat = comparison_rows(result)
    assert columns[-2:] == ["excluded_requests", "estimated_requests"]
    assert flat[1] == ("b", 1, None, None, None, 1, 0, 1, 0)
    assert flat[2] == ("total", 4, "2", "4", "2", 1, 1, 2, 0)


def test_cli_json_has_null_costs_and_the_excluded_count(tmp_path: Path) -> None:
    current, other = _tables(tmp_path)
    log = write_jsonl(tmp_path / "log.jsonl", _envelopes())
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--pricing", str(current)])
    assert ingest.exit_code == 0, ingest.stderr
    args = ["report", "--db", str(db), "--by", "model", "--pricing", str(current)]
    out = runner.invoke(app, [*args, "--compare-pricing", str(other), "-f", "json"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    rows = {r["model"]: r for r in data["rows"]}
    assert rows["alpha"] == {
        "model": "alpha",
        "requests": 2,
        "cost_usd": "2",
        "compare_cost_usd": "4",
        "delta_usd": "2",
        "unpriced_requests": 0,
        "compare_unpriced_requests": 0,
        "excluded_requests": 0,
        "estimated_requests": 0,
    }
    for model, unpriced, compare_unpriced in [("beta", 0, 1), ("gamma", 1, 0)]:
        row = rows[model]
        assert (row["cost_usd"], row["compare_cost_usd"], row["delta_usd"]) == (None, None, None)
        assert (row["unpriced_requests"], row["compare_unpriced_requests"]) == (
            unpriced,
            compare_unpriced,
        )
        assert row["excluded_requests"] == 1
    # Only alpha is compared: $2 now, $4 compared; beta and gamma are left out and counted.
    assert data["totals"] == {
        "requests": 4,
        "cost_usd": "2",
        "compare_cost_usd": "4",
        "delta_usd": "2",
        "unpriced_requests": 1,
        "compare_unpriced_requests": 1,
        "excluded_requests": 2,
        "estimated_requests": 0,
    }


def test_nothing_comparable_at_all_is_null_not_zero(tmp_path: Path) -> None:
    current, other = _tables(tmp_path)
    current_table = load_price_table(current)
    only_beta = [e for e in _envelopes() if e["request"]["model"] == "beta"]
    con = priced_store(tmp_path, only_beta, table=current_table)
    data = comparison_dict(compare_pricing(con, current_table, load_price_table(other), ["team"]))
    assert data["totals"]["cost_usd"] is None and data["totals"]["delta_usd"] is None
    assert data["totals"]["excluded_requests"] == 1


def test_spend_priced_from_the_recount_is_counted_as_estimated_in_every_format(
    tmp_path: Path,
) -> None:
    """Every report marks spend priced from recounted tokens (a request logged without
    usage) as an estimate; the comparison showed it as billed in all four formats (QA)."""
    current, other = _tables(tmp_path)
    envelopes = _envelopes()[:3]  # alpha, alpha, beta (team a)
    for envelope in envelopes[1:]:  # the second alpha and beta logged without usage
        del envelope["response"]["usage"]
        envelope["request"]["messages"] = [{"role": "user", "content": "Hello there"}]
    log = write_jsonl(tmp_path / "log.jsonl", envelopes)
    db = tmp_path / "s.duckdb"
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--pricing", str(current)])
    assert ingest.exit_code == 0, ingest.stderr
    args = ["report", "--db", str(db), "--by", "model", "--pricing", str(current)]
    args += ["--compare-pricing", str(other)]

    data = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    rows = {r["model"]: r for r in data["rows"]}
    # alpha: one of its two compared requests is priced from its recount; beta, unpriced
    # under the compared table, is left out of the comparison, so it is no compared estimate
    assert (rows["alpha"]["excluded_requests"], rows["alpha"]["estimated_requests"]) == (0, 1)
    assert (rows["beta"]["excluded_requests"], rows["beta"]["estimated_requests"]) == (1, 0)
    assert data["totals"]["estimated_requests"] == 1

    csv_lines = runner.invoke(app, [*args, "-f", "csv"]).stdout.splitlines()
    assert csv_lines[0].endswith(",excluded_requests,estimated_requests")
    assert next(line for line in csv_lines if line.startswith("alpha,")).endswith(",0,1")
    for fmt in ("table", "markdown"):
        out = runner.invoke(app, [*args, "-f", fmt]).stdout
        assert "estimated" in out, fmt


def test_an_overlay_the_compared_table_cannot_take_names_that_table(tmp_path: Path) -> None:
    """The overlay is applied to both tables; a discount on beta, which the compared table
    lacks, said "model 'beta' is not in the price table" although the current one has it."""
    current, other = _tables(tmp_path)
    log = write_jsonl(tmp_path / "log.jsonl", _envelopes())
    db = tmp_path / "s.duckdb"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("schema_version: 1\ndiscounts: [{model: beta, percent: '10'}]\n", "utf-8")
    runner = CliRunner()
    ingest = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--pricing", str(current)])
    assert ingest.exit_code == 0, ingest.stderr
    args = ["report", "--db", str(db), "--pricing", str(current), "--overlay", str(overlay)]
    out = runner.invoke(app, [*args, "--compare-pricing", str(other)])
    assert out.exit_code == 2
    assert f"the overlay does not apply to the compared table {other}: " in out.stderr
    assert "'beta' is not in the price table" in out.stderr


def test_a_time_series_is_compared_in_time_order(tmp_path: Path) -> None:
    """`--by week` (or day, month) alone lists periods in time order, as the spend report
    does; it was ordered by the size of the change. alpha costs $1 per 1M input tokens now
    and $2 under the compared table: the deltas are $1, $5 and $3 for 1M, 5M and 3M tokens."""
    current, other = _tables(tmp_path)
    current_table = load_price_table(current)
    weeks = [("2026-12-28T12:00:00Z", 1), ("2027-01-04T12:00:00Z", 5), ("2027-01-11T12:00:00Z", 3)]
    envelopes = [openai_envelope("alpha", ts, millions * 1_000_000, 0) for ts, millions in weeks]
    con = priced_store(tmp_path, envelopes, table=current_table)
    result = compare_pricing(con, current_table, load_price_table(other), ["week"])
    got = [(r.keys["week"], r.cost_usd, r.compare_cost_usd) for r in result.rows]
    assert got == [("2026-W53", D(1), D(2)), ("2027-W01", D(5), D(10)), ("2027-W02", D(3), D(6))]
    # any other grouping: the largest change first
    by_team = compare_pricing(con, current_table, load_price_table(other), ["week", "team"])
    assert [r.keys["week"] for r in by_team.rows] == ["2027-W01", "2027-W02", "2026-W53"]
