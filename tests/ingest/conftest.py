"""Helpers for the envelope-ingest tests: real provider bodies in, envelope lines out.

Everything is read from ``tests/fixtures/realworld`` (copies of public recordings, see its
README); nothing here reaches outside the repository at run time.

Cassettes are VCR files: the request body is ``interactions[].request.body`` (a JSON
string) and the response body ``interactions[].response.body.string``, which the
openllmetry cassettes store gzip-compressed as a YAML ``!!binary`` (bytes once loaded).
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tokaudit.ingest import FileResult, IngestResult, ingest_paths
from tokaudit.store import open_store

REALWORLD = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
DEFAULT_TS = "2026-11-01T12:00:00Z"

Json = dict[str, Any]
Line = Json | str  # a dict is serialised with json.dumps, a str is written verbatim


@dataclass(frozen=True)
class Exchange:
    """One recorded HTTP call: parsed request body, parsed response body, status."""

    request: Json
    response: Json
    status: int
    uri: str = ""


def _body_text(body: Any) -> str:
    if isinstance(body, bytes):
        # openllmetry cassettes keep the gzip-encoded bytes as sent on the wire
        return (gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body).decode("utf-8")
    if isinstance(body, dict):  # some VCR versions nest {"string": ...}
        return _body_text(body.get("string"))
    return str(body)


@functools.cache
def _parse_cassette(rel: str) -> Any:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same result, C speed
    return yaml.load((REALWORLD / rel).read_text("utf-8"), Loader=loader)


def load_cassette(rel: str) -> list[Exchange]:
    """The interactions of a VCR cassette under tests/fixtures/realworld (fresh copies)."""
    doc = _parse_cassette(rel)
    out = []
    for it in doc["interactions"]:
        req, resp = it["request"], it["response"]
        out.append(
            Exchange(
                request=json.loads(_body_text(req["body"])),
                response=json.loads(_body_text(resp["body"]["string"])),
                status=int(resp["status"]["code"]),
                uri=str(req.get("uri", "")),
            )
        )
    return out


def load_snapshot(rel: str) -> list[Exchange]:
    """An anthropic-sdk inline snapshot: a JSON list of {request: {body}, response: {body}}."""
    doc = json.loads((REALWORLD / rel).read_text("utf-8"))
    return [
        Exchange(
            request=copy.deepcopy(x["request"]["body"]),
            response=copy.deepcopy(x["response"]["body"]),
            status=int(x["response"]["status_code"]),
            uri=str(x["request"].get("url", "")),
        )
        for x in doc
    ]


def load_json(rel: str) -> Json:
    data = json.loads((REALWORLD / rel).read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def model_from_uri(uri: str) -> str | None:
    """Gemini/Vertex put the model in the URL path: .../models/<model>:generateContent."""
    m = re.search(r"/models/([^/:?]+)", uri)
    return m.group(1) if m else None


def make_envelope(
    provider: str,
    request: Json | None,
    response: Json | None,
    *,
    error: Json | None = None,
    timestamp: Any = DEFAULT_TS,
    **fields: Any,
) -> Json:
    """One envelope record (deep copies, so callers may mutate their inputs afterwards)."""
    env: Json = {"timestamp": timestamp, "provider": provider}
    env.update(copy.deepcopy(fields))
    env["request"] = copy.deepcopy(request)
    env["response"] = copy.deepcopy(response)
    env["error"] = copy.deepcopy(error)
    return env


def envelope_from_exchange(ex: Exchange, provider: str, **fields: Any) -> Json:
    """An envelope for a recorded call; an HTTP error becomes ``error`` {status, type, ...}."""
    if provider == "google" and "model" not in fields:
        fields["model"] = model_from_uri(ex.uri)
    if ex.status >= 400:
        body = ex.response.get("error", ex.response)
        error = {"status": ex.status, **body}
        return make_envelope(provider, ex.request, None, error=error, **fields)
    return make_envelope(provider, ex.request, ex.response, **fields)


def write_lines(path: Path, lines: Iterable[Line]) -> Path:
    """Write JSONL (``\\n`` endings, trailing newline); gzip when the name ends in .gz."""
    text = "".join((ln if isinstance(ln, str) else json.dumps(ln)) + "\n" for ln in lines)
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.name.endswith(".gz") else data)
    return path


class EnvelopeKit:
    """A fresh in-memory store plus tmp_path, with shortcuts to write and ingest logs."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
        self.con = con
        self.tmp_path = tmp_path

    # --- real samples and envelopes (module functions, reachable from the fixture) --
    cassette = staticmethod(load_cassette)
    snapshot = staticmethod(load_snapshot)
    sample_json = staticmethod(load_json)
    envelope = staticmethod(make_envelope)
    from_exchange = staticmethod(envelope_from_exchange)

    # --- writing -------------------------------------------------------------------
    def write(self, name: str, lines: Iterable[Line]) -> Path:
        return write_lines(self.tmp_path / name, lines)

    # --- ingesting -----------------------------------------------------------------
    def ingest(self, *paths: Path | str, fmt: str = "auto") -> IngestResult:
        return ingest_paths(self.con, [str(p) for p in paths], fmt_name=fmt)

    def ingest_lines(
        self, lines: Iterable[Line], name: str = "log.jsonl", fmt: str = "auto"
    ) -> tuple[FileResult, list[Json]]:
        path = self.write(name, lines)
        result = self.ingest(path, fmt=fmt)
        assert len(result.files) == 1
        return result.files[0], self.rows(path)

    # --- reading back --------------------------------------------------------------
    def query(self, sql: str, params: list[Any] | None = None) -> list[Json]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def rows(self, path: Path | None = None) -> list[Json]:
        """``requests`` rows (of one file when given), in line order."""
        if path is None:
            return self.query("SELECT * FROM requests ORDER BY source_file, source_line")
        return self.query(
            "SELECT * FROM requests WHERE source_file = ? ORDER BY source_line",
            [str(path.resolve())],
        )

    def rejects(self, path: Path) -> dict[int, Json]:
        """``rejects`` rows of one file keyed by line number."""
        got = self.query(
            "SELECT source_line, raw, reason FROM rejects WHERE source_file = ?",
            [str(path.resolve())],
        )
        return {int(r["source_line"]): r for r in got}

    def count(self, table: str) -> int:
        row = self.con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
def store() -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_store(":memory:")
    try:
        yield con
    finally:
        con.close()


@pytest.fixture
def kit(store: duckdb.DuckDBPyConnection, tmp_path: Path) -> EnvelopeKit:
    return EnvelopeKit(store, tmp_path)


@pytest.fixture(scope="module")
def module_kit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EnvelopeKit]:
    """One store for a whole module (each ingest costs ~0.2 s of DuckDB planning)."""
    con = open_store(":memory:")
    try:
        yield EnvelopeKit(con, tmp_path_factory.mktemp("module"))
    finally:
        con.close()
