"""The mapped format: CSV, JSON Lines and Parquet exports read through a YAML field map.

Expected token classes are worked out by hand from the rows written here; prices are
the published per-1M list prices.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import yaml

from tokaudit.errors import ConfigError, UsageError
from tokaudit.ingest.fieldmap import load_field_map, parse_field_map
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table

if TYPE_CHECKING:
    from conftest import EnvelopeKit

ROOT = Path(__file__).resolve().parents[3]
M = Decimal(1_000_000)

OPENAI_CSV = """\
created_at,model,team,prompt_tokens,cached_tokens,completion_tokens,note
2026-10-01T10:00:00Z,gpt-4o-mini,search,1200,1024,50,plain
2026-10-01T10:05:00Z,gpt-4o-mini,search,abc,0,50,"a note
over two lines"
2026-10-01T10:06:00Z,gpt-4o-mini,growth,300,0,20,"say ""hi"" twice"

not-a-time,gpt-4o-mini,growth,300,0,20,ok
2026-10-01T10:07:00Z,gpt-4o-mini,growth,12.5,0,20,fraction
2026-10-01T10:08:00Z,gpt-4o-mini,growth,900,1000,20,too much cache
"""
OPENAI_MAP = {
    "input_includes_cache": True,
    "fields": {
        "timestamp": "created_at",
        "model": "model",
        "team": "team",
        "input_tokens": "prompt_tokens",
        "cache_read_tokens": "cached_tokens",
        "output_tokens": "completion_tokens",
    },
    "static": {"provider": "openai"},
}


def _write_map(kit: EnvelopeKit, data: Any, name: str = "fields.yaml") -> Path:
    path = kit.tmp_path / name
    path.write_text(yaml.safe_dump(data), "utf-8")
    return path


def _ingest(kit: EnvelopeKit, path: Path, fmap: dict[str, Any]) -> Any:
    from tokaudit.ingest import ingest_paths

    field_map = parse_field_map(fmap, "fields.yaml")
    [fr] = ingest_paths(kit.con, [str(path)], field_map=field_map).files
    return fr


def test_csv_openai_semantics_and_line_numbers(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "usage.csv"
    path.write_text(OPENAI_CSV, "utf-8")
    fr = _ingest(kit, path, OPENAI_MAP)
    assert (fr.format, fr.records_read, fr.loaded, fr.duplicates, fr.rejected) == (
        "mapped",
        6,
        2,
        0,
        4,
    )
    rows = kit.rows(path)
    # input_includes_cache: 1200 prompt tokens = 1024 cached + 176 uncached
    assert [
        (r["source_line"], r["team"], r["input_tokens"], r["cache_read_tokens"], r["output_tokens"])
        for r in rows
    ] == [(2, "search", 176, 1024, 50), (5, "growth", 300, 0, 20)]
    assert rows[0]["provider"] == "openai" and rows[0]["model"] == "gpt-4o-mini"
    rejects = {n: r["reason"] for n, r in kit.rejects(path).items()}
    # line 3 holds a record whose quoted note runs onto line 4; line 6 is blank
    assert rejects == {
        3: "column prompt_tokens should be a whole number, got abc",
        7: "timestamp is not ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds) "
        "(column created_at): not-a-time",
        8: "column prompt_tokens should be a whole number, got 12.5",
        9: "cache tokens exceed the input tokens, which input_includes_cache: true says "
        "contain them",
    }
    assert json.loads(kit.rejects(path)[3]["raw"])["note"] == "a note\nover two lines"
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [cost] = kit.query("SELECT sum(cost_usd) AS usd FROM request_costs")
    # gpt-4o-mini per 1M: input 0.15, cached input 0.075, output 0.60
    expected = (
        176 * Decimal("0.15")
        + 1024 * Decimal("0.075")
        + 50 * Decimal("0.6")
        + 300 * Decimal("0.15")
        + 20 * Decimal("0.6")
    ) / M
    assert Decimal(cost["usd"]) == expected


def test_anthropic_semantics_input_excludes_cache(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "claude.csv"
    path.write_text(
        "ts,model,in,read,write,write1h,out\n"
        "1790000000,claude-sonnet-4-5,4,1163,0,0,26\n"
        "1790000060,claude-sonnet-4-5,4,0,1163,500,26\n",
        "utf-8",
    )
    fmap = {
        "input_includes_cache": False,
        "fields": {
            "timestamp": "ts",
            "model": "model",
            "input_tokens": "in",
            "cache_read_tokens": "read",
            "cache_write_tokens": "write",
            "cache_write_1h_tokens": "write1h",
            "output_tokens": "out",
        },
        "static": {"provider": "anthropic"},
    }
    fr = _ingest(kit, path, fmap)
    assert fr.loaded == 2
    rows = kit.rows(path)
    assert [
        (
            r["input_tokens"],
            r["cache_read_tokens"],
            r["cache_write_5m_tokens"],
            r["cache_write_1h_tokens"],
        )
        for r in rows
    ] == [(4, 1163, 0, 0), (4, 0, 1163, 500)]
    assert rows[0]["ts"].timestamp() == 1790000000  # epoch seconds
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    costs = [
        Decimal(r["cost_usd"]) for r in kit.query("SELECT cost_usd FROM request_costs ORDER BY ts")
    ]
    # Sonnet 4.5 per 1M: input 3, cache read 0.30, 5m write 3.75, 1h write 6, output 15
    assert costs == [
        (4 * 3 + 1163 * Decimal("0.3") + 26 * 15) / M,
        (4 * 3 + 1163 * Decimal("3.75") + 500 * 6 + 26 * 15) / M,
    ]


def test_jsonl_dotted_paths_and_bad_lines(kit: EnvelopeKit) -> None:
    records = [
        {
            "time": "2026-10-02T08:00:00+02:00",
            "vendor": "Gemini",
            "m": "gemini-2.5-flash",
            "usage": {"prompt": 8, "thoughts": 1477, "candidates": 433},
            "meta": {"squad": "legal", "req": "r-1"},
        },
        "{not json",
        {
            "time": "2026-10-02T08:01:00Z",
            "vendor": "google",
            "m": "gemini-2.5-flash",
            "usage": {"prompt": {"n": 1}, "thoughts": 0, "candidates": 1},
            "meta": {"squad": "legal", "req": "r-2"},
        },
        [1, 2],
    ]
    path = kit.write("g.jsonl", records)
    fmap = {
        "output_includes_reasoning": False,  # Gemini: thoughts are outside candidates
        "fields": {
            "timestamp": "time",
            "provider": "vendor",
            "model": "m",
            "input_tokens": "usage.prompt",
            "output_tokens": "usage.candidates",
            "reasoning_tokens": "usage.thoughts",
            "team": "meta.squad",
            "request_id": "meta.req",
        },
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.records_read, fr.loaded, fr.rejected) == (4, 1, 3)
    [row] = kit.rows(path)
    assert (row["provider"], row["team"], row["request_key"]) == ("google", "legal", "google:r-1")
    # output = candidates + thoughts = 433 + 1477 (the totalTokenCount 1918 minus 8)
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (8, 1910, 1477)
    assert row["ts"].isoformat() == "2026-10-02T06:00:00+00:00"
    reasons = {n: r["reason"] for n, r in kit.rejects(path).items()}
    assert reasons[2] == "invalid JSON"
    assert reasons[3] == 'column usage.prompt should be a whole number, got {"n":1}'
    assert reasons[4] == "not a JSON object"


def test_json_array_document(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "export.json"
    rows = [
        {"t": "2026-10-03T00:00:00Z", "model": "gpt-4o", "i": 10, "o": 5},
        {"t": "2026-10-03T00:01:00Z", "model": "gpt-4o", "i": -1, "o": 5},
    ]
    path.write_text(json.dumps(rows, indent=2), "utf-8")
    fmap = {
        "fields": {"timestamp": "t", "model": "model", "input_tokens": "i", "output_tokens": "o"},
        "static": {"provider": "openai"},
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.records_read, fr.loaded, fr.rejected) == (2, 1, 1)
    second = path.read_text("utf-8").splitlines().index("  {", 2) + 1  # its opening line
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        second: "column i is negative"
    }
    assert kit.rows(path)[0]["source_line"] == 2


def test_parquet_row_numbers_and_types(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "usage.parquet"
    con = duckdb.connect()
    con.execute(
        f"""COPY (SELECT * FROM (VALUES
            (TIMESTAMP '2026-10-04 09:00:00', 'gpt-4.1', '100', 10, true),
            (TIMESTAMP '2026-10-04 09:01:00', 'gpt-4.1', 'lots', 10, false),
            (NULL, 'gpt-4.1', '5', 1, false)) t(created, model, tokens_in, tokens_out, is_batch))
        TO '{path}' (FORMAT parquet)"""
    )
    con.close()
    fmap = {
        "fields": {
            "timestamp": "created",
            "model": "model",
            "input_tokens": "tokens_in",
            "output_tokens": "tokens_out",
            "batch": "is_batch",
        },
        "static": {"provider": "openai"},
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 1, 2)
    [row] = kit.rows(path)
    assert (row["source_line"], row["input_tokens"], row["is_batch"]) == (1, 100, True)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        2: "column tokens_in should be a whole number, got lots",
        3: "missing timestamp (column created)",
    }


def test_a_parquet_reexport_with_rows_moved_is_duplicates(kit: EnvelopeKit) -> None:
    """A Parquet row without a request_id was keyed with its row number in the hash: a
    re-export with a new row first (or sorted otherwise) loaded every old row again (QA)."""
    rows = {
        "a": "(TIMESTAMP '2026-10-01 10:00:00', 'gpt-4o', 100, 10)",
        "b": "(TIMESTAMP '2026-10-01 11:00:00', 'gpt-4o', 200, 20)",
        "new": "(TIMESTAMP '2026-10-01 09:00:00', 'gpt-4o', 5, 1)",
    }

    def write(name: str, order: list[str]) -> Path:
        path = kit.tmp_path / name
        values = ", ".join(rows[k] for k in order)
        con = duckdb.connect()
        con.execute(
            f"COPY (SELECT * FROM (VALUES {values}) t(ts, model, tokens_in, tokens_out)) "
            f"TO '{path}' (FORMAT parquet)"
        )
        con.close()
        return path

    fmap = {
        "fields": {
            "timestamp": "ts",
            "model": "model",
            "input_tokens": "tokens_in",
            "output_tokens": "tokens_out",
        },
        "static": {"provider": "openai"},
    }
    assert _ingest(kit, write("day.parquet", ["a", "b"]), fmap).loaded == 2
    again = _ingest(kit, write("day-2.parquet", ["new", "b", "a"]), fmap)
    assert (again.records_read, again.loaded, again.duplicates) == (3, 1, 2)
    assert kit.query("SELECT sum(input_tokens) AS n FROM requests")[0]["n"] == 100 + 200 + 5


def test_identical_rows_without_ids_both_load_and_reload_is_idempotent(
    kit: EnvelopeKit,
) -> None:
    path = kit.tmp_path / "dups.csv"
    line = "2026-10-01T10:00:00Z,gpt-4o-mini,search,100,0,5,x\n"
    path.write_text(OPENAI_CSV.splitlines()[0] + "\n" + line + line, "utf-8")
    assert _ingest(kit, path, OPENAI_MAP).loaded == 2  # two calls that look alike
    path.write_text(OPENAI_CSV.splitlines()[0] + "\n" + line + line + line, "utf-8")
    again = _ingest(kit, path, OPENAI_MAP)  # the file grew by one row
    assert (again.records_read, again.loaded, again.duplicates) == (3, 1, 2)


def test_rows_without_ids_are_keyed_by_their_whole_record(kit: EnvelopeKit) -> None:
    """Without a mapped request_id a row is keyed by its whole record, keys sorted: the same
    export with its columns reordered or its JSON spaced otherwise is duplicates (the
    record's text as read loaded it again, QA), a map edited to read one more column loads
    nothing twice, and two calls alike in every mapped value but told apart by another
    column are two (a key of the mapped values alone merged them, review)."""
    rows = [
        {"created_at": "2026-10-01T10:00:00Z", "model": "gpt-4o", "team": "a",
         "prompt_tokens": 100, "cached_tokens": 0, "completion_tokens": 10, "host": "h1"},
        {"created_at": "2026-10-02T10:00:00Z", "model": "gpt-4o", "team": "b",
         "prompt_tokens": 200, "cached_tokens": 50, "completion_tokens": 20, "host": "h1"},
    ]  # fmt: skip

    def write(name: str, order: list[str], records: list[dict[str, Any]]) -> Path:
        path = kit.tmp_path / name
        lines = [",".join(order)] + [",".join(str(r[k]) for k in order) for r in records]
        path.write_text("\n".join(lines) + "\n", "utf-8")
        return path

    header = list(rows[0])
    assert _ingest(kit, write("export.csv", header, rows), OPENAI_MAP).loaded == 2
    reordered = write("export-2.csv", list(reversed(header)), rows)
    assert (_ingest(kit, reordered, OPENAI_MAP).loaded, kit.count("requests")) == (0, 2)
    spaced = kit.tmp_path / "export.jsonl"  # JSON with spaces, numbers as text as in CSV
    spaced.write_text(
        "".join(json.dumps({k: str(v) for k, v in r.items()}) + "\n" for r in rows), "utf-8"
    )
    assert _ingest(kit, spaced, OPENAI_MAP).duplicates == 2
    wider_map = {**OPENAI_MAP, "fields": {**OPENAI_MAP["fields"], "feature": "host"}}
    again = write("export-3.csv", header, rows)
    assert _ingest(kit, again, wider_map).duplicates == 2
    other_host = [{**rows[0], "host": "h2"}]
    assert _ingest(kit, write("h2.csv", header, other_host), OPENAI_MAP).loaded == 1


def test_a_store_keyed_by_raw_lines_is_not_loaded_twice(kit: EnvelopeKit) -> None:
    """A store written before rows were keyed by their values holds raw-line keys: a grown
    file read again must not load its old rows a second time under the new key."""
    path = kit.tmp_path / "old.csv"
    line = "2026-10-01T10:00:00Z,gpt-4o-mini,search,100,0,5,x\n"
    path.write_text(OPENAI_CSV.splitlines()[0] + "\n" + line, "utf-8")
    assert _ingest(kit, path, OPENAI_MAP).loaded == 1
    # as the earlier release keyed it: the md5 of the record as read (a CSV record is the
    # compact JSON object of its fields, all text) and its copy number
    fields = dict(
        zip(OPENAI_CSV.splitlines()[0].split(","), line.rstrip("\n").split(","), strict=True)
    )
    record = json.dumps(fields, separators=(",", ":"))
    kit.con.execute(
        "UPDATE requests SET request_key = 'openai:line-md5:' || md5(?) || ':1'", [record]
    )
    kit.con.execute("DELETE FROM ingested_files")
    path.write_text(OPENAI_CSV.splitlines()[0] + "\n" + line + line.replace("100", "300"), "utf-8")
    grown = _ingest(kit, path, OPENAI_MAP)
    assert (grown.loaded, grown.duplicates) == (1, 1)
    assert kit.query("SELECT sum(input_tokens) AS n FROM requests")[0]["n"] == 400


def test_service_tier_fast_is_openai_priority(kit: EnvelopeKit) -> None:
    """OpenAI renamed priority processing Fast mode (2026-07-30): the other formats read
    `fast` as priority; a mapped row kept `fast`, an unknown context (review)."""
    path = kit.tmp_path / "tiers.csv"
    path.write_text(
        "created_at,model,team,prompt_tokens,cached_tokens,completion_tokens,tier\n"
        "2026-10-01T10:00:00Z,gpt-4o,a,100,0,10,fast\n"
        "2026-10-01T10:00:01Z,gpt-4o,a,100,0,10,priority\n",
        "utf-8",
    )
    fmap = {**OPENAI_MAP, "fields": {**OPENAI_MAP["fields"], "service_tier": "tier"}}
    _ingest(kit, path, fmap)
    tiers = kit.query("SELECT service_tier FROM requests ORDER BY ts")
    assert [t["service_tier"] for t in tiers] == ["priority", "priority"]


def test_timestamp_format(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "eu.csv"
    path.write_text("when,model,in,out\n04/10/2026 13:45:00,gpt-4o,1,1\n", "utf-8")
    fmap = {
        "timestamp_format": "%d/%m/%Y %H:%M:%S",
        "fields": {
            "timestamp": "when",
            "model": "model",
            "input_tokens": "in",
            "output_tokens": "out",
        },
        "static": {"provider": "openai"},
    }
    assert _ingest(kit, path, fmap).loaded == 1
    assert kit.rows(path)[0]["ts"].isoformat() == "2026-10-04T13:45:00+00:00"


def test_missing_column_fails_the_file_naming_it(kit: EnvelopeKit) -> None:
    """A required column (here the model) that the file lacks fails it, naming the column
    and listing the file's; an optional one (team) reads as empty
    (test_mapped_absent_fields.py)."""
    path = kit.tmp_path / "usage.csv"
    path.write_text(
        "created_at,prompt_tokens,completion_tokens\n2026-10-01T10:00:00Z,1,1\n", "utf-8"
    )
    fr = _ingest(kit, path, {**OPENAI_MAP, "fields": {**OPENAI_MAP["fields"]}})
    assert fr.error is not None and "'model'" in fr.error and "fields.model" in fr.error
    assert "its columns are: created_at, prompt_tokens, completion_tokens" in fr.error
    assert fr.loaded == 0 and kit.count("requests") == 0


def test_a_json_key_no_record_has_is_a_column_the_file_lacks(kit: EnvelopeKit) -> None:
    """In JSON Lines a mistyped path read NULL on every line: the rows loaded with no usage
    (unpriced) and the file reported ok (QA). Now an absent output path is empty on every
    row, so each row is a reject naming it; a key some records leave out still loads."""
    path = kit.tmp_path / "usage.jsonl"
    records = [
        {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "usage": {"in": 100, "out": 5}},
        {"ts": "2026-10-01T10:01:00Z", "model": "gpt-4o", "usage": {"in": 50, "out": 2},
         "team": "search"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    fields = {"timestamp": "ts", "model": "model", "input_tokens": "usage.in"}
    fmap = {"fields": {**fields, "output_tokens": "usage.output"}, "static": {"provider": "openai"}}
    fr = _ingest(kit, path, fmap)
    assert (fr.error, fr.loaded, fr.rejected) == (None, 0, 2)
    assert {r["reason"] for r in kit.rejects(path).values()} == {"column usage.output is empty"}
    fmap["fields"] = {**fields, "output_tokens": "usage.out", "team": "team"}
    again = path.with_name("usage2.jsonl")  # the first is loaded (as rejects) and skipped
    again.write_bytes(path.read_bytes())
    fr = _ingest(kit, again, fmap)
    assert (fr.error, fr.loaded) == (None, 2)
    assert kit.query("SELECT sum(output_tokens) AS n FROM requests")[0]["n"] == 7


def test_json_keys_with_backslashes_quotes_and_slashes_are_read(kit: EnvelopeKit) -> None:
    """A key that ends in a backslash (``C:\\``) failed the whole file with "JSON path
    error", mapped or listed in ``metadata:``; quotes, slashes and tildes are keys too."""
    path = kit.tmp_path / "usage.jsonl"
    record = {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "usage": {"in/": 100, 'o"~': 5}}
    path.write_text(json.dumps(record | {"dir\\": "search", "x\\": "kept"}) + "\n", "utf-8")
    fields = {"timestamp": "ts", "model": "model", "team": "dir\\"}
    fmap = {
        "fields": fields | {"input_tokens": "usage.in/", "output_tokens": 'usage.o"~'},
        "static": {"provider": "openai"},
        "metadata": ["x\\"],
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.error, fr.loaded, fr.absent_columns) == (None, 1, [])
    [row] = kit.query("SELECT team, input_tokens, output_tokens, metadata FROM requests")
    assert (row["team"], row["input_tokens"], row["output_tokens"]) == ("search", 100, 5)
    assert json.loads(row["metadata"]) == {"x\\": "kept"}


# a map reading usage.cached as a path, for records holding a key named "usage.cached"
FLAT_KEY_MAP: dict[str, Any] = {
    "input_includes_cache": True,
    "fields": {
        "timestamp": "ts",
        "model": "model",
        "input_tokens": "in",
        "cache_read_tokens": "usage.cached",
        "output_tokens": "out",
    },
    "static": {"provider": "openai"},
}


def test_a_flattened_dotted_key_read_as_a_path_fails_the_file(kit: EnvelopeKit) -> None:
    """A record with the key "usage.cached" itself: the path usage.cached never reaches it,
    which is a map mistake, not an absent column, so the file fails with the hint."""
    path = kit.tmp_path / "flat.jsonl"
    record = {"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "in": 9, "out": 1, "usage.cached": 4}
    path.write_text(json.dumps(record) + "\n", "utf-8")
    fr = _ingest(kit, path, FLAT_KEY_MAP)
    assert fr.error is not None and "'usage.cached'" in fr.error
    assert "a dotted name is a path into objects, not a key with dots" in fr.error


def test_a_flattened_dotted_key_fails_the_file_among_many_keys(kit: EnvelopeKit) -> None:
    """The same flattened key in a wide export (120 other keys sorting before it): it was
    looked for among the first 100 keys only, so the cache count read as empty and the
    4 cached tokens were priced as uncached input, without a word."""
    path = kit.tmp_path / "wide.jsonl"
    record: dict[str, Any] = {f"k{i:03d}": i for i in range(120)}
    record.update({"ts": "2026-10-01T10:00:00Z", "model": "gpt-4o", "in": 9, "out": 1})
    record["usage.cached"] = 4
    path.write_text(json.dumps(record) + "\n", "utf-8")
    fr = _ingest(kit, path, FLAT_KEY_MAP)
    assert fr.error is not None and "'usage.cached'" in fr.error
    assert "a dotted name is a path into objects, not a key with dots" in fr.error
    assert kit.count("requests") == 0


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (
            {"fields": {"timestamp": "t", "model": "m"}, "static": {"provider": "x"}, "colums": {}},
            "unknown key(s) colums",
        ),
        (
            {
                "fields": {"timestamp": "t", "model": "m", "tokens": "x"},
                "static": {"provider": "x"},
            },
            "fields: unknown target(s) tokens",
        ),
        ({"fields": {"model": "m"}, "static": {"provider": "x"}}, "fields.timestamp is required"),
        ({"fields": {"timestamp": "t", "model": "m"}}, "provider is required"),
        (
            {
                "fields": {"timestamp": "t", "model": "m", "provider": "p"},
                "static": {"provider": "x"},
            },
            "provider is both in fields and in static",
        ),
        (
            {
                "fields": {
                    "timestamp": "t",
                    "model": "m",
                    "input_tokens": "i",
                    "cache_read_tokens": "c",
                },
                "static": {"provider": "x"},
            },
            "input_includes_cache is required",
        ),
        (
            {
                "fields": {"timestamp": "t", "model": "m"},
                "static": {"provider": "x"},
                "input_includes_cache": "yes",
            },
            "input_includes_cache must be true or false",
        ),
        (
            {
                "fields": {"timestamp": "t", "model": "m"},
                "static": {"provider": "x"},
                "format": "xlsx",
            },
            "format 'xlsx'",
        ),
        (["not", "a", "map"], "expected a mapping"),
        (
            {
                "fields": {"timestamp": "t", "model": "m"},
                "static": {"provider": "x"},
                "timestamp_format": "%Y-%m-%d %Q",
            },
            "timestamp_format '%Y-%m-%d %Q': Failed to parse format specifier",
        ),
    ],
)
def test_map_validation_names_file_and_key(kit: EnvelopeKit, data: Any, needle: str) -> None:
    path = _write_map(kit, data)
    with pytest.raises(ConfigError) as err:
        load_field_map(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def test_map_with_a_format_is_a_usage_error(kit: EnvelopeKit) -> None:
    from tokaudit.ingest import ingest_paths

    path = kit.tmp_path / "usage.csv"
    path.write_text(OPENAI_CSV, "utf-8")
    with pytest.raises(UsageError):
        ingest_paths(
            kit.con, [str(path)], "envelope", field_map=parse_field_map(OPENAI_MAP, "m.yaml")
        )


def test_directory_with_a_map_picks_csv_and_parquet(kit: EnvelopeKit) -> None:
    from tokaudit.ingest import ingest_paths

    folder = kit.tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text(OPENAI_CSV, "utf-8")
    (folder / "notes.txt").write_text("not an export", "utf-8")
    result = ingest_paths(kit.con, [str(folder)], field_map=parse_field_map(OPENAI_MAP, "m"))
    assert [Path(f.path).name for f in result.files] == ["a.csv"]


def test_csv_dialect_is_fixed_not_guessed(kit: EnvelopeKit) -> None:
    header = "created_at,model,team,prompt_tokens,cached_tokens,completion_tokens\n"
    # a team named "#ops" must not be taken for a comment line and skipped
    hashed = kit.tmp_path / "hash.csv"
    hashed.write_text(header + "2026-10-01T10:00:00Z,gpt-4o-mini,#ops,10,0,1\n", "utf-8")
    assert _ingest(kit, hashed, OPENAI_MAP).loaded == 1
    assert kit.rows(hashed)[0]["team"] == "#ops"
    # a ragged row is a reject: no column is guessed, no row silently dropped, the rest
    # loads (more in test_mapped_csv_malformed.py)
    ragged = kit.tmp_path / "ragged.csv"
    ragged.write_text(
        header
        + "2026-10-01T10:00:00Z,gpt-4o-mini,a,1,0,1,extra\n"
        + "2026-10-01T10:01:00Z,gpt-4o-mini,b,2,0,1\n",
        "utf-8",
    )
    fr = _ingest(kit, ragged, OPENAI_MAP)
    assert (fr.error, fr.records_read, fr.loaded, fr.rejected) == (None, 2, 1, 1)
    assert {n: r["reason"] for n, r in kit.rejects(ragged).items()} == {
        2: "malformed CSV row: 7 fields where the header has 6"
    }
    assert [r["team"] for r in kit.rows(ragged)] == ["b"]
    tsv = kit.tmp_path / "usage.tsv"
    tsv.write_text(
        header.replace(",", "\t") + "2026-10-01T10:00:00Z\tgpt-4o-mini\tb\t5\t0\t1\n", "utf-8"
    )
    assert _ingest(kit, tsv, OPENAI_MAP).loaded == 1


def test_tool_call_fee_columns_are_priced(kit: EnvelopeKit) -> None:
    """An export with web-search and file-search call counts: each is billed per call."""
    path = kit.tmp_path / "tools.csv"
    path.write_text(
        "ts,model,prompt_tokens,completion_tokens,searches,file_searches\n"
        "2026-10-01T10:00:00Z,gpt-4o,1000,100,2,3\n"
        "2026-10-01T10:01:00Z,gpt-4o,1000,100,,x\n",
        "utf-8",
    )
    fmap = {
        "input_includes_cache": True,
        "fields": {
            "timestamp": "ts",
            "model": "model",
            "input_tokens": "prompt_tokens",
            "output_tokens": "completion_tokens",
            "web_search_requests": "searches",
            "file_search_calls": "file_searches",
        },
        "static": {"provider": "openai"},
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.loaded, fr.rejected) == (1, 1)  # "x" is not a count: the row is a reject
    [row] = kit.rows(path)
    assert (row["web_search_requests"], row["file_search_calls"]) == (2, 3)
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    [cost] = kit.query("SELECT cost_usd, fees_cost FROM request_costs")
    # gpt-4o per 1M: input 2.50, output 10; web search $10 and file search $2.50 per 1k calls
    fees = 2 * Decimal("10") / 1000 + 3 * Decimal("2.5") / 1000
    assert Decimal(cost["fees_cost"]) == fees
    assert Decimal(cost["cost_usd"]) == (1000 * Decimal("2.5") + 100 * Decimal(10)) / M + fees


def test_bedrock_converse_logs_through_a_field_map(kit: EnvelopeKit) -> None:
    """Bedrock Converse usage is camelCase and its ``inputTokens`` exclude cache reads and
    writes (AWS TokenUsage reference): mapped with ``input_includes_cache: false``, a call
    prices exactly as the same usage logged as an InvokeModel envelope does."""
    model = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    usage = {
        "inputTokens": 120,
        "outputTokens": 35,
        "totalTokens": 1355,
        "cacheReadInputTokens": 1000,
        "cacheWriteInputTokens": 200,
    }
    converse = kit.tmp_path / "converse.jsonl"
    converse.write_text(
        json.dumps(
            {
                "ts": "2026-10-03T09:00:00Z",
                "modelId": model,
                "response": {"output": {"message": {"role": "assistant"}}, "usage": usage},
            }
        )
        + "\n",
        "utf-8",
    )
    fmap = {
        "input_includes_cache": False,
        "fields": {
            "timestamp": "ts",
            "model": "modelId",
            "input_tokens": "response.usage.inputTokens",
            "cache_read_tokens": "response.usage.cacheReadInputTokens",
            "cache_write_tokens": "response.usage.cacheWriteInputTokens",
            "output_tokens": "response.usage.outputTokens",
        },
        "static": {"provider": "anthropic"},
    }
    assert _ingest(kit, converse, fmap).loaded == 1
    invoke = kit.write(
        "invoke.jsonl",
        [
            {
                "timestamp": "2026-10-03T09:00:00Z",
                "provider": "anthropic",
                "request": {"model": model, "messages": []},
                "response": {
                    "id": "msg_invoke",
                    "model": "claude-sonnet-4-5-20250929",
                    "usage": {
                        "input_tokens": 120,
                        "output_tokens": 35,
                        "cache_read_input_tokens": 1000,
                        "cache_creation_input_tokens": 200,
                    },
                },
            }
        ],
    )
    assert kit.ingest(invoke).files[0].loaded == 1
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))
    by_file = {
        r["source_file"]: r
        for r in kit.query(
            "SELECT source_file, price_route, input_tokens, cache_read_tokens, "
            "cache_write_5m_tokens, output_tokens, cost_usd FROM request_costs"
        )
    }
    mapped, logged = by_file[str(converse.resolve())], by_file[str(invoke.resolve())]
    assert (mapped["input_tokens"], mapped["cache_read_tokens"]) == (120, 1000)
    assert (mapped["cache_write_5m_tokens"], mapped["output_tokens"]) == (200, 35)
    assert mapped["price_route"] == logged["price_route"] == "bedrock"
    assert mapped["cost_usd"] is not None and mapped["cost_usd"] == logged["cost_usd"]


def _mini_map(timestamp: str, cache_read: str | None = None) -> dict[str, Any]:
    """A gpt-4o-mini CSV map: id, the timestamp column, prompt and completion tokens."""
    fields = {
        "timestamp": timestamp,
        "request_id": "id",
        "input_tokens": "prompt_tokens",
        "output_tokens": "completion_tokens",
    }
    if cache_read is not None:
        fields["cache_read_tokens"] = cache_read
    return {"fields": fields, "static": {"provider": "openai", "model": "gpt-4o-mini"}}


def test_epoch_units_by_size_and_no_time_before_2000(kit: EnvelopeKit) -> None:
    """A millisecond epoch used to be read as seconds (year 58720) and -1 as 1969."""
    path = kit.tmp_path / "epochs.csv"
    rows_in = [
        ("s", "1790867154"),
        ("ms", "1790867154123"),
        ("us", "1790867154123456"),
        ("ns", "1790867154123456789"),
        ("neg", "-1"),
        ("zero", "0"),
        ("ms1999", "946684799999"),
        ("iso1999", "1999-12-31T23:59:59Z"),
        ("inf", "infinity"),  # DuckDB parses both as times: they loaded (QA)
        ("ninf", "-infinity"),
    ]
    path.write_text(
        "id,ts,prompt_tokens,completion_tokens\n"
        + "".join(f"{rid},{ts},10,5\n" for rid, ts in rows_in),
        "utf-8",
    )
    fr = _ingest(kit, path, _mini_map("ts"))
    assert (fr.loaded, fr.rejected) == (4, 6)
    second = datetime(2026, 10, 1, 15, 5, 54, tzinfo=UTC)  # 1790867154 s
    assert [(r["request_id"], r["ts"]) for r in kit.rows(path)] == [
        ("s", second),
        ("ms", second + timedelta(milliseconds=123)),
        ("us", second + timedelta(microseconds=123456)),
        ("ns", second + timedelta(microseconds=123456)),
    ]
    label = "(column ts)"
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        # a signed number is no epoch here (as before): unreadable, still a reject
        6: f"timestamp is not ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds) "
        f"{label}: -1",
        7: f"timestamp 0 {label} is before 2000: not a request time "
        "(read as 1970-01-01 00:00:00 UTC)",
        8: f"timestamp 946684799999 {label} is before 2000: not a request time "
        "(read as 1999-12-31 23:59:59.999 UTC)",
        9: f"timestamp 1999-12-31T23:59:59Z {label} is before 2000: not a request time "
        "(read as 1999-12-31 23:59:59 UTC)",
        10: f"timestamp infinity {label} is not a request time (an infinite time)",
        11: f"timestamp -infinity {label} is not a request time (an infinite time)",
    }


def test_an_empty_input_or_output_cell_beside_other_counts_is_a_reject(
    kit: EnvelopeKit,
) -> None:
    """An empty output cell used to load as output 0 (priced without its output)."""
    path = kit.tmp_path / "calls.csv"
    path.write_text(
        "id,created_at,prompt_tokens,cached_tokens,completion_tokens\n"
        "r1,2026-10-01T10:00:00Z,1000,200,50\n"
        "r2,2026-10-01T11:00:00Z,100,0,\n"  # no output beside input and cache
        "r3,2026-10-01T12:00:00Z,,0,20\n"  # no input beside output
        "r4,2026-10-01T13:00:00Z,100,,20\n"  # no cache count: none cached, as before
        "r5,2026-10-01T14:00:00Z,,,\n",  # no counts at all: loads without usage
        "utf-8",
    )
    fmap = {"input_includes_cache": True, **_mini_map("created_at", "cached_tokens")}
    fr = _ingest(kit, path, fmap)
    assert (fr.loaded, fr.rejected) == (3, 2)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        3: "column completion_tokens is empty",
        4: "column prompt_tokens is empty",
    }
    got = [
        (r["request_id"], r["input_tokens"], r["cache_read_tokens"], r["output_tokens"])
        for r in kit.rows(path)
    ]
    # input_includes_cache: 1000 prompt tokens = 200 cached + 800 uncached
    assert got == [("r1", 800, 200, 50), ("r4", 100, None, 20), ("r5", None, None, None)]
    assert [r["has_usage"] for r in kit.rows(path)] == [True, True, False]


def test_a_null_output_in_json_lines_is_empty_too(kit: EnvelopeKit) -> None:
    path = kit.tmp_path / "calls.jsonl"
    lines = [
        {"t": "2026-10-01T10:00:00Z", "u": {"in": 10, "out": 4}},
        {"t": "2026-10-01T10:01:00Z", "u": {"in": 10, "out": None}},
        {"t": "2026-10-01T10:02:00Z", "u": {"in": 10}},
    ]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), "utf-8")
    fmap = {
        "fields": {"timestamp": "t", "input_tokens": "u.in", "output_tokens": "u.out"},
        "static": {"provider": "openai", "model": "gpt-4o-mini"},
    }
    fr = _ingest(kit, path, fmap)
    assert (fr.loaded, fr.rejected) == (1, 2)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        2: "column u.out is empty",
        3: "column u.out is empty",
    }
    assert [(r["input_tokens"], r["output_tokens"]) for r in kit.rows(path)] == [(10, 4)]


def test_a_whole_number_beyond_int64_is_too_large(kit: EnvelopeKit) -> None:
    """A cell of 10^30 read "should be a whole number, got 1000…": it is one, too large
    for a count, as every other format words it."""
    path = kit.tmp_path / "calls.csv"
    path.write_text(
        "id,created_at,prompt_tokens,cached_tokens,completion_tokens\n"
        "r1,2026-10-01T10:00:00Z,1000000000000000000000000000000,0,5\n"
        "r2,2026-10-01T11:00:00Z,100,0,9223372036854775808.0\n"
        "r3,2026-10-01T12:00:00Z,-99999999999999999999,0,20\n"
        "r4,2026-10-01T13:00:00Z,9223372036854775807,0,20\n",
        "utf-8",
    )
    fmap = {"input_includes_cache": True, **_mini_map("created_at", "cached_tokens")}
    fr = _ingest(kit, path, fmap)
    assert (fr.loaded, fr.rejected) == (1, 3)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        2: "column prompt_tokens is too large: 1000000000000000000000000000000",
        3: "column completion_tokens is too large: 9223372036854775808.0",
        4: "column prompt_tokens is negative",
    }
    assert [r["input_tokens"] for r in kit.rows(path)] == [2**63 - 1]
