"""A map's ``metadata:`` names whole top-level columns. Listing a dotted source the map
reads into an object (``input_tokens: usage.in`` with ``metadata: [usage.in]``) kept
nothing, without a word (the check for ``metadata:`` columns a file lacks skipped every
mapped source). It is now said as a ``metadata:`` column the file lacks, the way the map
already tells of one (a warning at load: the map cannot tell a path from a CSV column's
whole name before it reads the file), with the hint to list ``usage``. In CSV the dotted
name is a column's whole name, and is kept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import yaml
from mapped_helpers import ingest_mapped
from typer.testing import CliRunner

from tokaudit.cli import app

if TYPE_CHECKING:
    from conftest import EnvelopeKit

runner = CliRunner()
TS = "2026-02-01T00:00:00Z"


def _map(metadata: list[str]) -> dict[str, Any]:
    return {
        "fields": {
            "timestamp": "ts",
            "model": "model",
            "input_tokens": "usage.in",
            "output_tokens": "usage.out",
        },
        "static": {"provider": "openai"},
        "metadata": metadata,
    }


def _nested(tmp: Path, reader: str) -> Path:
    """One call, 10 in and 5 out under a ``usage`` object (a Parquet struct)."""
    if reader == "jsonl":
        path = tmp / "u.jsonl"
        record = {"ts": TS, "model": "gpt-4o", "usage": {"in": 10, "out": 5}, "squad": "s"}
        path.write_text(json.dumps(record) + "\n", "utf-8")
        return path
    path = tmp / "u.parquet"
    con = duckdb.connect()
    try:
        con.execute(
            f"""COPY (SELECT '{TS}' AS ts, 'gpt-4o' AS model, {{'in': 10, 'out': 5}} AS usage,
                         's' AS squad) TO '{path}' (FORMAT parquet)"""
        )
    finally:
        con.close()
    return path


@pytest.mark.parametrize("reader", ["jsonl", "parquet"])
def test_a_mapped_dotted_source_listed_is_told(kit: EnvelopeKit, reader: str) -> None:
    path = _nested(kit.tmp_path, reader)
    fr = ingest_mapped(kit, path, _map(["usage.in", "squad"]))
    assert fr.error is None and fr.loaded == 1
    assert fr.absent_columns == [("metadata", "usage.in")]
    [row] = kit.query("SELECT input_tokens, output_tokens, metadata FROM requests")
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)
    assert json.loads(row["metadata"]) == {"squad": "s"}


@pytest.mark.parametrize("reader", ["jsonl", "parquet"])
def test_listing_the_object_keeps_it_without_a_warning(kit: EnvelopeKit, reader: str) -> None:
    path = _nested(kit.tmp_path, reader)
    fr = ingest_mapped(kit, path, _map(["usage"]))
    assert fr.absent_columns == []
    [row] = kit.query("SELECT metadata FROM requests")
    assert json.loads(row["metadata"]) == {"usage": {"in": 10, "out": 5}}


def test_in_csv_a_dotted_name_is_a_whole_column_and_is_kept(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "u.csv"
    path.write_text(f"ts,model,usage.in,usage.out\n{TS},gpt-4o,10,5\n", "utf-8")
    fr = ingest_mapped(kit, path, _map(["usage.in"]))
    assert fr.absent_columns == []
    [row] = kit.query("SELECT input_tokens, output_tokens, metadata FROM requests")
    assert (row["input_tokens"], row["output_tokens"]) == (10, 5)
    assert json.loads(row["metadata"]) == {"usage.in": "10"}  # a CSV cell is text


@pytest.mark.parametrize("reader", ["jsonl", "parquet"])
def test_a_mapped_source_the_file_lacks_is_said_once_for_its_target(
    kit: EnvelopeKit, reader: str
) -> None:
    fmap = _map(["usage.cached"])
    fmap["fields"]["cache_read_tokens"] = "usage.cached"
    fmap["input_includes_cache"] = True
    fr = ingest_mapped(kit, _nested(kit.tmp_path, reader), fmap)
    assert fr.absent_columns == [("cache_read_tokens", "usage.cached")]


def test_cli_warns_with_the_hint(kit: EnvelopeKit) -> None:
    tmp = kit.tmp_path
    path = _nested(tmp, "jsonl")
    fmap = tmp / "m.yaml"
    fmap.write_text(yaml.safe_dump(_map(["usage.in"])), "utf-8")
    result = runner.invoke(
        app, ["ingest", str(path), "--map", str(fmap), "--db", str(tmp / "s.duckdb")]
    )
    assert result.exit_code == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if line.startswith("warning:")] == [
        f"warning: metadata: column 'usage.in' is in no record of {path}; nothing of it kept "
        "in metadata (metadata: names whole top-level columns: list 'usage' to keep that "
        "object)"
    ]
    assert "warning" not in result.stdout
