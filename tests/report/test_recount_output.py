"""`report --show recount` as JSON and CSV: the spend report's shape, not a bare row list.

A total row among the data rows could not be told from a team named "total", and the dollar
columns named no price table. Expected figures are computed here from the logged usage and the
store's per-request recount (gpt-4o-mini input: $0.15 per 1M tokens).
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

from helpers import openai_record, priced_store
from tokaudit.pricing.table import load_price_table
from tokaudit.report.recount import COLUMNS, recount_report, report_rows
from tokaudit.report.renderers import csv_format, json_format

REPO = Path(__file__).resolve().parents[2]
INPUT_PRICE = Decimal("0.15") / 1_000_000
# A team literally named "total", next to an ordinary one.
RECORDS = [
    openai_record("2026-10-01T00:00:00Z", "gpt-4o-mini", 100, 5, team="total"),
    openai_record("2026-10-02T00:00:00Z", "gpt-4o-mini", 50, 5, team="search"),
    openai_record("2026-10-03T00:00:00Z", "gpt-4o-mini", 70, 5, team="search"),
]


@pytest.fixture
def con(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    return priced_store(tmp_path, RECORDS)


def _exact(value: Decimal, places: str | None = None) -> str:
    """Money as JSON writes it: an exact decimal string without trailing zeros."""
    if places is not None:
        value = value.quantize(Decimal(places))
    return format(value.normalize(), "f")


def _expected(con: duckdb.DuckDBPyConnection, team: str | None) -> dict[str, Any]:
    """Reported vs recounted input for one team (None: all), from the logged numbers."""
    reported = {"total": [100], "search": [50, 70]}
    recounts = dict(
        con.execute("SELECT request_id, recounted_input_tokens FROM token_audit").fetchall()
    )
    ids = [i for i in recounts if team is None or f"-{team}-" in i]
    rep = sum(sum(v) for k, v in reported.items() if team in (None, k))
    rec = sum(recounts[i] for i in ids)
    return {
        "requests": len(ids),
        "compared": len(ids),
        "reported_input": rep,
        "recounted_input": rec,
        "input_difference": rep - rec,
        "input_difference_pct": _exact(Decimal(rep - rec) * 100 / rec, "0.01"),
        "input_difference_usd": _exact((rep - rec) * INPUT_PRICE),
    }


def test_json_is_an_object_with_rows_totals_and_pricing(con: duckdb.DuckDBPyConnection) -> None:
    data = json.loads(json_format.render_recount(recount_report(con, ["team"])))
    assert list(data) == ["group_by", "currency", "pricing", "rows", "totals"]
    table = load_price_table(REPO / "pricing")
    assert data["pricing"] == {"table_version": table.table_version, "sha256": table.table_sha256}
    assert (data["group_by"], data["currency"]) == (["team"], "USD")
    rows = {r["team"]: r for r in data["rows"]}
    assert len(data["rows"]) == 2  # two groups; the totals are not a row
    for team in ("total", "search"):
        expected = _expected(con, team)
        assert {k: rows[team][k] for k in expected} == expected
        assert list(rows[team]) == ["team", *COLUMNS]
    expected = _expected(con, None)
    assert {k: data["totals"][k] for k in expected} == expected
    assert list(data["totals"]) == COLUMNS  # no group key to mistake for a group
    # No output was logged-and-recounted: unknown, not 0.
    assert data["totals"]["output_difference_usd"] is None


def test_csv_has_data_rows_only(con: duckdb.DuckDBPyConnection) -> None:
    text = csv_format.render_recount(recount_report(con, ["team"]))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["team", *COLUMNS]
    assert sorted(r[0] for r in rows[1:]) == ["search", "total"]  # the team, no total line
    by_team = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    expected = _expected(con, "total")
    assert by_team["total"]["reported_input"] == str(expected["reported_input"])
    assert by_team["total"]["input_difference_usd"] == expected["input_difference_usd"]
    assert by_team["total"]["output_difference_usd"] == ""


def test_people_tables_keep_their_total_row(con: duckdb.DuckDBPyConnection) -> None:
    columns, rows = report_rows(recount_report(con, ["team"]))
    assert columns == ["team", *COLUMNS]
    # two groups (search has the larger input difference), then the total
    assert [r[0] for r in rows] == ["search", "total", "total"]
    assert rows[-1][columns.index("reported_input")] == 220


def test_a_time_series_is_listed_in_time_order(tmp_path: Path) -> None:
    """`--show recount --by week` (day, month) alone lists periods in time order, as the spend
    report does; it was ordered by the size of the input difference. Each request sends the
    same "hi", so the week logging 5,000 prompt tokens differs most."""
    con = priced_store(
        tmp_path,
        [
            openai_record("2026-12-28T12:00:00Z", "gpt-4o-mini", 1_000, 5),
            openai_record("2027-01-04T12:00:00Z", "gpt-4o-mini", 5_000, 5),
            openai_record("2027-01-11T12:00:00Z", "gpt-4o-mini", 3_000, 5),
        ],
    )
    report = recount_report(con, ["week"])
    assert [r.keys["week"] for r in report.rows] == ["2026-W53", "2027-W01", "2027-W02"]
    assert [r.reported_input for r in report.rows] == [1_000, 5_000, 3_000]
    # any other grouping: the largest difference first
    by_team = recount_report(con, ["week", "team"])
    assert [r.keys["week"] for r in by_team.rows] == ["2027-W01", "2027-W02", "2026-W53"]
