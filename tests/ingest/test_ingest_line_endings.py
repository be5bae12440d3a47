"""Carriage returns that end no CRLF: DuckDB's line reader dropped the byte after each one.

``"c\\rd\\n"`` read as ``c`` and an empty line (``d`` gone); a LiteLLM id ``req-1`` after a
bare CR loaded as ``eq-1``. A plain file with a bare CR is now read from a copy whose line
ends are all LF (``repair.newline_copy``), a bare CR ending a line as in Python's universal
newlines; CRLF files are read as they are.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

from helpers import openai_record
from tokaudit.ingest import ingest_paths, repair
from tokaudit.ingest.fieldmap import load_field_map
from tokaudit.store import open_store


def _records(n: int) -> list[str]:
    return [
        json.dumps(
            openai_record(f"2026-10-01T00:00:0{i}Z", "gpt-4o-mini", 8 + i, 2, request_id=f"r{i}")
        )
        for i in range(n)
    ]


def test_classic_mac_line_ends_load_every_record(tmp_path: Path) -> None:
    lines = _records(4)
    log = tmp_path / "mac.jsonl"
    log.write_bytes("\r".join(lines).encode() + b"\r")
    con = open_store(tmp_path / "s.duckdb")
    result = ingest_paths(con, [str(log)])
    assert (result.total("records_read"), result.total("loaded")) == (4, 4)
    rows = con.execute("SELECT request_id, source_line, input_tokens FROM requests ORDER BY 2")
    assert rows.fetchall() == [(f"r{i}", i + 1, 8 + i) for i in range(4)]


def test_a_stray_cr_in_a_line_loses_no_byte(tmp_path: Path) -> None:
    """The line a bare CR splits is two lines now, both rejects holding their text whole;
    the next line (numbered one further, as universal newlines count) loads."""
    good = _records(2)
    broken = '{"timestamp": "2026-10-01T00:00:09Z", "provider": "openai", "note": "c\rd"}'
    log = tmp_path / "stray.jsonl"
    log.write_bytes("\n".join([good[0], broken, good[1]]).encode() + b"\n")
    con = open_store(tmp_path / "s.duckdb")
    result = ingest_paths(con, [str(log)])
    assert (result.total("loaded"), result.total("rejected")) == (2, 2)
    rejects = con.execute("SELECT source_line, raw FROM rejects ORDER BY source_line").fetchall()
    assert [n for n, _ in rejects] == [2, 3]
    assert "\r".join(text for _, text in rejects) == broken
    lines = dict(con.execute("SELECT request_id, source_line FROM requests").fetchall())
    assert lines == {"r0": 1, "r1": 4}


@pytest.mark.parametrize("packed", [False, True])
def test_bytes_that_are_not_utf8_beside_a_bare_cr_reject_their_line_only(
    tmp_path: Path, packed: bool
) -> None:
    """A Latin-1 byte and a bare CR in one line (old Mac line ends) failed the whole file:
    "CSV Error on Line: 2", nothing loaded (QA). Each damaged line is a reject now."""
    good = _records(2)
    data = good[0].encode() + b"\n\xe9\rb\n" + good[1].encode() + b"\n"
    log = tmp_path / ("latin.jsonl.gz" if packed else "latin.jsonl")
    log.write_bytes(gzip.compress(data) if packed else data)
    con = open_store(tmp_path / "s.duckdb")
    result = ingest_paths(con, [str(log)])
    assert (result.total("records_read"), result.total("loaded")) == (4, 2)
    reasons = dict(con.execute("SELECT source_line, reason FROM rejects").fetchall())
    assert reasons == {
        2: "not valid UTF-8 (byte 0xe9 at byte 1 of the line)",
        3: "invalid JSON",
    }
    lines = dict(con.execute("SELECT request_id, source_line FROM requests").fetchall())
    assert lines == {"r0": 1, "r1": 4}


def test_a_gz_with_bare_crs_loads_as_the_plain_file_does(tmp_path: Path) -> None:
    """DuckDB decompresses a .gz into the same line reader, which dropped the byte after a
    bare CR (a request id ``r1`` after one loaded as ``1``); the archive is now read from a
    plain copy with LF line ends, like a plain file, and one without a bare CR is not."""
    lines = _records(4)
    data = (lines[0] + "\r\n" + lines[1] + "\r" + lines[2] + "\n" + lines[3] + "\r").encode()
    (tmp_path / "plain").mkdir()
    (tmp_path / "packed").mkdir()
    (tmp_path / "plain" / "mixed.jsonl").write_bytes(data)
    (tmp_path / "packed" / "mixed.jsonl.gz").write_bytes(gzip.compress(data))
    (tmp_path / "packed" / "lf.jsonl.gz").write_bytes(
        gzip.compress(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"))
    )
    stores = {}
    for name in ("plain", "packed"):
        con = open_store(tmp_path / f"{name}.duckdb")
        result = ingest_paths(con, [str(tmp_path / name)])
        assert result.total("rejected") == 0
        stores[name] = con.execute(
            "SELECT regexp_extract(source_file, '[^/]*$'), source_line, request_id, "
            "input_tokens FROM requests ORDER BY ALL"
        ).fetchall()
    assert stores["plain"] == [("mixed.jsonl", i + 1, f"r{i}", 8 + i) for i in range(4)]
    # the LF-only archive has the same records, so they are its duplicates
    assert [row[1:] for row in stores["packed"]] == [row[1:] for row in stores["plain"]]
    assert {row[0] for row in stores["packed"]} <= {"mixed.jsonl.gz", "lf.jsonl.gz"}


def test_mapped_csv_values_after_a_bare_cr_are_whole(tmp_path: Path) -> None:
    fmap = tmp_path / "fields.yaml"
    fmap.write_text(
        "fields: {request_id: id, timestamp: created_at, input_tokens: prompt_tokens,\n"
        "         output_tokens: completion_tokens, feature: note, team: team}\n"
        "static: {provider: openai, model: gpt-4o-mini}\n"
    )
    log = tmp_path / "cr.csv"
    log.write_bytes(
        b"id,created_at,prompt_tokens,completion_tokens,note,team\r"
        b"x1,2026-10-01T10:00:01Z,101,11,ok,t\r"
        b'abc,2026-10-01T10:00:02Z,102,12,"a\rbcd",t\r'
    )
    con = open_store(tmp_path / "s.duckdb")
    result = ingest_paths(con, [str(log)], field_map=load_field_map(fmap))
    assert (result.total("loaded"), result.total("rejected")) == (2, 0)
    rows = con.execute("SELECT request_id, feature, input_tokens FROM requests ORDER BY 1")
    # a CR inside quotes ends a line too: the value reads it as a line break
    assert rows.fetchall() == [("abc", "a\nbcd", 102), ("x1", "ok", 101)]


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 1 << 20])
def test_bare_cr_found_and_copied_across_blocks(
    tmp_path: Path, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked against the rule spelled out: a CR not followed by LF, the file's last byte
    aside; the copy is what Python's universal newlines read."""
    monkeypatch.setattr(repair, "CHUNK", chunk)
    rng = random.Random(chunk)
    for n in range(300):
        data = bytes(rng.choice(b"ab\r\n") for _ in range(rng.randint(0, 12)))
        path = tmp_path / f"f{n}.txt"
        path.write_bytes(data)
        body = data[:-1] if data.endswith(b"\r") else data
        want = body.replace(b"\r\n", b"").count(b"\r") > 0
        assert repair.has_bare_cr(path) == want, data
        with path.open("rb") as fh:  # the scan used where a file cannot be mapped
            assert repair._bare_cr_in_blocks(fh) == want, data
        out = tmp_path / f"out{n}"
        out.mkdir()
        copied = repair.newline_copy(path, out).path.read_bytes()
        with path.open(newline=None) as universal:  # Python's universal newlines
            assert copied.decode() == universal.read(), data
        # the same bytes in a .gz: found while it is checked whole, copied decompressed
        packed = tmp_path / f"f{n}.txt.gz"
        packed.write_bytes(gzip.compress(data))
        verdict = repair.gzip_verdict(packed)
        assert (verdict is not None and verdict.bare_cr) == want, data
        assert verdict is None or verdict.problem is None
        (out / "gz").mkdir()
        assert repair.newline_copy(packed, out / "gz").path.read_bytes() == copied, data


def test_claude_code_transcripts_are_not_scanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claude Code writes LF line ends only (``lf_lines_only``): its thousands of small
    files are not opened again for the check; other formats' files are."""
    from tokaudit.ingest import loader

    checked: list[str] = []

    def spy(path: Path) -> repair.LineCheck:
        checked.append(path.name)
        return repair.check_plain_lines(path)

    monkeypatch.setattr(loader, "check_plain_lines", spy)
    transcripts = Path(__file__).parents[1] / "fixtures/claude_code/claude-config/projects"
    log = tmp_path / "calls.jsonl"
    log.write_text("\n".join(_records(2)) + "\n")
    con = open_store(tmp_path / "s.duckdb")
    result = ingest_paths(con, [str(transcripts), str(log)])
    assert {f.format for f in result.files} == {"claude-code", "envelope"}
    assert checked == ["calls.jsonl"]
