"""Attribution rules from tokaudit.yaml: metadata keys, LiteLLM teams, API-key aliases, paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from typer.testing import CliRunner

from tokaudit.cli import app
from tokaudit.errors import ConfigError
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.attribution import load_attribution, parse_attribution

if TYPE_CHECKING:
    from conftest import EnvelopeKit

ROOT = Path(__file__).resolve().parents[3]
REALWORLD = ROOT / "tests" / "fixtures" / "realworld"
runner = CliRunner()


def _openai_call(kit: EnvelopeKit, request_id: str, **metadata: Any) -> dict[str, Any]:
    [ex] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    return kit.from_exchange(ex, "openai", request_id=request_id, metadata=metadata)


def _ingest(kit: EnvelopeKit, config: dict[str, Any], *paths: Path) -> list[dict[str, Any]]:
    rules = parse_attribution(config, "tokaudit.yaml")
    result = ingest_paths(kit.con, [str(p) for p in paths], attribution=rules)
    assert not result.errors, result.errors
    return kit.query(
        "SELECT request_id, team, user_id, feature, project, prompt_id "
        "FROM requests ORDER BY request_id"
    )


def test_team_from_a_metadata_key_falls_back_to_the_logged_team(kit: EnvelopeKit) -> None:
    path = kit.write(
        "calls.jsonl",
        [
            _openai_call(kit, "a", team="platform", squad="search", owner={"feature": "ranker"}),
            _openai_call(kit, "b", team="platform"),
            _openai_call(kit, "c"),
        ],
    )
    rows = _ingest(
        kit,
        {"attribution": {"team": "metadata.squad", "feature": ["metadata.owner.feature"]}},
        path,
    )
    assert [(r["request_id"], r["team"], r["feature"]) for r in rows] == [
        ("a", "search", "ranker"),
        ("b", "platform", None),
        ("c", None, None),
    ]


def test_a_blank_source_falls_through_to_the_next_one(kit: EnvelopeKit) -> None:
    """A metadata value of tabs or line breaks is blank, as the loader counts blanks: it
    won the coalesce (only spaces were trimmed) and was then stored as NULL, so the api_key
    and logged-team fallbacks were lost (QA). A key padded with a tab still matches. An
    empty list or object is no value either."""
    path = kit.write(
        "calls.jsonl",
        [
            _openai_call(kit, "a", squad="\t", team="logged"),
            _openai_call(kit, "b", squad="\r\n ", api_key="k1", team="logged"),
            _openai_call(kit, "c", squad="\tsearch\n", team="logged"),
            _openai_call(kit, "d", api_key="\tk1\n", team="logged"),
            _openai_call(kit, "e", squad=[], team="logged"),  # was the team "[]" (QA)
            _openai_call(kit, "f", squad={}, api_key="k1", team="logged"),
        ],
    )
    config = {
        "attribution": {"team": ["metadata.squad", "api_key", "team"]},
        "api_keys": {"k1": "keyteam"},
    }
    rows = _ingest(kit, config, path)
    assert [(r["request_id"], r["team"]) for r in rows] == [
        ("a", "logged"),
        ("b", "keyteam"),
        ("c", "search"),
        ("d", "keyteam"),
        ("e", "logged"),
        ("f", "keyteam"),
    ]


def test_litellm_team_alias_instead_of_team_id(kit: EnvelopeKit) -> None:
    row = json.loads((REALWORLD / "litellm" / "spend_logs_payload.json").read_text("utf-8"))
    row["team_id"] = "0f9c-team-uuid"
    meta = json.loads(row["metadata"])
    meta["user_api_key_team_alias"] = "search"
    row["metadata"] = json.dumps(meta)  # LiteLLM stores metadata as a JSON string
    path = kit.write("spend.jsonl", [row])
    [plain] = _ingest(kit, {}, path)
    assert plain["team"] == "0f9c-team-uuid"  # the format's default: LiteLLM's team_id
    kit.con.execute("DELETE FROM requests; DELETE FROM ingested_files")
    [aliased] = _ingest(kit, {"attribution": {"team": ["metadata.user_api_key_team_alias"]}}, path)
    assert aliased["team"] == "search"


def test_a_litellm_key_alias_is_found_behind_the_hashed_key(kit: EnvelopeKit) -> None:
    """LiteLLM logs the hashed key (metadata.api_key) before the key's alias
    (metadata.user_api_key_alias): only the first key field present was looked up, so an
    alias table of LiteLLM key aliases never matched (QA). The first field api_keys lists
    decides; with both listed, the earlier field still wins."""
    row = json.loads((REALWORLD / "litellm" / "spend_logs_payload.json").read_text("utf-8"))
    meta = json.loads(row["metadata"])
    meta["user_api_key_alias"] = "search-prod"
    row["metadata"] = json.dumps(meta)
    row["api_key"] = "88dc28d0f030c55ed4ab77ed8faf098196cb1c05df778539800c9f1243fe6b4b"
    path = kit.write("spend.jsonl", [row])
    config: dict[str, Any] = {"attribution": {"team": ["api_key"]}}
    config["api_keys"] = {"search-prod": "search"}
    [aliased] = _ingest(kit, config, path)
    assert aliased["team"] == "search"
    kit.con.execute("DELETE FROM requests; DELETE FROM ingested_files")
    config["api_keys"] = {"search-prod": "search", row["api_key"]: "by-hash"}
    [hashed] = _ingest(kit, config, path)
    assert hashed["team"] == "by-hash"


def test_api_key_alias_table_exact_and_masked(kit: EnvelopeKit) -> None:
    path = kit.write(
        "calls.jsonl",
        [
            _openai_call(kit, "a", api_key="sk-proj-Zx81Qw7abcd"),
            _openai_call(kit, "b", api_key="sk-proj-Zx81Qw7wxyz"),
            _openai_call(kit, "c", api_key_id="key_abc"),
            _openai_call(kit, "d", api_key="pk-other-abcd"),
        ],
    )
    config = {
        "attribution": {"team": ["api_key"], "project": ["api_key"]},
        "api_keys": {
            "sk-...abcd": "search",
            "key_abc": {"team": "growth", "project": "web"},
            "sk-proj-Zx81Qw7wxyz": {"team": "billing"},
        },
    }
    rows = _ingest(kit, config, path)
    assert [(r["request_id"], r["team"], r["project"]) for r in rows] == [
        ("a", "search", None),  # masked: prefix sk- and suffix abcd
        ("b", "billing", None),  # exact
        ("c", "growth", "web"),  # an API key id, as usage exports carry it
        ("d", None, None),  # ends in abcd, but not an sk- key
    ]


def test_two_masks_of_one_length_the_one_listed_first_wins(kit: EnvelopeKit) -> None:
    """Both masks match sk-a19z and are as long: the pick was left to the join, so one
    key's rows were split between the two teams (QA). The entry listed first wins."""
    path = kit.write(
        "calls.jsonl", [_openai_call(kit, f"r{i:04}", api_key="sk-a19z") for i in range(2000)]
    )
    for first, second in (("one", "two"), ("two", "one")):
        kit.con.execute("DELETE FROM requests; DELETE FROM ingested_files")
        masks = {"one": "sk-a...z", "two": "sk-...9z"}
        config = {
            "attribution": {"team": "api_key"},
            "api_keys": {masks[first]: first, masks[second]: second},
        }
        rows = _ingest(kit, config, path)
        assert {r["team"] for r in rows} == {first}


def test_usage_export_api_key_ids_to_teams(kit: EnvelopeKit) -> None:
    result = json.loads(
        (
            REALWORLD / "openai" / "openapi_examples" / "UsageCompletionsResult_object_example.json"
        ).read_text("utf-8")
    )
    page = {"data": [{"start_time": 1730419200, "end_time": 1730505600, "results": [result]}]}
    path = kit.tmp_path / "usage.json"
    path.write_text(json.dumps(page), "utf-8")
    [row] = _ingest(
        kit, {"attribution": {"team": "api_key"}, "api_keys": {"key_abc": "growth"}}, path
    )
    assert (row["team"], row["project"]) == ("growth", "proj_abc")


def test_path_patterns_groups_and_static_values(kit: EnvelopeKit) -> None:
    a = kit.write("logs/search/2026-10.jsonl", [_openai_call(kit, "a")])
    b = kit.write("logs/growth/vendor-x/2026-10.jsonl", [_openai_call(kit, "b", team="own")])
    c = kit.write("other/2026-10.jsonl", [_openai_call(kit, "c")])
    config = {
        "attribution": {"team": ["path", "team"], "project": ["path"]},
        "path_patterns": [
            {"pattern": r"/logs/(?P<team>[^/]+)/"},
            {"pattern": r"/vendor-x/", "project": "vendor-x"},
        ],
    }
    rows = _ingest(kit, config, a, b, c)
    assert [(r["request_id"], r["team"], r["project"]) for r in rows] == [
        ("a", "search", None),
        ("b", "growth", "vendor-x"),
        ("c", None, None),
    ]


def test_otel_attributes_with_dots_in_their_names(kit: EnvelopeKit) -> None:
    """OTel keeps span and resource attributes under their dotted names
    (metadata.attributes["app.team"]): reading every dot as nesting never reached them, so
    no OTel or Langfuse attribute could be mapped (QA). Nesting is still tried first."""
    doc = json.loads((ROOT / "tests" / "fixtures" / "otel" / "genai_spans.otlp.json").read_text())
    resource = doc["resourceSpans"][0]
    resource["resource"]["attributes"].append(
        {"key": "service.namespace", "value": {"stringValue": "payments"}}
    )
    span = resource["scopeSpans"][0]["spans"][0]
    span["attributes"].append({"key": "app.team", "value": {"stringValue": "search"}})
    path = kit.tmp_path / "spans.otlp.json"
    path.write_text(json.dumps(doc), "utf-8")
    rules = parse_attribution(
        {
            "attribution": {
                "team": ["metadata.attributes.app.team"],
                "project": ["metadata.resource.service.namespace"],
            }
        },
        "tokaudit.yaml",
    )
    ingest_paths(kit.con, [str(path)], attribution=rules)
    got = kit.query(
        "SELECT team, project FROM requests WHERE metadata ->> 'span_id' = ?", [span["spanId"]]
    )
    assert got == [{"team": "search", "project": "payments"}]
    nested = kit.write("calls.jsonl", [_openai_call(kit, "a", app={"team": "nested"})])
    config = {"attribution": {"team": "metadata.app.team"}}
    assert _ingest(kit, config, nested)[0]["team"] == "nested"


def test_a_target_can_read_another_targets_result(kit: EnvelopeKit) -> None:
    path = kit.write("calls.jsonl", [_openai_call(kit, "a", squad="search")])
    rows = _ingest(kit, {"attribution": {"team": "metadata.squad", "project": "team"}}, path)
    assert (rows[0]["team"], rows[0]["project"]) == ("search", "search")


def test_rejects_and_counts_are_untouched(kit: EnvelopeKit) -> None:
    path = kit.write("calls.jsonl", [_openai_call(kit, "a", squad="x"), "{broken"])
    rules = parse_attribution({"attribution": {"team": "metadata.squad"}}, "t.yaml")
    [fr] = ingest_paths(kit.con, [str(path)], attribution=rules).files
    assert (fr.records_read, fr.loaded, fr.rejected) == (2, 1, 1)
    assert kit.rejects(path)[2]["reason"] == "invalid JSON"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"atribution": {}}, "unknown key(s) atribution"),
        ({"attribution": {"squad": "metadata.x"}}, "attribution.squad: unknown target"),
        ({"attribution": {"team": "header.x"}}, "source 'header.x'"),
        ({"attribution": {"team": "api_key"}}, "api_keys is empty"),
        ({"attribution": {"team": "path"}}, "path_patterns is empty"),
        ({"attribution": {"team": "project", "project": "team"}}, "cycle"),
        ({"api_keys": {"k": {"squad": "x"}}}, "api_keys.k: unknown target"),
        ({"path_patterns": [{"pattern": "(?P<squad>x)"}]}, "group(s) squad are not targets"),
        ({"path_patterns": [{"pattern": "(unclosed"}]}, "not a regular expression"),
        ({"path_patterns": [{"pattern": "logs/"}]}, "name a group"),
        # a blank team wiped the logged one and stopped the fallbacks; two spellings of one
        # key with different teams let the first win silently (QA)
        ({"api_keys": {"key_x": ""}}, "api_keys.key_x.team: must be a non-empty text value"),
        ({"api_keys": {"key_x": "  "}}, "api_keys.key_x.team: must be a non-empty text value"),
        ({"api_keys": {"sk-...abcd": "a", "sk-...abcd ": "b"}}, "given twice"),
        # an empty mapping matched and set nothing, hiding later key fields' matches (QA)
        ({"api_keys": {"key_x": {}}}, "api_keys.key_x: give the team"),
    ],
)
def test_config_errors_name_file_and_key(tmp_path: Path, data: Any, needle: str) -> None:
    path = tmp_path / "tokaudit.yaml"
    path.write_text(yaml.safe_dump(data), "utf-8")
    with pytest.raises(ConfigError) as err:
        load_attribution(path)
    assert str(path) in str(err.value) and needle in str(err.value)


def _cli_calls(kit: EnvelopeKit) -> Path:
    return kit.write("calls.jsonl", [_openai_call(kit, "a", squad="search")])


def _teams(db: Path) -> list[Any]:
    out = runner.invoke(app, ["sql", "--db", str(db), "-f", "json", "SELECT team FROM requests"])
    return [r["team"] for r in json.loads(out.stdout)]


def test_cli_config_from_option_env_and_cwd(
    kit: EnvelopeKit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _cli_calls(kit)
    config = tmp_path / "rules.yaml"
    config.write_text(yaml.safe_dump({"attribution": {"team": "metadata.squad"}}), "utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKAUDIT_CONFIG", raising=False)
    plain = runner.invoke(app, ["ingest", str(log), "--db", "plain.duckdb"])
    assert plain.exit_code == 0 and _teams(tmp_path / "plain.duckdb") == [None]
    given = runner.invoke(app, ["ingest", str(log), "--db", "opt.duckdb", "--config", str(config)])
    assert given.exit_code == 0 and _teams(tmp_path / "opt.duckdb") == ["search"]
    monkeypatch.setenv("TOKAUDIT_CONFIG", str(config))
    env = runner.invoke(app, ["ingest", str(log), "--db", "env.duckdb"])
    assert env.exit_code == 0 and _teams(tmp_path / "env.duckdb") == ["search"]
    monkeypatch.delenv("TOKAUDIT_CONFIG")
    (tmp_path / "tokaudit.yaml").write_text(config.read_text("utf-8"), "utf-8")
    cwd = runner.invoke(app, ["ingest", str(log), "--db", "cwd.duckdb"])
    assert cwd.exit_code == 0 and _teams(tmp_path / "cwd.duckdb") == ["search"]


def test_cli_bad_config_is_exit_2_before_any_store(tmp_path: Path, kit: EnvelopeKit) -> None:
    log = _cli_calls(kit)
    config = tmp_path / "bad.yaml"
    config.write_text("attribution: {squad: metadata.x}\n", "utf-8")
    db = tmp_path / "never.duckdb"
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--config", str(config)])
    assert result.exit_code == 2 and result.stdout == ""
    assert str(config) in result.stderr and "attribution.squad" in result.stderr
    assert not db.exists()


def test_one_config_file_holds_attribution_and_tokenizers(kit: EnvelopeKit, tmp_path: Path) -> None:
    """docs/recount.md puts `tokenizers:` in tokaudit.yaml: ingest and audit must accept it
    (the tokenizer plugins read it), not refuse the file as an unknown key."""
    log = _cli_calls(kit)
    config = tmp_path / "tokaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "attribution": {"team": "metadata.squad"},
                "tokenizers": {"hf": [{"models": ["llama-3*"], "path": "tk/tokenizer.json"}]},
            }
        ),
        "utf-8",
    )
    db = tmp_path / "both.duckdb"
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--config", str(config)])
    assert result.exit_code == 0, result.stderr
    assert _teams(db) == ["search"]
    audit = runner.invoke(app, ["audit", str(log), "--config", str(config), "-f", "json"])
    assert audit.exit_code == 0, audit.stderr
