"""Shared fixtures. Tests import the package from src/ when it is not installed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
for path in (str(TESTS),):
    if path not in sys.path:
        sys.path.insert(0, path)
try:
    import tokaudit  # noqa: F401
except ImportError:  # running from a checkout without `pip install`
    sys.path.insert(0, str(ROOT / "src"))

MIXED = TESTS / "fixtures" / "envelope" / "mixed.jsonl"


@pytest.fixture(autouse=True)
def _no_ci_noise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the table renderer free of colour codes whatever the developer's terminal."""
    monkeypatch.setenv("NO_COLOR", "1")


@pytest.fixture
def mixed_log() -> Path:
    return MIXED


@pytest.fixture(scope="session")
def _store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mixed fixture log ingested once per test process through the CLI; ``store``
    hands each test a copy (an ingest costs about 0.7 s of CPU, a copy a few ms)."""
    from typer.testing import CliRunner

    from tokaudit.cli import app

    db = tmp_path_factory.mktemp("store_template") / "s.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(MIXED), "--db", str(db)])
    assert result.exit_code == 0, result.stderr
    return db


@pytest.fixture
def store(tmp_path: Path, mixed_log: Path, _store_template: Path) -> Path:
    """A store ingested from the mixed fixture log through the CLI (a copy of one made once
    per process, so a test may write to it: nothing leaks into another test's)."""
    assert mixed_log == MIXED
    from helpers import copy_store

    return copy_store(_store_template, tmp_path)
