"""Shared by the field-map tests: one set of records as CSV, JSON Lines or Parquet, and an
ingest with a map (and attribution rules) through the library."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from tokaudit.ingest import ingest_paths
from tokaudit.ingest.attribution import parse_attribution
from tokaudit.ingest.fieldmap import parse_field_map
from tokaudit.ingest.loader import FileResult

if TYPE_CHECKING:
    from conftest import EnvelopeKit

READERS = ["csv", "jsonl", "parquet"]


def write_as(tmp: Path, reader: str, records: list[dict[str, Any]], name: str = "usage") -> Path:
    """The records as a CSV, JSON Lines or Parquet file, with the same columns."""
    jsonl = tmp / f"{name}.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    if reader == "jsonl":
        return jsonl
    path = tmp / f"{name}.{reader}"
    con = duckdb.connect()
    try:
        fmt = "csv, HEADER true" if reader == "csv" else "parquet"
        con.execute(f"COPY (SELECT * FROM read_json('{jsonl}')) TO '{path}' (FORMAT {fmt})")
    finally:
        con.close()
    jsonl.unlink()
    return path


def ingest_mapped(
    kit: EnvelopeKit, path: Path, fmap: dict[str, Any], config: Any = None
) -> FileResult:
    """Ingest one file with the map ``fmap`` (and ``config``'s attribution rules)."""
    rules = parse_attribution(config, "tokaudit.yaml") if config is not None else None
    [fr] = ingest_paths(
        kit.con, [str(path)], field_map=parse_field_map(fmap, "fields.yaml"), attribution=rules
    ).files
    return fr
