"""Counting texts by their pieces (recount/pieces.py) gives tiktoken's count of the whole text.

The cut rule is checked against tiktoken itself on texts built to stress it: every kind of
whitespace (Unicode's and the separators Python calls space but tiktoken's regex does not),
runs of spaces, contractions, digits, CJK, emoji and the mark character U+0001, plus the
real prose and prompts of the sample logs. The recount is then run with and without the
piece path on the same store.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from helpers import REPO, write_jsonl
from tokaudit.ingest import ingest_paths
from tokaudit.recount import recount
from tokaudit.recount.pieces import piece_text, split_sql
from tokaudit.store import open_store
from tokaudit.tokenizers import (
    EstimateTokenizer,
    Registry,
    TiktokenTokenizer,
    Tokenizer,
)
from tokaudit.tokenizers.tiktoken_plugin import ENCODING_SPECS, EncodingSpec

# Whitespace by Unicode (tiktoken's \s) and characters Python's str.isspace also accepts
ODD_SPACES = ["\t", "\n", "\r\n", "\x0b", "\x0c", "\x85", "\xa0", "\u1680", "\u2003", "\u2028"]
ODD_SPACES += ["\u2029", "\u202f", "\u205f", "\u3000", "\x1c", "\x1f"]
ATOMS = [" ", " ", " ", "  ", "   ", "word", "Word", "WORD", "it's", "'ll", "I'M", "1", "2024"]
ATOMS += ["12345", ".", ",", "!?", "--", "/", "(", ")", '"', "é", "déjà", "東京", "🙂", "\x01"]
ATOMS += ["naïve", "x", "'", "a.b", "\u0301", "ß", "٣", "\u200b", *ODD_SPACES]


def _random_texts(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ATOMS) for _ in range(rng.randint(0, 40))) for _ in range(count)]


def _sample_texts() -> list[str]:
    """Every message text of the bundled sample month (real prose, prompts, code)."""
    texts: list[str] = []
    for path in sorted((REPO / "sample_logs").glob("*.jsonl*")):
        opener: Any = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                try:
                    messages = json.loads(line)["request"]["messages"]
                except (ValueError, KeyError, TypeError):
                    continue
                texts += [m["content"] for m in messages if isinstance(m.get("content"), str)]
    return texts


def _pieces(texts: list[str]) -> list[list[tuple[bool, str]]]:
    """Each text's pieces as DuckDB cuts them: (first, piece) in order."""
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT list_transform({split_sql('t')}, lambda p, i: {{'f': i = 1, 'p': p}}) "
        "FROM (SELECT unnest(?) AS t, generate_subscripts(?, 1) AS i) ORDER BY i",
        [texts, texts],
    ).fetchall()
    return [[(d["f"], d["p"]) for d in row[0]] for row in rows]


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_pieces_sum_to_the_whole_count(encoding: str) -> None:
    enc = TiktokenTokenizer().get_encoding(encoding)
    samples = _sample_texts()
    texts = _random_texts(7, 3000) + samples
    cut = _pieces(texts)
    for text, pieces in zip(texts, cut, strict=True):
        if "\x01" in text:
            continue  # such texts are counted whole (SPLIT_UNIT); the mark is not restorable
        # the pieces are the text, in order
        assert "".join(piece_text(first, p) for first, p in pieces) == text
        whole = len(enc.encode_ordinary(text))
        assert sum(len(enc.encode_ordinary(piece_text(f, p))) for f, p in pieces) == whole, text
    # the cut is real: prose falls into many pieces, and pieces repeat across texts
    prose = cut[-len(samples) :]
    assert sum(len(p) for p in prose) > 5 * len(prose)
    distinct = {p for pieces in cut for p in pieces}
    assert len(distinct) < sum(len(p) for p in cut) / 3


def test_a_space_after_a_non_ascii_or_space_character_is_never_cut() -> None:
    [[*pieces]] = _pieces(["déjà vu  two\n three 東京 x"])
    # cut only before a space that follows a printable ASCII character ("u", "e")
    assert [piece_text(f, p) for f, p in pieces] == ["déjà vu", "  two\n three", " 東京 x"]


class _Whole(TiktokenTokenizer):
    """tiktoken that makes no claim about pieces: every text is counted whole."""

    def splits_at_spaces(self, model: str) -> bool:
        return False


def _store(tmp_path: Path, texts: list[str]) -> duckdb.DuckDBPyConnection:
    records = [
        {
            "timestamp": "2026-10-01T10:00:00Z",
            "provider": "openai",
            "request": {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": text},
                    {"role": "user", "content": text[::-1]},
                ],
            },
            "response": {"id": f"r{n}", "model": "gpt-4o-mini"},
        }
        for n, text in enumerate(texts)
    ]
    tmp_path.mkdir()
    con = open_store(tmp_path / "store.duckdb")
    ingest_paths(con, [str(write_jsonl(tmp_path / "log.jsonl", records))])
    return con


def test_recount_by_pieces_equals_recount_whole_and_tiktoken(tmp_path: Path) -> None:
    texts = _random_texts(11, 300) + _sample_texts()[:300] + ["", " ", "\x01 marked", "a  b"]
    enc = TiktokenTokenizer().get_encoding("o200k_base")
    user, system = len(enc.encode_ordinary("user")), len(enc.encode_ordinary("system"))
    want = {
        f"r{n}": 3
        + (3 + system + len(enc.encode_ordinary(text)))
        + (3 + user + len(enc.encode_ordinary(text[::-1])))
        for n, text in enumerate(texts)
    }
    got = {}
    for name, tokenizer in (("pieces", TiktokenTokenizer()), ("whole", _Whole())):
        con = _store(tmp_path / name, texts)
        recount(con, Registry([tokenizer]), workers=1)
        got[name] = dict(
            con.execute("SELECT request_id, recounted_input_tokens FROM requests").fetchall()
        )
        sizes = dict(
            con.execute(
                "SELECT p.text_hash, c.tokens FROM prompt_texts p JOIN token_counts c "
                "USING (text_hash) WHERE p.kind = 'system'"
            ).fetchall()
        )
        got[name + " system prompts"] = sizes
        con.close()
    assert got["pieces"] == got["whole"] == want
    assert got["pieces system prompts"] == got["whole system prompts"] == _sizes_by_tiktoken(texts)


def _sizes_by_tiktoken(texts: list[str]) -> dict[str, int]:
    """Each request's system prompt (its system message's text; for an empty one, the
    first other message, here empty too) sized by tiktoken alone."""
    enc = TiktokenTokenizer().get_encoding("o200k_base")
    return {
        hashlib.md5(text.encode()).hexdigest(): len(enc.encode_ordinary(text)) for text in texts
    }


class _Statements:
    """A connection that notes every statement run through it (the recount's plan)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.run: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.run.append(" ".join(sql.split()))
        return self.con.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def test_system_prompts_sized_from_the_pieces_of_their_message(tmp_path: Path) -> None:
    """A prompt that is one plain message's text takes the sum of that message's pieces as
    its size: its text is neither looked up as a unit again nor tokenized on its own, and
    with nothing left to size (or count) no step reads the stored texts again."""
    # (a text holding the mark character is counted whole, so sized by the lookup)
    texts = [t for t in _random_texts(5, 80) + _sample_texts()[:60] if "\x01" not in t]
    con = _store(tmp_path / "store", texts)
    spy = _Statements(con)
    recount(spy, Registry([TiktokenTokenizer()]), workers=1)  # type: ignore[arg-type]
    sizes = dict(
        con.execute(
            "SELECT p.text_hash, c.tokens FROM prompt_texts p JOIN token_counts c "
            "USING (text_hash) WHERE p.kind = 'system'"
        ).fetchall()
    )
    assert sizes == _sizes_by_tiktoken(texts)
    reads_texts = ("to_json(body)", "_raw_todo", "_work")  # unit lookup, own count, replies
    assert not [sql for sql in spy.run if any(step in sql for step in reads_texts)]
    spy.run.clear()
    recount(spy, Registry([TiktokenTokenizer()]), workers=1)  # type: ignore[arg-type]
    assert not [sql for sql in spy.run if "prompt_texts p JOIN" in sql or "_work" in sql]
    con.close()


def test_which_tokenizers_count_by_pieces() -> None:
    tik = TiktokenTokenizer()
    assert tik.splits_at_spaces("gpt-4o") and tik.splits_at_spaces("gpt-4")  # o200k, cl100k
    assert tik.splits_at_spaces("gpt-oss-120b")  # o200k_harmony: o200k's pattern
    assert EstimateTokenizer().splits_at_spaces("claude-sonnet-4-5")
    # an encoding with another pre-tokenizer pattern makes no such claim
    other = {
        name: EncodingSpec(spec.name, spec.filename, spec.sha256, r"\S+|\s+", spec.special_tokens)
        for name, spec in ENCODING_SPECS.items()
    }
    assert not TiktokenTokenizer(specs=other).splits_at_spaces("gpt-4o")
    assert not _Whole().splits_at_spaces("gpt-4o")

    class Plain(Tokenizer):  # a third-party plugin that says nothing: counted whole
        name, version = "plain", "1"

        def covers(self, model: str) -> bool:
            return True

        def encoding_for(self, model: str) -> str:
            return "plain"

        def count(self, texts: Any, model: str) -> list[int]:
            return [len(t) for t in texts]

    assert not Plain().splits_at_spaces("any")
