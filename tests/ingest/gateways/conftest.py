"""Fixtures for the gateway and observability format tests (helpers: gateway_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import GatewayKit

from tokaudit.store import open_store


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[GatewayKit]:
    con = open_store(":memory:")
    try:
        yield GatewayKit(con, tmp_path)
    finally:
        con.close()
