"""Test helpers: write envelope records and open a priced store through the real pipeline."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest import ingest_paths
from tokaudit.ingest.interface import LogFormat
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.recount import recount
from tokaudit.store import open_store

REPO = Path(__file__).resolve().parents[1]


def copy_store(template: Path, directory: Path) -> Path:
    """A copy of the store file ``template`` (and its WAL, if any) in ``directory``, under
    the same name: a fixture ingests once and hands each test its own copy, which the test
    may write to without reaching another test's."""
    for made in template.parent.glob(template.name + "*"):
        shutil.copyfile(made, directory / made.name)
    return directory / template.name


def write_jsonl(path: Path, records: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def priced_store(tmp_path: Path, records: list[Any]) -> duckdb.DuckDBPyConnection:
    """Ingest ``records`` as envelope lines, install the shipped prices and recount."""
    log = write_jsonl(tmp_path / "log.jsonl", records)
    con = open_store(":memory:")
    result = ingest_paths(con, [str(log)])
    assert not result.errors, result.errors
    install_price_table(con, load_price_table(REPO / "pricing"))
    recount(con)
    return con


def openai_record(
    ts: str,
    model: str,
    prompt: int,
    completion: int,
    *,
    team: str = "t",
    cached: int = 0,
    messages: list[dict[str, Any]] | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    default = [{"role": "user", "content": "hi"}]
    body: dict[str, Any] = {"model": model, "messages": messages or default}
    return {
        "timestamp": ts,
        "provider": "openai",
        "metadata": {"team": team},
        "request": body,
        "response": {
            "id": request_id or f"chatcmpl-{ts}-{team}-{model}",
            "model": model,
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        },
    }


def cassette_response(body: Any) -> dict[str, Any]:
    """A VCR cassette's response body: JSON text, gzip bytes, or an SSE stream (the chunk
    that carries usage)."""
    text = body["string"]
    if isinstance(text, bytes):
        text = gzip.decompress(text).decode("utf-8")
    if text.lstrip().startswith("data:"):
        chunks = [
            json.loads(line[len("data:") :])
            for line in text.splitlines()
            if line.startswith("data:") and line.strip() != "data: [DONE]"
        ]
        return dict(next(chunk for chunk in chunks if chunk.get("usage")))
    result: dict[str, Any] = json.loads(text)
    return result


def ingest_contents(con: duckdb.DuckDBPyConnection, paths: list[str]) -> dict[str, Any]:
    """Ingest ``paths`` and return what two ways of loading must agree on: each file's
    counts and error, every request row, every reject (file, line, raw text, reason)."""
    result = ingest_paths(con, paths)
    files = sorted(
        (f.path, f.format, f.records_read, f.loaded, f.duplicates, f.rejected, f.error)
        for f in result.files
    )
    requests = con.execute(
        "SELECT * EXCLUDE (metadata), metadata::VARCHAR FROM requests ORDER BY request_key"
    ).fetchall()
    rejects = con.execute(
        "SELECT source_file, source_line, raw, reason FROM rejects ORDER BY ALL"
    ).fetchall()
    return {"files": files, "requests": requests, "rejects": rejects}


def log_fixture_files() -> list[Path]:
    """Every log file of the repository's fixtures and samples (what detection must keep
    reading as before when a format is added)."""
    roots = [REPO / "tests" / "fixtures", REPO / "sample_logs"]
    suffixes = (".jsonl", ".json", ".gz", ".zst")
    files = sorted(
        {p for r in roots for p in r.rglob("*") if p.is_file() and p.name.endswith(suffixes)}
    )
    assert len(files) > 20, "the fixture folders moved"
    return files


def detected_format(path: Path) -> str:
    """The format ``--format auto`` picks for ``path`` (the loader's detection)."""
    from tokaudit.ingest.loader import _detect

    con = duckdb.connect()
    try:
        return _detect(con, path).name
    finally:
        con.close()


def sniffed_fixtures(fmt: LogFormat) -> list[Path]:
    """The fixture and sample log files whose head ``fmt``'s sniffer claims; a file the
    loader cannot read a head of is skipped, as detection skips it."""
    from tokaudit.ingest.interface import FileHead
    from tokaudit.ingest.loader import _FileError, _head_lines

    con = duckdb.connect()
    try:
        claimed = []
        for path in log_fixture_files():
            try:
                lines = _head_lines(con, path)
            except (duckdb.Error, _FileError, OSError):
                continue
            if fmt.sniff(FileHead(path, lines)):
                claimed.append(path)
        return claimed
    finally:
        con.close()
