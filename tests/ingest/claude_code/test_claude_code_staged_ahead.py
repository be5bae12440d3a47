"""Staging ahead on worker connections loads exactly what the loader alone loads.

The loader stages upcoming batches of a ``parallel_staging`` format on other DuckDB
connections (``_Stager``). Here small batches (about ten) are staged ahead
while earlier ones load; the store must come out identical to a run with no workers,
including a file whose staging fails (an archive with a byte that is not UTF-8, which
DuckDB refuses whole: the loader retries the batch in halves, then loads a repaired copy)
and an archive cut short (loaded apart, from its readable copy).
"""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import ingest_contents
from tokaudit.ingest.claude_code import ClaudeCodeFormat
from tokaudit.ingest.staging import SPLIT_VARIABLE
from tokaudit.store import open_store

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "claude_code" / "claude-config"


def _tree_with_a_broken_archive(root: Path) -> tuple[Path, Path]:
    """The fixture tree plus a good archive, an archive DuckDB refuses (a line with a byte
    that is not UTF-8, ids changed so its requests are new) and an archive cut short."""
    tree = root / "claude-config"
    shutil.copytree(FIXTURE, tree)
    sessions = sorted(tree.rglob("*.jsonl"))
    assert len(sessions) > 6
    biggest = max(sessions, key=lambda p: p.stat().st_size)
    whole = sessions[0].with_name(sessions[0].stem + "-whole.jsonl.gz")  # a good archive
    whole.write_bytes(gzip.compress(sessions[0].read_bytes().replace(b'"msg_', b'"msgz_')))
    lines = biggest.read_bytes().replace(b'"msg_', b'"msgy_').split(b"\n")
    lines[3] = lines[3].replace(b'"type"', b'"\xff\xfetype"', 1)
    broken = biggest.with_name(biggest.stem + "-copy.jsonl.gz")
    broken.write_bytes(gzip.compress(b"\n".join(lines)))
    packed = gzip.compress(sessions[1].read_bytes().replace(b'"msg_', b'"msgx_'))
    cut = sessions[1].with_name(sessions[1].stem + "-cut.jsonl.gz")
    cut.write_bytes(packed[: len(packed) * 2 // 3])  # the head still reads
    return tree, broken


def _load(
    tree: Path,
    workers: int,
    monkeypatch: pytest.MonkeyPatch,
    *,
    batch_bytes: int = 48_000,  # about ten batches
    split: bool = True,
    threads: int = 2,
) -> dict[str, Any]:
    monkeypatch.setenv("TOKAUDIT_STAGE_WORKERS", str(workers))
    monkeypatch.setattr(ClaudeCodeFormat, "batch_bytes", batch_bytes)
    con = open_store(":memory:")
    con.execute(f"SET threads = {threads}")
    if not split:  # every statement whole, as on a worker connection
        con.execute(f"SET VARIABLE {SPLIT_VARIABLE} = false")
    try:
        contents = ingest_contents(con, [str(tree)])
        attached = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = 'tokaudit_stage'"
        ).fetchone()
    finally:
        con.close()
    return {**contents, "attached": attached}


def test_staging_ahead_loads_what_the_loader_alone_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree, broken = _tree_with_a_broken_archive(tmp_path)
    alone = _load(tree, 0, monkeypatch)
    ahead = _load(tree, 3, monkeypatch)
    assert ahead == alone
    assert len(alone["requests"]) > 10
    [bad] = [f for f in alone["files"] if f[0] == str(broken)]
    assert bad[6] is None and bad[5] == 1 and bad[3] > 0  # one line lost, the rest loaded
    [reject] = [r for r in alone["rejects"] if r[0] == str(broken.resolve())]
    assert reject[1] == 4 and reject[3].startswith("not valid UTF-8 (byte 0xff")
    cut = [r for r in alone["rejects"] if r[0].endswith("-cut.jsonl.gz")]
    assert len(cut) == 1 and cut[0][3].startswith("truncated .gz archive; what could be read")
    assert ahead["attached"] == (0,)  # the staging database is gone afterwards


@pytest.mark.parametrize("threads", [2, 3])
def test_one_batch_split_over_threads_loads_what_whole_statements_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    """Everything in one batch: the loader stages it itself, each statement over groups of
    files or ranges of rows, one per thread (compressed files read apart, in order)."""
    tree, broken = _tree_with_a_broken_archive(tmp_path)
    broken.unlink()  # a failing batch is retried file by file: keep this one whole
    for cut in tree.rglob("*-cut.jsonl.gz"):
        cut.unlink()  # loaded in a batch of its own
    one = 1 << 30
    whole = _load(tree, 0, monkeypatch, batch_bytes=one, split=False, threads=threads)
    split = _load(tree, 0, monkeypatch, batch_bytes=one, threads=threads)
    assert split == whole
    assert len(whole["requests"]) > 10
    assert any(f[0].endswith("-whole.jsonl.gz") and f[3] > 0 for f in whole["files"])
    assert whole == _load(tree, 3, monkeypatch)  # and as batches staged ahead
