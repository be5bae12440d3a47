"""Load files into the store: one transaction per file, counts that always add up.

For every file, records read = loaded + duplicates + rejected. A file that cannot be
read at all (missing, truncated archive, undetectable format) is kept as a reject
at line 0 with the reason, and the other files still load.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.errors import UsageError
from tokaudit.ingest.files import expand_paths, fingerprint
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.registry import FORMATS
from tokaudit.ingest.sqltext import install_macros
from tokaudit.ingest.staging import create_staged, read_lines_sql, sql_string

ProgressCallback = Callable[[int, int, Path], None]

REQUEST_COLUMNS = (
    "request_key",
    "request_id",
    "source_file",
    "source_line",
    "source_format",
    "ts",
    "provider",
    "api",
    "model_requested",
    "model_responded",
    "model",
    "team",
    "user_id",
    "feature",
    "prompt_id",
    "prompt_version",
    "environment",
    "metadata",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "has_usage",
    "status",
    "http_status",
    "error_type",
    "error_message",
    "finish_reason",
    "latency_ms",
    "is_batch",
    "service_tier",
    "request_hash",
    "prompt_hash",
    "input_hash",
)


@dataclass
class FileResult:
    path: str
    format: str | None = None
    records_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped: bool = False  # unchanged since it was last ingested
    error: str | None = None


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.error]


def _detect(con: duckdb.DuckDBPyConnection, path: Path) -> LogFormat:
    rows = con.execute(
        f"SELECT line FROM {read_lines_sql(path)} "
        "WHERE line IS NOT NULL AND trim(line, E' \\t\\r\\n') <> '' LIMIT 20"
    ).fetchall()
    lines = [str(line) for (line,) in rows]
    if not lines:
        return _EMPTY
    records: list[Any] = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    head = FileHead(path, lines, records[:5])
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    tried = ", ".join(FORMATS)
    raise _FileError(f"cannot detect the log format (tried: {tried}); pass --format")


class _EmptyFile(LogFormat):
    """A file with no records at all: nothing to load, nothing lost, not an error."""

    name = "empty"
    description = "no records"

    def sniff(self, head: FileHead) -> bool:
        return not head.lines

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        create_staged(con, "SELECT NULL::BIGINT AS line_no WHERE false")


_EMPTY = _EmptyFile()


class _FileError(Exception):
    """A whole file could not be loaded; becomes a line-0 reject."""


def _load_staged(con: duckdb.DuckDBPyConnection, result: FileResult, source: str) -> None:
    src = sql_string(source)
    fmt = sql_string(result.format or "")
    read, rejected = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE reject_reason IS NOT NULL) FROM _staged"
    ).fetchone() or (0, 0)
    con.execute(
        f"""INSERT INTO rejects SELECT {src}, line_no, line, reject_reason, now()
        FROM _staged WHERE reject_reason IS NOT NULL ON CONFLICT DO NOTHING"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _new AS
        SELECT * FROM _staged s
        WHERE reject_reason IS NULL
          AND NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_key = s.request_key)
        QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY line_no) = 1"""
    )
    select = [
        {"source_file": src, "source_line": "line_no", "source_format": fmt}.get(c, c)
        for c in REQUEST_COLUMNS
    ]
    con.execute(
        f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) SELECT {', '.join(select)} FROM _new"
    )
    con.execute(
        """INSERT INTO prompt_texts
        SELECT prompt_hash, 'system', any_value(provider), any_value(body),
               left(regexp_replace(any_value(body), '\\s+', ' ', 'g'), 60),
               length(any_value(body))
        FROM (SELECT prompt_hash, provider, coalesce(system_text, first_text) AS body FROM _new)
        WHERE body IS NOT NULL GROUP BY prompt_hash
        ON CONFLICT DO NOTHING"""
    )
    con.execute(
        """INSERT INTO prompt_texts
        SELECT input_hash, 'input', any_value(provider), any_value(input_body), '',
               length(any_value(input_body))
        FROM _new WHERE input_body IS NOT NULL GROUP BY input_hash
        ON CONFLICT DO NOTHING"""
    )
    loaded = (con.execute("SELECT count(*) FROM _new").fetchone() or (0,))[0]
    result.records_read, result.rejected, result.loaded = int(read), int(rejected), int(loaded)
    result.duplicates = result.records_read - result.rejected - result.loaded


def _record_file_error(con: duckdb.DuckDBPyConnection, source: str, reason: str) -> None:
    con.execute(
        """INSERT INTO rejects VALUES (?, 0, NULL, ?, now())
        ON CONFLICT (source_file, source_line) DO UPDATE SET reason = excluded.reason,
            rejected_at = excluded.rejected_at""",
        [source, reason],
    )


def ingest_file(con: duckdb.DuckDBPyConnection, path: Path, fmt_name: str = "auto") -> FileResult:
    source = str(path.resolve())
    result = FileResult(path=str(path))
    try:
        fp = fingerprint(path)
    except OSError as exc:
        result.error = f"cannot read: {exc.strerror or exc}"
        _record_file_error(con, source, result.error)
        return result
    seen = con.execute(
        "SELECT format FROM ingested_files WHERE path = ? AND fingerprint = ?", [source, fp]
    ).fetchone()
    if seen:
        result.skipped, result.format = True, str(seen[0])
        return result
    con.execute("BEGIN TRANSACTION")
    try:
        fmt = FORMATS[fmt_name] if fmt_name != "auto" else _detect(con, path)
        result.format = fmt.name
        fmt.stage(con, path)
        _load_staged(con, result, source)
        con.execute(
            "INSERT INTO ingested_files VALUES (?, ?, ?, now(), ?, ?, ?, ?)",
            [
                source,
                fp,
                fmt.name,
                result.records_read,
                result.loaded,
                result.duplicates,
                result.rejected,
            ],
        )
        # A file that loads now supersedes the whole-file reject of an earlier failed try.
        con.execute("DELETE FROM rejects WHERE source_file = ? AND source_line = 0", [source])
        con.execute("COMMIT")
    except (duckdb.Error, _FileError) as exc:
        con.execute("ROLLBACK")
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result.error = message
        result.records_read = result.loaded = result.duplicates = result.rejected = 0
        _record_file_error(con, source, message)
    return result


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    fmt_name: str = "auto",
    on_progress: ProgressCallback | None = None,
) -> IngestResult:
    """Ingest files, directories (recursively, log files only) and globs."""
    if fmt_name != "auto" and fmt_name not in FORMATS:
        raise UsageError(f"unknown --format {fmt_name!r}; choose auto or one of {list(FORMATS)}")
    files = expand_paths(paths)
    install_macros(con)
    outcome = IngestResult()
    for i, path in enumerate(files):
        outcome.files.append(ingest_file(con, path, fmt_name))
        if on_progress:
            on_progress(i + 1, len(files), path)
    return outcome
