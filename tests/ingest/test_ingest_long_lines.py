"""A line longer than DuckDB's line reader takes loses that line, never the file.

DuckDB refused the whole file for one such line (256 MiB by default): every other line
was lost and nothing reached ``rejects``; a line longer than the reader's buffer was even
skipped without a word. The limits are lowered here so the tests write megabytes, not
gigabytes; the code paths are the same.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tokaudit.ingest import loader, repair, staging

if TYPE_CHECKING:
    from conftest import EnvelopeKit

OPENAI_CACHE = "openai/openllmetry_openai_prompt_caching.yaml"
LIMIT = 1 << 20  # the line reader's limit in this test: 1 MiB
LINE_LIMIT = LIMIT - 65_536  # the longest line tokaudit lets the reader see


@pytest.fixture(autouse=True)
def _small_line_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(staging, "MAX_LINE_BYTES", LIMIT)
    monkeypatch.setattr(repair, "LINE_LIMIT", LINE_LIMIT)


def _lines(kit: EnvelopeKit) -> list[bytes]:
    return [json.dumps(kit.from_exchange(c, "openai")).encode() for c in kit.cassette(OPENAI_CACHE)]


def _padded(line: bytes, size: int) -> bytes:
    """The record with a long user message, ``size`` bytes in all."""
    record = json.loads(line)
    record["request"]["messages"][-1]["content"] = ""
    bare = json.dumps(record).encode()
    record["request"]["messages"][-1]["content"] = "x" * (size - len(bare))
    padded = json.dumps(record).encode()
    assert len(padded) == size
    return padded


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
@pytest.mark.parametrize("crlf", [False, True])
def test_an_overlong_line_is_rejected_and_the_rest_load(
    kit: EnvelopeKit, suffix: str, crlf: bool
) -> None:
    good = _lines(kit)
    long = _padded(good[1], 3 * LIMIT + 12_345)
    end = b"\r\n" if crlf else b"\n"
    data = end.join([good[0], long, good[2]]) + end
    path = kit.tmp_path / f"long{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)

    [fr] = kit.ingest(path).files
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 2, 1)
    [reject] = kit.rejects(path).values()
    assert reject["source_line"] == 2
    assert reject["reason"] == (
        f"a line of {len(long):,} bytes: longer than the {LINE_LIMIT:,} bytes a line may "
        "have, so it is not read (its first 65,536 bytes are kept here)"
    )
    assert reject["raw"] == long[: repair.LONG_LINE_HEAD].decode()
    assert [r["source_line"] for r in kit.rows(path)] == [1, 3]


def test_an_overlong_last_line_without_a_newline_is_rejected(kit: EnvelopeKit) -> None:
    good = _lines(kit)
    long = _padded(good[2], LINE_LIMIT + 1)
    path = kit.tmp_path / "tail.jsonl"
    path.write_bytes(b"\n".join([good[0], good[1], long]))

    [fr] = kit.ingest(path).files
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 2, 1)
    [reject] = kit.rejects(path).values()
    assert reject["source_line"] == 3
    assert reject["reason"].startswith(f"a line of {len(long):,} bytes: longer than")


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_line_just_within_the_limit_loads(kit: EnvelopeKit, suffix: str) -> None:
    good = _lines(kit)
    path = kit.tmp_path / f"fits{suffix}"
    data = b"\n".join([good[0], _padded(good[1], LINE_LIMIT), good[2]]) + b"\n"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)

    [fr] = kit.ingest(path).files
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 3, 0)


@pytest.mark.parametrize("size", [1, 3])
def test_a_line_the_reader_refuses_is_rejected_after_the_fact(
    kit: EnvelopeKit, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """Should the look before the read miss a long line, DuckDB's refusal of the file
    ("Maximum line size ... exceeded") sends it to the same copy."""
    monkeypatch.setattr(loader, "check_plain_lines", lambda path: repair.LineCheck(False, False))
    good = _lines(kit)
    # just past the limit DuckDB says "Maximum line size"; at twice its buffer, "does not
    # support a full read" (review), which now goes to the copy too
    long = _padded(good[1], size * LIMIT + 100)
    path = kit.tmp_path / "refused.jsonl"
    path.write_bytes(b"\n".join([good[0], long, good[2]]) + b"\n")

    [fr] = kit.ingest(path).files
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 2, 1)
    assert [r["source_line"] for r in kit.rejects(path).values()] == [2]


@pytest.mark.parametrize("block", [1, 7, 4096, 1 << 22])
@pytest.mark.parametrize(
    ("lines", "want"),
    [
        ([10, LINE_LIMIT, 5], False),
        ([10, LINE_LIMIT + 1, 5], True),
        ([LINE_LIMIT + 1], True),  # the first line
        ([3, 3, LINE_LIMIT + 1], True),  # an unended last line
        ([LINE_LIMIT, LINE_LIMIT, LINE_LIMIT], False),
        ([0, 0, 2 * LINE_LIMIT + 9], True),
    ],
)
def test_overlong_lines_found_across_blocks(lines: list[int], want: bool, block: int) -> None:
    """A line's length is counted over the blocks it spans, in a mapped file and in the
    decompressed blocks of a ``.gz`` alike; a line of exactly the limit is not long."""
    data = b"\n".join(b"y" * n for n in lines)
    scan = repair._LineLengths()
    for at in range(0, len(data), block):
        scan.feed(data[at : at + block])
    assert scan.found == want
    assert repair._long_gap(data) == want


def test_overlong_line_found_in_a_mapped_file(tmp_path: Path) -> None:
    path = tmp_path / "mapped.jsonl"
    path.write_bytes(b"a\n" + b"y" * (LINE_LIMIT + 1) + b"\nb\n")
    assert repair.has_overlong_line(path)
    path.write_bytes(b"a\n" + b"y" * LINE_LIMIT + b"\nb\n")
    assert not repair.has_overlong_line(path)


def test_detection_passes_over_a_line_too_long_to_look_at(
    kit: EnvelopeKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Detection read its head lines whole, however long (1.9 GB held for a 600 MB line):
    a line longer than ``SNIFF_LINE_BYTES`` is passed over there, and still loads."""
    good = _lines(kit)
    cap = max(map(len, good)) + 100
    monkeypatch.setattr(loader, "SNIFF_LINE_BYTES", cap)
    long = _padded(good[0], cap + 5000)
    path = kit.tmp_path / "first_long.jsonl"
    path.write_bytes(b"\n".join([long, good[1], good[2]]) + b"\n")

    [fr] = kit.ingest(path).files
    assert (fr.format, fr.error) == ("envelope", None)
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 3, 0)


def test_a_file_of_lines_too_long_to_look_at_asks_for_its_format(
    kit: EnvelopeKit, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _lines(kit)
    cap = max(map(len, good)) + 100
    monkeypatch.setattr(loader, "SNIFF_LINE_BYTES", cap)
    path = kit.tmp_path / "all_long.jsonl"
    path.write_bytes(b"\n".join(_padded(line, cap + 5000) for line in good[:2]) + b"\n")

    [fr] = kit.ingest(path).files
    assert fr.error == (
        f"cannot detect the log format: its first lines are longer than {cap:,} bytes, too "
        "long to look at; pass --format"
    )
    [fr] = kit.ingest(path, fmt="envelope").files
    assert (fr.records_read, fr.loaded) == (2, 2)


@pytest.mark.parametrize("fmt", ["auto", "envelope"])
def test_a_zst_with_a_line_too_long_says_so_and_how_to_load_it(kit: EnvelopeKit, fmt: str) -> None:
    """A ``.zst`` is read by DuckDB alone (no look through it first, no copy): its file
    error said "CSV Error on Line: 2" or "The Parallel CSV Reader currently does not
    support a full read on this file" (QA), which names neither the cause nor a way out."""
    import duckdb

    good = _lines(kit)
    lines = [good[0].decode(), _padded(good[1], 3 * LIMIT).decode(), good[2].decode()]
    path = kit.tmp_path / "long.jsonl.zst"
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT unnest(?::VARCHAR[]) AS line) TO '{path}' (FORMAT csv, "
            "HEADER false, QUOTE '', ESCAPE '', DELIMITER E'\\x1f', COMPRESSION zstd)",
            [lines],
        )
    finally:
        con.close()

    [fr] = kit.ingest(path, fmt=fmt).files
    assert fr.error == (  # the test's limit (1 MiB); 256 MiB otherwise
        "a line of 1 MiB or more, which DuckDB's line reader cannot read; a .zst is read "
        "by DuckDB alone, so the whole file fails: decompress it (zstd -d) and ingest that "
        "to load its other lines"
    )
