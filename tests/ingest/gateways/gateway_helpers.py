"""Helpers for the gateway and observability format tests (LiteLLM, Langfuse, OTel).

Real samples come from ``tests/fixtures/realworld`` (copies of public files, see its
README); the OTLP fixture is hand-built (``tests/fixtures/otel/README.md``). Nothing
reaches outside the repository at run time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest import FileResult, IngestResult, ingest_paths

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
REALWORLD = FIXTURES / "realworld"
OTLP_FIXTURE = FIXTURES / "otel" / "genai_spans.otlp.json"

Json = dict[str, Any]


def load(path: Path) -> Any:
    return json.loads(path.read_text("utf-8"))


class GatewayKit:
    """A fresh in-memory store and a temp folder: write files, ingest, read rows back."""

    def __init__(self, con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
        self.con = con
        self.tmp_path = tmp_path

    def write(self, name: str, text: str) -> Path:
        path = self.tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, "utf-8")
        return path

    def write_jsonl(self, name: str, lines: Iterable[Any]) -> Path:
        """One line per item: a str verbatim, anything else as compact JSON."""
        return self.write(
            name, "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
        )

    def ingest(self, *paths: Path | str, fmt: str = "auto") -> IngestResult:
        return ingest_paths(self.con, [str(p) for p in paths], fmt_name=fmt)

    def one(self, path: Path, fmt: str = "auto") -> FileResult:
        """Ingest one file; the counts must always add up."""
        result = self.ingest(path, fmt=fmt)
        assert len(result.files) == 1
        got = result.files[0]
        assert got.error is None, got.error
        assert got.records_read == got.loaded + got.duplicates + got.rejected
        return got

    def query(self, sql: str, params: list[Any] | None = None) -> list[Json]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def rows(self, path: Path) -> list[Json]:
        """``requests`` rows of one file in line order, ``metadata`` parsed."""
        got = self.query(
            "SELECT * FROM requests WHERE source_file = ? ORDER BY source_line, request_key",
            [str(path.resolve())],
        )
        for row in got:
            row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else None
        return got

    def by_key(self, path: Path) -> dict[str, Json]:
        return {r["request_key"]: r for r in self.rows(path)}

    def text(self, text_hash: str | None) -> str | None:
        """A stored prompt text (``prompt_texts.body``) by its hash."""
        got = self.query("SELECT body FROM prompt_texts WHERE text_hash = ?", [text_hash])
        return str(got[0]["body"]) if got else None

    def rejects(self, path: Path) -> dict[int, Json]:
        got = self.query(
            "SELECT source_line, raw, reason FROM rejects WHERE source_file = ?",
            [str(path.resolve())],
        )
        return {int(r["source_line"]): r for r in got}


def classes(row: Json) -> tuple[Any, ...]:
    """The disjoint token classes of a ``requests`` row, in schema order."""
    return (
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_5m_tokens"],
        row["cache_write_1h_tokens"],
        row["output_tokens"],
        row["reasoning_tokens"],
    )


def start_line(text: str, first_key_line: str) -> int:
    """1-based line of the ``{`` opening the object whose first line is ``first_key_line``
    (exact, indentation included; a trailing comma is ignored). Pretty-printed JSON puts
    an object's first key on the line right under its brace."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.rstrip().rstrip(",") == first_key_line and i > 0 and lines[i - 1].strip() == "{":
            return i  # the brace is line i (1-based): the key is on line i + 1
    raise AssertionError(f"{first_key_line!r} not found under an opening brace")
