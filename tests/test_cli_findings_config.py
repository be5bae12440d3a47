"""Finding thresholds from tokaudit.yaml's `findings:` section, through the CLI.

The log is D15's swapped pair (tests/findings/cases/D15.yaml): two gpt-4.1 calls in one
team whose usage was swapped, 107 reported for a 12-token prompt and 12 for a 107-token one.
Net 0; per request |+95| + |-95| = 190 tokens, 190/119 = 159.7 % of the recount. A
tolerance of 150 % still flags it, 200 % clears it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import write_jsonl
from tokaudit.cli import app

runner = CliRunner()
HUNDRED = "hello" + " hello" * 99


def _call(rid: str, text: str, prompt_tokens: int) -> dict[str, Any]:
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "metadata": {"team": "swap"},
        "request": {"model": "gpt-4.1", "messages": [{"role": "user", "content": text}]},
        "response": {
            "id": rid,
            "model": "gpt-4.1",
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 5},
        },
    }


@pytest.fixture
def swapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The swapped pair's log, in a working directory with no tokaudit.yaml of its own."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TOKAUDIT_CONFIG", raising=False)
    return write_jsonl(
        tmp_path / "swapped.jsonl",
        [_call("s1", "Say this is a test", 107), _call("s2", HUNDRED, 12)],
    )


def _config(path: Path, tolerance: object) -> Path:
    path.write_text(f"findings:\n  D15:\n    tolerance_pct: {tolerance}\n", "utf-8")
    return path


def _d15(stdout: str) -> list[tuple[str, str, int]]:
    data = json.loads(stdout)
    found = data["findings"]["findings"] if "breakdowns" in data else data["findings"]
    return [(f["team"], f["model"], f["requests"]) for f in found if f["rule_id"] == "D15"]


def _ingest(log: Path, db: Path, *extra: str) -> None:
    result = runner.invoke(app, ["ingest", str(log), "--db", str(db), *extra])
    assert result.exit_code == 0, result.stderr


def test_findings_reads_thresholds_from_the_config(
    swapped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "s.duckdb"
    strict, loose = _config(tmp_path / "strict.yaml", 150), _config(tmp_path / "loose.yaml", 200)
    _ingest(swapped, db, "--config", str(loose))  # ingest accepts the section (and ignores it)
    base = ["findings", "--db", str(db), "-f", "json"]
    flagged = [("swap", "gpt-4.1", 2)]

    result = runner.invoke(app, base)  # the defaults (2 %): the swap is flagged
    assert result.exit_code == 0, result.stderr
    assert _d15(result.stdout) == flagged
    assert _d15(runner.invoke(app, [*base, "--config", str(strict)]).stdout) == flagged
    assert _d15(runner.invoke(app, [*base, "--config", str(loose)]).stdout) == []
    # the same default lookup as ingest and audit: TOKAUDIT_CONFIG, else ./tokaudit.yaml
    monkeypatch.setenv("TOKAUDIT_CONFIG", str(loose))
    assert _d15(runner.invoke(app, base).stdout) == []
    assert _d15(runner.invoke(app, [*base, "--config", str(strict)]).stdout) == flagged
    monkeypatch.delenv("TOKAUDIT_CONFIG")
    _config(tmp_path / "tokaudit.yaml", 200)
    assert _d15(runner.invoke(app, base).stdout) == []


def test_audit_reads_thresholds_from_the_config(swapped: Path, tmp_path: Path) -> None:
    base = ["audit", str(swapped), "-f", "json"]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.stderr
    assert _d15(result.stdout) == [("swap", "gpt-4.1", 2)]
    loose = _config(tmp_path / "loose.yaml", 200)
    result = runner.invoke(app, [*base, "--config", str(loose)])
    assert result.exit_code == 0, result.stderr
    assert _d15(result.stdout) == []


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("findings:\n  D15:\n    tolerance_pct: five\n", "D15.tolerance_pct must be like its"),
        ("findings:\n  D15:\n    tolerance: 5\n", "D15 has no threshold 'tolerance'"),
        ("findings:\n  D16:\n    tolerance_pct: 5\n", "unknown rule 'D16'"),
        ("findings:\n  - D15\n", "findings must be a mapping of rule id to thresholds"),
        ("finding:\n  D15:\n    tolerance_pct: 5\n", "unknown key(s) finding"),
        # a routing pair that can never match a priced request passed silently (QA)
        (
            "findings:\n  D09:\n    routing: {gpt-4o-2024-08-06: gpt-4o-mini}\n",
            "D09.routing names 'gpt-4o-2024-08-06', an alias of 'gpt-4o': name the model id",
        ),
        (
            "findings:\n  D09:\n    routing: {gpt-4o: gpt-4o-mnii}\n",
            "D09.routing names 'gpt-4o-mnii', no model of the price table",
        ),
    ],
)
def test_a_bad_threshold_in_the_config_is_exit_2(
    swapped: Path, tmp_path: Path, text: str, needle: str
) -> None:
    """A threshold that would be refused through the API is refused from the file, by both
    commands that read it, before any store is opened or written."""
    db = tmp_path / "s.duckdb"
    _ingest(swapped, db)
    config = tmp_path / "bad.yaml"
    config.write_text(text, "utf-8")
    commands = {
        "findings": ["findings", "--db", str(db), "--config", str(config)],
        "audit": [
            "audit",
            str(swapped),
            "--db",
            str(tmp_path / "a.duckdb"),
            "--config",
            str(config),
        ],
    }
    for name, command in commands.items():
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (name, result.stdout)
        assert result.stderr.startswith(f"error: {config}: "), (name, result.stderr)
        assert needle in result.stderr, (name, result.stderr)
        assert result.stdout == ""
    assert not (tmp_path / "a.duckdb").exists()


def test_a_routing_pair_from_the_api_is_checked_too(tmp_path: Path) -> None:
    """Through the library, before any store is opened (this one does not exist)."""
    from tokaudit import api
    from tokaudit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^findings settings: D09\.routing names 'nope'"):
        api.findings(tmp_path / "none.duckdb", settings={"D09": {"routing": {"gpt-4o": "nope"}}})
    assert not (tmp_path / "none.duckdb").exists()
