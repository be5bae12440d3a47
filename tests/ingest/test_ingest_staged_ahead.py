"""Envelope files staged ahead on worker connections load exactly as when loaded alone.

The bundled sample month (several envelope files, one malformed line) is ingested with no
staging workers and with three; the stores must hold the same rows and rejects.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tokaudit.ingest import ingest_paths
from tokaudit.ingest.envelope import EnvelopeFormat
from tokaudit.store import open_store

SAMPLES = Path(__file__).resolve().parents[2] / "sample_logs"


def _load(workers: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("TOKAUDIT_STAGE_WORKERS", str(workers))
    # a batch per sample file (together they would be one batch, staged here)
    monkeypatch.setattr(EnvelopeFormat, "batch_bytes", 0)
    con = open_store(":memory:")
    try:
        result = ingest_paths(con, [str(SAMPLES)])
        return {
            "files": sorted(
                (f.path, f.format, f.records_read, f.loaded, f.duplicates, f.rejected)
                for f in result.files
            ),
            "requests": con.execute(
                "SELECT * EXCLUDE (metadata), metadata::VARCHAR FROM requests ORDER BY request_key"
            ).fetchall(),
            "texts": con.execute("SELECT count(*), sum(chars) FROM prompt_texts").fetchall(),
            "rejects": con.execute(
                "SELECT source_file, source_line, reason FROM rejects ORDER BY ALL"
            ).fetchall(),
        }
    finally:
        con.close()


def test_envelope_files_staged_ahead_load_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    alone = _load(0, monkeypatch)
    ahead = _load(3, monkeypatch)
    assert ahead == alone
    assert len({f[0] for f in alone["files"]}) >= 3
    assert {f[1] for f in alone["files"]} >= {"envelope"}
    assert len(alone["requests"]) > 1000 and len(alone["rejects"]) == 1


def test_an_interrupted_ingest_stops_the_batches_staged_ahead(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ctrl-C waited for every batch being staged ahead (up to 12 s, QA): the workers'
    running statements are now interrupted, and a normal end interrupts nothing."""
    from tokaudit.ingest import loader

    interrupted: list[bool] = []
    real_close = loader._Stager.close

    def close(self: Any, abandon: bool = False) -> None:
        interrupted.append(abandon)
        real_close(self, abandon)

    monkeypatch.setattr(loader._Stager, "close", close)
    monkeypatch.setenv("TOKAUDIT_STAGE_WORKERS", "2")
    monkeypatch.setattr(EnvelopeFormat, "batch_bytes", 0)  # a batch per sample file
    con = open_store(":memory:")
    calls = 0
    real_load = loader._load_batch

    def load_then_interrupt(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        real_load(*args, **kwargs)

    monkeypatch.setattr(loader, "_load_batch", load_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        ingest_paths(con, [str(SAMPLES)])
    assert interrupted == [True]
    monkeypatch.setattr(loader, "_load_batch", real_load)
    ingest_paths(open_store(":memory:"), [str(SAMPLES)])
    assert interrupted == [True, False]
    con.close()


def test_naive_timestamps_staged_ahead_are_utc_on_a_machine_in_another_zone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's cursor started from the machine's time zone (``SET`` is per session): on
    a machine in New York a naive 10:00 staged ahead was stored as 14:00 UTC (QA)."""
    monkeypatch.setenv("TOKAUDIT_STAGE_WORKERS", "2")
    monkeypatch.setattr(EnvelopeFormat, "batch_bytes", 0)  # a batch per file
    for n in range(3):
        line = {
            "timestamp": "2026-10-01 10:00:00",  # naive: UTC, as docs/envelope.md says
            "provider": "openai",
            "request_id": f"req_{n}",
            "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
            "response": {
                "id": f"chatcmpl-{n}",
                "object": "chat.completion",
                "model": "gpt-4o",
                "choices": [],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5},
            },
        }
        (tmp_path / f"f{n}.jsonl").write_text(json.dumps(line) + "\n")
    con = open_store(":memory:")
    # the machine's zone, which new connections (cursors) start from; the store's own
    # session stays UTC
    con.execute("SET GLOBAL TimeZone = 'America/New_York'")
    con.execute("SET TimeZone = 'UTC'")
    try:
        ingest_paths(con, [str(tmp_path)])
        stored = con.execute("SELECT DISTINCT strftime(ts, '%Y-%m-%d %H:%M') FROM requests")
        assert stored.fetchall() == [("2026-10-01 10:00",)]
        assert con.execute("SELECT count(*) FROM requests").fetchone() == (3,)
    finally:
        con.close()
