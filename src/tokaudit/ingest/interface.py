"""What every log format implements.

A format recognises its files from their first lines (``sniff``) and turns one file
into the temp table ``_staged`` entirely in SQL (``stage``; see ``staging.py`` for the
columns and helpers). The loader does everything else the same way for every format:
paths, fingerprints, transactions, dedup, rejects and counts.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb

HEAD_RECORDS = 5  # the leading records a sniffer sees; lines can be large tool results


class FileHead:
    """The first lines of a file, for detection (decompressed; blank lines skipped).

    ``records`` are the first ``HEAD_RECORDS`` lines that parse as JSON. They are parsed
    only as far as a sniffer asks: a directory of Claude Code sessions is thousands of
    files, and ``mostly`` usually decides after three records.
    """

    def __init__(self, path: Path, lines: list[str], records: list[Any] | None = None) -> None:
        self.path = path
        self.lines = lines
        self._records: list[Any] = [] if records is None else list(records)
        self._unread = iter(()) if records is not None else iter(lines)
        #: lines skipped because they nest deeper than Python's JSON parser goes
        self.too_deep = 0

    def _leading_records(self) -> Iterator[Any]:
        """The records in order, parsing the next line only when the caller gets there."""
        index = 0
        while index < HEAD_RECORDS:
            if index == len(self._records) and not self._parse_next():
                return
            yield self._records[index]
            index += 1

    def _parse_next(self) -> bool:
        for line in self._unread:
            try:
                self._records.append(json.loads(line))
                return True
            except json.JSONDecodeError:
                continue
            except RecursionError:
                # nested deeper than Python's parser goes: unparseable for detection, as
                # invalid JSON is; staging (DuckDB) reads or rejects the line itself
                self.too_deep += 1
                continue
        return False

    @property
    def records(self) -> list[Any]:
        """The lines that parse as JSON, up to ``HEAD_RECORDS``."""
        for _ in self._leading_records():
            pass
        return self._records[:HEAD_RECORDS]

    @property
    def objects(self) -> list[dict[str, Any]]:
        return [r for r in self.records if isinstance(r, dict)]

    def mostly(self, looks_right: Callable[[dict[str, Any]], bool]) -> bool:
        """At least half of the leading JSON objects look right, and at least one does.

        A majority, not all: one malformed early record must become a reject, not make
        the whole file undetectable. Three hits (or misses) among at most five objects
        decide it, so the records after them are not parsed.
        """
        decisive = HEAD_RECORDS // 2 + 1
        hits = misses = 0
        for record in self._leading_records():
            if not isinstance(record, dict):
                continue
            if looks_right(record):
                hits += 1
            else:
                misses += 1
            if hits == decisive or misses == decisive:
                break
        return hits > 0 and hits >= misses


class LogFormat(ABC):
    name: str
    description: str
    #: Within one ingest call, files of a lower priority load first (batch inputs: -1, so
    #: the outputs loaded after them find their prompts).
    priority: int = 0

    @abstractmethod
    def sniff(self, head: FileHead) -> bool:
        """True when the start of a file looks like this format."""

    @abstractmethod
    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """Create ``_staged`` for ``path`` in SQL, one row per record or rejected line."""

    #: Formats whose logs are many small files (Claude Code writes one per session) set a
    #: byte budget: the loader then stages consecutive files of this format together with
    #: ``stage_files``, up to that many bytes per batch (what the files hold:
    #: ``files.read_size``), and loads each batch in one transaction. 0, the default: one
    #: file at a time with ``stage``.
    batch_bytes: int = 0

    #: True when ``stage``/``stage_files`` read nothing but the files and leave everything
    #: the load needs in ``_staged`` (no store lookups, no other temp tables, no
    #: ``store_records``): the loader may then stage such batches ahead on another
    #: connection while it loads earlier ones.
    parallel_staging: bool = False

    #: False when a file's records merge with what earlier files left in the store
    #: (Langfuse: a generation's create and update events, in ``langfuse_generations``):
    #: ``ingest --reload`` cannot then read the file again without merging its events
    #: twice, so an unchanged file of this format stays skipped.
    reloadable: bool = True

    #: True when the program that writes this format ends every line with LF and never
    #: writes a bare CR (Claude Code: Node's JSON.stringify and "\n"). The loader then
    #: skips its bare-CR check (``repair.has_bare_cr``), a read of every file: thousands of
    #: small transcripts cost more to open than to load.
    lf_lines_only: bool = False

    #: True when ``stage`` reads a file that holds one JSON document itself, numbering each
    #: record by the line it starts on (Langfuse, OTLP, LiteLLM, usage exports). For the
    #: other formats the loader reads such a file from a JSON Lines copy of its records.
    reads_documents: bool = False

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Create ``_staged`` for several files in one pass; ``file_no`` indexes ``paths``."""
        raise NotImplementedError(f"{self.name} stages one file at a time")

    def preference(self, row: str) -> str | None:
        """Which record wins among those that share a ``request_key``, here and in the store.

        An SQL value computed from the columns of ``row`` (a ``_staged`` or ``requests``
        row alias); the smallest wins. A new record that beats the stored one replaces it
        (it still counts as a duplicate: the request was already loaded). None, the
        default: the first record seen is kept.
        """
        return None

    def absent_columns(self) -> list[tuple[str, str]]:
        """After ``stage`` of one file: the optional fields a user's field map names that
        no record of that file has, as (target, column), read as empty (``mapped``); the
        loader keeps them in ``FileResult.absent_columns``. Formats with fixed fields have
        none; a format that has some does not set ``parallel_staging`` (it is asked on the
        connection that staged the file)."""
        return []

    def store_records(self, con: duckdb.DuckDBPyConnection, source: str) -> int | None:
        """Store the valid ``_staged`` rows somewhere other than ``requests``.

        For formats whose records are not model calls (batch input files). Runs in the
        file's transaction after its rejects are kept; returns how many records were new
        (the rest count as duplicates). None, the default, means: they are requests.
        """
        return None
