"""What the README and docs promise about the CLI, checked against real runs.

Every priced output names its price table; a broken tokenizer plugin is warned about by
every command that runs the recount; the help texts list what the options really take.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tokaudit.cli import app

runner = CliRunner()


def _prices(db: Path) -> tuple[str, str]:
    """The table version and SHA-256 the JSON spend report names."""
    result = runner.invoke(app, ["report", "--db", str(db), "-f", "json"])
    assert result.exit_code == 0, result.stderr
    pricing = json.loads(result.stdout)["pricing"]
    return pricing["table_version"], pricing["sha256"]


@pytest.mark.parametrize(
    ("fmt", "caption"),
    [
        ("table", "prices: table {version} (sha256 {sha})"),
        ("markdown", "_Prices: table {version} (sha256 `{sha}`), USD._"),
    ],
)
def test_recount_report_names_its_price_table(store: Path, fmt: str, caption: str) -> None:
    """`report --show recount` has dollar columns: tables and Markdown name their prices,
    with the SHA-256's first 12 characters, as the spend report does."""
    version, sha = _prices(store)
    result = runner.invoke(
        app, ["report", "--db", str(store), "--by", "team", "--show", "recount", "-f", fmt]
    )
    assert result.exit_code == 0, result.stderr
    assert caption.format(version=version, sha=sha[:12]) in result.stdout
    assert "total" in result.stdout
    spend = runner.invoke(app, ["report", "--db", str(store), "--by", "team", "-f", fmt])
    assert caption.format(version=version, sha=sha[:12]) in spend.stdout  # the same caption


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_price_comparison_names_both_tables(store: Path, fmt: str) -> None:
    """`report --compare-at` prices twice: tables and Markdown name both tables."""
    version, sha = _prices(store)
    result = runner.invoke(
        app, ["report", "--db", str(store), "--by", "team", "--compare-at", "now", "-f", fmt]
    )
    assert result.exit_code == 0, result.stderr
    named = f"table {version} (sha256 {sha[:12]})"
    assert result.stdout.count(named) == 2  # the current prices and the compared ones


def _broken_hf_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tokaudit.yaml whose hf entry names a tokenizer.json that does not exist."""
    tmp_path.mkdir(exist_ok=True)
    config = tmp_path / "tokaudit.yaml"
    config.write_text(
        "tokenizers:\n  hf:\n    - {models: ['llama-3*'], path: missing/tokenizer.json}\n",
        "utf-8",
    )
    monkeypatch.chdir(tmp_path)  # ./tokaudit.yaml: the default for the recount and --config


def _plugin_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: tokenizer plugin")]


def test_ingest_and_audit_warn_about_a_broken_plugin_like_recount(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_hf_config(tmp_path, monkeypatch)
    db = tmp_path / "s.duckdb"
    ingested = runner.invoke(app, ["ingest", str(mixed_log), "--db", str(db), "-o", "json"])
    assert ingested.exit_code == 0, ingested.stderr
    json.loads(ingested.stdout)  # stdout stays data only
    recounted = runner.invoke(app, ["recount", "--db", str(db)])
    assert recounted.exit_code == 0, recounted.stderr
    [expected] = _plugin_warnings(recounted.stderr)
    assert expected.startswith("warning: tokenizer plugin 'hf' skipped: ")
    assert _plugin_warnings(ingested.stderr) == [expected]
    audited = runner.invoke(app, ["audit", str(mixed_log), "-f", "json"])
    assert audited.exit_code == 0, audited.stderr
    json.loads(audited.stdout)
    assert _plugin_warnings(audited.stderr) == [expected]


@pytest.mark.parametrize("command", ["ingest", "audit"])
def test_config_option_configures_the_tokenizer_plugins_too(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """--config FILE is the whole config file: its tokenizers: section, not only attribution."""
    _broken_hf_config(tmp_path / "conf", monkeypatch)
    monkeypatch.chdir(tmp_path)  # no ./tokaudit.yaml here, and no TOKAUDIT_CONFIG
    monkeypatch.delenv("TOKAUDIT_CONFIG", raising=False)
    args = [command, str(mixed_log), "--config", str(tmp_path / "conf" / "tokaudit.yaml")]
    args += ["--db", str(tmp_path / "s.duckdb")] if command == "ingest" else []
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    [warning] = _plugin_warnings(result.stderr)
    assert warning.startswith("warning: tokenizer plugin 'hf' skipped: ")
    without = runner.invoke(app, [command, str(mixed_log), *args[2 + 2 :]])
    assert _plugin_warnings(without.stderr) == []


def test_ingest_without_recount_says_nothing_about_plugins(
    tmp_path: Path, mixed_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _broken_hf_config(tmp_path, monkeypatch)
    result = runner.invoke(
        app, ["ingest", str(mixed_log), "--db", str(tmp_path / "s.duckdb"), "--no-recount"]
    )
    assert result.exit_code == 0, result.stderr
    assert _plugin_warnings(result.stderr) == []


def _description(command: str) -> str:
    """A command's --help text above its options."""
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    return " ".join(result.stdout.split("Options:")[0].split())


@pytest.mark.parametrize("command", ["ingest", "audit"])
def test_paths_help_names_both_archives(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert ".gz and .zst ok" in " ".join(result.stdout.split())


def test_help_describes_what_the_commands_do() -> None:
    assert "prompt and reply tokens" in _description("recount")
    report = _description("report")
    for dimension in ("project", "provider", "priced_model"):
        assert dimension in report


def test_recount_report_says_its_estimates_differences_are_no_billing_question(
    store: Path,
) -> None:
    """The sample store's Gemini requests attach PDFs by address: their recount is far
    below the bill (an estimate that cannot see the files), which the table showed as a
    difference of thousands of percent with nothing said about it."""
    result = runner.invoke(
        app, ["report", "--db", str(store), "--by", "model", "--show", "recount", "-f", "json"]
    )
    assert result.exit_code == 0, result.stderr
    totals = json.loads(result.stdout)["totals"]
    estimates = totals["compared"] - totals["exact"]
    assert estimates > 0
    note = f"note: {estimates} of {totals['compared']} compared request(s) are recounted as "
    assert note in result.stderr and "only exact recounts are a billing question" in result.stderr
