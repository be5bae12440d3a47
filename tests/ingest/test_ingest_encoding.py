"""Bytes that are not UTF-8 lose their line, never the file (DuckDB refuses the whole file)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tokaudit.ingest import ingest_paths

if TYPE_CHECKING:
    from conftest import EnvelopeKit

OPENAI_CACHE = "openai/openllmetry_openai_prompt_caching.yaml"


def _lines(kit: EnvelopeKit) -> list[bytes]:
    return [json.dumps(kit.from_exchange(c, "openai")).encode() for c in kit.cassette(OPENAI_CACHE)]


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_line_that_is_not_utf8_is_rejected_and_the_rest_load(
    kit: EnvelopeKit, suffix: str
) -> None:
    good = _lines(kit)
    # a Latin-1 byte inside a string, and a multi-byte character cut short at the end
    latin1 = good[0].replace(b'"role"', b'"r\xf4le"', 1)
    cut = good[1][:-3] + "é".encode()[:1]
    data = b"\n".join([latin1, good[1], cut, good[2]]) + b"\n"
    path = kit.tmp_path / f"mixed{suffix}"
    path.write_bytes(gzip.compress(data) if suffix.endswith(".gz") else data)

    [fr] = kit.ingest(path).files
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (4, 2, 2)
    rejects = kit.rejects(path)
    at = latin1.index(b"\xf4") + 1
    assert rejects[1]["reason"] == f"not valid UTF-8 (byte 0xf4 at byte {at} of the line)"
    assert rejects[3]["reason"] == f"not valid UTF-8 (byte 0xc3 at byte {len(cut)} of the line)"
    # the raw text is kept, what was not UTF-8 shown as U+FFFD
    assert rejects[1]["raw"] == latin1.decode("utf-8", errors="replace")
    assert [r["source_line"] for r in kit.rows(path)] == [2, 4]


@pytest.mark.parametrize("fmt", ["auto", "envelope"])
@pytest.mark.parametrize("suffix", [".json", ".json.gz"])
def test_a_document_with_a_bad_byte_rejects_that_record_and_loads_the_rest(
    kit: EnvelopeKit, suffix: str, fmt: str
) -> None:
    """A pretty-printed document (records over many lines) holding one byte that is not
    UTF-8 was lost whole: DuckDB's JSON reader refuses it, so it was undetectable. Now
    the record holding the byte is a reject (its number in the document), the others load."""
    records = [json.loads(line) for line in _lines(kit)]
    document = json.dumps(records, indent=2, ensure_ascii=False).encode()
    second = json.dumps(records[1]["response"]["id"]).encode()
    assert document.count(second) == 1  # the byte goes into the second record only
    broken = document.replace(second, second[:-1] + b"\xe9 caf\xe9" + second[-1:])
    path = kit.tmp_path / f"saved{suffix}"
    path.write_bytes(gzip.compress(broken) if suffix.endswith(".gz") else broken)

    [fr] = kit.ingest(path, fmt=fmt).files
    assert fr.error is None and fr.format == "envelope"
    assert (fr.records_read, fr.loaded, fr.rejected) == (len(records), len(records) - 1, 1)
    [(line, reject)] = kit.rejects(path).items()
    assert line == 2
    assert reject["reason"] == "not valid UTF-8 (byte 0xe9 in this record of the document)"
    # the record as DuckDB rewrote it, each byte that was not UTF-8 shown as U+FFFD
    kept = json.loads(reject["raw"])
    assert kept == json.loads(broken.decode("utf-8", errors="replace"))[1]
    assert [r["source_line"] for r in kit.rows(path)] == [
        n for n in range(1, len(records) + 1) if n != 2
    ]


def test_a_claude_code_session_with_a_bad_byte_keeps_its_other_lines(tmp_path: Path) -> None:
    from tokaudit.store import open_store

    fixtures = Path(__file__).parents[1] / "fixtures" / "claude_code" / "claude-config"
    fixture = sorted(fixtures.rglob("*.jsonl"))[0]
    lines = fixture.read_bytes().splitlines()
    target = tmp_path / "projects" / "-home-dev-app" / "s.jsonl"
    target.parent.mkdir(parents=True)
    broken = [*lines[:1], lines[1][:-2] + b"\xff" + lines[1][-2:], *lines[2:]]
    target.write_bytes(b"\n".join(broken) + b"\n")
    target_ok = tmp_path / "ok" / "projects" / "-home-dev-app" / "s.jsonl"
    target_ok.parent.mkdir(parents=True)
    target_ok.write_bytes(b"\n".join(lines) + b"\n")

    con = open_store(":memory:")
    [bad] = ingest_paths(con, [str(target)]).files
    [ok] = ingest_paths(open_store(":memory:"), [str(target_ok)]).files
    assert bad.error is None and bad.format == ok.format == "claude-code"
    assert bad.records_read == ok.records_read
    assert bad.rejected == 1
    [(line, reason)] = con.execute("SELECT source_line, reason FROM rejects").fetchall()
    assert line == 2 and reason.startswith("not valid UTF-8 (byte 0xff")
