"""The warning for a list or object where a rule reads a metadata key
(``FileResult.unusable_attribution``): it counts the rows loaded, not those already stored
or repeated in the file (a file of 4 such records, 3 already stored, warned of 4 while
loading 1), and it names the config file the rules came from (it always said
tokaudit.yaml, even with ``--config other.yaml`` or ``$TOKAUDIT_CONFIG``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.attribution import parse_attribution

if TYPE_CHECKING:
    from conftest import EnvelopeKit

runner = CliRunner()
RULES = {"attribution": {"team": ["metadata.squad", "team"]}}


def _call(kit: EnvelopeKit, request_id: str, **metadata: Any) -> dict[str, Any]:
    [ex] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    return kit.from_exchange(ex, "openai", request_id=request_id, metadata=metadata)


def _ingest(kit: EnvelopeKit, *paths: Path) -> list[Any]:
    result = ingest_paths(
        kit.con, [str(p) for p in paths], attribution=parse_attribution(RULES, "t")
    )
    assert not result.errors, result.errors
    return result.files


def test_rows_already_stored_are_not_counted(kit: EnvelopeKit) -> None:
    lists = {"squad": ["a", "b"], "team": "logged"}
    day1 = kit.write("day1.jsonl", [_call(kit, r, **lists) for r in ("r1", "r2", "r3")])
    day2 = kit.write("day2.jsonl", [_call(kit, r, **lists) for r in ("r1", "r2", "r3", "r4")])
    [first] = _ingest(kit, day1)
    assert (first.loaded, first.unusable_attribution) == (3, 3)
    [second] = _ingest(kit, day2)
    assert (second.loaded, second.duplicates, second.unusable_attribution) == (1, 3, 1)
    teams = kit.query("SELECT request_id, team FROM requests ORDER BY request_id")
    assert [(r["request_id"], r["team"]) for r in teams] == [
        (f"r{i}", "logged") for i in range(1, 5)
    ]


def test_duplicates_within_a_file_and_across_a_batch_are_not_counted(kit: EnvelopeKit) -> None:
    """r1 twice in one file, once more in the next file of the same call; r2 has a usable
    squad (one value in a list); r3 a list in the second file only."""
    a = kit.write(
        "a.jsonl",
        [
            _call(kit, "r1", squad=["x", "y"], team="t"),
            _call(kit, "r1", squad=["x", "y"], team="t"),
            _call(kit, "r2", squad=["solo"], team="t"),
        ],
    )
    b = kit.write(
        "b.jsonl",
        [_call(kit, "r1", squad={"k": "v"}, team="t"), _call(kit, "r3", squad=[1, 2], team="u")],
    )
    fa, fb = _ingest(kit, a, b)
    assert (fa.loaded, fa.duplicates, fa.unusable_attribution) == (2, 1, 1)  # r1 once
    assert (fb.loaded, fb.duplicates, fb.unusable_attribution) == (1, 1, 1)  # r3
    teams = kit.query("SELECT request_id, team FROM requests ORDER BY request_id")
    assert [(r["request_id"], r["team"]) for r in teams] == [
        ("r1", "t"),
        ("r2", "solo"),
        ("r3", "u"),
    ]


@pytest.mark.parametrize("how", ["option", "env"])
def test_cli_the_warning_names_the_config_used(
    kit: EnvelopeKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    log = kit.write("calls.jsonl", [_call(kit, "a", squad=["search", "growth"], team="x")])
    config = tmp_path / "other.yaml"
    config.write_text("attribution:\n  team: metadata.squad\n", "utf-8")
    args = ["ingest", str(log), "--db", str(tmp_path / "s.duckdb")]
    monkeypatch.chdir(tmp_path)  # no ./tokaudit.yaml here
    if how == "option":
        args += ["--config", str(config)]
    else:
        monkeypatch.setenv("TOKAUDIT_CONFIG", str(config))
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert (
        f"warning: {log}: 1 request(s) had a list or object where an attribution rule "
        f"({config}) reads a metadata key" in result.stderr
    )
    assert "tokaudit.yaml" not in result.stderr
    out = runner.invoke(
        app, ["sql", "--db", str(tmp_path / "s.duckdb"), "-f", "json", "SELECT team FROM requests"]
    )
    assert [r["team"] for r in json.loads(out.stdout)] == ["x"]


def test_cli_no_warning_when_every_row_is_already_stored(kit: EnvelopeKit, tmp_path: Path) -> None:
    lists = {"squad": ["a", "b"], "team": "logged"}
    first = kit.write("first.jsonl", [_call(kit, "r1", **lists)])
    copy = kit.write("copy.jsonl", [_call(kit, "r1", **lists)])
    config = tmp_path / "tokaudit.yaml"
    config.write_text("attribution:\n  team: [metadata.squad, team]\n", "utf-8")
    db = ["--db", str(tmp_path / "s.duckdb"), "--config", str(config)]
    assert "1 request(s) had a list" in runner.invoke(app, ["ingest", str(first), *db]).stderr
    again = runner.invoke(app, ["ingest", str(copy), *db])
    assert again.exit_code == 0, again.stderr
    assert "had a list or object" not in again.stderr
