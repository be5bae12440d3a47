"""Load files into the store: one transaction per file, counts that always add up.

For every file, records read = loaded + duplicates + rejected. A file that cannot be
read at all (missing, truncated archive, undetectable format) is kept as a reject
at line 0 with the reason, and the other files still load.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Container
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, cast

import duckdb

from tokaudit.config_file import env_count
from tokaudit.errors import UsageError
from tokaudit.ingest import staging
from tokaudit.ingest.attribution import Attribution
from tokaudit.ingest.batch import staged_copies
from tokaudit.ingest.fieldmap import FieldMap
from tokaudit.ingest.files import (
    BOM,
    COMPRESSED_SUFFIXES,
    LOG_SUFFIXES,
    STDIN,
    STDIN_NAME,
    expand_paths,
    fingerprint,
    read_size,
    real_path,
    spool_stdin,
    uncompressed_name,
    zst_problem,
)
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.mapped import MappedFormat
from tokaudit.ingest.registry import FORMATS
from tokaudit.ingest.repair import (
    DAMAGE_REASONS,
    GzipVerdict,
    Repair,
    check_plain_lines,
    gzip_verdict,
    is_line_too_long,
    is_not_utf8,
    marked_records,
    newline_copy,
    repair_copy,
    repair_zst,
    utf8_marked_copy,
)
from tokaudit.ingest.sqltext import install_macros
from tokaudit.ingest.staging import (
    BLANKS,
    IN_SCHEMA_VARIABLE,
    INPUT_TOKEN_CLASSES,
    SPLIT_VARIABLE,
    create_staged,
    insert_prompt_texts,
    path_sql,
    read_lines_sql,
    sql_string,
)
from tokaudit.store.connection import configure_session, memory_cap
from tokaudit.store.parallel import restore_order

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
    "project",
    "metadata",
    *INPUT_TOKEN_CLASSES,
    "output_tokens",
    "reasoning_tokens",
    "web_search_requests",
    "file_search_calls",
    "grounding_queries",
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
    "output_hash",
    "granularity",
    "request_count",
    "tier_input_tokens",
)


@dataclass
class FileResult:
    path: str
    format: str | None = None
    records_read: int = 0
    loaded: int = 0
    duplicates: int = 0
    rejected: int = 0
    # valid lines that are not model calls (Claude Code user lines, summaries): read,
    # neither loaded nor rejected. records_read = loaded + duplicates + rejected + this.
    non_requests: int = 0
    skipped: bool = False  # unchanged since it was last ingested
    error: str | None = None
    # an archive cut short or corrupt: what could be read is loaded, the cut is a reject
    damaged: str | None = None
    # the name rows and rejects are stored under: the absolute path, or for standard
    # input "<stdin:" + the first 12 hex digits of its SHA-256 + ">" (two streams differ)
    source: str | None = None
    # duplicates whose model, counts, batch flag or tier differ from the record kept (the
    # first one loaded): a corrected log re-sent, or a billing record that changed; not loaded
    conflicting: int = 0
    # a skipped file whose stored rows were attributed under other rules than now:
    # "changed" (tokaudit.yaml's attribution or the --map field map differ from the ones
    # it was loaded with), "unrecorded" (loaded before the store kept them, and rules are
    # in use now); None otherwise. ``ingest --reload`` reads it again.
    rules: str | None = None
    # read again by ``--reload``: its rows replaced, not added to
    reloaded: bool = False
    # skipped, and of a format ``--reload`` cannot read again in place (Langfuse)
    not_reloadable: bool = False
    # loaded rows (not duplicates, not rows already stored) where a metadata.<key> source
    # of the config's attribution rules held a list or object it could not use as a team,
    # user, ... (docs/attribution.md): the next source decided
    unusable_attribution: int = 0
    # --map: the optional fields of the map that no record of the file has, as (target,
    # column), read as empty on its rows (a mistyped ``team: tema``), and the columns
    # ``metadata:`` lists that it lacks, as ("metadata", column): nothing kept of them
    absent_columns: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class IngestResult:
    files: list[FileResult] = field(default_factory=list)

    def total(self, attr: str) -> int:
        return sum(int(getattr(f, attr)) for f in self.files)

    @property
    def errors(self) -> list[FileResult]:
        return [f for f in self.files if f.error]

    @property
    def damaged(self) -> list[FileResult]:
        """Archives cut short or corrupt, loaded as far as they could be read."""
        return [f for f in self.files if f.damaged]


def rules_fingerprint(attribution: Attribution | None, field_map: FieldMap | None) -> str:
    """SHA-256 of the rules a file is read with: the attribution rules that change rows
    (none when no column has sources: ``Attribution.apply`` then does nothing) and the
    field map, as parsed. Where the files live, comments and the other sections of
    ``tokaudit.yaml`` (tokenizers, findings) do not count."""
    rules: dict[str, object] = {"attribution": None, "map": None}
    if attribution is not None and attribution.sources:
        rules["attribution"] = {
            "sources": attribution.sources,
            "api_keys": [[k.pattern, k.values] for k in attribution.api_keys],
            "key_fields": list(attribution.key_fields),
            "path_patterns": [
                [p.pattern.pattern, p.pattern.flags, p.values] for p in attribution.path_patterns
            ],
        }
    if field_map is not None:
        # a map without ``metadata:`` (all columns kept) has the fingerprint it had before
        # the key existed: the files loaded with it are not "under other rules"
        rules["map"] = {
            k: v
            for k, v in dataclasses.asdict(field_map).items()
            if k != "origin" and not (k == "metadata" and v is None)
        }
    text = json.dumps(rules, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


NO_RULES = rules_fingerprint(None, None)

HEAD_LINES = 20
HEAD_BYTES = 64 * 1024
# A line longer than this is passed over by detection: reading it whole (and parsing it)
# held several times its size in memory (1.9 GB for a 600 MB line).
SNIFF_LINE_BYTES = 64 * 1024 * 1024


def _open_raw(path: Path) -> BinaryIO:
    """``path``'s bytes, ``.gz`` decompressed (DuckDB alone reads ``.zst``)."""
    if path.name.lower().endswith(".gz"):
        return cast(BinaryIO, gzip.open(path, "rb"))
    return path.open("rb")


def _head_lines(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    """The first non-blank lines of a file, for detection.

    Read in Python (a directory of Claude Code sessions has thousands of files, and a
    DuckDB scan per file costs milliseconds); ``.zst``, or bytes that are not UTF-8,
    go through the same DuckDB reader the formats stage with.
    """
    name = path.name.lower()
    if not name.endswith(".zst"):
        lines: list[str] = []
        try:
            size, number, skipped = 0, 0, 0
            with _open_raw(path) as fh:
                while raw := fh.readline(SNIFF_LINE_BYTES + 1):
                    number += 1
                    if len(raw) > SNIFF_LINE_BYTES and not raw.endswith(b"\n"):
                        # too long to look at (and to hold): passed over, never read whole
                        while raw and not raw.endswith(b"\n"):
                            raw = fh.readline(1 << 20)
                        skipped += 1
                        continue
                    text = raw.decode("utf-8").rstrip("\r\n")
                    if number == 1:
                        text = text.removeprefix(BOM)
                    if text.strip(" \t\r\n"):
                        lines.append(text)
                        size += len(raw)
                        # sniffers parse 5 records; long lines (tool results) stop there
                        if len(lines) == HEAD_LINES or (len(lines) >= 5 and size > HEAD_BYTES):
                            break
            if skipped and not lines:
                raise _FileError(
                    "cannot detect the log format: its first lines are longer than "
                    f"{SNIFF_LINE_BYTES:,} bytes, too long to look at; pass --format"
                )
            return lines
        except (UnicodeDecodeError, EOFError, gzip.BadGzipFile):
            pass
    rows = con.execute(
        f"SELECT line FROM {read_lines_sql(path)} "
        f"WHERE line IS NOT NULL AND trim(line, E' \\t\\r\\n') <> '' LIMIT {HEAD_LINES}"
    ).fetchall()
    lines = [str(line) for (line,) in rows]
    if lines:
        lines[0] = lines[0].removeprefix(BOM)
    return lines


def _detect(con: duckdb.DuckDBPyConnection, path: Path) -> LogFormat:
    lines = _head_lines(con, path)
    if not lines:
        return _EMPTY
    head = FileHead(path, lines)  # records are parsed as far as the sniffers look
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    tried = ", ".join(FORMATS)
    if head.too_deep and not head.records:
        raise _FileError(
            "cannot detect the log format: its JSON is nested too deep to read (over "
            f"{sys.getrecursionlimit()} levels; tried: {tried}); pass --format"
        )
    # tables are read through a field map
    if uncompressed_name(path).lower().endswith((".csv", ".tsv", ".parquet")):
        raise _FileError(
            f"cannot detect the log format (tried: {tried}); a CSV or Parquet file is read "
            "with --map fields.yaml"
        )
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


BLANK_IS_NONE = ("team", "user_id", "feature", "project", "prompt_id", "environment")


def _load_staged(
    con: duckdb.DuckDBPyConnection,
    files: list[tuple[FileResult, str]],
    log_format: LogFormat,
    attribution: Attribution | None = None,
    staged: str = "_staged",
) -> None:
    """Load ``staged`` (one file, or a batch told apart by ``file_no``) and count per file.

    ``staged`` is the temp table ``_staged``, or a table a worker staged into (``_Stager``).
    """
    if staged != "_staged" and attribution is not None:
        # attribution rewrites the temp table by its name
        con.execute(f"CREATE OR REPLACE TEMP TABLE _staged AS SELECT * FROM {staged}")
        staged = "_staged"
    fmt = sql_string(log_format.name)
    sources = [source for _, source in files]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _sources AS SELECT unnest(?::INTEGER[]) AS file_no, "
        "unnest(?::VARCHAR[]) AS source_file",
        [list(range(len(sources))), sources],
    )
    # tokaudit.yaml: team, user, project ... from the config
    flagged = attribution is not None and attribution.apply(con)
    for result, _ in files:  # set, not added: a batch may be retried
        result.unusable_attribution = 0
    counts = {
        int(n): (int(read), int(rejected), int(non_requests))
        for n, read, rejected, non_requests in con.execute(
            f"""SELECT file_no, count(*), count(*) FILTER (WHERE reject_reason IS NOT NULL),
                count(*) FILTER (WHERE reject_reason IS NULL AND non_request)
            FROM {staged} GROUP BY file_no"""
        ).fetchall()
    }
    con.execute(
        f"""INSERT INTO rejects SELECT o.source_file, s.line_no, s.line, s.reject_reason, now()
        FROM {staged} s JOIN _sources o USING (file_no)
        WHERE s.reject_reason IS NOT NULL ON CONFLICT DO NOTHING"""
    )
    stored = log_format.store_records(con, sources[0]) if len(files) == 1 else None
    if stored is not None:  # records that are not requests (batch inputs)
        read, rejected, non_requests = counts.get(0, (0, 0, 0))
        _set_counts(files[0][0], read, rejected, non_requests, stored)
        return
    pref = log_format.preference("s")
    order = f"{pref}, file_no, line_no" if pref else "file_no, line_no"
    con.execute(
        # The winner of each key, picked on row ids only: the wide rows are copied once.
        # The winner gives the figures; the first file that has the key counts it as
        # loaded (later ones as duplicates), as if the files had loaded one at a time.
        f"""CREATE OR REPLACE TEMP TABLE _pick AS
        SELECT s.rowid AS rid, min(file_no) OVER (PARTITION BY request_key) AS first_file
        FROM {staged} s WHERE reject_reason IS NULL AND NOT non_request
        QUALIFY row_number() OVER (PARTITION BY request_key ORDER BY {order}) = 1"""
    )
    con.execute(
        # the new winners, as row ids too: their wide rows are read once, by the inserts
        f"""CREATE OR REPLACE TEMP TABLE _new AS
        SELECT p.rid, p.first_file FROM {staged} s JOIN _pick p ON s.rowid = p.rid
        WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.request_key = s.request_key)"""
    )
    new_rows = f"(SELECT s.* FROM {staged} s JOIN _new n ON s.rowid = n.rid)"
    select = [
        {"source_file": "o.source_file", "source_line": "s.line_no", "source_format": fmt}.get(
            c,
            # an attribution logged blank is none: reports could not tell "" from NULL
            f"CASE WHEN trim(s.{c}, {BLANKS}) <> '' THEN s.{c} END"
            if c in BLANK_IS_NONE
            else f"s.{c}",
        )
        for c in REQUEST_COLUMNS
    ]
    if pref:  # a record that beats the stored one replaces its figures
        theirs = log_format.preference("r")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _better AS
            SELECT s.* FROM {staged} s JOIN requests r USING (request_key)
            WHERE s.rowid IN (SELECT rid FROM _pick) AND {pref} < {theirs}"""
        )
        assignments = ", ".join(f"{c} = b.{c}" for c in REQUEST_COLUMNS if c != "request_key")
        named = ", ".join(f"{e} AS {c}" for e, c in zip(select, REQUEST_COLUMNS, strict=True))
        con.execute(
            f"""UPDATE requests SET {assignments}
            FROM (SELECT {named} FROM _better s JOIN _sources o USING (file_no)) b
            WHERE requests.request_key = b.request_key"""
        )
        insert_prompt_texts(con, "_better")
    con.execute(
        f"INSERT INTO requests ({', '.join(REQUEST_COLUMNS)}) "
        f"SELECT {', '.join(select)} FROM {new_rows} s JOIN _sources o USING (file_no)"
    )
    insert_prompt_texts(con, new_rows)
    loaded = dict(
        con.execute("SELECT first_file, count(*) FROM _new GROUP BY first_file").fetchall()
    )
    if flagged:  # the loaded rows a rule's metadata source could not use, by the file
        # that counts them as loaded
        for n, found in con.execute(
            f"""SELECT n.first_file, count(*) FROM _new n JOIN {staged} s ON s.rowid = n.rid
            WHERE s.ta_unusable GROUP BY n.first_file"""
        ).fetchall():
            files[int(n)][0].unusable_attribution = int(found)
    valid = sum(read - rejected - non for read, rejected, non in counts.values())
    # only where some record was not loaded, and the first record seen is the one kept
    conflicting = _conflicting(con, staged) if pref is None and valid > sum(loaded.values()) else {}
    # the copies are stored now: free them before the next file is staged (memory)
    con.execute("DROP TABLE _new; DROP TABLE _pick; DROP TABLE IF EXISTS _better")
    for n, (result, _) in enumerate(files):
        read, rejected, non_requests = counts.get(n, (0, 0, 0))
        _set_counts(result, read, rejected, non_requests, int(loaded.get(n, 0)))
        result.conflicting = int(conflicting.get(n, 0))


# What a duplicate is compared on: what its price depends on, the model, every token class
# (the request columns from input_tokens to reasoning_tokens), batch and service tier.
_FIGURES = (
    "model",
    *REQUEST_COLUMNS[
        REQUEST_COLUMNS.index("input_tokens") : REQUEST_COLUMNS.index("reasoning_tokens") + 1
    ],
    "is_batch",
    "service_tier",
)


def _conflicting(con: duckdb.DuckDBPyConnection, staged: str) -> dict[int, int]:
    """Per file, the duplicates whose figures differ from the stored record of their key
    (called after the batch's new records are stored, so that is the record kept)."""
    mine = ", ".join(f"s.{c}" for c in _FIGURES)
    kept = ", ".join(f"r.{c}" for c in _FIGURES)
    return dict(
        con.execute(
            f"""SELECT s.file_no, count(*) FROM {staged} s JOIN requests r USING (request_key)
            WHERE s.reject_reason IS NULL AND NOT s.non_request
              AND s.rowid NOT IN (SELECT rid FROM _new)
              AND ({mine}) IS DISTINCT FROM ({kept})
            GROUP BY s.file_no"""
        ).fetchall()
    )


def _set_counts(
    result: FileResult, read: int, rejected: int, non_requests: int, loaded: int
) -> None:
    result.records_read, result.rejected, result.non_requests = read, rejected, non_requests
    result.loaded = loaded
    result.duplicates = read - rejected - non_requests - loaded


def _utf8(text: str) -> bool:
    """Whether a path (decoded by Python with surrogate escapes) is valid UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str) -> str:
    """A path that is not valid UTF-8, its bad bytes written as ``\\xff``."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _record_file_error(con: duckdb.DuckDBPyConnection, source: str, reason: str) -> None:
    con.execute(
        """INSERT INTO rejects VALUES (?, 0, NULL, ?, now())
        ON CONFLICT (source_file, source_line) DO UPDATE SET reason = excluded.reason,
            rejected_at = excluded.rejected_at""",
        [source, reason],
    )


@dataclass
class _Pending:
    """A file to load: its result so far, absolute path, fingerprint and format."""

    path: Path
    result: FileResult
    source: str
    fingerprint: str
    log_format: LogFormat | None  # None: detect inside the file's transaction
    problem: str | None = None  # why detection failed, when the file's own read cannot say
    repair: Repair | None = None  # ``path`` is the readable copy of a damaged file
    rules: str | None = None  # rules_fingerprint of this read
    # --reload of a path the store holds rows of: "version" when this very version was
    # loaded and no other (all its rows are replaced), "path" when an earlier one was too
    # (the rows of the keys it still holds are); None: a file new to the store, or no --reload
    reload: str | None = None


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    batch: list[_Pending],
    fmt_name: str,
    attribution: Attribution | None = None,
    staged: str | None = None,
) -> None:
    """Load files in one transaction; a batch of several that fails is retried in halves.

    ``staged``: the batch was already staged into that table by a worker (``_Stager``);
    if loading it fails, the batch is staged again here, the reference way. A file
    DuckDB cannot read (bytes that are not UTF-8) is loaded again from a readable copy
    (``repair.py``), the damaged lines kept as rejects; so is an archive cut short (the
    copy is made by ``_plan``).
    """
    repair = batch[0].repair if len(batch) == 1 else None
    con.execute("BEGIN TRANSACTION")
    try:
        for p in batch:
            if p.log_format is None and p.problem is not None:
                raise _FileError(p.problem)
        fmts = [
            p.log_format or (FORMATS[fmt_name] if fmt_name != "auto" else _detect(con, p.path))
            for p in batch
        ]
        fmt = fmts[0]
        for p, f in zip(batch, fmts, strict=True):
            p.result.format = f.name
        if staged is None:
            _stage(con, fmt, batch)
            if len(batch) == 1:  # set, not added: a file may be staged again (repair)
                batch[0].result.absent_columns = fmt.absent_columns()
        if repair is not None:
            repair.mark_rejects(con)
        # This read is the file's truth: a changed file (a growing log whose cut-short last
        # line is now whole) keeps only the rejects it still has.
        con.execute(
            "DELETE FROM rejects WHERE source_file IN (SELECT unnest(?))",
            [[p.source for p in batch]],
        )
        files = [(p.result, p.source) for p in batch]
        reloading = any(p.reload for p in batch) and fmt.reloadable
        for p in batch:
            p.result.reloaded = p.reload is not None and fmt.reloadable
        if reloading:
            _clear_for_reload(con, batch, staged or "_staged")
        _load_staged(con, files, fmt, attribution, staged or "_staged")
        if reloading:
            _restore_recounts(con)
        # one statement for the whole batch (a statement per file costs milliseconds each)
        columns = ["records_read", "loaded", "duplicates", "rejected", "non_requests"]
        con.execute(
            f"""INSERT INTO ingested_files (path, fingerprint, format, ingested_at,
                rules_fingerprint, {", ".join(columns)})
            SELECT unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), now(),
                unnest(?::VARCHAR[]), {", ".join("unnest(?::BIGINT[])" for _ in columns)}""",
            [
                [p.source for p in batch],
                [p.fingerprint for p in batch],
                [p.result.format for p in batch],
                [p.rules for p in batch],
                *([getattr(p.result, c) for p in batch] for c in columns),
            ],
        )
        con.execute("COMMIT")
        if repair is not None and repair.damage is not None:
            batch[0].result.damaged = repair.damage
    except (duckdb.Error, _FileError) as exc:
        con.execute("ROLLBACK")
        restore_order(con)  # a split staging statement that failed could not (parallel.py)
        if staged is not None:
            _load_batch(con, batch, fmt_name, attribution)
            return
        if len(batch) > 1:  # halve until the file at fault fails on its own
            half = len(batch) // 2
            _load_batch(con, batch[:half], fmt_name, attribution)
            _load_batch(con, batch[half:], fmt_name, attribution)
            return
        p = batch[0]
        # DuckDB's gzip reader refuses zero padding after the last member ("Input is not a
        # GZIP stream"), which gzip itself accepts: such a file is read from a plain copy
        packed = p.path.name.lower().endswith(".gz") and "GZIP" in str(exc)
        # a line too long to read: the copy leaves it out, a reject (also when the file
        # is already a plain copy with LF line ends, which marks no line)
        plain_copy = repair is not None and not repair.reasons and repair.damage is None
        too_long = is_line_too_long(exc) and (repair is None or plain_copy)
        if (repair is None and (is_not_utf8(exc) or packed)) or too_long:
            with tempfile.TemporaryDirectory(prefix="tokaudit-repair-") as tmp:
                copy = repair_copy(p.path, Path(tmp), always=packed)
                if copy is not None:
                    # the copy is staged under the file's own name, format detected anew
                    again = replace(p, path=copy.path, problem=None, repair=copy)
                    _load_batch(con, [again], fmt_name, attribution)
                    return
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if is_line_too_long(exc):
            # DuckDB's words ("CSV Error on Line: 1", "Parallel CSV Reader ...") say nothing
            # of the cause; plain and .gz files get here only if no copy could be made
            limit = f"{staging.MAX_LINE_BYTES // (1 << 20)} MiB"
            message = f"a line of {limit} or more, which DuckDB's line reader cannot read" + (
                "; a .zst is read by DuckDB alone, so the whole file fails: decompress "
                "it (zstd -d) and ingest that to load its other lines"
                if p.path.name.lower().endswith(".zst")
                else ""
            )
        if repair is not None:  # the copy is a temporary file: name the file itself
            message = message.replace(str(p.path), p.result.path)
            if repair.damage is not None:  # not even the copy loads
                message = f"{repair.damage}; what could be read fails too: {message}"
        cap = memory_cap()
        if isinstance(exc, duckdb.OutOfMemoryException) and cap:
            message += f" ({cap}: raise it for this file)"
        p.result.error = message
        _set_counts(p.result, 0, 0, 0, 0)
        p.result.absent_columns = []  # the file failed: nothing was read as empty
        _record_file_error(con, p.source, message)


# What a request row gained after it was loaded: its offline recount (docs/recount.md).
_RECOUNT_INPUT = ("recounted_input_tokens", "recount_tokenizer", "recount_exact")
_RECOUNT_OUTPUT = ("recounted_output_tokens", "recount_output_exact")


def _clear_for_reload(con: duckdb.DuckDBPyConnection, batch: list[_Pending], staged: str) -> None:
    """Make room for the batch's ``--reload`` files, inside the batch's transaction.

    Removed, for a file whose very version was loaded, and no other (``reload ==
    "version"``): every request row stored from it. The file still holds each of those
    requests, so each loads again from ``staged`` under the current rules, under a new key
    if the field map now makes another one; a request another file also holds stays that
    file's row, and this file counts it as a duplicate again, as on its first load. For a
    file of which an earlier version was loaded (``"path"``, a log that grew, or a file
    overwritten), only the rows of the keys this read stages: a row of the earlier version
    that the file no longer holds stays.
    Also removed: its batch inputs and its ``ingested_files`` row for this fingerprint.
    The removed rows' recounts are kept in ``_replaced`` for ``_restore_recounts``. Its
    rejects are replaced by the caller, as for any file read.
    """
    mine = [(n, p) for n, p in enumerate(batch) if p.reload is not None]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _reload_files AS SELECT unnest(?::INTEGER[]) AS file_no, "
        "unnest(?::VARCHAR[]) AS source_file, unnest(?::VARCHAR[]) AS fingerprint, "
        "unnest(?::BOOLEAN[]) AS whole",
        [
            [n for n, _ in mine],
            [p.source for _, p in mine],
            [p.fingerprint for _, p in mine],
            [p.reload == "version" for _, p in mine],
        ],
    )
    kept = ", ".join(f"r.{c}" for c in ("model", "input_hash", "output_hash", *_RECOUNT_INPUT))
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _replaced AS
        SELECT r.request_key, {kept}, {", ".join(f"r.{c}" for c in _RECOUNT_OUTPUT)}
        FROM requests r JOIN _reload_files f ON r.source_file = f.source_file
        WHERE f.whole OR r.request_key IN (
            SELECT s.request_key FROM {staged} s
            WHERE s.file_no = f.file_no AND s.reject_reason IS NULL AND NOT s.non_request
        )"""
    )
    con.execute("DELETE FROM requests WHERE request_key IN (SELECT request_key FROM _replaced)")
    con.execute(
        "DELETE FROM batch_inputs WHERE source_file IN (SELECT source_file FROM _reload_files)"
    )
    con.execute(
        """DELETE FROM ingested_files USING _reload_files f
        WHERE ingested_files.path = f.source_file AND ingested_files.fingerprint = f.fingerprint"""
    )


def _restore_recounts(con: duckdb.DuckDBPyConnection) -> None:
    """Give the rows a ``--reload`` stored again the recounts of the rows they replace,
    where the texts counted (and the model, which frames them) are the same: nothing is
    counted twice, and a store ingested with ``--no-recount`` keeps what it had."""
    same_input = (
        "requests.model IS NOT DISTINCT FROM k.model "
        "AND requests.input_hash IS NOT DISTINCT FROM k.input_hash"
    )
    same_output = (
        "requests.model IS NOT DISTINCT FROM k.model "
        "AND requests.output_hash IS NOT DISTINCT FROM k.output_hash"
    )
    sets = [f"{c} = CASE WHEN {same_input} THEN k.{c} END" for c in _RECOUNT_INPUT] + [
        f"{c} = CASE WHEN {same_output} THEN k.{c} END" for c in _RECOUNT_OUTPUT
    ]
    con.execute(
        f"""UPDATE requests SET {", ".join(sets)} FROM _replaced k
        WHERE requests.request_key = k.request_key"""
    )
    con.execute("DROP TABLE _replaced; DROP TABLE _reload_files")


def _stage(con: duckdb.DuckDBPyConnection, fmt: LogFormat, batch: list[_Pending]) -> None:
    """Build ``_staged`` for a batch: one file with ``stage``, several with ``stage_files``.

    A file staged from a temporary copy is named to the formats that read its place (batch
    outputs: the input in its directory, its time, its key), as rows name it."""
    copies = {
        p.path: Path(p.source)
        for p in batch
        if Path(p.source).is_absolute() and p.path != Path(p.source)  # not standard input
    }
    with staged_copies(copies):
        if len(batch) == 1:
            fmt.stage(con, batch[0].path)
        else:
            fmt.stage_files(con, [p.path for p in batch])


STAGE_DB = "tokaudit_stage"


class _Stager:
    """Stages upcoming batches on worker connections while the main one loads in order.

    DuckDB runs a batch's staging statements on about one thread (a batch's tables are a
    row group or two), so on a machine with idle cores the next batches are staged on other
    connections meanwhile. Each worker stages into its own schema of the in-memory database
    ``tokaudit_stage`` (its ``_staged`` is renamed for the batch, not copied); the main
    connection loads it in the batch's own transaction, in the original order, so
    de-duplication and counts are as if every batch were staged by the loader itself.
    Only formats whose staging reads nothing but their files (``parallel_staging``) are
    staged ahead.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, workers: int) -> None:
        self.con = con
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tokaudit-stage")
        self.local = threading.local()
        self.cursors: list[duckdb.DuckDBPyConnection] = []
        self.lock = threading.Lock()
        attached = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [STAGE_DB]
        ).fetchone()
        if not attached or not attached[0]:
            con.execute(f"ATTACH ':memory:' AS {STAGE_DB}")

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self.local, "cursor", None)
        if cursor is None:
            cursor = self.con.cursor()
            configure_session(cursor)  # UTC: a cursor does not inherit the session's SET
            with self.lock:
                schema = f"{STAGE_DB}.worker_{len(self.cursors)}"
                self.cursors.append(cursor)
            # _staged is made in the worker's own schema of the stage database, and no
            # statement splits: other batches stage and load meanwhile (staging.py)
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            cursor.execute(f"USE {schema}")
            cursor.execute(f"SET VARIABLE {SPLIT_VARIABLE} = false")
            cursor.execute(f"SET VARIABLE {IN_SCHEMA_VARIABLE} = true")
            install_macros(cursor)
            self.local.cursor, self.local.schema = cursor, schema
        return cursor

    def _run(self, number: int, batch: list[_Pending]) -> str:
        cursor = self._cursor()
        fmt = batch[0].log_format
        assert fmt is not None  # only detected batches are submitted
        _stage(cursor, fmt, batch)
        cursor.execute(f"ALTER TABLE _staged RENAME TO batch_{number}")
        return f"{self.local.schema}.batch_{number}"

    def submit(self, number: int, batch: list[_Pending]) -> Future[str] | None:
        fmt = batch[0].log_format
        if fmt is None or not fmt.parallel_staging or batch[0].repair is not None:
            return None  # a repaired copy's rejects are marked on the loading connection
        return self.pool.submit(self._run, number, batch)

    def close(self, abandon: bool = False) -> None:
        """Wait for the workers; with ``abandon``, interrupt their running statements first."""
        if abandon:
            with self.lock:
                for cursor in self.cursors:
                    with suppress(duckdb.Error):
                        cursor.interrupt()
        self.pool.shutdown(wait=True, cancel_futures=True)
        for cursor in self.cursors:
            cursor.close()
        # interrupted mid-transaction, DETACH fails: the connection is closing anyway
        with suppress(duckdb.Error):
            self.con.execute(f"DETACH {STAGE_DB}")


def _staging_workers() -> int:
    """Worker connections that stage ahead: none on one core, else up to three.

    ``TOKAUDIT_STAGE_WORKERS`` overrides (0: the loader stages every batch itself). At
    most one batch more than there are workers is staged and waiting at any time, so
    memory stays bounded.
    """
    configured = configured_staging_workers()
    if configured is not None:
        return configured
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(cores, 3)


STAGE_WORKERS_ENV = "TOKAUDIT_STAGE_WORKERS"
MOST_STAGE_WORKERS = 8  # each holds a staged batch (up to 128 MB) in memory


def configured_staging_workers() -> int | None:
    """``TOKAUDIT_STAGE_WORKERS`` as a whole number from 0 to 8, None when unset or empty;
    anything else is a configuration error (``abc`` and ``-1`` were ignored without a word,
    and ``50`` started fifty workers, each holding a batch in memory)."""
    return env_count(STAGE_WORKERS_ENV, "staging workers", 0, MOST_STAGE_WORKERS, "use the cores")


def _load_all(
    con: duckdb.DuckDBPyConnection,
    batches: list[list[_Pending]],
    fmt_name: str,
    attribution: Attribution | None,
    on_batch: Callable[[list[_Pending]], None],
) -> None:
    """Load every batch in order, staging up to ``workers`` batches ahead on other threads.

    A lone batch is staged here: its statements then run over every thread instead
    (``staging.create_staged``), with no copy between connections.
    """
    workers = _staging_workers()
    if (
        workers == 0
        or len(batches) == 1
        or not any(
            b[0].log_format is not None and b[0].log_format.parallel_staging for b in batches
        )
    ):
        for batch in batches:
            _load_batch(con, batch, fmt_name, attribution)
            on_batch(batch)
        return
    stager = _Stager(con, workers)
    try:
        ahead: dict[int, Future[str] | None] = {}
        for number, batch in enumerate(batches):
            for upcoming in range(number, min(number + workers + 1, len(batches))):
                if upcoming not in ahead:
                    ahead[upcoming] = stager.submit(upcoming, batches[upcoming])
            future = ahead.pop(number)
            table = None
            if future is not None:
                try:
                    table = future.result()
                except Exception:  # staged again below, where a real fault surfaces
                    table = None
            _load_batch(con, batch, fmt_name, attribution, table)
            if table is not None:
                con.execute(f"DROP TABLE IF EXISTS {table}")
            on_batch(batch)
    except BaseException:
        # Ctrl-C, an error: batches staged ahead are not wanted; stop them rather than wait
        # (an interrupted multi-file ingest took up to 12 s to exit)
        stager.close(abandon=True)
        raise
    else:
        stager.close()


def _fingerprints(
    files: list[Path], by_content: bool = True, known: Container[tuple[str, str]] = ()
) -> list[tuple[str | OSError, GzipVerdict | None]]:
    """SHA-256 of each file, and whether each ``.gz`` to load (its (path, fingerprint) not
    ``known``) is whole (``repair.gzip_verdict``), on a few threads (hashlib and zlib
    release the GIL).

    Without ``by_content`` (a throwaway store that no later run will compare against),
    size and modification time stand in: hashing 300 MB of logs costs 0.3 CPU seconds.
    """

    def one(path: Path) -> tuple[str | OSError, GzipVerdict | None]:
        try:
            if not by_content:
                stat = path.stat()
                fp = f"stat:{stat.st_size}:{stat.st_mtime_ns}"
            else:
                fp = fingerprint(path)
            if not path.name.lower().endswith(".gz") or (str(real_path(path)), fp) in known:
                return fp, None
            return fp, gzip_verdict(path)
        except OSError as exc:
            return exc, None

    if len(files) < 2:
        return [one(p) for p in files]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(one, files))


def _plan(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    fmt_name: str,
    outcome: IngestResult,
    forced: LogFormat | None = None,
    names: dict[Path, str] | None = None,
    by_content: bool = True,
    documents: Path | None = None,
    rules: str = NO_RULES,
    reload: bool = False,
) -> list[_Pending]:
    """Fingerprint and detect each file once; record unreadable and unchanged files.

    Lower-priority formats (batch inputs) load first; the order is otherwise kept. A file
    that cannot be detected here fails in its own transaction with its reason. With a
    ``documents`` folder, a file holding one pretty-printed JSON document is detected (and
    later staged) as the JSON Lines copy ``_detect_document`` writes there. ``rules``: the
    ``rules_fingerprint`` of this run; an unchanged file loaded under other rules is
    marked (``FileResult.rules``), or with ``reload`` planned again to replace its rows.
    """
    known = {
        (str(path), str(fp)): (str(fmt), None if seen is None else str(seen))
        for path, fp, fmt, seen in con.execute(
            "SELECT path, fingerprint, format, rules_fingerprint FROM ingested_files"
        ).fetchall()
    }
    versions = Counter(path for path, _ in known)  # versions of each path loaded
    # an unchanged damaged archive is skipped, but stays damaged (its exit code too)
    damage = {
        str(source): str(reason).split("; ", 1)[0]
        for source, reason in con.execute(
            f"SELECT source_file, reason FROM rejects WHERE {DAMAGE_REASONS}"
        ).fetchall()
    }
    planned: list[tuple[int, FileResult, _Pending | None]] = []
    # standard input is always hashed: its name in the store is made from the digest
    hashed = by_content or bool(names)
    # under --reload a known .gz is read again: it is checked whole like a new one
    checked = _fingerprints(files, hashed, () if reload else known)
    for path, (fp, gz) in zip(files, checked, strict=True):
        shown = (names or {}).get(path)  # standard input is "<stdin>", not its spool file
        source = str(real_path(path))
        if shown is not None:
            digest = fp if isinstance(fp, str) else "unreadable"
            source = f"{shown[:-1]}:{digest[:12]}>"
        result = FileResult(path=shown or str(path), source=source)
        if not _utf8(source):
            # DuckDB takes file names as UTF-8 text only: it could neither open this file
            # nor store its name (a traceback that lost the other files too: QA)
            result.path = result.source = source = _printable(source)
            result.error = "the file name is not valid UTF-8, which DuckDB cannot open: rename it"
            _record_file_error(con, source, result.error)
            planned.append((0, result, None))
            continue
        if isinstance(fp, OSError):
            result.error = f"cannot read: {fp.strerror or fp}"
            if os.path.islink(path):  # a link to a deleted file, or a loop of links
                result.error += f" (a symbolic link to {os.readlink(path)})"
            _record_file_error(con, source, result.error)
            planned.append((0, result, None))
            continue
        if (source, fp) in known:
            seen_format, seen_rules = known[(source, fp)]
            seen = FORMATS.get(seen_format)
            if not reload or (seen is not None and not seen.reloadable):
                result.skipped, result.format = True, seen_format
                result.damaged = damage.get(source)
                result.not_reloadable = seen is not None and not seen.reloadable
                if seen_rules is None:  # loaded before the store recorded its rules
                    result.rules = "unrecorded" if rules != NO_RULES else None
                elif seen_rules != rules:
                    result.rules = "changed"
                planned.append((seen.priority if seen else 0, result, None))
                continue
        # DuckDB reads a cut .zst, and a .gz with a bad checksum, without an error
        zst = zst_problem(path)
        problem = zst or (gz.problem if gz else None)
        repairable = gz.repairable if gz else bool(zst and zst.startswith("truncated"))
        repair = None
        if problem is not None and repairable and documents is not None:
            # the lines before the damage load from a copy; the damage is a reject
            copies = Path(tempfile.mkdtemp(dir=documents))
            if gz is not None:
                repair = repair_copy(path, copies)
            else:
                repair = repair_zst(con, path, copies, str(problem))
        if problem is not None and repair is None:
            result.error = problem
            _record_file_error(con, source, problem)
            planned.append((0, result, None))
            continue
        if repair is not None:
            path = repair.path
        detected: LogFormat | None = forced  # --map: the mapped format, never detected
        if detected is None and fmt_name != "auto":
            detected = FORMATS[fmt_name]
        if documents is not None:  # a byte order mark first: every format reads the copy
            path = _without_bom(con, path, documents) or path
        problem, document = None, None
        if forced is None and fmt_name != "auto" and documents is not None:
            # a pretty-printed document is read as its records under --format too
            document = _document_lines(con, path, documents)
        if detected is None and fmt_name == "auto":
            try:
                detected = _detect(con, path)
            except (duckdb.Error, _FileError, OSError):
                detected = None  # fails in its own transaction, with the reason
            if documents is not None and (
                detected is None or (not detected.reads_documents and _opens_a_document(path))
            ):
                # a document laid out one record per line ({"requests": [ then a request a
                # line) has lines that parse on their own: read as JSON Lines, the others
                # were rejects
                copy, found, why = _detect_document(con, path, documents)
                if detected is None:
                    document, detected, problem = copy, found, why
                elif copy is not None and found not in (None, _EMPTY):
                    document, detected = copy, found
        staged_from = document.path if document is not None else path
        if document is not None and document.reasons and repair is None:
            repair = document  # records with bytes that are not UTF-8: rejects
        if (
            staged_from == path  # a document's records are read by DuckDB's JSON reader
            and repair is None
            and documents is not None
            and _needs_line_copy(path, gz, detected is not None and detected.lf_lines_only)
        ):
            # DuckDB's line reader would drop the byte after each bare CR: read a copy whose
            # line ends are all LF (a bare CR ends a line, as Python's universal newlines);
            # a .zst is not checked (Python has no Zstandard decoder before 3.14). Bytes that
            # are not UTF-8 beside a bare CR failed the whole copy: they are marked, each
            # such line a reject, as in any damaged file. A line too long for the reader
            # (it failed the file, or was skipped unseen) is left out of the copy, a reject.
            repair = repair_copy(path, Path(tempfile.mkdtemp(dir=documents)), always=True)
            if repair is None:  # the file cannot be read: its own error, in its transaction
                repair = newline_copy(path, Path(tempfile.mkdtemp(dir=documents)))
            staged_from = repair.path
        planned.append(
            (
                detected.priority if detected else 0,
                result,
                _Pending(
                    staged_from,
                    result,
                    source,
                    fp,
                    detected,
                    problem,
                    repair,
                    rules,
                    _reload_kind(reload, (source, fp) in known, versions[source]),
                ),
            )
        )
    planned.sort(key=lambda item: item[0])
    outcome.files.extend(result for _, result, _ in planned)
    return [p for _, _, p in planned if p is not None]


# An object whose one key is ``requests``, a list of objects with a ``custom_id``: its
# requests; any other record: itself.
_BATCH_CREATE_REQUESTS = """CASE
    WHEN json_keys(json) = ['requests'] AND json_type(json, '$.requests') = 'ARRAY'
         AND json_array_length(json, '$.requests') > 0
         AND len(list_filter(CAST(json -> '$.requests' AS JSON[]),
                             lambda r: json_type(r, '$.custom_id') IS NULL)) = 0
    THEN CAST(json -> '$.requests' AS JSON[])
    ELSE [json] END"""


def _as_json_lines(
    con: duckdb.DuckDBPyConnection, path: Path, directory: Path, marked: bool = False
) -> Repair | None:
    """A file holding one JSON document (an object, or an array of records) as JSON Lines.

    Saved API responses are often pretty-printed (``json.dump(..., indent=2)``), so no line
    of them is a record. DuckDB streams the document's top-level records into one compact
    line each (an array's elements, or the object itself). An Anthropic Message Batches
    create body, ``{"requests": [{custom_id, params}, ...]}``, becomes its requests, one
    per line, as the ``batch-input`` format reads them. None when the file is not one
    JSON document. A document with bytes that are not UTF-8 (which DuckDB refuses whole)
    is read from a copy with them marked: the records holding one are the copy's
    ``reasons`` (rejects), the others load.
    """
    try:
        head = _head_lines(con, path)[:1]  # decompressed, like the lines a format stages
    except duckdb.Error as exc:
        return _marked_document(con, path, directory) if is_not_utf8(exc) else None
    except (OSError, EOFError, gzip.BadGzipFile, _FileError):
        return None
    if not head or not head[0].lstrip().startswith(("{", "[")):
        return None
    if marked and _is_json(head[0]):
        return None  # JSON Lines: a bad byte is a reject of its own line (_load_batch)
    handle, name = tempfile.mkstemp(suffix=".jsonl", dir=directory)
    os.close(handle)
    target = Path(name)
    try:
        con.execute(
            f"COPY (SELECT json(unnest({_BATCH_CREATE_REQUESTS})) "
            f"FROM read_json_objects({path_sql(path)}, format = 'auto')) "
            f"TO {sql_string(str(target))} "
            "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER E'\\x1f')"
        )
    except duckdb.Error as exc:
        if is_not_utf8(exc) and not marked:
            return _marked_document(con, path, directory)
        return None
    return Repair(target, marked_records(target) if marked else {})


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _marked_document(con: duckdb.DuckDBPyConnection, path: Path, directory: Path) -> Repair | None:
    """``_as_json_lines`` of a document with bytes that are not UTF-8, read from
    ``repair.utf8_marked_copy``; None if it is no document (or a ``.zst``)."""
    copy = utf8_marked_copy(path, Path(tempfile.mkdtemp(dir=directory)))
    return _as_json_lines(con, copy, directory, marked=True) if copy is not None else None


def _without_bom(con: duckdb.DuckDBPyConnection, path: Path, directory: Path) -> Path | None:
    """A copy of a file that starts with a UTF-8 byte order mark, without it (decompressed,
    under the file's own name); None when there is none.

    DuckDB's readers take the mark for part of line 1 (an invalid JSON line), so every
    format stages the copy: line 1 loads and every line keeps its number.
    """
    name = uncompressed_name(path)
    try:
        if path.name.lower().endswith(".zst"):  # DuckDB alone reads .zst
            first = con.execute(f"SELECT line FROM {read_lines_sql(path)} LIMIT 1").fetchone()
            if not first or not str(first[0] or "").startswith(BOM):
                return None
            target = Path(tempfile.mkdtemp(dir=directory)) / name
            con.execute(
                "COPY (SELECT CASE WHEN row_number() OVER () = 1 THEN line[2:] ELSE line END "
                f"FROM {read_lines_sql(path)}) TO {sql_string(str(target))} "
                "(FORMAT csv, HEADER false, QUOTE '', ESCAPE '', DELIMITER E'\\x1f')"
            )
            return target
        with _open_raw(path) as fh:
            if fh.read(3) != BOM.encode("utf-8"):
                return None
            target = Path(tempfile.mkdtemp(dir=directory)) / name
            with target.open("wb") as out:
                shutil.copyfileobj(fh, out, 1 << 20)
        return target
    except (duckdb.Error, OSError, EOFError, gzip.BadGzipFile):
        return None  # read again when staged, where the reason surfaces


def _document_lines(con: duckdb.DuckDBPyConnection, path: Path, directory: Path) -> Repair | None:
    """The JSON Lines copy of a file whose first line is no JSON record but which holds one
    JSON document (a saved, pretty-printed response); None for JSON Lines and the rest."""
    try:
        lines = _head_lines(con, path)
    except duckdb.Error as exc:
        return _marked_document(con, path, directory) if is_not_utf8(exc) else None
    except (OSError, _FileError):
        return None
    if not lines:
        return None
    try:
        json.loads(lines[0])
        return None  # a record per line already
    except RecursionError:
        return None  # JSON nested deeper than Python parses: staging reads the line itself
    except json.JSONDecodeError:
        return _as_json_lines(con, path, directory)


def _opens_a_document(path: Path) -> bool:
    """Whether the first non-blank line of ``path`` opens a JSON document (``{`` or ``[``)
    without being a record of its own. Cheap: only that line is read (a ``.zst`` or a
    line over 1 MB is taken for a record line)."""
    if path.name.lower().endswith(".zst"):
        return False
    try:
        with _open_raw(path) as fh:
            while raw := fh.readline(1 << 20):
                text = raw.decode("utf-8", "replace").removeprefix(BOM).strip(" \t\r\n")
                if text:
                    if not raw.endswith(b"\n") and len(raw) >= 1 << 20:
                        return False
                    return text.startswith(("{", "[")) and not _is_json(text)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    return False


def _detect_document(
    con: duckdb.DuckDBPyConnection, path: Path, directory: Path
) -> tuple[Repair | None, LogFormat | None, str | None]:
    """The JSON Lines copy of a one-document file and its format; else no copy.

    The third value is why the document cannot be read when the file's own read would not
    say (a document nested deeper than Python's JSON parser goes); else None.
    """
    copy = _as_json_lines(con, path, directory)
    if copy is None:
        return None, None, None
    try:
        detected = _detect(con, copy.path)
    except _FileError as exc:
        return None, None, str(exc) if "nested too deep" in str(exc) else None
    except (duckdb.Error, OSError):
        return None, None, None
    return (copy, detected, None) if detected is not _EMPTY else (None, None, None)


def _needs_line_copy(path: Path, gz: GzipVerdict | None, lf_lines_only: bool) -> bool:
    """Whether DuckDB's line reader must read ``path`` from a copy: it holds a bare CR (the
    reader drops the byte after it) or a line too long for the reader. A ``.gz`` was looked
    through when it was checked whole; a ``.zst`` cannot be (Python has no Zstandard
    decoder before 3.14). A format whose writer never writes a bare CR (``lf_lines_only``)
    skips that look, but not the long lines of its ``.gz`` files (their lines go through
    the line reader; its plain files are read whole, with no line limit)."""
    if gz is not None:
        return gz.overlong or (gz.bare_cr and not lf_lines_only)
    if lf_lines_only or path.name.lower().endswith(COMPRESSED_SUFFIXES):
        return False
    check = check_plain_lines(path)  # one mapping of the file for both
    return check.bare_cr or check.overlong


def _reload_kind(reload: bool, version_known: bool, versions: int) -> str | None:
    """``_Pending.reload`` for a file to load, ``versions`` being how many versions of its
    path the store holds. "version" only when this one is the only one: the rows of a path
    loaded in several versions (a file overwritten by a new export) are not all in this
    one, and removing them all would lose those only an earlier version held."""
    if not reload or not versions:
        return None
    return "version" if version_known and versions == 1 else "path"


def _batches(pending: list[_Pending]) -> list[list[_Pending]]:
    """Consecutive files of a format with a ``batch_bytes`` budget go together."""
    batches: list[list[_Pending]] = []
    size = 0
    for p in pending:
        fmt = p.log_format
        last = batches[-1] if batches else None
        on_disk = read_size(p.path)  # what it holds: a .gz counts unpacked
        if (
            fmt is not None
            and fmt.batch_bytes > 0
            and last is not None
            and last[-1].log_format is fmt
            and p.repair is None  # a repaired copy's rejects are marked in a batch of its own
            and last[-1].repair is None
            and size + on_disk <= fmt.batch_bytes
        ):
            last.append(p)
            size += on_disk
        else:
            batches.append([p])
            size = on_disk
    return batches


def _suffixes(fmt_name: str, field_map: FieldMap | None) -> tuple[str, ...]:
    """The names a directory is walked for; a bad --format or --map is a UsageError."""
    if fmt_name != "auto" and fmt_name not in FORMATS:
        raise UsageError(f"unknown --format {fmt_name!r}; choose auto or one of {list(FORMATS)}")
    if field_map is not None and fmt_name != "auto":
        raise UsageError("--map reads every file through the field map; leave out --format")
    return (*LOG_SUFFIXES, ".csv", ".tsv", ".parquet") if field_map is not None else LOG_SUFFIXES


def check_inputs(
    paths: list[str], fmt_name: str = "auto", field_map: FieldMap | None = None
) -> list[Path]:
    """The error ``ingest_paths`` would raise for a bad --format, a missing path, an empty
    directory or a glob matching nothing, before a store is opened (or created). Returns
    the files, for ``ingest_paths(expanded=...)``: a walk of 2,100 session files is not
    done twice."""
    return expand_paths([p for p in paths if p != STDIN], _suffixes(fmt_name, field_map))


def ingest_paths(
    con: duckdb.DuckDBPyConnection,
    paths: list[str],
    fmt_name: str = "auto",
    on_progress: ProgressCallback | None = None,
    *,
    field_map: FieldMap | None = None,
    attribution: Attribution | None = None,
    stdin: BinaryIO | None = None,
    remember: bool = True,
    expanded: list[Path] | None = None,
    reload: bool = False,
) -> IngestResult:
    """Ingest files, directories (recursively, log files only), globs and ``-`` (stdin).

    With ``field_map`` every file is read through it (the ``mapped`` format; directories
    then also yield CSV and Parquet files). ``attribution`` rewrites who each request is
    charged to before it is stored. ``remember=False`` is for a store that is thrown away
    after this run: files are fingerprinted by size and time instead of by content.
    ``expanded``: ``check_inputs``' files for these same paths (used when none is stdin).
    ``reload``: files already loaded (unchanged, or an earlier version of them) are read
    again under the current rules and field map, their rows replaced (``_clear_for_reload``).
    """
    suffixes = _suffixes(fmt_name, field_map)
    forced = MappedFormat(field_map) if field_map is not None else None
    with ExitStack() as stack:
        names: dict[Path, str] = {}
        if STDIN in paths:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tokaudit-")))
            spooled = spool_stdin(stdin or sys.stdin.buffer, tmp)
            names[spooled] = STDIN_NAME
            paths = [str(spooled) if p == STDIN else p for p in paths]
        reuse = expanded is not None and not names
        files = expanded if reuse and expanded is not None else expand_paths(paths, suffixes)
        install_macros(con)
        outcome = IngestResult()
        documents = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tokaudit-")))
        rules = rules_fingerprint(attribution, field_map)
        pending = _plan(
            con, files, fmt_name, outcome, forced, names, remember, documents, rules, reload
        )
        done = len(files) - len(pending)

        def progress(batch: list[_Pending]) -> None:
            nonlocal done
            for p in batch:
                done += 1
                if on_progress:
                    on_progress(done, len(files), p.path)

        _load_all(con, _batches(pending), fmt_name, attribution, progress)
        return outcome
