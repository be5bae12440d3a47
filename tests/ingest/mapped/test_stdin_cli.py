"""Standard input (`-`), compressed or not, and the per-file format note of `audit`."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner, Result

from tokaudit.cli import app

ROOT = Path(__file__).resolve().parents[3]
MIXED = ROOT / "tests" / "fixtures" / "envelope" / "mixed.jsonl"
runner = CliRunner()


def _json(result: Result) -> dict[str, Any]:
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_stdin_is_read_and_named(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    plain = runner.invoke(
        app, ["ingest", "-", "--db", str(db), "-o", "json"], input=MIXED.read_bytes()
    )
    assert plain.exit_code == 0, plain.stderr
    [f] = _json(plain)["files"]
    assert (f["file"], f["format"], f["read"], f["loaded"], f["rejected"]) == (
        "<stdin>",
        "envelope",
        6,
        5,
        1,
    )
    again = runner.invoke(
        app, ["ingest", "-", "--db", str(db), "-o", "json"], input=gzip.compress(MIXED.read_bytes())
    )
    [g] = _json(again)["files"]
    # gzip bytes are recognised; the same records are duplicates, not new spend
    assert (g["format"], g["read"], g["loaded"], g["duplicates"], g["rejected"]) == (
        "envelope",
        6,
        0,
        5,
        1,
    )
    rejects = runner.invoke(
        app, ["sql", "--db", str(db), "-f", "json", "SELECT source_file, source_line FROM rejects"]
    )
    rows = json.loads(rejects.stdout)
    # two different streams keep their own rejects: nothing overwritten, nothing lost
    assert len(rows) == 2 and {r["source_line"] for r in rows} == {6}
    assert all(r["source_file"].startswith("<stdin:") for r in rows)
    assert len({r["source_file"] for r in rows}) == 2


def test_stdin_with_a_field_map(tmp_path: Path) -> None:
    fields = tmp_path / "fields.yaml"
    fields.write_text(
        yaml.safe_dump(
            {
                "fields": {
                    "timestamp": "t",
                    "model": "m",
                    "input_tokens": "i",
                    "output_tokens": "o",
                },
                "static": {"provider": "openai"},
            }
        ),
        "utf-8",
    )
    csv = "t,m,i,o\n2026-10-01T00:00:00Z,gpt-4o,10,2\n2026-10-01T00:01:00Z,gpt-4o,x,2\n"
    result = runner.invoke(
        app,
        ["ingest", "-", "--map", str(fields), "--db", str(tmp_path / "m.duckdb"), "-o", "json"],
        input=csv,
    )
    assert result.exit_code == 0, result.stderr
    [f] = _json(result)["files"]
    assert (f["file"], f["format"], f["loaded"], f["rejected"]) == ("<stdin>", "mapped", 1, 1)


def test_audit_says_which_format_it_chose_on_stderr(tmp_path: Path) -> None:
    page = ROOT / "tests" / "fixtures" / "realworld" / "openai" / "openapi_examples"
    usage = page / "usage_completions_response.json"
    result = runner.invoke(app, ["audit", str(MIXED), str(usage), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert f"read as envelope: {MIXED}" in result.stderr
    assert f"read as openai-usage: {usage}" in result.stderr
    assert "read as" not in result.stdout
    data = json.loads(result.stdout)
    # the bucket counts its 5 calls (num_model_requests) next to the envelope's 5 lines
    assert data["breakdowns"][1]["totals"]["requests"] == 5 + 5


def test_ingest_no_recount_leaves_it_for_later(tmp_path: Path) -> None:
    db = tmp_path / "n.duckdb"
    loaded = runner.invoke(app, ["ingest", str(MIXED), "--db", str(db), "--no-recount"])
    assert loaded.exit_code == 0, loaded.stderr
    query = "SELECT count(recounted_input_tokens) AS n FROM requests"
    before = runner.invoke(app, ["sql", "--db", str(db), "-f", "json", query])
    assert json.loads(before.stdout) == [{"n": 0}]
    assert runner.invoke(app, ["recount", "--db", str(db)]).exit_code == 0
    after = runner.invoke(app, ["sql", "--db", str(db), "-f", "json", query])
    assert json.loads(after.stdout)[0]["n"] > 0
