"""Report options that do not combine are refused, never silently ignored (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokaudit.cli import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--show", "recount", "--top", "2"], "--top applies to the spend breakdown"),
        (["--compare-at", "now", "--top", "2"], "--top applies to the spend breakdown"),
        (["--show", "recount", "--compare-at", "now"], "run them as two reports"),
    ],
)
def test_options_that_do_not_combine_exit_2(store: Path, args: list[str], needle: str) -> None:
    result = runner.invoke(app, ["report", "--db", str(store), "--no-recount", *args])
    assert result.exit_code == 2
    assert needle in result.stderr and result.stdout == ""


def test_show_recount_strict_fails_on_unpriced_requests(store: Path) -> None:
    """The mixed log's gamma request is on an unknown model: --strict exits 2, as report."""
    args = ["report", "--db", str(store), "--show", "recount", "-f", "json"]
    assert runner.invoke(app, args).exit_code == 0
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 2
    assert "unpriced: acme-llm-7b (openai) x1: unknown_model" in strict.stderr
    assert json.loads(strict.stdout)["rows"]  # the report itself was printed first


def test_show_recount_table_says_unpriced_not_null(store: Path) -> None:
    """The table printed SQL's NULL for an unpriced group's dollars and the total row's
    group (QA); JSON keeps null. The mixed log's acme-llm-7b request is unpriced."""
    args = ["report", "--db", str(store), "--show", "recount", "--by", "model,team"]
    table = runner.invoke(app, [*args, "-f", "table"], env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.stderr
    assert "NULL" not in table.stdout
    [line] = [x for x in table.stdout.splitlines() if "acme-llm-7b" in x]
    assert "unpriced" in line
    as_json = json.loads(runner.invoke(app, [*args, "-f", "json"]).stdout)
    [acme] = [r for r in as_json["rows"] if r["model"] == "acme-llm-7b"]
    assert acme["input_difference_usd"] is None


def test_findings_list_unpriced_requests_on_stdout(store: Path) -> None:
    result = runner.invoke(app, ["findings", "--db", str(store), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["unpriced"] == [
        {"model": "acme-llm-7b", "provider": "openai", "requests": 1, "reason": "unknown_model"}
    ]
    for fmt, needle in (("table", "Unpriced requests"), ("markdown", "acme-llm-7b (openai) x1")):
        shown = runner.invoke(app, ["findings", "--db", str(store), "-f", fmt])
        assert needle in shown.stdout
