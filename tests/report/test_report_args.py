"""`report --since/--until` and `--by`: arguments that could only give a silently wrong report
are usage errors (exit 2) instead."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import openai_record, write_jsonl
from tokaudit.cli import app
from tokaudit.errors import UsageError
from tokaudit.report.breakdown import parse_group_by, time_filter

runner = CliRunner()
OCT_10 = datetime(2026, 10, 10, tzinfo=UTC)
OCT_15 = datetime(2026, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize(("since", "until"), [(OCT_15, OCT_10), (OCT_10, OCT_10)])
def test_time_filter_refuses_an_empty_window(since: datetime, until: datetime) -> None:
    with pytest.raises(UsageError, match="is not before --until") as info:
        time_filter(since, until)
    assert since.isoformat() in str(info.value) and until.isoformat() in str(info.value)


def test_time_filter_keeps_valid_windows() -> None:
    assert time_filter(OCT_10, OCT_15) == ("TRUE AND c.ts >= ? AND c.ts < ?", [OCT_10, OCT_15])
    assert time_filter(OCT_15, None) == ("TRUE AND c.ts >= ?", [OCT_15])
    assert time_filter(None, OCT_10) == ("TRUE AND c.ts < ?", [OCT_10])
    assert time_filter(None, None) == ("TRUE", [])


@pytest.mark.parametrize(
    ("text", "repeated"),
    [("team,team", "team"), ("team, model ,TEAM", "team"), ("day,model,day,model", "day, model")],
)
def test_group_by_refuses_a_repeated_dimension(text: str, repeated: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_group_by(text)
    assert str(info.value) == f"--by {text!r}: {repeated} given more than once"


def test_group_by_keeps_distinct_dimensions_in_order() -> None:
    assert parse_group_by(" Model, team ") == ["model", "team"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("args")
    log = write_jsonl(
        tmp / "log.jsonl", [openai_record("2026-10-12T00:00:00Z", "gpt-4o-mini", 10, 1)]
    )
    db = tmp / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0
    return db


@pytest.mark.parametrize(
    "extra",
    [[], ["--show", "recount"], ["--compare-at", "now"], ["-f", "json"]],
)
def test_cli_inverted_window_exits_2(store: Path, extra: list[str]) -> None:
    window = ["--since", "2026-10-15", "--until", "2026-10-10"]
    result = runner.invoke(app, ["report", "--db", str(store), *window, *extra])
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    assert "--since 2026-10-15T00:00:00+00:00 is not before --until" in result.stderr


def test_cli_valid_window_still_reports(store: Path) -> None:
    window = ["--since", "2026-10-10", "--until", "2026-10-15", "-f", "json"]
    result = runner.invoke(app, ["report", "--db", str(store), *window])
    assert result.exit_code == 0, result.stderr
    assert '"requests": 1' in result.stdout


def test_cli_repeated_group_by_exits_2(store: Path) -> None:
    result = runner.invoke(app, ["report", "--db", str(store), "--by", "team,team"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "--by 'team,team': team given more than once" in result.stderr
