"""The mapped format: a Parquet file inside gzip or zstd is a clear file error.

Parquet is read from its end (the footer) and compresses its own pages, so a .gz or
.zst around it cannot be streamed: the file fails with that reason, in words, while the
other files of the call load, and the CLI exits 2 as for any unreadable input.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.fieldmap import parse_field_map
from tokaudit.ingest.files import zst_problem
from tokaudit.store import open_store

FIELD_MAP = {
    "fields": {
        "timestamp": "created",
        "model": "model",
        "input_tokens": "tokens_in",
        "output_tokens": "tokens_out",
    },
    "static": {"provider": "openai"},
}
GZIP = "gzip-compressed Parquet cannot be read: Parquet is read from its end"
ZSTD = "zstd-compressed Parquet cannot be read: Parquet is read from its end"


def _parquet(path: Path, tokens_in: int) -> bytes:
    """One row (2026-10-04 09:00, gpt-4.1, ``tokens_in`` in, 10 out) as Parquet bytes."""
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT TIMESTAMP '2026-10-04 09:00:00' AS created, 'gpt-4.1' AS model,
                 {tokens_in} AS tokens_in, 10 AS tokens_out)
            TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    return path.read_bytes()


def _zstd(data: bytes) -> bytes:
    """``data`` as one Zstandard frame holding one raw block (RFC 8878 3.1.1), as ``zstd``
    writes bytes it cannot shrink (the standard library has no zstd module). Header: single
    segment, a 2-byte content size (256 to 65,791 bytes); block header: last, raw, size."""
    assert 256 <= len(data) < 65_792
    header = b"\x28\xb5\x2f\xfd" + bytes([0x60]) + (len(data) - 256).to_bytes(2, "little")
    return header + ((len(data) << 3) | 1).to_bytes(3, "little") + data


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    plain = _parquet(tmp_path / "plain.parquet", 100)
    out = {"plain": tmp_path / "plain.parquet"}
    for name, data in (
        ("usage.parquet.gz", gzip.compress(plain)),
        ("usage.gz", gzip.compress(plain)),  # a Parquet file by its decompressed bytes
        ("usage.parquet.zst", _zstd(plain)),
    ):
        out[name] = tmp_path / name
        out[name].write_bytes(data)
    return out


def test_compressed_parquet_fails_alone_with_its_reason(
    files: dict[str, Path], tmp_path: Path
) -> None:
    assert zst_problem(files["usage.parquet.zst"]) is None  # a whole Zstandard frame
    store = open_store(tmp_path / "api.duckdb")
    try:
        names = ["usage.parquet.gz", "plain", "usage.gz", "usage.parquet.zst"]
        result = ingest_paths(
            store, [str(files[n]) for n in names], field_map=parse_field_map(FIELD_MAP, "m.yaml")
        )
        got = {Path(f.path).name: f for f in result.files}
        assert (got["plain.parquet"].error, got["plain.parquet"].loaded) == (None, 1)
        for name, reason in (
            ("usage.parquet.gz", GZIP),
            ("usage.gz", GZIP),
            ("usage.parquet.zst", ZSTD),
        ):
            f = got[name]
            assert f.error is not None and f.error.startswith(reason), f.error
            assert "magic bytes" not in f.error  # not DuckDB's words
            assert (f.records_read, f.loaded) == (0, 0)
        rows = store.execute("SELECT source_file, input_tokens FROM requests").fetchall()
        assert rows == [(str(files["plain"].resolve()), 100)]
    finally:
        store.close()


def test_the_cli_exits_2_naming_the_file_and_loads_the_others(
    files: dict[str, Path], tmp_path: Path
) -> None:
    fmap = tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump(FIELD_MAP), "utf-8")
    db = tmp_path / "cli.duckdb"
    args = [str(files["usage.parquet.gz"]), str(files["plain"]), "--map", str(fmap)]
    out = CliRunner().invoke(app, ["ingest", *args, "--db", str(db), "-o", "json"])
    assert out.exit_code == 2, out.stderr
    assert f"{files['usage.parquet.gz']}: {GZIP}" in out.stderr
    assert "gzip -d" in out.stderr
    report: dict[str, Any] = json.loads(out.stdout)
    status = {Path(f["file"]).name: (f["loaded"], f["status"]) for f in report["files"]}
    assert status["plain.parquet"] == (1, "ok")
    assert status["usage.parquet.gz"][0] == 0
    assert status["usage.parquet.gz"][1].startswith(f"ERROR: {GZIP}")
