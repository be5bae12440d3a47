"""What every log format implements.

A format recognises its files from their first lines (``sniff``) and turns one file
into the temp table ``_staged`` entirely in SQL (``stage``; see ``staging.py`` for the
columns and helpers). The loader does everything else the same way for every format:
paths, fingerprints, transactions, dedup, rejects and counts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


@dataclass(frozen=True)
class FileHead:
    """The first lines of a file, for detection (decompressed; blank lines skipped)."""

    path: Path
    lines: list[str]
    records: list[Any] = field(default_factory=list)  # the lines that parse as JSON


class LogFormat(ABC):
    name: str
    description: str

    @abstractmethod
    def sniff(self, head: FileHead) -> bool:
        """True when the start of a file looks like this format."""

    @abstractmethod
    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """Create ``_staged`` for ``path`` in SQL, one row per record or rejected line."""
