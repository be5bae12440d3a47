"""What every log format implements.

A format turns the raw lines staged in the temp table ``_raw(line_no, line)`` into
rows of the temp table ``_staged`` (the ``requests`` columns plus ``reject_reason``
and the prompt texts), entirely in SQL. The loader does everything else: files,
transactions, dedup, rejects and counts, the same way for every format.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import duckdb


class LogFormat(ABC):
    name: str
    description: str

    @abstractmethod
    def sniff(self, records: list[Any]) -> bool:
        """True when the first parsed records of a file look like this format."""

    @abstractmethod
    def stage(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create ``_staged`` from ``_raw`` in SQL (see the loader for the columns)."""
