"""What a waste rule implements. One module per rule; the catalogue is docs/findings.md."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import duckdb

from tokaudit.models import Finding


class WasteRule(ABC):
    rule_id: str  # catalogue id, e.g. "D04"
    name: str  # slug, e.g. "exact-duplicate-request"
    summary: str

    @abstractmethod
    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        """Findings over ``request_costs``, each with dollars that could be saved."""
