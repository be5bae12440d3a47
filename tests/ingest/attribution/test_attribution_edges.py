"""Attribution edge cases: a prompt rule and the logged prompt version, list or object
values in metadata, and a config file that sets nothing."""

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


def _call(kit: EnvelopeKit, request_id: str, **metadata: Any) -> dict[str, Any]:
    [ex] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    return kit.from_exchange(ex, "openai", request_id=request_id, metadata=metadata)


def _ingest(kit: EnvelopeKit, config: dict[str, Any], path: Path) -> tuple[Any, list[Any]]:
    rules = parse_attribution(config, "tokaudit.yaml")
    result = ingest_paths(kit.con, [str(path)], attribution=rules)
    assert not result.errors, result.errors
    rows = kit.query(
        "SELECT request_id, team, prompt_id, prompt_version FROM requests ORDER BY request_id"
    )
    return result.files[0], rows


def test_a_prompt_rule_drops_the_version_of_the_logged_prompt(kit: EnvelopeKit) -> None:
    """The envelope reads metadata.prompt_id and prompt_version; a rule taking the prompt
    from prompt_name kept the logged version, so 'checkout' showed 'snippet''s version 3."""
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", prompt_id="snippet", prompt_version="3", prompt_name="checkout"),
            _call(kit, "b", prompt_id="snippet", prompt_version="3"),  # the logged prompt stays
            _call(kit, "c", prompt_id="snippet", prompt_version="3", prompt_name="snippet"),
        ],
    )
    _, rows = _ingest(kit, {"attribution": {"prompt": "metadata.prompt_name"}}, path)
    assert [(r["request_id"], r["prompt_id"], r["prompt_version"]) for r in rows] == [
        ("a", "checkout", None),
        ("b", "snippet", "3"),
        ("c", "snippet", "3"),  # the same prompt as logged: its version is its own
    ]


def test_a_version_logged_without_a_prompt_stays_with_the_rules_prompt(
    kit: EnvelopeKit,
) -> None:
    """A version logged with no prompt id belongs to no other prompt: a rule naming the
    prompt keeps it (it was dropped, as if it were another prompt's)."""
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", prompt_version="3", prompt_name="checkout"),
            _call(kit, "b", prompt_version="3"),  # no prompt from the rule either
        ],
    )
    _, rows = _ingest(kit, {"attribution": {"prompt": "metadata.prompt_name"}}, path)
    assert [(r["request_id"], r["prompt_id"], r["prompt_version"]) for r in rows] == [
        ("a", "checkout", "3"),
        ("b", None, "3"),
    ]


def test_prompt_version_can_be_mapped_alongside(kit: EnvelopeKit) -> None:
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", prompt_id="snippet", prompt_version="3", prompt_name="checkout",
                  prompt_rev="v7"),
            _call(kit, "b", prompt_id="snippet", prompt_version="3", prompt_name="checkout"),
            _call(kit, "c", prompt_id="snippet", prompt_version="3"),
        ],
    )  # fmt: skip
    config = {
        "attribution": {"prompt": "metadata.prompt_name", "prompt_version": "metadata.prompt_rev"}
    }
    _, rows = _ingest(kit, config, path)
    assert [(r["request_id"], r["prompt_id"], r["prompt_version"]) for r in rows] == [
        ("a", "checkout", "v7"),
        ("b", "checkout", None),
        ("c", "snippet", "3"),
    ]


def test_a_list_of_one_value_is_that_value_other_lists_and_objects_are_none(
    kit: EnvelopeKit,
) -> None:
    """A list or object read as the JSON text `["a","b"]` was stored as the team's name."""
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", squad=["search"], team="logged"),
            _call(kit, "b", squad=[" growth\t"], team="logged"),
            _call(kit, "c", squad=[7], team="logged"),
            _call(kit, "d", squad=["search", "growth"], team="logged"),
            _call(kit, "e", squad={"name": "search"}, team="logged"),
            _call(kit, "f", squad=[["search"]], team="logged"),
            _call(kit, "g", squad=[], team="logged"),  # empty: no value, no warning
            _call(kit, "h", squad=[None], team="logged"),
        ],
    )
    fr, rows = _ingest(kit, {"attribution": {"team": ["metadata.squad", "team"]}}, path)
    assert [(r["request_id"], r["team"]) for r in rows] == [
        ("a", "search"),
        ("b", "growth"),
        ("c", "7"),
        ("d", "logged"),
        ("e", "logged"),
        ("f", "logged"),
        ("g", "logged"),
        ("h", "logged"),
    ]
    assert fr.unusable_attribution == 4  # d, e, f, h


@pytest.mark.parametrize("rules", [{}, {"attribution": {"team": ["metadata.team"]}}])
def test_a_logged_list_or_object_is_no_value_with_or_without_rules(
    kit: EnvelopeKit, rules: dict[str, Any]
) -> None:
    """The envelope's own read of metadata.team gave the JSON text `["a","b"]`, which a
    rule skipped and then fell back to: the logged list became the team either way."""
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", team=["a", "b"], user=["u1", "u2"]),
            _call(kit, "b", team=["solo"], user=[7], feature=["chat"]),
            _call(kit, "c", team={"name": "search"}, environment=["prod", "dev"]),
            _call(kit, "d", team="plain", prompt_id={"id": "p"}),
        ],
    )
    fr, _ = _ingest(kit, rules, path)
    rows = kit.query(
        "SELECT request_id, team, user_id, feature, environment, prompt_id FROM requests "
        "ORDER BY request_id"
    )
    assert [tuple(r.values()) for r in rows] == [
        ("a", None, None, None, None, None),
        ("b", "solo", "7", "chat", None, None),
        ("c", None, None, None, None, None),
        ("d", "plain", None, None, None, None),
    ]
    assert fr.unusable_attribution == (2 if rules else 0)  # a, c


def test_only_a_consulted_list_is_warned_of(kit: EnvelopeKit) -> None:
    """A row whose earlier source decided was counted as if its list had been used."""
    path = kit.write(
        "calls.jsonl",
        [
            _call(kit, "a", squad="search", tags=["a", "b"]),  # squad decides
            _call(kit, "b", tags=["a", "b"]),  # tags consulted: warned
            _call(kit, "c", squad=["x", "y"], tags=["a", "b"]),  # both consulted: one row
            _call(kit, "d", squad="search", tags={"k": "v"}, owner=["p", "q"]),
        ],
    )
    config = {
        "attribution": {
            "team": ["metadata.squad", "metadata.tags"],
            "project": ["team", "metadata.owner"],  # team decides for d
        }
    }
    fr, rows = _ingest(kit, config, path)
    assert [(r["request_id"], r["team"]) for r in rows] == [
        ("a", "search"),
        ("b", None),
        ("c", None),
        ("d", "search"),
    ]
    assert fr.unusable_attribution == 2  # b, c


def test_cli_warns_of_list_values_it_did_not_use(kit: EnvelopeKit, tmp_path: Path) -> None:
    log = kit.write("calls.jsonl", [_call(kit, "a", squad=["search", "growth"], team="x")])
    config = tmp_path / "tokaudit.yaml"
    config.write_text("attribution:\n  team: metadata.squad\n", "utf-8")
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert "1 request(s) had a list or object where an attribution rule" in result.stderr
    out = runner.invoke(app, ["sql", "--db", str(db), "-f", "json", "SELECT team FROM requests"])
    assert [r["team"] for r in json.loads(out.stdout)] == ["x"]


@pytest.mark.parametrize("text", ["", "# rules to come\n", "attribution:\n", "{}\n"])
@pytest.mark.parametrize("command", ["ingest", "audit"])
def test_a_config_that_sets_nothing_is_warned_of(
    kit: EnvelopeKit, tmp_path: Path, text: str, command: str
) -> None:
    log = kit.write("calls.jsonl", [_call(kit, "a", team="x")])
    config = tmp_path / "tokaudit.yaml"
    config.write_text(text, "utf-8")
    args = [command, str(log), "--config", str(config)]
    if command == "ingest":
        args += ["--db", str(tmp_path / "s.duckdb")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert f"warning: {config}: the config is empty (or only comments) and sets nothing" in (
        result.stderr
    )
    assert "sets nothing" not in result.stdout


def test_a_config_with_rules_is_not_warned_of(kit: EnvelopeKit, tmp_path: Path) -> None:
    log = kit.write("calls.jsonl", [_call(kit, "a", team="x")])
    config = tmp_path / "tokaudit.yaml"
    config.write_text("# teams\nattribution:\n  team: metadata.squad\n", "utf-8")
    db = tmp_path / "s.duckdb"
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--config", str(config)])
    assert result.exit_code == 0 and "warning" not in result.stderr
