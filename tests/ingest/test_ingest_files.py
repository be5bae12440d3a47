"""Inputs: gzip, truncated archives, directories, missing paths, undetectable files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tokaudit.errors import InputError, UsageError
from tokaudit.ingest.staging import read_lines_sql

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]


def openai_lines(kit: EnvelopeKit) -> list[Json]:
    calls = kit.cassette("openai/openllmetry_openai_prompt_caching.yaml")
    return [kit.from_exchange(ex, "openai") for ex in calls]


def gemini_line(kit: EnvelopeKit) -> Json:
    [ex] = kit.cassette("gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml")
    return kit.from_exchange(ex, "google")


def test_gzip_file_loads(kit: EnvelopeKit) -> None:
    lines = openai_lines(kit)
    path = kit.write("openai.jsonl.gz", [lines[0], "", "{broken", *lines[1:]])
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    [fr] = kit.ingest(path).files
    assert (fr.error, fr.format) == (None, "envelope")
    assert (fr.records_read, fr.loaded, fr.rejected) == (len(lines) + 1, len(lines), 1)
    assert set(kit.rejects(path)) == {3}  # line numbers count the decompressed lines
    rows = kit.rows(path)
    assert [r["source_line"] for r in rows] == [1, 4, 5, 6]
    cached = next(r for r in rows if r["request_id"] == lines[1]["response"]["id"])
    assert (cached["input_tokens"], cached["cache_read_tokens"]) == (125, 1024)


def test_directory_walk_picks_log_files_only(kit: EnvelopeKit) -> None:
    lines = openai_lines(kit)
    root = kit.tmp_path / "logs"
    picked = [
        kit.write("logs/a.jsonl", lines[:1]),
        kit.write("logs/b.json", lines[1:2]),
        kit.write("logs/deep/er/c.ndjson", lines[2:3]),
        kit.write("logs/deep/d.log", lines[3:4]),
        kit.write("logs/deep/e.jsonl.gz", [gemini_line(kit)]),
        kit.write("logs/f.ndjson.gz", [lines[0]]),  # a duplicate, but still read
        kit.write("logs/UPPER.JSONL", [lines[0]]),
    ]
    # same content under names a directory walk must ignore
    for name in ("notes.txt", "data.csv", "a.jsonl.bak", "deep/archive.tar.gz", "jsonl"):
        kit.write(f"logs/{name}", lines[:1])

    res = kit.ingest(root)
    assert sorted(Path(f.path) for f in res.files) == sorted(picked)
    assert [f.path for f in res.files] == sorted(f.path for f in res.files)
    assert res.errors == []
    assert res.total("loaded") == 5
    assert res.total("duplicates") == 2


def test_a_log_link_that_leads_nowhere_is_an_error_not_skipped(kit: EnvelopeKit) -> None:
    """A symbolic link with a log's name whose target was deleted, or a loop of links, was
    skipped by the directory walk without a word (and a loop crashed the duplicate check
    once listed): each is now a file error naming its link; the other files load."""
    lines = openai_lines(kit)
    root = kit.tmp_path / "logs"
    kit.write("logs/ok.jsonl", lines)
    (root / "gone.jsonl").symlink_to("deleted.jsonl")
    (root / "loop.jsonl").symlink_to("loop.jsonl")
    (root / "here.jsonl").symlink_to("ok.jsonl")  # a good link: the same file, read once
    (root / "elsewhere").symlink_to(root, target_is_directory=True)  # not entered

    res = kit.ingest(root)
    errors = {Path(f.path).name: f.error for f in res.files if f.error}
    assert errors == {
        "gone.jsonl": "cannot read: No such file or directory (a symbolic link to deleted.jsonl)",
        "loop.jsonl": "cannot read: Too many levels of symbolic links (a symbolic link to "
        "loop.jsonl)",
    }
    assert res.total("loaded") == len(lines) and len(res.files) == 3
    # a glob names them the same way (it dropped them unseen too)
    again = kit.ingest(str(root / "*.jsonl"))
    assert {Path(f.path).name: f.error for f in again.files if f.error} == errors


def test_a_file_name_that_is_not_utf8_is_a_file_error(kit: EnvelopeKit) -> None:
    """DuckDB takes file names as UTF-8 text only: a log named with a Latin-1 byte crashed
    the whole ingest with a traceback, and the good files beside it were lost (QA)."""
    import os

    lines = openai_lines(kit)
    root = kit.tmp_path / "logs"
    kit.write("logs/good.jsonl", lines)
    bad = os.path.join(os.fsencode(root), b"bad\xffname.jsonl")
    with open(bad, "wb") as out:
        out.write("".join(json.dumps(line) + "\n" for line in lines).encode("utf-8"))
    res = kit.ingest(root)
    errors = [f.error for f in res.files if f.error]
    assert errors == ["the file name is not valid UTF-8, which DuckDB cannot open: rename it"]
    assert next(f.path for f in res.files if f.error).endswith("bad\\xffname.jsonl")
    assert res.total("loaded") == len(lines)


def test_a_parent_step_after_a_linked_directory_names_the_file_opened(
    kit: EnvelopeKit,
) -> None:
    """``logs/cur/../r.jsonl`` with ``cur`` a link to ``real/deep`` opens ``real/r.jsonl``;
    the store named ``logs/r.jsonl`` (``..`` dropped as text before the link was
    followed: review), another file."""
    lines = openai_lines(kit)
    opened = kit.write("real/r.jsonl", lines[:2])
    kit.write("real/deep/x.jsonl", lines[2:3])
    kit.write("logs/r.jsonl", lines[3:4])  # the file the text alone points at
    (kit.tmp_path / "logs" / "cur").symlink_to(kit.tmp_path / "real" / "deep")
    given = kit.tmp_path / "logs" / "cur" / ".." / "r.jsonl"

    [fr] = kit.ingest(given).files
    assert fr.loaded == 2
    assert {r["source_file"] for r in kit.rows(opened)} == {str(opened.resolve())}


def test_file_named_explicitly_is_read_whatever_its_extension(kit: EnvelopeKit) -> None:
    path = kit.write("export.txt", openai_lines(kit))
    [fr] = kit.ingest(path).files
    assert (fr.error, fr.loaded) == (None, 4)


def test_same_file_given_twice_is_read_once(kit: EnvelopeKit) -> None:
    path = kit.write("a.jsonl", openai_lines(kit))
    res = kit.ingest(path, kit.tmp_path, kit.tmp_path / "." / "a.jsonl")
    assert len(res.files) == 1


def test_glob_input(kit: EnvelopeKit) -> None:
    lines = openai_lines(kit)
    kit.write("g/x1.jsonl", lines[:2])
    kit.write("g/x2.jsonl", lines[2:])
    res = kit.ingest(kit.tmp_path / "g" / "x*.jsonl")
    assert [Path(f.path).name for f in res.files] == ["x1.jsonl", "x2.jsonl"]
    assert res.total("loaded") == 4
    with pytest.raises(InputError, match="matches no file"):
        kit.ingest(kit.tmp_path / "g" / "nothing*.jsonl")


def test_missing_path_raises_input_error(kit: EnvelopeKit) -> None:
    good = kit.write("a.jsonl", openai_lines(kit))
    with pytest.raises(InputError, match="no such file"):
        kit.ingest(good, kit.tmp_path / "missing.jsonl")
    assert kit.count("requests") == 0  # paths are checked before anything loads


def test_a_directory_without_log_files_is_an_input_error(kit: EnvelopeKit) -> None:
    """Like a glob that matches nothing: a mistyped or empty folder must not pass quietly."""
    empty = kit.tmp_path / "empty"
    empty.mkdir()
    notes = kit.tmp_path / "notes"
    notes.mkdir()
    (notes / "readme.txt").write_text("not a log")
    for folder in (empty, notes):
        with pytest.raises(InputError, match="no log files in this directory"):
            kit.ingest(folder)


def test_unknown_format_name_is_a_usage_error(kit: EnvelopeKit) -> None:
    path = kit.write("a.jsonl", openai_lines(kit))
    with pytest.raises(UsageError, match="unknown --format"):
        kit.ingest(path, fmt="langfuse-ish")


@pytest.mark.parametrize(
    "content",
    [
        "timestamp,provider,model,input_tokens\n2026-11-01,openai,gpt-4o,12\n",
        '{"ts": "2026-11-01T00:00:00Z", "model": "gpt-4o", "usage": {"prompt_tokens": 12}}\n',
    ],
    ids=["csv-named-jsonl", "json-without-provider"],
)
def test_undetectable_file_names_the_formats_tried(kit: EnvelopeKit, content: str) -> None:
    odd = kit.tmp_path / "x.jsonl"
    odd.write_text(content * 3)
    fine = kit.write("fine.jsonl", openai_lines(kit))
    bad, good = kit.ingest(odd, fine).files
    assert bad.error is not None
    assert "cannot detect" in bad.error and "envelope" in bad.error
    assert bad.format is None and bad.records_read == 0
    assert kit.rejects(odd)[0]["reason"] == bad.error
    assert (good.error, good.loaded) == (None, 4)


def test_forced_format_rejects_per_line_instead(kit: EnvelopeKit) -> None:
    odd = kit.tmp_path / "x.jsonl"
    odd.write_text('{"ts": "2026-11-01T00:00:00Z", "model": "gpt-4o"}\nnot json\n')
    [fr] = kit.ingest(odd, fmt="envelope").files
    assert (fr.error, fr.records_read, fr.rejected) == (None, 2, 2)
    reasons = {n: r["reason"] for n, r in kit.rejects(odd).items()}
    assert "unknown envelope field(s): ts" in reasons[1]
    assert reasons[2] == "invalid JSON"


def test_empty_file_loads_nothing_and_is_not_an_error(tmp_path: Path) -> None:
    from tokaudit.ingest import ingest_paths
    from tokaudit.store import open_store

    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n  \n", "utf-8")
    con = open_store(":memory:")
    (result,) = ingest_paths(con, [str(empty)]).files
    assert (result.error, result.records_read, result.loaded, result.rejected) == (None, 0, 0, 0)
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)


def test_a_repaired_file_clears_its_whole_file_reject(tmp_path: Path) -> None:
    from tokaudit.ingest import ingest_paths
    from tokaudit.store import open_store

    log = tmp_path / "log.jsonl"
    log.write_text("id,name\n1,x\n", "utf-8")  # undetectable
    con = open_store(":memory:")
    assert ingest_paths(con, [str(log)]).files[0].error
    assert con.execute("SELECT count(*) FROM rejects WHERE source_line = 0").fetchone() == (1,)
    log.write_text(
        '{"timestamp": "2026-10-01T00:00:00Z", "provider": "openai", '
        ' "request": {"model": "gpt-4o"},'
        ' "response": {"id": "r1", "model": "gpt-4o", "usage": {"prompt_tokens": 1,'
        ' "completion_tokens": 1}}}\n',
        "utf-8",
    )
    assert ingest_paths(con, [str(log)]).files[0].loaded == 1
    assert con.execute("SELECT count(*) FROM rejects").fetchone() == (0,)


OPENAPI = (
    Path(__file__).resolve().parents[1] / "fixtures" / "realworld" / "openai" / "openapi_examples"
)


def test_a_pretty_printed_response_document_loads_as_its_records(kit: EnvelopeKit) -> None:
    """A saved response (``json.dump(..., indent=2)``): no line of it is a record."""
    import json

    chat = json.loads((OPENAPI / "chat_completion_response_default.json").read_text("utf-8"))
    usage = chat["usage"]
    one = kit.tmp_path / "one.json"
    one.write_text(json.dumps(chat, indent=2))
    second = {**chat, "id": chat["id"] + "-2", "created": chat["created"] + 60}
    many = kit.tmp_path / "many.json"
    many.write_text(json.dumps([chat, second, "not a record"], indent=2))
    a, b = kit.ingest(one, many).files
    assert (a.format, a.error, a.records_read, a.loaded) == ("openai-pairs", None, 1, 1)
    assert (b.format, b.error, b.records_read, b.loaded, b.duplicates, b.rejected) == (
        "openai-pairs",
        None,
        3,
        1,  # the first element repeats one.json's response
        1,
        1,
    )
    [row] = kit.rows(one)
    assert (row["input_tokens"], row["output_tokens"]) == (
        usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"],
        usage["completion_tokens"],
    )
    assert row["source_file"] == str(one.resolve())
    # rejects name the original file; "line" is the record's position in the document
    assert set(kit.rejects(many)) == {3}


def test_a_truncated_json_document_is_a_file_error(kit: EnvelopeKit) -> None:
    text = (OPENAPI / "chat_completion_response_default.json").read_text("utf-8")
    cut = kit.tmp_path / "cut.json"
    cut.write_text(text[: len(text) // 2])
    [fr] = kit.ingest(cut).files
    assert fr.error is not None and "cannot detect" in fr.error
    assert kit.rejects(cut)[0]["reason"] == fr.error


@pytest.mark.parametrize("name", ["long.jsonl", "long.jsonl.gz"])
def test_long_lines_load_under_a_memory_limit(
    kit: EnvelopeKit, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A 6 MB line (a pasted document, an inline image) loads from plain and compressed
    files, also under TOKAUDIT_MEMORY_LIMIT (DuckDB's default line buffer is 4 GiB)."""
    from tokaudit.ingest import ingest_paths
    from tokaudit.store import open_store

    line = openai_lines(kit)[0]
    line["request"]["messages"][-1]["content"] = "word " * 1_200_000
    path = kit.write(name, [line, openai_lines(kit)[1]])
    monkeypatch.setenv("TOKAUDIT_MEMORY_LIMIT", "512MB")
    con = open_store(path.parent / "limited.duckdb")
    [fr] = ingest_paths(con, [str(path)]).files
    assert (fr.error, fr.records_read, fr.loaded, fr.rejected) == (None, 2, 2, 0)
    stored = con.execute("SELECT max(chars) FROM prompt_texts WHERE kind = 'input'").fetchone()
    assert stored is not None and stored[0] > 6_000_000
    con.close()


# --- .zst archives: the RFC 8878 walk that finds a cut (test_ingest_damaged_archives.py) --

ZSTD_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "zstd"
ZSTD_FILES = sorted(ZSTD_FIXTURES.glob("*.zst"))  # made by the zstd CLI (README.md there)
MIXED_ZST = Path(__file__).resolve().parents[1] / "fixtures" / "envelope" / "mixed.jsonl.zst"


def skippable_frame(payload: bytes, variant: int = 0) -> bytes:
    """RFC 8878 3.1.2: magic 0x184D2A5? (LE), Frame_Size (4 bytes LE), user data."""
    return (
        (0x184D2A50 + variant).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    )


def zstd_frame(descriptor: int, header: bytes, blocks: bytes, checksum: bytes = b"") -> bytes:
    """A hand-built Zstandard frame: magic, Frame_Header_Descriptor, the rest, blocks."""
    return b"\x28\xb5\x2f\xfd" + bytes([descriptor]) + header + blocks + checksum


def block(kind: int, size: int, content: bytes, last: bool = False) -> bytes:
    """RFC 8878 3.1.1.2: 3 bytes LE (Last_Block, Block_Type, Block_Size), then content."""
    return (int(last) | kind << 1 | size << 3).to_bytes(3, "little") + content


RAW_HELLO = block(0, 6, b"hello\n") + block(1, 3, b"!", last=True)  # "hello\n!!!"


def zst_verdict(path: Path, data: bytes) -> str | None:
    from tokaudit.ingest.files import zst_problem

    path.write_bytes(data)
    return zst_problem(path)


def is_truncated(problem: str | None) -> bool:
    return problem is not None and problem.startswith("truncated .zst archive")


def zstd_cli_accepts(path: Path) -> bool:
    import subprocess

    zstd = shutil.which("zstd")
    assert zstd is not None
    return subprocess.run([zstd, "-t", "-q", str(path)], capture_output=True).returncode == 0


def duckdb_zst(lines: list[str], target: Path) -> Path:
    """Lines compressed by DuckDB's own zstd writer: one frame, no checksum, many blocks."""
    import duckdb

    plain = target.with_suffix("")
    plain.write_text("".join(line + "\n" for line in lines), "utf-8")
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT line FROM {read_lines_sql(plain)}) TO '{target}' "
            "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER E'\\x1f', "
            "COMPRESSION zstd)"
        )
    finally:
        con.close()
    plain.unlink()
    return target


@pytest.mark.parametrize("archive", ZSTD_FILES, ids=lambda p: p.name)
def test_zstd_cli_archive_is_whole_and_every_cut_is_truncated(
    tmp_path: Path, archive: Path
) -> None:
    """Each prefix ends in the header, in a block, or before the checksum: all truncated."""
    from tokaudit.ingest.files import zst_problem

    assert zst_problem(archive) is None
    data = archive.read_bytes()
    cut = tmp_path / "cut.jsonl.zst"
    for n in range(1, len(data)):
        problem = zst_verdict(cut, data[:n])
        assert is_truncated(problem), (n, problem)
    assert "inside the frame that starts at byte 0" in str(zst_verdict(cut, data[:-1]))
    assert zst_verdict(cut, b"") is None  # 0 bytes: an empty log, as an empty .gz is


def test_zst_frames_and_skippable_frames_one_after_another(tmp_path: Path) -> None:
    """Whole exactly at frame ends; a cut anywhere else (a skippable frame too) is caught."""
    frames = [
        skippable_frame(b"tokaudit"),
        *(p.read_bytes() for p in ZSTD_FILES),
        skippable_frame(b"", variant=15),
        zstd_frame(0xE0, (9).to_bytes(8, "little"), RAW_HELLO),  # 8-byte content size
        zstd_frame(0x06, b"\x00" + b"\x01\x02", RAW_HELLO, b"\x00" * 4),  # window, dict, checksum
        zstd_frame(0x45, b"\x00\x07" + b"\x09\x00", RAW_HELLO, b"\x00" * 4),  # dict, FCS 2
    ]
    data = b"".join(frames)
    ends = {sum(len(f) for f in frames[:i]) for i in range(len(frames) + 1)}
    path = tmp_path / "many.jsonl.zst"
    for n in range(len(data) + 1):
        problem = zst_verdict(path, data[:n])
        assert problem is None if n in ends else is_truncated(problem), (n, problem)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="the zstd CLI is not installed")
def test_zst_verdicts_agree_with_the_zstd_cli(tmp_path: Path) -> None:
    parts = [
        skippable_frame(b"x" * 5, variant=3),
        *(p.read_bytes() for p in ZSTD_FILES if p.name != "dict.zst"),  # needs its dictionary
        zstd_frame(0xE0, (9).to_bytes(8, "little"), RAW_HELLO),
        zstd_frame(0x00, b"\x00", RAW_HELLO),
    ]
    data = b"".join(parts)
    ends = [sum(len(f) for f in parts[:i]) for i in range(1, len(parts) + 1)]
    path = tmp_path / "x.zst"
    for n in sorted({*ends, *(e - 1 for e in ends), *(e + 4 for e in ends[:-1]), *range(1, 40)}):
        assert (zst_verdict(path, data[:n]) is None) == zstd_cli_accepts(path), n
    for tail in (b"junk", b"\x00", b"\x28\xb5"):
        assert zst_verdict(path, data + tail) is not None
        assert not zstd_cli_accepts(path)


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (b"trailing garbage", "corrupt .zst archive: unexpected data after the last frame"),
        (b"\n", "corrupt .zst archive: unexpected data after the last frame, at byte 181"),
        (b"\x00" * 8, "corrupt .zst archive: unexpected data after the last frame"),
        (
            b"\x28\xb5\x2f",
            "truncated .zst archive: the file ends inside the frame that starts at byte 181",
        ),
        (b"\x5f\x2a", "truncated .zst archive"),  # the start of a skippable frame
        (b"\x28\xb5\x2f\xfd", "truncated .zst archive"),
    ],
    ids=["text", "newline", "zeros", "magic-3", "skippable-2", "magic-only"],
)
def test_zst_bytes_after_the_last_frame(tmp_path: Path, tail: bytes, expected: str) -> None:
    whole = (ZSTD_FIXTURES / "blocks.zst").read_bytes()
    assert len(whole) == 181
    problem = zst_verdict(tmp_path / "x.jsonl.zst", whole + tail)
    assert problem is not None and problem.startswith(expected)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": 1}\n', "not a .zst archive: it does not start with a Zstandard frame"),
        (b"{", "not a .zst archive"),
        (b"\x1f\x8b\x08\x00", "not a .zst archive"),  # a gzip stream
        (zstd_frame(0x08, b"\x00", RAW_HELLO), "corrupt .zst archive: the reserved bit"),
        (zstd_frame(0x00, b"\x00", block(3, 0, b"", last=True)), "corrupt .zst archive: a block"),
        (zstd_frame(0x00, b"\x00", block(0, 200_000, b"", last=True)), "corrupt .zst archive"),
    ],
    ids=["json", "one-byte", "gzip", "reserved-bit", "reserved-block", "block-over-128k"],
)
def test_zst_that_is_not_zstd_or_is_corrupt(tmp_path: Path, data: bytes, expected: str) -> None:
    problem = zst_verdict(tmp_path / "x.jsonl.zst", data)
    assert problem is not None and problem.startswith(expected), problem


def test_zst_check_applies_to_zst_names_only(tmp_path: Path) -> None:
    from tokaudit.ingest.files import zst_problem

    cut = (ZSTD_FIXTURES / "blocks.zst").read_bytes()[:100]
    assert zst_verdict(tmp_path / "log.jsonl", cut) is None
    assert zst_verdict(tmp_path / "log.jsonl.gz", cut) is None
    assert is_truncated(zst_verdict(tmp_path / "LOG.JSONL.ZST", cut))
    (tmp_path / "folder.zst").mkdir()
    assert str(zst_problem(tmp_path / "folder.zst")).startswith("cannot read")


def test_zst_from_duckdb_many_blocks_without_checksum(tmp_path: Path) -> None:
    lines = [json.dumps({"n": n, "text": f"line {n} " * (n % 50)}) for n in range(20_000)]
    path = duckdb_zst(lines, tmp_path / "big.jsonl.zst")
    from tokaudit.ingest.files import zst_problem

    assert zst_problem(path) is None
    data = path.read_bytes()
    assert len(data) > 20_000
    cut = tmp_path / "cut.jsonl.zst"
    for n in (3, 5, 6, 7, len(data) // 3, len(data) // 2, len(data) * 9 // 10, len(data) - 1):
        assert is_truncated(zst_verdict(cut, data[:n])), n


def test_zst_frames_and_skippable_frames_load_whole(kit: EnvelopeKit) -> None:
    """DuckDB reads every frame and skips skippable ones: the check must accept them."""
    lines = openai_lines(kit)
    first = duckdb_zst([json.dumps(x) for x in lines[:2]], kit.tmp_path / "a.jsonl.zst")
    second = duckdb_zst([json.dumps(x) for x in lines[2:]], kit.tmp_path / "b.jsonl.zst")
    both = kit.tmp_path / "both.jsonl.zst"
    both.write_bytes(
        skippable_frame(b"meta")
        + first.read_bytes()
        + skippable_frame(b"", 7)
        + second.read_bytes()
    )
    [fr] = kit.ingest(both).files
    assert (fr.error, fr.format, fr.records_read, fr.loaded) == (None, "envelope", 4, 4)


def test_a_directory_is_walked_once_per_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The inputs are checked before the store opens, then ingested: the walk (2,100
    Claude Code session files: 0.06 to 0.1 s) was done twice."""
    from tokaudit import api
    from tokaudit.ingest import files as file_walk
    from tokaudit.ingest import loader

    walks: list[list[str]] = []
    real = file_walk.expand_paths

    def counted(paths: list[str], *args: object) -> list[Path]:
        walks.append(list(paths))
        return real(paths, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loader, "expand_paths", counted)
    samples = str(Path(__file__).resolve().parents[2] / "sample_logs")
    result = api.ingest([samples], tmp_path / "s.duckdb", recount_texts=False)
    assert len(walks) == 1 and result.files


def test_a_pipe_given_as_a_path_is_named_as_such(tmp_path: Path) -> None:
    """A FIFO (or /dev/zero, or `<(zcat …)`) was reported as "no such file or directory"."""
    import os

    from tokaudit.ingest.files import expand_paths

    fifo = tmp_path / "calls.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="not a regular file"):
        expand_paths([str(fifo)])


def test_a_system_prompt_sent_to_two_providers_is_kept_as_openais(kit: EnvelopeKit) -> None:
    """QA: the provider kept for a system text logged under Anthropic and OpenAI was
    whichever DuckDB met first (its o200k size's exact flag flipped from run to run); it is
    OpenAI's whenever OpenAI got the text, whatever the order of the lines."""
    system = "You are terse."

    def anthropic(i: int) -> Json:
        request = {
            "model": "claude-haiku-4-5",
            "system": system,
            "messages": [{"role": "user", "content": f"q{i}"}],
        }
        response = {
            "id": f"msg_{i}",
            "model": "claude-haiku-4-5",
            "usage": {"input_tokens": 9, "output_tokens": 1},
        }
        return kit.envelope("anthropic", request, response)

    def openai(i: int) -> Json:
        request = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": f"q{i}"},
            ],
        }
        response = {
            "id": f"chatcmpl-{i}",
            "model": "gpt-4o-mini",
            "usage": {"prompt_tokens": 9, "completion_tokens": 1},
        }
        return kit.envelope("openai", request, response)

    kit.ingest_lines([anthropic(0), anthropic(1), openai(2), anthropic(3)])
    kept = kit.query("SELECT provider FROM prompt_texts WHERE kind = 'system'")
    assert kept == [{"provider": "openai"}]
