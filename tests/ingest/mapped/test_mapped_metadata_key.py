"""The field map's ``metadata:`` key: which unmapped columns a mapped row keeps in
``requests.metadata`` (default all; a list: those; ``false``: none), the same in CSV, JSON
Lines and Parquet; a bad value is a configuration error (exit 2).

Dollars are worked out by hand: gpt-4o's list prices per 1M tokens
(https://openai.com/api/pricing): input 2.50, output 10; claude-sonnet-4-6's input 3,
output 15, and "For Claude 4.6 and later models, specifying US-only inference through the
inference_geo parameter incurs a 1.1x multiplier on all token pricing categories"
(https://platform.claude.com/docs/en/about-claude/pricing#data-residency-pricing).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from mapped_helpers import READERS, ingest_mapped, write_as
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.errors import ConfigError
from tokaudit.ingest.fieldmap import parse_field_map
from tokaudit.ingest.loader import rules_fingerprint
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table

if TYPE_CHECKING:
    from conftest import EnvelopeKit

ROOT = Path(__file__).resolve().parents[3]
M = Decimal(1_000_000)
runner = CliRunner()

BODY = "x" * 5000  # a request body: what metadata should not have to hold
RECORDS = [
    {
        "ts": "2026-10-01T10:00:00Z",
        "model": "gpt-4o",
        "pt": 1000,
        "ct": 100,
        "squad": "search",
        "region": "eu",
        "request_body": BODY,
        "note": "a",
    },
    {
        "ts": "2026-10-01T11:00:00Z",
        "model": "gpt-4o",
        "pt": 400,
        "ct": 20,
        "squad": "growth",
        "region": "us",
        "request_body": BODY,
        "note": "b",
    },
]
MAP: dict[str, Any] = {
    "fields": {"timestamp": "ts", "model": "model", "input_tokens": "pt", "output_tokens": "ct"},
    "static": {"provider": "openai"},
}


def _metadata(kit: EnvelopeKit, path: Path) -> list[Any]:
    return [None if r["metadata"] is None else json.loads(r["metadata"]) for r in kit.rows(path)]


@pytest.mark.parametrize("reader", READERS)
def test_a_list_keeps_exactly_those_columns(kit: EnvelopeKit, reader: str) -> None:
    """`metadata: [squad, region]`: the body and the note are left out (they were kept)."""
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, {**MAP, "metadata": ["squad", "region"]})
    assert (fr.error, fr.loaded, fr.rejected) == (None, 2, 0)
    assert _metadata(kit, path) == [
        {"squad": "search", "region": "eu"},
        {"squad": "growth", "region": "us"},
    ]


@pytest.mark.parametrize("reader", READERS)
def test_false_keeps_none(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS)
    fr = ingest_mapped(kit, path, {**MAP, "metadata": False})
    assert (fr.error, fr.loaded) == (None, 2)
    assert _metadata(kit, path) == [None, None]


@pytest.mark.parametrize("reader", READERS)
def test_without_the_key_every_unmapped_column_is_kept(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS[:1])
    ingest_mapped(kit, path, {**MAP})
    [meta] = _metadata(kit, path)
    assert meta == {"squad": "search", "region": "eu", "request_body": BODY, "note": "a"}


def test_true_is_the_default() -> None:
    assert parse_field_map({**MAP, "metadata": True}, "f.yaml").metadata is None
    assert parse_field_map(MAP, "f.yaml").metadata is None
    assert parse_field_map({**MAP, "metadata": []}, "f.yaml").metadata == ()


@pytest.mark.parametrize("reader", READERS)
def test_a_team_rule_on_a_kept_column(kit: EnvelopeKit, reader: str) -> None:
    """An attribution rule on a kept column still decides the team, and the spend per team
    is each row's own price."""
    path = write_as(kit.tmp_path, reader, RECORDS)
    fmap = {**MAP, "metadata": ["squad"]}
    fr = ingest_mapped(kit, path, fmap, {"attribution": {"team": ["metadata.squad"]}})
    assert (fr.error, fr.loaded) == (None, 2)
    assert [r["team"] for r in kit.rows(path)] == ["search", "growth"]
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    spend = {
        str(t): Decimal(str(c))
        for t, c in kit.con.execute(
            "SELECT r.team, k.cost_usd FROM requests r JOIN request_costs k USING (request_key)"
        ).fetchall()
    }
    assert spend == {
        "search": (1000 * Decimal("2.5") + 100 * 10) / M,
        "growth": (400 * Decimal("2.5") + 20 * 10) / M,
    }


@pytest.mark.parametrize("reader", READERS)
def test_a_rule_on_a_column_left_out_finds_nothing(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS)
    ingest_mapped(
        kit, path, {**MAP, "metadata": ["region"]}, {"attribution": {"team": ["metadata.squad"]}}
    )
    assert [r["team"] for r in kit.rows(path)] == [None, None]


@pytest.mark.parametrize("reader", READERS)
def test_the_priced_inference_geo_is_kept_even_with_false(kit: EnvelopeKit, reader: str) -> None:
    """inference_geo is a price input (US-only inference, 1.1x on Claude 4.6): `false`
    must not reprice the call at the global rate."""
    records = [
        {"ts": "2026-10-01T10:00:00Z", "model": "claude-sonnet-4-6", "pt": 1000, "ct": 100}
        | {"inference_geo": "us", "squad": "search"}
    ]
    path = write_as(kit.tmp_path, reader, records)
    fmap = {**MAP, "static": {"provider": "anthropic"}, "metadata": False}
    ingest_mapped(kit, path, fmap)
    assert _metadata(kit, path) == [{"inference_geo": "us"}]
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [(cost,)] = kit.con.execute("SELECT cost_usd FROM request_costs").fetchall()
    assert Decimal(str(cost)) == Decimal("1.1") * (1000 * 3 + 100 * 15) / M


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("metadata", [None, True, False, ["squad"]])
def test_a_mapped_inference_geo_is_kept_and_priced(
    kit: EnvelopeKit, reader: str, metadata: Any
) -> None:
    """A map that also reads the inference_geo column (here as the environment) keeps it
    in metadata whatever ``metadata:`` says: by default it was left out as a mapped
    column, and the US-only call was priced at the global rate."""
    records = [
        {"ts": "2026-10-01T10:00:00Z", "model": "claude-sonnet-4-6", "pt": 1000, "ct": 100}
        | {"inference_geo": "us", "squad": "search"}
    ]
    path = write_as(kit.tmp_path, reader, records)
    fmap = {
        **MAP,
        "fields": {**MAP["fields"], "environment": "inference_geo"},
        "static": {"provider": "anthropic"},
    }
    if metadata is not None:
        fmap["metadata"] = metadata
    ingest_mapped(kit, path, fmap)
    [row] = kit.rows(path)
    assert row["environment"] == "us"
    assert json.loads(row["metadata"])["inference_geo"] == "us"
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [(cost,)] = kit.con.execute("SELECT cost_usd FROM request_costs").fetchall()
    assert Decimal(str(cost)) == Decimal("1.1") * (1000 * 3 + 100 * 15) / M


@pytest.mark.parametrize("reader", READERS)
def test_an_inference_geo_target_is_kept_and_priced(kit: EnvelopeKit, reader: str) -> None:
    """``fields: {inference_geo: geo}`` stores the column under the name pricing reads,
    even with ``metadata: false``; an empty cell is no geo (the global rate)."""
    records = [
        {"ts": "2026-10-01T10:00:00Z", "model": "claude-sonnet-4-6", "pt": 1000, "ct": 100}
        | {"geo": geo, "squad": "search"}
        for geo in ("us", "")
    ]
    path = write_as(kit.tmp_path, reader, records)
    fmap = {
        **MAP,
        "fields": {**MAP["fields"], "inference_geo": "geo"},
        "static": {"provider": "anthropic"},
        "metadata": False,
    }
    ingest_mapped(kit, path, fmap)
    assert sorted(map(str, _metadata(kit, path))) == ["None", "{'inference_geo': 'us'}"]
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [(cost,)] = kit.con.execute("SELECT sum(cost_usd) FROM request_costs").fetchall()
    assert Decimal(str(cost)) == (Decimal("1.1") + 1) * (1000 * 3 + 100 * 15) / M


def test_an_anthropic_response_log_prices_its_usage_inference_geo(kit: EnvelopeKit) -> None:
    """A log of Anthropic Messages responses has the geo in ``usage.inference_geo``
    (docs: the Message's usage): no top-level column of that name, so it was left in the
    kept ``response`` object and the US-only call priced at the global rate."""
    usage = {"input_tokens": 1000, "output_tokens": 100}
    records = [
        {"ts": "2026-10-01T10:00:00Z"}
        | {"response": {"model": "claude-sonnet-4-6", "usage": usage | geo}}
        for geo in ({"inference_geo": "us"}, {"inference_geo": "global"}, {})
    ]
    path = write_as(kit.tmp_path, "jsonl", records)
    fields = {
        "timestamp": "ts",
        "model": "response.model",
        "input_tokens": "response.usage.input_tokens",
        "output_tokens": "response.usage.output_tokens",
    }
    fmap = {"fields": fields | {"inference_geo": "response.usage.inference_geo"}}
    ingest_mapped(kit, path, fmap | {"static": {"provider": "anthropic"}})
    geos = [(m or {}).get("inference_geo") for m in _metadata(kit, path)]
    assert sorted(map(str, geos)) == ["None", "global", "us"]
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [(cost,)] = kit.con.execute("SELECT sum(cost_usd) FROM request_costs").fetchall()
    assert Decimal(str(cost)) == (Decimal("1.1") + 2) * (1000 * 3 + 100 * 15) / M


def test_a_static_inference_geo_prices_every_row(kit: EnvelopeKit) -> None:
    """A ``static`` geo is that of every row of the export (made with US-only inference)."""
    path = write_as(kit.tmp_path, "csv", RECORDS[:1])
    fields = {k: v for k, v in MAP["fields"].items() if k != "model"}
    static = {"provider": "anthropic", "model": "claude-sonnet-4-6", "inference_geo": "us"}
    fmap = {**MAP, "fields": fields, "static": static}
    ingest_mapped(kit, path, fmap)
    assert _metadata(kit, path)[0]["inference_geo"] == "us"
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [(cost,)] = kit.con.execute("SELECT cost_usd FROM request_costs").fetchall()
    assert Decimal(str(cost)) == Decimal("1.1") * (1000 * 3 + 100 * 15) / M


@pytest.mark.parametrize("reader", ["csv", "jsonl"])
def test_a_listed_mapped_column_is_kept_too(kit: EnvelopeKit, reader: str) -> None:
    path = write_as(kit.tmp_path, reader, RECORDS[:1])
    ingest_mapped(kit, path, {**MAP, "metadata": ["model", "note"]})
    assert _metadata(kit, path) == [{"model": "gpt-4o", "note": "a"}]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "got nothing"),
        ("squad", "got 'squad'"),
        ({"squad": 1}, "got {'squad': 1}"),
        ([1], "each entry must be a column name, got 1 (quote a column named by a number)"),
        ([""], "each entry must be a column name, got ''"),
        (["squad", None], "each entry must be a column name, got None"),
    ],
)
def test_a_bad_value_is_a_config_error(value: Any, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_field_map({**MAP, "metadata": value}, "fields.yaml")
    assert str(err.value).startswith("fields.yaml: metadata")
    assert words in str(err.value)


@pytest.mark.parametrize("value", ["metadata: squad", "metadata:", "metadata: [1]"])
def test_cli_a_bad_value_is_exit_2_naming_file_and_key(tmp_path: Path, value: str) -> None:
    path = write_as(tmp_path, "csv", RECORDS)
    fmap = tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump(MAP) + value + "\n", "utf-8")
    db = tmp_path / "store.duckdb"
    result = runner.invoke(app, ["ingest", str(path), "--map", str(fmap), "--db", str(db)])
    assert result.exit_code == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {fmap}: metadata")
    assert "Traceback" not in result.stderr


def test_cli_report_by_team_from_a_kept_column(tmp_path: Path) -> None:
    path = write_as(tmp_path, "csv", RECORDS)
    fmap = tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump({**MAP, "metadata": ["squad"]}), "utf-8")
    config = tmp_path / "tokaudit.yaml"
    config.write_text("attribution:\n  team: [metadata.squad]\n", "utf-8")
    db = tmp_path / "store.duckdb"
    args = ["--map", str(fmap), "--config", str(config), "--db", str(db)]
    assert runner.invoke(app, ["ingest", str(path), *args]).exit_code == 0
    out = runner.invoke(app, ["report", "--db", str(db), "--by", "team", "-f", "json"])
    assert out.exit_code == 0, out.stderr
    spend = {r["team"]: Decimal(str(r["cost_usd"])) for r in json.loads(out.stdout)["rows"]}
    assert spend == {
        "search": (1000 * Decimal("2.5") + 100 * 10) / M,
        "growth": (400 * Decimal("2.5") + 20 * 10) / M,
    }
    stored = runner.invoke(
        app, ["sql", "--db", str(db), "-f", "json", "SELECT metadata FROM requests ORDER BY ts"]
    )
    assert [r["metadata"] for r in json.loads(stored.stdout)] == [
        {"squad": "search"},
        {"squad": "growth"},
    ]


def test_a_map_without_the_key_keeps_its_rules_fingerprint() -> None:
    """Files loaded with a map before the key existed are not "under other rules" now;
    a map that names the key is another rule (its rows' metadata differ)."""
    plain = parse_field_map(MAP, "fields.yaml")
    before = {
        "attribution": None,
        "map": {
            "fields": plain.fields,
            "static": plain.static,
            "reader": None,
            "input_includes_cache": False,
            "output_includes_reasoning": True,
            "timestamp_format": None,
        },
    }
    text = json.dumps(before, sort_keys=True, separators=(",", ":"), default=str)
    assert rules_fingerprint(None, plain) == hashlib.sha256(text.encode()).hexdigest()
    listed = parse_field_map({**MAP, "metadata": ["squad"]}, "fields.yaml")
    assert rules_fingerprint(None, listed) != rules_fingerprint(None, plain)
