"""A mapped column a file lacks, the same in CSV, JSON Lines and Parquet; and the unmapped
columns of a mapped record kept as its metadata, for attribution rules.

An optional field (team, user, a cache count) absent from a whole file reads as empty on
its rows; a required one (timestamp, a mapped model or provider), or every token count
the map names, fails the file naming the column (exit 2 from the CLI), as a column a CSV
file lacks always did. Token classes and dollars are worked out by hand below; gpt-4o's
list prices per 1M tokens (https://openai.com/api/pricing): input 2.50, cached input 1.25,
output 10.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from mapped_helpers import READERS, ingest_mapped, write_as
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table

if TYPE_CHECKING:
    from conftest import EnvelopeKit

ROOT = Path(__file__).resolve().parents[3]
M = Decimal(1_000_000)
runner = CliRunner()

# the export's rows: no team, user or cached-token column anywhere in the file
RECORDS = [
    {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "pt": 1000, "ct": 100, "squad": "search"},
    {"ts": "2026-10-01T11:00:00Z", "model": "gpt-4o", "pt": 400, "ct": 20, "squad": "growth"},
]
MAP: dict[str, Any] = {
    "input_includes_cache": True,
    "fields": {
        "timestamp": "ts",
        "model": "model",
        "team": "team",
        "user": "user_email",
        "input_tokens": "pt",
        "cache_read_tokens": "cached",
        "output_tokens": "ct",
    },
    "static": {"provider": "openai"},
}


@pytest.mark.parametrize("reader", READERS)
def test_an_optional_column_no_record_has_reads_as_empty(kit: EnvelopeKit, reader: str) -> None:
    """team, user and cached tokens are mapped but in no record: the file loads (it failed
    whole in all three readers), those columns NULL, the other counts as logged."""
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, MAP)
    assert (fr.error, fr.records_read, fr.loaded, fr.rejected) == (None, 2, 2, 0)
    rows = kit.rows(path)
    assert [
        (r["team"], r["user_id"], r["input_tokens"], r["cache_read_tokens"], r["output_tokens"])
        for r in rows
    ] == [(None, None, 1000, None, 100), (None, None, 400, None, 20)]
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    costs = [
        Decimal(r["c"]) for r in kit.query("SELECT cost_usd AS c FROM request_costs ORDER BY ts")
    ]
    assert costs == [
        (1000 * Decimal("2.5") + 100 * 10) / M,
        (400 * Decimal("2.5") + 20 * 10) / M,
    ]


@pytest.mark.parametrize("reader", ["jsonl", "parquet"])
def test_a_nested_path_no_record_has_reads_as_empty(kit: EnvelopeKit, reader: str) -> None:
    """A dotted path into an object (a Parquet struct) that lacks the field: in Parquet
    the struct field failed to bind, and the file failed with DuckDB's binder error."""
    records = [
        {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "usage": {"in": 1000, "out": 100}},
        {"ts": "2026-10-01T11:00:00Z", "model": "gpt-4o", "usage": {"in": 400, "out": 20}},
    ]
    path = write_as(kit.tmp_path, reader, records)
    fmap = {
        "input_includes_cache": True,
        "fields": {
            "timestamp": "ts",
            "model": "model",
            "input_tokens": "usage.in",
            "cache_read_tokens": "usage.cached",
            "output_tokens": "usage.out",
        },
        "static": {"provider": "openai"},
    }
    fr = ingest_mapped(kit, path, fmap)
    assert (fr.error, fr.loaded) == (None, 2)
    assert [(r["input_tokens"], r["cache_read_tokens"]) for r in kit.rows(path)] == [
        (1000, None),
        (400, None),
    ]


@pytest.mark.parametrize("reader", READERS)
def test_a_required_column_no_record_has_fails_the_file(kit: EnvelopeKit, reader: str) -> None:
    records = [{k: v for k, v in r.items() if k != "model"} for r in RECORDS]
    path = write_as(kit.tmp_path, reader, records)
    fr = ingest_mapped(kit, path, MAP)
    assert fr.error is not None and fr.loaded == 0 and kit.count("requests") == 0
    assert "column 'model' (fields.model in fields.yaml) is not in the file" in fr.error


@pytest.mark.parametrize("reader", READERS)
def test_no_token_count_of_the_map_in_the_file_fails_it(kit: EnvelopeKit, reader: str) -> None:
    """Every count column absent (a map written for another export): the rows would load
    with no usage and price as unpriced, so the file fails, naming the columns."""
    records = [{k: v for k, v in r.items() if k not in ("pt", "ct")} for r in RECORDS]
    path = write_as(kit.tmp_path, reader, records)
    fr = ingest_mapped(kit, path, MAP)
    assert fr.error is not None and fr.loaded == 0
    assert "no token count the map names is in the file: 'pt' (fields.input_tokens)" in fr.error
    assert "'ct' (fields.output_tokens)" in fr.error


@pytest.mark.parametrize("reader", READERS)
def test_cli_a_required_column_absent_is_exit_2_naming_file_and_path(
    kit: EnvelopeKit, reader: str
) -> None:
    records = [{k: v for k, v in r.items() if k != "ts"} for r in RECORDS]
    path = write_as(kit.tmp_path, reader, records)
    fmap = kit.tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump(MAP), "utf-8")
    db = kit.tmp_path / "store.duckdb"
    result = runner.invoke(app, ["ingest", str(path), "--map", str(fmap), "--db", str(db)])
    assert result.exit_code == 2, result.stderr
    assert f"{path.name}: column 'ts' (fields.timestamp in {fmap}) is not in the file" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("reader", READERS)
def test_an_output_column_absent_beside_input_rejects_every_row(
    kit: EnvelopeKit, reader: str
) -> None:
    """An absent output column beside an input one is empty on every row: each row is a
    reject with the usual reason (read as 0 it would price the calls without output)."""
    records = [{k: v for k, v in r.items() if k != "ct"} for r in RECORDS]
    path = write_as(kit.tmp_path, reader, records)
    fr = ingest_mapped(kit, path, MAP)
    assert (fr.error, fr.records_read, fr.loaded, fr.rejected) == (None, 2, 0, 2)
    assert {r["reason"] for r in kit.rejects(path).values()} == {"column ct is empty"}


@pytest.mark.parametrize("reader", READERS)
def test_a_team_from_an_unmapped_column_through_tokaudit_yaml(
    kit: EnvelopeKit, reader: str
) -> None:
    """`squad` is in no field of the map: it is the rows' metadata.squad, which an
    attribution rule reads (mapped rows had no metadata, so the rule found nothing)."""
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, MAP, {"attribution": {"team": ["metadata.squad"]}})
    assert (fr.error, fr.loaded) == (None, 2)
    rows = kit.rows(path)
    assert [r["team"] for r in rows] == ["search", "growth"]
    # the mapped columns are not repeated in it; the unmapped one is
    assert json.loads(rows[0]["metadata"]) == {"squad": "search"}


def test_cli_team_from_an_unmapped_csv_column(kit: EnvelopeKit) -> None:
    path = write_as(kit.tmp_path, "csv", RECORDS)
    fmap = kit.tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump(MAP), "utf-8")
    config = kit.tmp_path / "tokaudit.yaml"
    config.write_text("attribution:\n  team: [metadata.squad]\n", "utf-8")
    db = kit.tmp_path / "store.duckdb"
    args = ["--map", str(fmap), "--config", str(config), "--db", str(db)]
    result = runner.invoke(app, ["ingest", str(path), *args])
    assert result.exit_code == 0, result.stderr
    out = runner.invoke(app, ["report", "--db", str(db), "--by", "team", "-f", "json"])
    assert out.exit_code == 0, out.stderr
    report = json.loads(out.stdout)
    spend = {r["team"]: Decimal(str(r["cost_usd"])) for r in report["rows"]}
    assert spend == {
        "search": (1000 * Decimal("2.5") + 100 * 10) / M,
        "growth": (400 * Decimal("2.5") + 20 * 10) / M,
    }
