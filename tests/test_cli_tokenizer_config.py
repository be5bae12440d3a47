"""`recount` and `report --show recount` take `--config` for tokenizer plugins, as `ingest`,
`audit` and `findings` do (the hf plugin reads the file's `tokenizers:` section).

A config whose hf entry names a tokenizer file that does not exist breaks the hf plugin
when it starts (with or without the optional library): the commands that recount name it
on stderr, and only when that config is the one given.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers import write_jsonl
from tokaudit.cli import app

runner = CliRunner()
RECORD = {
    "timestamp": "2026-10-01T10:00:00Z",
    "provider": "openai",
    "request": {"model": "llama-3-8b", "messages": [{"role": "user", "content": "hi there"}]},
    "response": {"id": "r1", "model": "llama-3-8b", "usage": {"prompt_tokens": 9}},
}


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store whose text is not counted yet; no config in the environment or directory."""
    monkeypatch.delenv("TOKAUDIT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store.duckdb"
    log = write_jsonl(tmp_path / "log.jsonl", [RECORD])
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), "--no-recount"])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "tokaudit.yaml"
    path.parent.mkdir()
    path.write_text("tokenizers:\n  hf:\n    - {models: ['llama-3*'], path: gone.json}\n")
    return path


@pytest.mark.parametrize(
    "command",
    [["recount"], ["report", "--show", "recount", "--by", "model"]],
    ids=["recount", "report --show recount"],
)
def test_config_reaches_the_tokenizer_plugins(
    store: Path, config: Path, command: list[str]
) -> None:
    fresh = store.with_name("again.duckdb")
    fresh.write_bytes(store.read_bytes())  # uncounted too: the command recounts it as well
    plain = runner.invoke(app, [*command, "--db", str(store)])
    assert plain.exit_code == 0, plain.output
    assert "'hf'" not in plain.stderr  # no config: the hf plugin covers nothing

    given = runner.invoke(app, [*command, "--db", str(fresh), "--config", str(config)])
    assert given.exit_code == 0, given.output
    assert "warning: tokenizer plugin 'hf' skipped" in given.stderr
    assert "gone.json" in given.stderr or "tokaudit[hf]" in given.stderr


@pytest.mark.parametrize(
    "command",
    [["recount"], ["report", "--show", "recount"]],
    ids=["recount", "report --show recount"],
)
def test_a_config_that_cannot_be_read_is_an_error(
    store: Path, tmp_path: Path, command: list[str]
) -> None:
    """Exit 2 naming the file, as `ingest` and `findings` do, not a plugin warning."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("tokenizers: [unclosed\n")
    for config, why in (
        (tmp_path / "missing.yaml", "cannot read the config"),
        (bad, "not valid YAML"),
    ):
        result = runner.invoke(app, [*command, "--db", str(store), "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert f"{config}: {why}" in result.stderr


def test_tokenizers_list_reads_the_config_given(
    tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tokenizers list` had no --config: the hf plugin a config sets up elsewhere could only
    be listed through TOKAUDIT_CONFIG or ./tokaudit.yaml (QA)."""
    monkeypatch.delenv("TOKAUDIT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    plain = runner.invoke(app, ["tokenizers", "list", "-f", "csv"])
    assert plain.exit_code == 0 and "\nhf,,broken," not in plain.stdout  # no config: no models
    listed = runner.invoke(app, ["tokenizers", "list", "-f", "csv", "--config", str(config)])
    assert listed.exit_code == 0, listed.output
    assert "\nhf,,broken," in listed.stdout  # gone.json: broken from the start, and named
    assert "warning: tokenizer plugin 'hf' skipped" in listed.stderr
    missing = runner.invoke(app, ["tokenizers", "list", "--config", str(tmp_path / "no.yaml")])
    assert missing.exit_code == 2 and "no.yaml" in missing.stderr and missing.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["report"], ["report", "--compare-at", "now"], ["check", "--budget", "budget.yaml"]],
    ids=["report", "report --compare-at", "check"],
)
def test_a_config_that_cannot_be_read_is_an_error_with_nothing_to_count(
    store: Path, tmp_path: Path, command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`report` and `check` read the config only when texts waited to be counted: once the
    store was counted, a mistyped TOKAUDIT_CONFIG or a directory passed silently (QA)."""
    (tmp_path / "budget.yaml").write_text("budgets:\n  - {name: all, max_cost_usd: 100}\n")
    counted = runner.invoke(app, ["recount", "--db", str(store)])
    assert counted.exit_code == 0, counted.output
    for config, why in (
        (tmp_path / "missing.yaml", "cannot read the config"),
        (tmp_path, "cannot read the config"),
    ):
        given = runner.invoke(app, [*command, "--db", str(store), "--config", str(config)])
        assert given.exit_code == 2, given.output
        assert f"{config}: {why}" in given.stderr and given.stdout == ""
        monkeypatch.setenv("TOKAUDIT_CONFIG", str(config))
        by_env = runner.invoke(app, [*command, "--db", str(store)])
        monkeypatch.delenv("TOKAUDIT_CONFIG")
        assert by_env.exit_code == 2, by_env.output
        assert f"{config}: {why}" in by_env.stderr


@pytest.mark.parametrize(
    "command",
    [["recount"], ["report", "--show", "recount"], ["report"], ["tokenizers", "list"]],
    ids=["recount", "report --show recount", "report", "tokenizers list"],
)
def test_a_config_that_is_not_a_mapping_of_known_sections_is_an_error(
    store: Path, tmp_path: Path, command: list[str]
) -> None:
    """`ingest` and `findings` refused these; the commands that only read `tokenizers:`
    parsed the file and went on, so a misspelt `tokenizer:` left the hf plugin
    unconfigured without a word (QA)."""
    misspelt = tmp_path / "misspelt.yaml"
    misspelt.write_text("tokenizer:\n  hf:\n    - {models: ['llama-3*'], path: t.json}\n")
    listed = tmp_path / "list.yaml"
    listed.write_text("- tokenizers\n")
    db = [] if command[0] == "tokenizers" else ["--db", str(store)]
    for config, why in (
        (misspelt, "unknown key(s) tokenizer"),
        (listed, "expected a mapping of sections"),
    ):
        result = runner.invoke(app, [*command, *db, "--config", str(config)])
        assert result.exit_code == 2, result.output
        assert f"{config}: {why}" in result.stderr and result.stdout == ""
