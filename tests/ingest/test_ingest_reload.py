"""Edited attribution rules or field maps, and files already loaded: ``ingest`` warns that
an unchanged file was loaded under other rules, and ``ingest --reload`` reads it again,
replacing its rows (docs/attribution.md#after-editing-the-rules).

Expected teams and dollars are worked out by hand from the lines written here and the
shipped gpt-4o prices (pricing/providers/openai.yaml: input $2.50, cache read $1.25,
output $10 per million tokens; OpenAI's ``prompt_tokens`` include the cached ones).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.attribution import parse_attribution
from tokaudit.ingest.fieldmap import parse_field_map
from tokaudit.store import open_store

runner = CliRunner()

RULES_A = {"attribution": {"team": "metadata.squad"}}
RULES_B = {
    "attribution": {"team": ["api_key", "team"], "feature": "metadata.squad"},
    "api_keys": {"k1": "growth", "k2": "search"},
}


def _call(n: int, key: str, squad: str = "", team: str = "logged") -> dict[str, Any]:
    """Call ``n``: 1000·n prompt tokens of which 200·n cached, 100·n output tokens."""
    metadata = {"team": team, "api_key": key, **({"squad": squad} if squad else {})}
    return {
        "timestamp": f"2026-03-0{n}T10:00:00Z",
        "provider": "openai",
        "metadata": metadata,
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": f"q{n}"}]},
        "response": {
            "id": f"chatcmpl-reload-{n}",
            "model": "gpt-4o",
            "usage": {
                "prompt_tokens": 1000 * n,
                "completion_tokens": 100 * n,
                "prompt_tokens_details": {"cached_tokens": 200 * n},
            },
        },
    }


def _cost(n: int) -> Decimal:
    """Call n by hand: 800n uncached × $2.50/M + 200n cached × $1.25/M + 100n out × $10/M."""
    return n * (800 * Decimal("2.5") + 200 * Decimal("1.25") + 100 * Decimal(10)) / 10**6


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text(
        "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), "utf-8"
    )
    return path


def _config(path: Path, rules: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(rules), "utf-8")
    return path


def _ingest(*args: str) -> tuple[dict[str, Any], str]:
    done = runner.invoke(app, ["ingest", *args, "--no-recount", "-o", "json"])
    assert done.exit_code == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)  # stdout stays data only
    return data, done.stderr


def _teams(db: Path) -> dict[str | None, tuple[int, Decimal]]:
    done = runner.invoke(app, ["report", "--db", str(db), "--by", "team", "-f", "json"])
    assert done.exit_code == 0, done.stderr
    rows = json.loads(done.stdout)["rows"]
    return {r["team"]: (r["requests"], Decimal(r["cost_usd"])) for r in rows}


def _sql(db: Path, query: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _calls_log(tmp_path: Path) -> Path:
    return _write(
        tmp_path / "calls.jsonl",
        [_call(1, "k1", "s1"), _call(2, "k2", "s2"), _call(3, "k2", "s3"), "{not json"],
    )


def test_edited_rules_warn_on_a_plain_reingest_and_leave_the_teams(tmp_path: Path) -> None:
    log, db = _calls_log(tmp_path), tmp_path / "s.duckdb"
    config = _config(tmp_path / "tokaudit.yaml", RULES_A)
    _ingest(str(log), "--db", str(db), "--config", str(config))
    assert _teams(db) == {"s1": (1, _cost(1)), "s2": (1, _cost(2)), "s3": (1, _cost(3))}

    _config(config, RULES_B)  # the user fixes the mapping
    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config))
    [row] = data["files"]
    assert row["status"] == "unchanged, skipped (loaded under other rules)"
    assert row["rules"] == "changed"
    assert data["skipped_under_other_rules"] == 1
    assert data["totals"]["loaded"] == 0
    assert "1 unchanged file(s) skipped were loaded under other attribution rules" in stderr
    assert "`tokaudit ingest --reload` reads them again under the current ones" in stderr
    assert _teams(db) == {"s1": (1, _cost(1)), "s2": (1, _cost(2)), "s3": (1, _cost(3))}

    # the same rules again: no warning (comments and other sections do not count)
    config.write_text("# teams\n" + yaml.safe_dump(RULES_A) + "findings: {}\n", "utf-8")
    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config))
    assert data["files"][0]["status"] == "unchanged, skipped"
    assert data["files"][0]["rules"] is None
    assert "warning" not in stderr


def test_reload_applies_the_new_rules_without_doubling(tmp_path: Path) -> None:
    log, db = _calls_log(tmp_path), tmp_path / "s.duckdb"
    config = _config(tmp_path / "tokaudit.yaml", RULES_A)
    _ingest(str(log), "--db", str(db), "--config", str(config))
    _config(config, RULES_B)

    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config), "--reload")
    [row] = data["files"]
    assert (row["read"], row["loaded"], row["duplicates"], row["rejected"]) == (4, 3, 0, 1)
    assert row["status"] == "reloaded"
    assert data["reloaded"] == 1
    assert "warning" not in stderr
    # call 1 is k1 (growth); calls 2 and 3 are k2 (search); squads are now features
    assert _teams(db) == {"growth": (1, _cost(1)), "search": (2, _cost(2) + _cost(3))}
    assert _cost(1) + _cost(2) + _cost(3) == Decimal("0.0195")
    assert _sql(db, "SELECT feature FROM requests ORDER BY ts") == [("s1",), ("s2",), ("s3",)]
    # the file's reject, and its ingested_files row, are replaced, not doubled
    assert _sql(db, "SELECT source_line, reason FROM rejects") == [(4, "invalid JSON")]
    assert _sql(db, "SELECT records_read, loaded, rejected FROM ingested_files") == [(4, 3, 1)]
    # the store now records rules B: a plain re-run is quiet
    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config))
    assert data["files"][0]["status"] == "unchanged, skipped"
    assert "warning" not in stderr


def test_reload_keeps_the_recounts_of_the_rows_it_replaces(tmp_path: Path) -> None:
    log, db = _calls_log(tmp_path), tmp_path / "s.duckdb"
    config = _config(tmp_path / "tokaudit.yaml", RULES_A)
    done = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--config", str(config)])
    assert done.exit_code == 0, done.stderr
    query = "SELECT request_key, recounted_input_tokens, recount_tokenizer FROM requests ORDER BY 1"
    before = _sql(db, query)
    assert all(tokens for _, tokens, _ in before)  # counted by the first ingest
    _config(config, RULES_B)
    _ingest(str(log), "--db", str(db), "--config", str(config), "--reload")  # --no-recount
    assert _sql(db, query) == before


def test_a_reloaded_file_keeps_the_rows_another_file_holds(tmp_path: Path) -> None:
    """a.jsonl holds calls 1 and 2, b.jsonl calls 2 and 3: call 2 is a's row, b's copy a
    duplicate. Reloading b alone must leave call 2 as a's row (a's rules), neither gone nor
    doubled; reloading a then gives call 2 the new rules, still once."""
    a = _write(tmp_path / "a.jsonl", [_call(1, "k1", "s1"), _call(2, "k2", "s2")])
    b = _write(tmp_path / "b.jsonl", [_call(2, "k2", "s2"), _call(3, "k2", "s3"), "[]"])
    con = open_store(":memory:")
    rules_a = parse_attribution(RULES_A, "tokaudit.yaml")
    rules_b = parse_attribution(RULES_B, "tokaudit.yaml")
    ingest_paths(con, [str(a), str(b)], attribution=rules_a)
    rows = "SELECT request_id, source_file, team FROM requests ORDER BY request_id"

    [fb] = ingest_paths(con, [str(b)], attribution=rules_b, reload=True).files
    assert (fb.reloaded, fb.records_read, fb.loaded, fb.duplicates, fb.rejected) == (
        True,
        3,
        1,
        1,
        1,
    )
    assert con.execute(rows).fetchall() == [
        ("chatcmpl-reload-1", str(a.resolve()), "s1"),
        ("chatcmpl-reload-2", str(a.resolve()), "s2"),  # still a's row, a's rules
        ("chatcmpl-reload-3", str(b.resolve()), "search"),
    ]
    assert con.execute("SELECT count(*) FROM rejects").fetchall() == [(1,)]

    [fa] = ingest_paths(con, [str(a)], attribution=rules_b, reload=True).files
    assert (fa.loaded, fa.duplicates) == (2, 0)
    assert con.execute(rows).fetchall() == [
        ("chatcmpl-reload-1", str(a.resolve()), "growth"),
        ("chatcmpl-reload-2", str(a.resolve()), "search"),
        ("chatcmpl-reload-3", str(b.resolve()), "search"),
    ]
    assert con.execute(
        "SELECT count(*), sum(input_tokens), sum(cache_read_tokens), sum(output_tokens) "
        "FROM requests"
    ).fetchall() == [(3, 800 * 6, 200 * 6, 100 * 6)]
    counts = "SELECT path, loaded, duplicates FROM ingested_files ORDER BY path"
    assert con.execute(counts).fetchall() == [
        (str(a.resolve()), 2, 0),
        (str(b.resolve()), 1, 1),
    ]


def test_an_edited_field_map_is_reapplied_by_reload(tmp_path: Path) -> None:
    """The map read the team from the wrong column; the fix re-reads the export."""
    export = tmp_path / "usage.csv"
    export.write_text(
        "created_at,model,owner,dept,prompt_tokens,completion_tokens\n"
        "2026-10-01T10:00:00Z,gpt-4o,alice,search,1000,100\n"
        "2026-10-01T11:00:00Z,gpt-4o,bob,growth,3000,300\n",
        "utf-8",
    )
    fields = {
        "timestamp": "created_at",
        "model": "model",
        "team": "owner",
        "input_tokens": "prompt_tokens",
        "output_tokens": "completion_tokens",
    }
    fmap = tmp_path / "fields.yaml"
    fmap.write_text(yaml.safe_dump({"fields": fields, "static": {"provider": "openai"}}))
    db = tmp_path / "s.duckdb"
    _ingest(str(export), "--db", str(db), "--map", str(fmap))
    fixed = {"fields": {**fields, "team": "dept"}, "static": {"provider": "openai"}}
    fmap.write_text(yaml.safe_dump(fixed))
    data, stderr = _ingest(str(export), "--db", str(db), "--map", str(fmap))
    assert data["files"][0]["rules"] == "changed"
    assert "field map (--map)" in stderr
    data, _ = _ingest(str(export), "--db", str(db), "--map", str(fmap), "--reload")
    assert data["totals"]["loaded"] == 2
    # 1000 × $2.50/M + 100 × $10/M = $0.0035; three times that for bob's call
    assert _teams(db) == {"search": (1, Decimal("0.0035")), "growth": (1, Decimal("0.0105"))}


def test_an_old_store_gains_the_column_and_says_its_rules_are_unknown(tmp_path: Path) -> None:
    """A store written before the rules were recorded: ``ingested_files`` without
    ``rules_fingerprint``. Opening it adds the column (NULL: unknown); a run with rules
    says the rules were not recorded, and --reload records them."""
    log, db = _calls_log(tmp_path), tmp_path / "old.duckdb"
    con = open_store(db)
    ingest_paths(con, [str(log)], attribution=parse_attribution(RULES_A, "a"))
    con.execute("ALTER TABLE ingested_files DROP COLUMN rules_fingerprint")  # the old schema
    con.close()
    columns = "SELECT column_name FROM duckdb_columns() WHERE table_name = 'ingested_files'"
    assert ("rules_fingerprint",) not in _sql(db, columns)

    data, stderr = _ingest(str(log), "--db", str(db))  # no rules now: nothing to say
    assert ("rules_fingerprint",) in _sql(db, columns)
    assert _sql(db, "SELECT rules_fingerprint FROM ingested_files") == [(None,)]
    assert data["files"][0]["status"] == "unchanged, skipped"
    assert "warning" not in stderr

    config = _config(tmp_path / "tokaudit.yaml", RULES_B)
    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config))
    assert data["files"][0]["status"] == "unchanged, skipped (rules not recorded)"
    assert "were loaded before the store recorded" in stderr
    assert _teams(db) == {"s1": (1, _cost(1)), "s2": (1, _cost(2)), "s3": (1, _cost(3))}

    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config), "--reload")
    assert data["files"][0]["status"] == "reloaded"
    assert _teams(db) == {"growth": (1, _cost(1)), "search": (2, _cost(2) + _cost(3))}
    [(recorded,)] = _sql(db, "SELECT rules_fingerprint FROM ingested_files")
    assert recorded is not None
    data, stderr = _ingest(str(log), "--db", str(db), "--config", str(config))
    assert "warning" not in stderr


def test_a_grown_log_reloaded_replaces_the_rows_it_still_holds(tmp_path: Path) -> None:
    """A log that grew since it was loaded is a new version: --reload re-attributes the
    rows of the requests it holds and adds the new one; nothing doubles."""
    log = _write(tmp_path / "calls.jsonl", [_call(1, "k1", "s1"), _call(2, "k2", "s2")])
    con = open_store(":memory:")
    ingest_paths(con, [str(log)], attribution=parse_attribution(RULES_A, "a"))
    _write(log, [_call(1, "k1", "s1"), _call(2, "k2", "s2"), _call(3, "k2", "s3")])
    rules_b = parse_attribution(RULES_B, "b")
    [f] = ingest_paths(con, [str(log)], attribution=rules_b, reload=True).files
    assert (f.reloaded, f.loaded, f.duplicates) == (True, 3, 0)
    got = con.execute("SELECT team, count(*) FROM requests GROUP BY 1 ORDER BY 1").fetchall()
    assert got == [("growth", 1), ("search", 2)]


def test_reload_of_an_overwritten_file_keeps_the_rows_of_its_earlier_version(
    tmp_path: Path,
) -> None:
    """A file overwritten with other requests (a daily export) is a second version of its
    path: --reload of the current version replaces its own rows and keeps those only the
    earlier version held, which no file holds any more (they were all deleted)."""
    log = _write(tmp_path / "daily.jsonl", [_call(1, "k1", "s1"), _call(2, "k2", "s2")])
    con = open_store(":memory:")
    rules_a = parse_attribution(RULES_A, "a")
    ingest_paths(con, [str(log)], attribution=rules_a)
    _write(log, [_call(3, "k2", "s3")])
    ingest_paths(con, [str(log)], attribution=rules_a)
    [f] = ingest_paths(
        con, [str(log)], attribution=parse_attribution(RULES_B, "b"), reload=True
    ).files
    assert (f.reloaded, f.loaded, f.duplicates) == (True, 1, 0)
    got = con.execute("SELECT request_key, team FROM requests ORDER BY 1").fetchall()
    # calls 1 and 2 keep the teams of RULES_A (metadata.squad); call 3 is k2's: search
    assert got == [
        ("openai:chatcmpl-reload-1", "s1"),
        ("openai:chatcmpl-reload-2", "s2"),
        ("openai:chatcmpl-reload-3", "search"),
    ]


def test_the_rules_fingerprint_ignores_where_the_rules_live() -> None:
    from tokaudit.ingest.loader import NO_RULES, rules_fingerprint

    fields = {"timestamp": "t", "model": "m", "team": "owner"}
    one = parse_field_map({"fields": fields, "static": {"provider": "openai"}}, "a.yaml")
    two = parse_field_map({"fields": fields, "static": {"provider": "openai"}}, "b/c.yaml")
    assert rules_fingerprint(None, one) == rules_fingerprint(None, two) != NO_RULES
    # a config without attribution rules (only tokenizers, findings) changes no row
    assert rules_fingerprint(parse_attribution({"findings": {}}, "x"), None) == NO_RULES
    a = parse_attribution(RULES_A, "x")
    assert rules_fingerprint(a, None) == rules_fingerprint(parse_attribution(RULES_A, "y"), None)
    assert rules_fingerprint(a, None) != rules_fingerprint(parse_attribution(RULES_B, "x"), None)


def test_reload_with_another_format_reads_the_file_as_that(tmp_path: Path) -> None:
    """``--format`` names another format than an unchanged file was read as: the warning
    points at --reload, which reads it again as that and replaces what the wrong read kept."""
    log = _write(tmp_path / "calls.jsonl", [_call(1, "k1"), _call(2, "k2"), _call(3, "k2")])
    db = str(tmp_path / "s.duckdb")
    first, _ = _ingest(str(log), "--db", db, "--format", "openai-pairs")
    assert first["totals"]["loaded"] == 0  # envelope lines are not request/response pairs
    rejected = first["totals"]["rejected"]
    assert rejected == 3
    _, stderr = _ingest(str(log), "--db", db, "--format", "envelope")
    assert "does not apply to it; add --reload to read it again as that" in stderr
    data, _ = _ingest(str(log), "--db", db, "--format", "envelope", "--reload")
    assert data["files"][0]["format"] == "envelope"
    assert data["totals"]["loaded"] == 3
    assert _sql(db, "SELECT count(*) FROM rejects") == [(0,)]
    assert _sql(db, "SELECT format FROM ingested_files") == [("envelope",)]


def test_a_langfuse_file_is_not_reloaded_in_place(tmp_path: Path) -> None:
    """Langfuse generations merge their events across files (langfuse_generations): read
    again, a file's events would merge twice, so --reload leaves it and says so."""
    sample = Path(__file__).resolve().parents[1] / "fixtures" / "realworld" / "langfuse"
    export = tmp_path / "trace.json"
    export.write_bytes(
        (sample / "litellm_langfuse_ingestion_completion_with_tags.json").read_bytes()
    )
    db = str(tmp_path / "s.duckdb")
    first, _ = _ingest(str(export), "--db", db)
    assert first["files"][0]["format"] == "langfuse"
    before = _sql(db, "SELECT * FROM requests")
    config = _config(tmp_path / "tokaudit.yaml", {"attribution": {"team": "metadata.nothing"}})
    data, stderr = _ingest(str(export), "--db", db, "--config", str(config), "--reload")
    [row] = data["files"]
    assert row["status"] == "unchanged, skipped (loaded under other rules; cannot be reloaded)"
    assert "1 unchanged langfuse file(s) skipped cannot be read again in place" in stderr
    assert "--reload` reads them" not in stderr
    assert _sql(db, "SELECT * FROM requests") == before


def test_audit_into_a_store_says_so_too(tmp_path: Path) -> None:
    """``audit --db`` loads into a kept store like ingest: its skipped files are named too."""
    log, db = _calls_log(tmp_path), tmp_path / "s.duckdb"
    config = _config(tmp_path / "tokaudit.yaml", RULES_A)
    _ingest(str(log), "--db", str(db), "--config", str(config))
    _config(config, RULES_B)
    done = runner.invoke(app, ["audit", str(log), "--db", str(db), "--config", str(config)])
    assert "1 unchanged file(s) skipped were loaded under other attribution rules" in done.stderr
