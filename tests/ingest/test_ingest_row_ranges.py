"""Staging a file over ranges of its lines, one per DuckDB thread, gives the same rows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tokaudit.ingest import envelope
from tokaudit.ingest.sqltext import install_macros
from tokaudit.ingest.staging import SPLIT_VARIABLE, create_staged, stage_lines
from tokaudit.store import open_store

ROOT = Path(__file__).resolve().parents[2]
LOGS = [
    ROOT / "sample_logs" / "openai-2026-10.jsonl",  # includes a truncated line (a reject)
    ROOT / "tests" / "fixtures" / "envelope" / "mixed.jsonl",
]
SOURCE = "FROM _raw WHERE"


def _staged(con: duckdb.DuckDBPyConnection, path: Path, split: bool) -> list[tuple[object, ...]]:
    stage_lines(con, path)
    create_staged(
        con, envelope._STAGE_FAST, fixed_columns=True, split=("_raw", SOURCE) if split else None
    )
    # timestamps as text: DuckDB before 2.0.1 needs pytz to return aware datetimes
    return con.execute(
        "SELECT * REPLACE (ts::VARCHAR AS ts) FROM _staged ORDER BY line_no"
    ).fetchall()


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("path", LOGS, ids=[p.name for p in LOGS])
def test_split_staging_gives_the_rows_of_one_statement(
    tmp_path: Path, path: Path, threads: int
) -> None:
    con = open_store(tmp_path / "s.duckdb")
    install_macros(con)
    con.execute(f"SET threads = {threads}")
    whole = _staged(con, path, split=False)
    parts = _staged(con, path, split=True)
    assert len(whole) > 5
    assert parts == whole
    # where other batches load meanwhile the loader turns the split off: same rows
    con.execute(f"SET VARIABLE {SPLIT_VARIABLE} = false")
    assert _staged(con, path, split=True) == whole
    order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    assert order == (True,)  # put back after the split statement


def test_a_split_needs_the_source_once(tmp_path: Path) -> None:
    con = open_store(tmp_path / "s.duckdb")
    con.execute("CREATE TEMP TABLE _raw AS SELECT 1 AS line_no, '{}' AS line")
    with pytest.raises(ValueError, match="must read _raw once"):
        create_staged(con, "SELECT line_no FROM _raw", split=("_raw", SOURCE))


def test_a_file_out_of_memory_reports_why_and_keeps_line_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A split statement failing inside the file's transaction: the error says out of
    memory (not "transaction aborted"), and the connection keeps rows in order again."""
    from tokaudit.ingest import ingest_paths

    monkeypatch.setenv("TOKAUDIT_MEMORY_LIMIT", "16MB")
    con = open_store(tmp_path / "s.duckdb")
    [fr] = ingest_paths(con, [str(LOGS[0])]).files
    assert fr.error is not None
    assert "Out of Memory" in fr.error and "TOKAUDIT_MEMORY_LIMIT=16MB" in fr.error
    order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    assert order == (True,)
