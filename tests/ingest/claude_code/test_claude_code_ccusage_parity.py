"""Parity with ccusage 20.0.24 on a generated Claude Code tree (tests/fixtures/claude_code).

``ccusage-daily.json`` was recorded by ccusage itself (command and version in the README
there): the independent expectation. Per day, every token class must be equal and the
cost must agree to the cent. No npm at test time.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from claude_code_kit import PUBLISHED, Store, assert_counts_add_up
from typer.testing import CliRunner

from tokaudit.cli import app

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code"
CONFIG = FIXTURE / "claude-config"


def _ccusage() -> dict[str, dict[str, Any]]:
    daily = json.loads((FIXTURE / "ccusage-daily.json").read_text())["daily"]
    return {
        d["date"]: {
            "input": d["inputTokens"],
            "output": d["outputTokens"],
            "cache_write": d["cacheCreationTokens"],
            "cache_read": d["cacheReadTokens"],
            "cost": Decimal(repr(d["totalCost"])),
        }
        for d in daily
    }


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_the_fixture_holds_every_case() -> None:
    models: set[str] = set()
    seen: dict[str, set[tuple[str, str]]] = {}
    for path in CONFIG.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            record = json.loads(line)
            message = record.get("message")
            if isinstance(message, dict) and "usage" in message:
                models.add(message["model"])
                pair = (record.get("requestId"), record["sessionId"])
                seen.setdefault(message["id"], set()).add(pair)
    replays = sum(1 for pairs in seen.values() if len({r for r, _ in pairs}) > 1)
    copies = sum(1 for pairs in seen.values() if len({s for _, s in pairs}) > 1)
    assert models == set(PUBLISHED) | {"<synthetic>"}
    assert replays > 0 and copies > 0  # /btw replays and resumed-session copies


def test_per_day_totals_equal_ccusage(store: Store) -> None:
    result = store.ingest(CONFIG)
    assert not result.errors and result.total("rejected") == 0
    assert_counts_add_up(result)
    ours = {
        day: {
            "input": i,
            "output": o,
            "cache_write": w,
            "cache_read": r,
            "cost": Decimal(c),
            "unpriced": u,
        }
        for day, i, o, w, r, c, u in store.rows(
            """SELECT strftime(ts, '%Y-%m-%d'), sum(input_tokens), sum(output_tokens),
                sum(cache_write_5m_tokens + cache_write_1h_tokens), sum(cache_read_tokens),
                sum(cost_usd), count(*) FILTER (WHERE pricing_status <> 'priced')
            FROM request_costs GROUP BY 1"""
        )
    }
    theirs = _ccusage()
    assert sorted(ours) == sorted(theirs)
    for day, expected in theirs.items():
        got = ours[day]
        assert got["unpriced"] == 0, day
        for key in ("input", "output", "cache_write", "cache_read"):
            assert got[key] == expected[key], (day, key)
        assert _cents(got["cost"]) == _cents(expected["cost"]), day
        assert abs(got["cost"] - expected["cost"]) < Decimal("0.000001"), day


def test_cli_prints_the_invariant_with_non_requests(tmp_path: Path) -> None:
    runner = CliRunner()
    db = str(tmp_path / "s.duckdb")
    out = runner.invoke(app, ["ingest", str(CONFIG), "--db", db, "-o", "json"])
    assert out.exit_code == 0, out.stderr
    totals = json.loads(out.stdout)["totals"]
    assert totals["records_read"] == 457  # the fixture's physical lines, none blank
    assert totals["records_read"] == (
        totals["loaded"] + totals["duplicates"] + totals["rejected"] + totals["non_requests"]
    )
    assert totals["non_requests"] > 0 and totals["rejected"] == 0
    audit = runner.invoke(app, ["audit", str(CONFIG), "-f", "json"])
    assert audit.exit_code == 0, audit.stderr
    assert f"{totals['non_requests']} not model calls" in audit.stderr
    spent = json.loads(audit.stdout)["breakdowns"][0]["totals"]["cost_usd"]
    total = sum((d["cost"] for d in _ccusage().values()), Decimal(0))
    assert _cents(Decimal(spent)) == _cents(total)
