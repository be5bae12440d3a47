"""``uncounted`` names the recount's pending work, and nothing when the recount has none.

``findings`` and ``report --show recount`` stay read-only on its word, so each kind of
work the recount does must show: new inputs, replies and system prompts, counts by an older
tokenizer version, and requests whose recount columns lag the stored counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from helpers import write_jsonl
from tokaudit.ingest import ingest_paths
from tokaudit.recount import recount
from tokaudit.recount.pending import Uncounted, uncounted
from tokaudit.store import open_store, open_store_read_only
from tokaudit.tokenizers import Registry, TiktokenTokenizer, load_tokenizers

PROMPT = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Say hello in Japanese."},
]


def _record(rid: str, model: str) -> dict[str, Any]:
    """A request with a system prompt and a reply body, the reply counted per vocabulary."""
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request": {"model": model, "messages": PROMPT},
        "response": {
            "id": rid,
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": "こんにちは"}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 3},
        },
    }


@dataclass
class _Bumped(TiktokenTokenizer):
    """The same counts under a new version, as after a tiktoken upgrade."""

    def __post_init__(self) -> None:
        TiktokenTokenizer.__init__(self)
        self.version += "+bumped"


def _store(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = open_store(tmp_path / "store.duckdb")
    records = [_record("a", "gpt-4.1"), _record("b", "gpt-4-turbo")]  # o200k and cl100k
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    return con


def _idle(con: duckdb.DuckDBPyConnection, registry: Registry) -> None:
    """Nothing pending, and the recount indeed finds nothing to do."""
    assert uncounted(con, registry) == Uncounted()
    assert not uncounted(con, registry)
    again = recount(con, registry, workers=1)
    assert (again.texts_counted, again.requests_updated) == (0, 0)


def test_new_texts_are_pending_until_recounted(tmp_path: Path) -> None:
    con = _store(tmp_path)
    registry = load_tokenizers()
    # one input and one reply under each vocabulary, one system prompt to size
    assert uncounted(con, registry) == Uncounted(inputs=2, replies=2, system_prompts=1)
    done = recount(con, registry, workers=1)
    assert done.requests_updated == 2
    _idle(con, registry)


def test_a_new_tokenizer_version_makes_inputs_and_replies_pending(tmp_path: Path) -> None:
    con = _store(tmp_path)
    recount(con, load_tokenizers(), workers=1)
    bumped = Registry([_Bumped()])
    # both models fall to tiktoken (+bumped); system prompts keep their o200k_base size
    assert uncounted(con, bumped) == Uncounted(inputs=2, replies=2)
    assert recount(con, bumped, workers=1).texts_counted > 0
    _idle(con, bumped)


def test_requests_lagging_the_stored_counts_are_pending(tmp_path: Path) -> None:
    con = _store(tmp_path)
    registry = load_tokenizers()
    recount(con, registry, workers=1)
    con.execute("UPDATE requests SET recounted_output_tokens = NULL WHERE request_id = 'a'")
    assert uncounted(con, registry) == Uncounted(requests=1)
    assert recount(con, registry, workers=1).requests_updated == 1
    _idle(con, registry)


def test_counts_lost_for_one_vocabulary_are_pending(tmp_path: Path) -> None:
    con = _store(tmp_path)
    registry = load_tokenizers()
    recount(con, registry, workers=1)
    con.execute("DELETE FROM token_counts WHERE encoding = 'cl100k_base'")  # gpt-4-turbo's
    assert uncounted(con, registry) == Uncounted(inputs=1, replies=1)
    assert recount(con, registry, workers=1).texts_counted > 0
    _idle(con, registry)


def test_asked_on_a_read_only_store_without_writing(tmp_path: Path) -> None:
    con = _store(tmp_path)
    con.close()
    db = tmp_path / "store.duckdb"
    before = db.read_bytes()
    ro = open_store_read_only(db)
    try:
        registry = load_tokenizers()
        assert uncounted(ro, registry) == Uncounted(inputs=2, replies=2, system_prompts=1)
        assert registry.broken == []
        temp = ro.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()
        assert temp == (0,)  # its plan table is dropped again
    finally:
        ro.close()
    assert db.read_bytes() == before
