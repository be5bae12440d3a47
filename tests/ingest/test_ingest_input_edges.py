"""Inputs at the edges: JSON nested too deep, a byte order mark, compressed documents, globs."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tokaudit.errors import InputError
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.files import expand_paths
from tokaudit.store import open_store

if TYPE_CHECKING:
    from conftest import EnvelopeKit

OPENAI_CACHE = "openai/openllmetry_openai_prompt_caching.yaml"
FIXTURES = Path(__file__).parents[1] / "fixtures"
RESPONSE = FIXTURES / "realworld/openai/openapi_examples/chat_completion_response_default.json"
BOM = "\ufeff".encode()


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _lines(kit: EnvelopeKit) -> list[str]:
    return [json.dumps(kit.from_exchange(c, "openai")) for c in kit.cassette(OPENAI_CACHE)]


@pytest.mark.parametrize("depth", [1200, 3000])
def test_a_record_too_deep_for_python_does_not_stop_the_run(kit: EnvelopeKit, depth: int) -> None:
    lines = _lines(kit)
    deep = json.dumps(json.loads(lines[0]) | {"metadata": {}}).replace(
        '"metadata": {}', '"metadata": ' + _nested(depth)
    )
    path = kit.tmp_path / "deep.jsonl"
    path.write_text("\n".join([deep, *lines[1:]]) + "\n")
    other = kit.tmp_path / "other.jsonl"
    other.write_text(lines[0] + "\n")

    first, second = kit.ingest(path, other).files
    assert first.error is None and first.format == "envelope"
    assert first.records_read == len(lines)
    assert second.error is None and second.records_read == 1


def test_a_document_too_deep_to_read_is_a_file_error(tmp_path: Path) -> None:
    doc = json.loads(RESPONSE.read_text())
    text = json.dumps(doc, indent=2)
    deep = (
        text[:-1].rstrip()
        + ',\n  "metadata": '
        + "\n".join(['{"a":'] * 3000 + ["1"] + ["}"] * 3000)
        + "\n}\n"
    )
    path = tmp_path / "deep.json"
    path.write_text(deep)
    other = tmp_path / "ok.json"
    other.write_text(text)

    con = open_store(":memory:")
    bad, ok = ingest_paths(con, [str(path), str(other)]).files
    assert bad.error is not None and "nested too deep" in bad.error
    assert ok.error is None and ok.loaded == 1
    [(line, reason)] = con.execute(
        "SELECT source_line, reason FROM rejects WHERE source_file LIKE '%deep.json'"
    ).fetchall()
    assert line == 0 and "nested too deep" in reason


def test_a_deep_one_line_document_with_a_forced_format(tmp_path: Path) -> None:
    doc = json.loads(RESPONSE.read_text())
    path = tmp_path / "deep.json"
    path.write_text(json.dumps(doc).replace('"usage":', f'"metadata": {_nested(3000)}, "usage":'))
    [fr] = ingest_paths(open_store(":memory:"), [str(path)], "openai-pairs").files
    assert fr.error is None and fr.loaded == 1


def _zstd(data: bytes, target: Path) -> Path:
    if shutil.which("zstd") is None:
        pytest.skip("no zstd compressor")
    subprocess.run(["zstd", "-q", "-f", "-o", str(target)], input=data, check=True)
    return target


@pytest.mark.parametrize("kind", ["plain", "gz", "zst", "stdin"])
def test_a_pretty_provider_document_reads_compressed(tmp_path: Path, kind: str) -> None:
    data = RESPONSE.read_bytes()
    con = open_store(":memory:")
    if kind == "stdin":
        import io

        result = ingest_paths(con, ["-"], stdin=io.BytesIO(gzip.compress(data)))
    else:
        path = tmp_path / "response.json"
        if kind == "plain":
            path.write_bytes(data)
        elif kind == "gz":
            path = tmp_path / "response.json.gz"
            path.write_bytes(gzip.compress(data))
        else:
            path = _zstd(data, tmp_path / "response.json.zst")
        result = ingest_paths(con, [str(path)])
    [fr] = result.files
    assert fr.error is None
    assert (fr.format, fr.records_read, fr.loaded) == ("openai-pairs", 1, 1)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_a_byte_order_mark_is_not_part_of_line_one(kit: EnvelopeKit, suffix: str) -> None:
    lines = _lines(kit)
    data = BOM + ("\n".join(lines) + "\n").encode()
    path = kit.tmp_path / f"bom.jsonl{suffix}"
    path.write_bytes(gzip.compress(data) if suffix else data)
    [fr] = kit.ingest(path).files
    assert fr.error is None and fr.format == "envelope"
    assert (fr.records_read, fr.rejected) == (len(lines), 0)


def test_a_byte_order_mark_before_a_claude_code_session(tmp_path: Path) -> None:
    fixture = sorted((FIXTURES / "claude_code" / "claude-config").rglob("*.jsonl"))[0]
    plain = tmp_path / "plain" / "s.jsonl"
    marked = tmp_path / "bom" / "s.jsonl"
    plain.parent.mkdir()
    marked.parent.mkdir()
    plain.write_bytes(fixture.read_bytes())
    marked.write_bytes(BOM + fixture.read_bytes())
    [ok] = ingest_paths(open_store(":memory:"), [str(plain)]).files
    [fr] = ingest_paths(open_store(":memory:"), [str(marked)]).files
    assert fr.error is None and fr.format == ok.format == "claude-code"
    assert (fr.records_read, fr.loaded, fr.rejected) == (ok.records_read, ok.loaded, 0)


def test_a_byte_order_mark_before_a_pretty_document(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(BOM + RESPONSE.read_bytes())
    [fr] = ingest_paths(open_store(":memory:"), [str(path)]).files
    assert fr.error is None
    assert (fr.format, fr.loaded, fr.rejected) == ("openai-pairs", 1, 0)


def test_a_csv_without_a_map_is_told_about_map(tmp_path: Path) -> None:
    path = tmp_path / "spend.csv"
    path.write_text("model,tokens\ngpt-4o,12\n")
    [fr] = ingest_paths(open_store(":memory:"), [str(path)]).files
    assert fr.error is not None and "--map fields.yaml" in fr.error


def test_a_glob_that_matches_a_directory_walks_it(tmp_path: Path) -> None:
    folder = tmp_path / "s" / "langfuse"
    folder.mkdir(parents=True)
    (folder / "a.json").write_text("{}")
    (folder / "notes.txt").write_text("x")
    assert expand_paths([str(tmp_path / "s" / "lang*")]) == [folder / "a.json"]
    with pytest.raises(InputError, match="matches no file"):
        expand_paths([str(tmp_path / "s" / "nothing*")])


def test_an_empty_model_names_none(tmp_path: Path) -> None:
    """A response's ``"model": ""`` (or an envelope's) was stored as the model, so the call
    was unpriced as an unknown model although its request named gpt-4o (QA)."""
    usage = {"prompt_tokens": 8, "completion_tokens": 2}
    request = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    base = {"timestamp": "2026-10-16T08:46:28Z", "provider": "openai", "request": request}
    records = [
        base | {"request_id": "e1", "response": {"id": "e1", "model": "", "usage": usage}},
        base | {"request_id": "e2", "model": "", "response": {"id": "e2", "usage": usage}},
        base
        | {"request_id": "e3", "model": "", "response": {"id": "e3", "model": "", "usage": usage}},
    ]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    con = open_store(tmp_path / "s.duckdb")
    assert ingest_paths(con, [str(log)]).total("loaded") == 3
    rows = con.execute("SELECT request_id, model, model_responded FROM requests").fetchall()
    assert sorted(rows) == [("e1", "gpt-4o", None), ("e2", "gpt-4o", None), ("e3", "gpt-4o", None)]


def test_an_empty_path_is_an_error_not_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest "$LOGS"` with LOGS unset passed "", which Path reads as ".": every log file
    under the working directory (a CI checkout) was loaded (QA)."""
    (tmp_path / "stray.jsonl").write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="an empty path"):
        expand_paths([""])
    with pytest.raises(InputError, match="an empty path"):
        expand_paths([str(tmp_path / "stray.jsonl"), ""])
