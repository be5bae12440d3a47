"""A fresh priced store per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from claude_code_kit import Store, open_priced_store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    kit = open_priced_store(tmp_path / "store.duckdb")
    try:
        yield kit
    finally:
        kit.con.close()
