"""The recount parses bodies in row ranges, one per DuckDB thread: exactly the bodies to count."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers import write_jsonl
from tokaudit.ingest import ingest_paths
from tokaudit.recount import profile_key, recount, units
from tokaudit.store import open_store
from tokaudit.tokenizers import TiktokenTokenizer

ROWS = 500


def _texts(threads: int) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(
        "CREATE TABLE prompt_texts AS SELECT md5(i::VARCHAR) AS text_hash, "
        f"'{{}}' AS body FROM range({ROWS}) t(i)"
    )
    return con


def _picked(con: duckdb.DuckDBPyConnection) -> Counter[str]:
    query = " UNION ALL ".join(f"SELECT text_hash FROM ({part})" for part in units.body_parts(con))
    return Counter(h for (h,) in con.execute(query).fetchall())


SUBSETS = {
    "all": list(range(ROWS)),
    "the newest rows": list(range(400, ROWS)),
    "two blocks": [*range(10, 60), *range(300, 420)],
    "scattered (more runs than MAX_RANGES)": list(range(0, ROWS, 3)),
    "one row": [250],
}


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("subset", SUBSETS, ids=list(SUBSETS))
def test_parts_pick_each_body_to_count_once(subset: str, threads: int) -> None:
    con = _texts(threads)
    wanted = [hashlib.md5(str(i).encode()).hexdigest() for i in SUBSETS[subset]]
    con.execute("CREATE TEMP TABLE _todo_in (input_hash VARCHAR)")
    con.executemany("INSERT INTO _todo_in VALUES (?)", [(h,) for h in wanted])
    assert _picked(con) == Counter(wanted)
    assert len(units.body_parts(con)) <= threads


def test_no_bodies_to_count_picks_none() -> None:
    con = _texts(2)
    con.execute("CREATE TEMP TABLE _todo_in (input_hash VARCHAR)")
    assert _picked(con) == Counter()


def _chat(rid: str, model: str, turn: int) -> dict[str, Any]:
    messages = [{"role": "system", "content": "Be brief."}]
    for n in range(turn + 1):
        messages.append({"role": "user", "content": f"question {n} of {rid}"})
        messages.append({"role": "assistant", "content": f"answer {n} of {rid}"})
    messages.pop()
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "request": {"model": model, "messages": messages},
        "response": {"id": rid, "model": model, "usage": {"prompt_tokens": 1}},
    }


def _counts(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT request_key, recounted_input_tokens, recount_exact FROM requests ORDER BY 1"
    ).fetchall()


@pytest.mark.parametrize("max_ranges", [1000, 1], ids=["row ranges", "join"])
def test_recounting_scattered_bodies_gives_the_first_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_ranges: int
) -> None:
    """Bodies of one model, interleaved with another's, recounted alone (ranges or join)."""
    records = [_chat(f"r{i}", "gpt-4o-mini" if i % 2 else "gpt-4.1", i % 7) for i in range(200)]
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    recount(con, workers=1)
    first = _counts(con)
    assert all(tokens for _, tokens, _ in first)
    # forget the input sums of one model's requests: their bodies lie every other row
    profile = profile_key(TiktokenTokenizer().chat_profile("gpt-4.1"))
    forgotten = con.execute(
        """DELETE FROM token_counts WHERE text_hash IN (
            SELECT md5(concat_ws(':', 'in', provider, ?, input_hash))
            FROM requests WHERE model = 'gpt-4.1')""",
        [profile],
    ).fetchone()
    assert forgotten == (100,)
    con.execute("UPDATE requests SET recounted_input_tokens = NULL WHERE model = 'gpt-4.1'")
    monkeypatch.setattr(units, "MAX_RANGES", max_ranges)
    recount(con, workers=1)
    assert _counts(con) == first
    order = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    assert order == (True,)  # the recount puts the setting back


TRICKY = [
    'He said "stop" \\ then\nleft\t.',
    "emoji 🙂 and accents: déjà vu, naïve, 東京",
    '{"looks": "like json"}',
    "  leading and trailing spaces  ",
    "",
]


def test_plain_messages_with_escapes_count_as_tiktoken_counts_them(tmp_path: Path) -> None:
    """Plain role+text messages skip Python's JSON parsing; their text must survive exactly."""
    records = [
        {
            "timestamp": "2026-10-01T10:00:00Z",
            "provider": "openai",
            "request": {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": text},
                    {"role": "user", "content": text[::-1]},
                    {"role": "user", "content": text, "name": "bob"},  # not plain: a name
                ],
            },
            "response": {"id": f"t{n}", "model": "gpt-4o-mini"},
        }
        for n, text in enumerate(TRICKY)
    ]
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    recount(con, workers=1)
    encoding = TiktokenTokenizer().get_encoding("o200k_base")

    def tokens(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    # OpenAI cookbook framing: 3 per message + role + content (a name joins its role as one
    # text, "user:bob", as recorded calls bill it), 3 to prime the reply
    want = {
        f"t{n}": 3
        + (3 + tokens("system") + tokens(text))
        + (3 + tokens("user") + tokens(text[::-1]))
        + (3 + tokens("user:bob") + tokens(text))
        for n, text in enumerate(TRICKY)
    }
    got = dict(con.execute("SELECT request_id, recounted_input_tokens FROM requests").fetchall())
    assert got == want
