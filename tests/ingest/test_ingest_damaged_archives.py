"""Archives cut short: the lines before the cut load, the cut is a reject, nothing is lost.

Expectations are computed from the bytes themselves (zlib over the cut gzip, the whole
file's lines for a cut .zst), not from the loader's own copy.
"""

from __future__ import annotations

import gzip
import json
import shutil
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.ingest.repair import repair_copy

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MIXED_ZST = FIXTURES / "envelope" / "mixed.jsonl.zst"
CLAUDE_PROJECTS = FIXTURES / "claude_code" / "claude-config" / "projects"


def many_lines(kit: EnvelopeKit, copies: int) -> list[str]:
    """Envelope lines of real OpenAI calls, each with its own response id."""
    calls = kit.cassette("openai/openllmetry_openai_prompt_caching.yaml")
    out = []
    for n in range(copies):
        for ex in calls:
            line = kit.from_exchange(ex, "openai")
            line["response"]["id"] += f"-{n}"
            out.append(json.dumps(line))
    return out


def readable_prefix(data: bytes) -> tuple[list[str], str]:
    """What deflate yields from a cut gzip: its whole lines and the bytes after the last."""
    text = zlib.decompressobj(wbits=31).decompress(data).decode("utf-8")
    *whole, tail = text.split("\n")
    return whole, tail


def request_ids(kit: EnvelopeKit, path: Path) -> list[str]:
    return [str(r["request_id"]) for r in kit.rows(path)]


def response_id(line: str) -> str:
    return str(json.loads(line)["response"]["id"])


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.97])
def test_cut_gzip_loads_every_whole_line_before_the_cut(kit: EnvelopeKit, fraction: float) -> None:
    lines = many_lines(kit, 60)  # 240 lines
    data = gzip.compress("".join(x + "\n" for x in lines).encode())
    cut = kit.tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: int(len(data) * fraction)])
    whole, tail = readable_prefix(cut.read_bytes())
    assert 0 < len(whole) < len(lines) and tail  # the cut falls inside a line

    other = kit.write("other.jsonl", [json.loads(lines[0]) | {"request_id": "plain-1"}])
    [fr, plain] = kit.ingest(cut, other).files
    assert (plain.error, plain.loaded) == (None, 1)
    assert fr.error is None and fr.damaged == "truncated .gz archive"
    assert (fr.records_read, fr.loaded, fr.rejected) == (len(whole) + 1, len(whole), 1)
    assert request_ids(kit, cut) == [response_id(x) for x in whole]
    rejects = kit.rejects(cut)
    assert list(rejects) == [len(whole) + 1]
    assert rejects[len(whole) + 1]["raw"] == tail
    assert lines[len(whole)].startswith(tail)
    assert str(rejects[len(whole) + 1]["reason"]).startswith(
        "truncated .gz archive; what could be read ends inside this line, which is incomplete"
    )
    assert kit.count("ingested_files") == 2  # read as far as it goes: not read again unchanged
    [again] = kit.ingest(cut).files
    assert again.skipped


def test_gzip_cut_between_lines_gets_a_reject_after_the_last_line(kit: EnvelopeKit) -> None:
    lines = many_lines(kit, 5)  # 20 lines
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    head = compressor.compress("".join(x + "\n" for x in lines[:7]).encode())
    head += compressor.flush(zlib.Z_FULL_FLUSH)  # a byte boundary right after line 7
    rest = compressor.compress("".join(x + "\n" for x in lines[7:]).encode()) + compressor.flush()
    whole = kit.tmp_path / "whole.jsonl.gz"
    whole.write_bytes(head + rest)
    assert gzip.decompress(whole.read_bytes()).decode().count("\n") == 20
    cut = kit.tmp_path / "cut.jsonl.gz"
    cut.write_bytes(head)
    assert readable_prefix(head) == (lines[:7], "")

    [fr] = kit.ingest(cut).files
    assert (fr.damaged, fr.records_read, fr.loaded, fr.rejected) == (
        "truncated .gz archive",
        8,
        7,
        1,
    )
    [(line, reject)] = kit.rejects(cut).items()
    assert line == 8 and reject["raw"] is None
    assert reject["reason"] == (
        "truncated .gz archive; what could be read ends after line 7, and nothing after it "
        "could be read"
    )

    # the whole file arrives: the rest loads, the first seven are duplicates, the cut is gone
    cut.write_bytes(whole.read_bytes())
    [fixed] = kit.ingest(cut).files
    assert (fixed.error, fixed.damaged, fixed.loaded, fixed.duplicates) == (None, None, 13, 7)
    assert kit.rejects(cut) == {}
    assert request_ids(kit, cut) == [response_id(x) for x in lines]


def test_gzip_cut_in_its_header_is_a_reject_at_line_one(kit: EnvelopeKit) -> None:
    cut = kit.tmp_path / "cut.jsonl.gz"
    cut.write_bytes(gzip.compress(b'{"a": 1}\n')[:5])
    [fr] = kit.ingest(cut).files
    assert (fr.damaged, fr.records_read, fr.loaded, fr.rejected) == (
        "truncated .gz archive",
        1,
        0,
        1,
    )
    assert kit.rejects(cut)[1]["reason"] == ("truncated .gz archive; not one line could be read")


def test_gzip_with_bad_deflate_data_stays_a_file_error(kit: EnvelopeKit) -> None:
    """Bytes decoded before a deflate fault may be wrong too: nothing of it loads."""
    data = bytearray(gzip.compress("".join(x + "\n" for x in many_lines(kit, 20)).encode()))
    data[-8] ^= 0xFF  # the CRC-32 trailer: every byte decodes, the check fails at the end
    bad = kit.tmp_path / "bad.jsonl.gz"
    bad.write_bytes(bytes(data))
    with pytest.raises(gzip.BadGzipFile, match="CRC check failed"):
        gzip.decompress(bytes(data))
    assert repair_copy(bad, kit.tmp_path) is None
    [fr] = kit.ingest(bad).files
    assert fr.error and fr.damaged is None
    assert (fr.records_read, fr.loaded) == (0, 0)
    assert list(kit.rejects(bad)) == [0]


def test_gzip_with_junk_after_its_last_member_keeps_the_members(kit: EnvelopeKit) -> None:
    lines = many_lines(kit, 2)
    first = gzip.compress("".join(x + "\n" for x in lines[:3]).encode())
    second = gzip.compress("".join(x + "\n" for x in lines[3:]).encode())
    path = kit.tmp_path / "junk.jsonl.gz"
    path.write_bytes(first + second + b"not gzip at all")
    [fr] = kit.ingest(path).files
    assert fr.damaged is not None and fr.damaged.startswith(
        "corrupt .gz archive (unexpected data after the last member"
    )
    assert (fr.loaded, fr.rejected) == (len(lines), 1)
    [(line, reject)] = kit.rejects(path).items()
    assert (line, reject["raw"]) == (len(lines) + 1, None)


def test_zero_padding_after_the_last_member_is_no_damage(tmp_path: Path) -> None:
    path = tmp_path / "padded.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"a": 1}\n') + b"\x00" * 512)
    assert repair_copy(path, tmp_path) is None


@pytest.mark.parametrize("keep", [0.5, 0.9, -4], ids=["half", "most", "no-checksum"])
def test_cut_zst_loads_the_lines_before_the_cut(kit: EnvelopeKit, keep: float) -> None:
    """DuckDB's reader yields a cut .zst up to its last whole buffer: lines before the cut
    load in order, and the reject says where reading stopped."""
    lines = many_lines(kit, 150)  # 600 lines
    whole = kit.tmp_path / "whole.jsonl"
    whole.write_text("".join(x + "\n" for x in lines), "utf-8")
    archive = zstd_compress(whole)
    data = archive.read_bytes()
    cut = kit.tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: int(len(data) * keep) if keep > 0 else int(keep)])
    [fr] = kit.ingest(cut).files
    assert fr.error is None
    assert fr.damaged is not None and fr.damaged.startswith("truncated .zst archive")
    rejects = kit.rejects(cut)
    cut_line = max(rejects)
    assert list(rejects) == [cut_line]
    assert str(rejects[cut_line]["reason"]).startswith(fr.damaged + "; what could be read ends")
    assert fr.records_read == cut_line
    # every line before the cut loads, in order; the cut line is what is left of its line
    assert request_ids(kit, cut) == [response_id(x) for x in lines[: cut_line - 1]]
    if rejects[cut_line]["raw"] is not None:
        assert lines[cut_line - 1].startswith(str(rejects[cut_line]["raw"]))
    assert 0 < fr.loaded < len(lines)


def test_zst_cut_before_any_line_is_a_reject_at_line_one(kit: EnvelopeKit) -> None:
    cut = kit.tmp_path / "cut.jsonl.zst"
    cut.write_bytes(MIXED_ZST.read_bytes()[:10])  # inside the frame header
    [fr] = kit.ingest(cut).files
    assert fr.damaged is not None and fr.damaged.startswith("truncated .zst archive")
    assert (fr.records_read, fr.loaded, fr.rejected) == (1, 0, 1)
    assert kit.rejects(cut)[1]["reason"] == f"{fr.damaged}; not one line could be read"


def zstd_compress(plain: Path) -> Path:
    """``plain`` compressed by the zstd CLI (several blocks, a checksum)."""
    import subprocess

    zst = shutil.which("zstd")
    if zst is None:
        pytest.skip("the zstd CLI is not installed")
    subprocess.run([zst, "-q", "-f", "--check", str(plain)], check=True)
    return plain.with_name(plain.name + ".zst")


@pytest.mark.parametrize("fmt", ["auto", "envelope"])
def test_cut_zst_of_many_lines_loads_its_prefix_then_the_rest(kit: EnvelopeKit, fmt: str) -> None:
    lines = many_lines(kit, 150)
    plain = kit.tmp_path / "big.jsonl"
    plain.write_text("".join(x + "\n" for x in lines), "utf-8")
    path = zstd_compress(plain)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 9 // 10])
    [cut] = kit.ingest(path, fmt=fmt).files
    assert cut.damaged is not None and cut.loaded > len(lines) // 2
    loaded = request_ids(kit, path)
    assert loaded == [response_id(x) for x in lines[: len(loaded)]]
    path.write_bytes(data)
    [fixed] = kit.ingest(path, fmt=fmt).files
    assert (fixed.damaged, fixed.loaded, fixed.duplicates) == (
        None,
        len(lines) - len(loaded),
        len(loaded),
    )


def test_cut_gzip_in_a_claude_code_directory(tmp_path: Path, kit: EnvelopeKit) -> None:
    """Session files load in batches: the cut one is found and loaded apart."""
    root = tmp_path / "projects"
    shutil.copytree(CLAUDE_PROJECTS, root)
    sessions = sorted(root.rglob("*.jsonl"))
    victim = max(sessions, key=lambda p: p.stat().st_size)
    data = gzip.compress(victim.read_bytes())
    victim.unlink()
    cut = victim.with_name(victim.name + ".gz")
    cut.write_bytes(data[: len(data) // 2])
    whole_lines, tail = readable_prefix(cut.read_bytes())

    result = kit.ingest(root)
    assert result.errors == []
    [damaged] = result.damaged
    assert damaged.path == str(cut) and damaged.format == "claude-code"
    assert damaged.records_read == len(whole_lines) + 1
    others = [f for f in result.files if f is not damaged]
    assert others and all(f.error is None and f.damaged is None for f in others)
    [(line, reject)] = kit.rejects(cut).items()
    assert (line, reject["raw"]) == (len(whole_lines) + 1, tail or None)


def test_cli_names_the_damaged_archive_and_exits_2(tmp_path: Path, mixed_log: Path) -> None:
    data = gzip.compress(mixed_log.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    whole, _ = readable_prefix(cut.read_bytes())
    for output in ("table", "json"):
        result = CliRunner().invoke(
            app, ["ingest", str(cut), "--db", str(tmp_path / f"{output}.duckdb"), "-o", output]
        )
        assert result.exit_code == 2
        [line] = [x for x in result.stderr.splitlines() if x.startswith("error:")]
        assert line == (
            f"error: {cut}: truncated .gz archive; the lines before the damage were loaded, "
            "and the damage is kept in rejects"
        )
        if output == "json":
            [row] = json.loads(result.stdout)["files"]
            assert row["status"] == "DAMAGED: truncated .gz archive"
            assert row["read"] == len(whole) + 1


def test_mapped_csv_archive_cut_inside_a_row_keeps_the_rows_before(tmp_path: Path) -> None:
    """A CSV row cut short stays out of the copy DuckDB reads (its sniffer would fail the
    whole file on it) and is the reject; the whole rows before it load."""
    from tokaudit.ingest import ingest_paths
    from tokaudit.ingest.fieldmap import parse_field_map
    from tokaudit.store import open_store

    rows = [f"id{n},2026-10-01T10:{n % 60:02d}:00Z,gpt-4o,{100 + n},{n}" for n in range(200)]
    text = "id,created,model,tokens_in,tokens_out\n" + "".join(r + "\n" for r in rows)
    data = gzip.compress(text.encode())
    cut = tmp_path / "usage.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    whole, tail = readable_prefix(cut.read_bytes())
    assert tail and tail.count(",") < 4  # the cut leaves a row with too few fields
    spec = {
        "fields": {
            "timestamp": "created",
            "model": "model",
            "input_tokens": "tokens_in",
            "output_tokens": "tokens_out",
        },
        "static": {"provider": "openai"},
    }
    con = open_store(":memory:")
    try:
        [fr] = ingest_paths(con, [str(cut)], field_map=parse_field_map(spec, "m.yaml")).files
        assert (fr.error, fr.damaged) == (None, "truncated .gz archive")
        loaded = len(whole) - 1  # the header is line 1
        assert (fr.records_read, fr.loaded, fr.rejected) == (loaded + 1, loaded, 1)
        assert con.execute("SELECT sum(input_tokens) FROM requests").fetchone() == (
            sum(100 + n for n in range(loaded)),
        )
        assert con.execute("SELECT source_line, raw FROM rejects").fetchall() == [
            (len(whole) + 1, tail)
        ]
    finally:
        con.close()


def test_gzip_padded_with_zero_bytes_loads_whole(kit: EnvelopeKit) -> None:
    """``gzip -t`` accepts trailing zeros (a block-copy artefact); DuckDB's reader does not,
    so the loader reads a plain copy: every line loads, nothing is damaged."""
    lines = many_lines(kit, 3)
    path = kit.tmp_path / "padded.jsonl.gz"
    path.write_bytes(gzip.compress("".join(x + "\n" for x in lines).encode()) + b"\x00" * 512)
    member = zlib.decompressobj(wbits=31)
    assert member.decompress(path.read_bytes()).count(b"\n") == len(lines)
    assert member.eof and member.unused_data == b"\x00" * 512
    [fr] = kit.ingest(path).files
    assert (fr.error, fr.damaged, fr.loaded, fr.rejected) == (None, None, len(lines), 0)
    assert request_ids(kit, path) == [response_id(x) for x in lines]


def test_an_unchanged_damaged_archive_is_skipped_but_stays_damaged(
    tmp_path: Path, mixed_log: Path
) -> None:
    """A CI job that retries must not turn the damaged input's exit 2 into a pass."""
    data = gzip.compress(mixed_log.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    db = str(tmp_path / "s.duckdb")
    first = CliRunner().invoke(app, ["ingest", str(cut), "--db", db, "-o", "json"])
    again = CliRunner().invoke(app, ["ingest", str(cut), "--db", db, "-o", "json"])
    assert (first.exit_code, again.exit_code) == (2, 2)
    [row] = json.loads(again.stdout)["files"]
    assert row["status"] == "unchanged, skipped (DAMAGED: truncated .gz archive)"
    assert row["read"] == 0  # nothing read this time
    whole = tmp_path / "whole.jsonl.gz"
    whole.write_bytes(data)
    cut.write_bytes(data)  # the whole file arrives: read again, no longer damaged
    fixed = CliRunner().invoke(app, ["ingest", str(cut), "--db", db, "-o", "json"])
    assert fixed.exit_code == 0, fixed.stderr


def test_audit_json_names_the_damaged_archive(tmp_path: Path, mixed_log: Path) -> None:
    data = gzip.compress(mixed_log.read_bytes())
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(app, ["audit", str(cut), "-f", "json"])
    assert result.exit_code == 2
    out = json.loads(result.stdout)
    assert out["file_errors"] == [{"file": str(cut), "status": "DAMAGED: truncated .gz archive"}]
    whole, _ = readable_prefix(cut.read_bytes())
    assert out["ingest"]["records_read"] == len(whole) + 1
