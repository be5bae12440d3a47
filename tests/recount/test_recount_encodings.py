"""Requests whose models share a tokenizer plugin but not a vocabulary are counted apart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from helpers import write_jsonl
from tokaudit.ingest import ingest_paths
from tokaudit.recount import recount
from tokaudit.store import open_store
from tokaudit.tokenizers import TiktokenTokenizer
from tokaudit.tokenizers.tiktoken_plugin import BLANK_RUN_CHUNK

PROMPT = [{"role": "user", "content": "Say hello in Japanese and with an emoji."}]
REPLY = "こんにちは 🙂 — 東京からこんにちは、世界！"


def _record(rid: str, model: str) -> dict[str, Any]:
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request": {"model": model, "messages": PROMPT},
        "response": {
            "id": rid,
            "model": model,
            "choices": [{"message": {"role": "assistant", "content": REPLY}}],
        },
    }


def _outputs(tmp_path: Path, records: list[dict[str, Any]]) -> dict[str, int]:
    tmp_path.mkdir()
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    recount(con, workers=1)
    rows = con.execute("SELECT request_id, recounted_output_tokens FROM requests").fetchall()
    con.close()
    return dict(rows)


def test_the_same_reply_under_two_vocabularies_gets_each_count(tmp_path: Path) -> None:
    tik = TiktokenTokenizer()
    assert (tik.encoding_for("gpt-4.1"), tik.encoding_for("gpt-4-turbo")) == (
        "o200k_base",
        "cl100k_base",
    )
    # the reply's text counts differently in the two vocabularies
    o200k, cl100k = (
        len(tik.get_encoding(e).encode_ordinary(REPLY)) for e in ("o200k_base", "cl100k_base")
    )
    assert o200k != cl100k
    together = _outputs(tmp_path / "both", [_record("a", "gpt-4.1"), _record("b", "gpt-4-turbo")])
    alone = {
        **_outputs(tmp_path / "a", [_record("a", "gpt-4.1")]),
        **_outputs(tmp_path / "b", [_record("b", "gpt-4-turbo")]),
    }
    assert together == alone
    assert together["a"] - together["b"] == o200k - cl100k


def _plain(rid: str, text: str) -> dict[str, Any]:
    record = _record(rid, "gpt-4o")
    record["request"]["messages"] = [{"role": "user", "content": text}]
    return record


@pytest.mark.parametrize("workers", [1, 2])
def test_a_text_tiktoken_refuses_is_counted_by_the_estimate(tmp_path: Path, workers: int) -> None:
    """tiktoken panics (a Rust stack overflow) on a run of about a million spaces, so it
    refuses runs of LONGEST_BLANK_RUN: the estimate counts those texts instead, the run cut
    in chunks of BLANK_RUN_CHUNK, labelled an estimate; every other request is tiktoken's."""
    records = [
        _plain("ok", "hello there"),
        _plain("blank", " " * 1_200_000),
        _plain("tabs", "\t" * 1_100_000),
    ]
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    result = recount(con, workers=workers)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT request_id, recounted_input_tokens, exact, tokenizer FROM token_audit"
        ).fetchall()
    }
    stored = con.execute("SELECT max(tokens) FROM token_counts").fetchone()
    con.close()
    enc = TiktokenTokenizer().get_encoding("o200k_base")

    def chunked(blank: str, n: int) -> int:
        full, rest = divmod(n, BLANK_RUN_CHUNK)
        return full * len(enc.encode_ordinary(blank * BLANK_RUN_CHUNK)) + len(
            enc.encode_ordinary(blank * rest)
        )

    framing = 3 + 3 + len(enc.encode_ordinary("user"))
    assert rows == {
        "ok": (framing + len(enc.encode_ordinary("hello there")), True, "tiktoken"),
        "blank": (framing + chunked(" ", 1_200_000), False, "tiktoken+estimate-o200k"),
        "tabs": (framing + chunked("\t", 1_100_000), False, "tiktoken+estimate-o200k"),
    }
    assert stored is not None and stored[0] < 1_000  # no estimate was stored
    [(name, why)] = result.broken_plugins
    assert name == "tiktoken"
    assert "spaces or tabs: tiktoken cannot split runs that long" in why
    assert "counted with the estimate (estimate-o200k) instead" in why
