"""A Parquet export with a column of its own named ``file_row_number``: DuckDB's
``read_parquet(file_row_number = true)``, which the mapped reader used for line numbers,
cannot add its column beside one of that name (in any case), and the whole file failed
with a Binder Error, exit 2. The file's column is now a column like any other: it loads,
mapped or kept in metadata, and rejects still carry the 1-based row number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import yaml
from mapped_helpers import ingest_mapped
from typer.testing import CliRunner

from tokaudit.cli import app

if TYPE_CHECKING:
    from conftest import EnvelopeKit

runner = CliRunner()

MAP: dict[str, Any] = {
    "fields": {"timestamp": "ts", "model": "model", "input_tokens": "pt", "output_tokens": "ct"},
    "static": {"provider": "openai"},
}


def _parquet(path: Path, rows: str, extra: str = "") -> Path:
    """Rows i in ``rows`` (a DuckDB range) with pt = 10*i, ct = i (the 3rd row's ct is
    text: a reject), and a column ``<extra> = 100 - i`` of the user's."""
    con = duckdb.connect()
    try:
        con.execute(
            f"""COPY (SELECT '2026-02-01T00:00:00Z' AS ts, 'gpt-4o' AS model, 10 * i AS pt,
                         CASE WHEN i = 3 THEN 'x' ELSE i::VARCHAR END AS ct{extra}
                  FROM {rows} t(i) ORDER BY i) TO '{path}' (FORMAT parquet)"""
        )
    finally:
        con.close()
    return path


@pytest.mark.parametrize(
    "extra",
    [
        ", 100 - i AS file_row_number",
        ", 100 - i AS File_Row_Number",  # DuckDB's names are case-insensitive
        ", 100 - i AS file_row_number, 0 AS tokaudit_row_number",
    ],
)
def test_a_column_named_file_row_number_loads(kit: EnvelopeKit, extra: str) -> None:
    path = _parquet(kit.tmp_path / "usage.parquet", "range(1, 5)", extra)
    fr = ingest_mapped(kit, path, MAP)
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (4, 3, 1)
    name = extra.split(" AS ")[1].split(",")[0]
    rows = kit.query(
        "SELECT source_line, input_tokens, output_tokens, metadata FROM requests "
        "ORDER BY source_line"
    )
    # rows 1, 2 and 4 of the file (1-based); the user's column kept whole in metadata
    expected_meta = [{name: 100 - i} for i in (1, 2, 4)]
    if "tokaudit_row_number" in extra:
        expected_meta = [{**m, "tokaudit_row_number": 0} for m in expected_meta]
    assert [
        (r["source_line"], r["input_tokens"], r["output_tokens"], json.loads(r["metadata"]))
        for r in rows
    ] == [(i, 10 * i, i, m) for i, m in zip((1, 2, 4), expected_meta, strict=True)]
    [reject] = kit.query("SELECT source_line, reason, raw FROM rejects")
    assert reject["source_line"] == 3
    assert reject["reason"] == "column ct should be a whole number, got x"
    assert json.loads(reject["raw"])[name] == 97


def test_the_column_can_be_mapped_and_reloading_a_reordered_copy_adds_nothing(
    kit: EnvelopeKit,
) -> None:
    """Mapped (as latency), and a copy of the rows in another order is duplicates: the
    reader's own row number is no part of the record's hash, the file's column is."""
    fmap = {**MAP, "fields": {**MAP["fields"], "latency_ms": "file_row_number"}}
    first = _parquet(kit.tmp_path / "a.parquet", "range(1, 5)", ", 100 - i AS file_row_number")
    fr = ingest_mapped(kit, first, fmap)
    assert (fr.loaded, fr.rejected) == (3, 1)
    assert [r["latency_ms"] for r in kit.query("SELECT latency_ms FROM requests ORDER BY 1")] == [
        96.0,
        98.0,
        99.0,
    ]
    con = duckdb.connect()
    try:
        second = kit.tmp_path / "b.parquet"
        con.execute(
            f"COPY (SELECT * FROM read_parquet('{first}') ORDER BY pt DESC) TO '{second}' "
            "(FORMAT parquet)"
        )
    finally:
        con.close()
    again = ingest_mapped(kit, second, fmap)
    assert (again.loaded, again.duplicates, again.rejected) == (0, 3, 1)
    # the reordered file's reject is its row 2 (rows 4, 3, 2, 1 of the first)
    assert [
        r["source_line"]
        for r in kit.query("SELECT source_line FROM rejects WHERE source_file = ?", [str(second)])
    ] == [2]


def test_cli_the_repro_exits_0(kit: EnvelopeKit) -> None:
    tmp = kit.tmp_path
    path = _parquet(tmp / "x.parquet", "range(1, 2)", ", 7 AS file_row_number")
    fmap = tmp / "m.yaml"
    fmap.write_text(yaml.safe_dump(MAP), "utf-8")
    db = tmp / "s.duckdb"
    result = runner.invoke(
        app, ["ingest", str(path), "--map", str(fmap), "--db", str(db), "--output", "json"]
    )
    assert result.exit_code == 0, result.stderr
    assert "Binder Error" not in result.stderr
    assert json.loads(result.stdout)["totals"]["loaded"] == 1
