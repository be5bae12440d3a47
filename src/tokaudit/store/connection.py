"""Open the DuckDB store and keep its schema current."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import duckdb

from tokaudit.errors import InputError

SCHEMA_VERSION = "1"
STORE = "store"  # the store's database name in tokaudit's connections
ROW_GROUP_ROWS = 10_240  # rows per row group (DuckDB's default: 122,880); see _attach
# Caps DuckDB's memory (its default is 80 % of RAM, used as a cache of the store). Under a
# cap, ingest memory stays flat as the input grows, at some cost in time
# (docs/benchmarks.md); a file that cannot fit fails alone and is reported.
MEMORY_LIMIT_ENV = "TOKAUDIT_MEMORY_LIMIT"


def _memory_limit() -> str:
    return os.environ.get(MEMORY_LIMIT_ENV, "").strip()


def memory_cap() -> str:
    """``under TOKAUDIT_MEMORY_LIMIT=…`` when a cap is set (for out-of-memory messages)."""
    limit = _memory_limit()
    return f"under {MEMORY_LIMIT_ENV}={limit}" if limit else ""


def sql_string(value: str) -> str:
    """``value`` as a SQL string literal, for statements that take no parameters (SET)."""
    return "'" + value.replace("'", "''") + "'"


def configure_session(con: duckdb.DuckDBPyConnection) -> None:
    """The per-connection settings every query relies on. ``SET`` is per session, so a
    cursor (``con.cursor()``, a connection of its own) starts from the machine's settings
    and needs these again: a worker staging in local time read naive timestamps hours off."""
    # Days, months and price-version boundaries are UTC everywhere, whatever the machine says.
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB draws a progress bar on stderr for long queries; the library never prints.
    con.execute("SET enable_progress_bar = false")
    # No network: DuckDB downloads a missing extension (httpfs for an https:// path in
    # `tokaudit sql`) into ~/.duckdb, an INSTALL that tokaudit sql refuses when it is asked
    con.execute("SET autoinstall_known_extensions = false")


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    configure_session(con)
    limit = _memory_limit()
    if limit:
        try:
            if limit.startswith("-"):  # DuckDB reads a negative size as "no limit"
                raise duckdb.InvalidInputException("a memory size cannot be negative")
            con.execute(f"SET memory_limit = {sql_string(limit)}")
        except duckdb.Error as exc:
            con.close()
            raise InputError(
                f"{MEMORY_LIMIT_ENV}={limit!r} is not a memory size DuckDB accepts "
                f"(for example 2GB or 1500MB): {exc}"
            ) from exc


def _configure_writable(con: duckdb.DuckDBPyConnection) -> None:
    # Every ingested file commits on its own; with DuckDB's default 16 MB WAL threshold each
    # large file then also checkpoints the whole store, which costs more as the store grows
    # (0.4 to 2.6 s a file in docs/benchmarks.md). A larger threshold checkpoints every few
    # hundred MB instead; the WAL keeps every commit durable in between.
    con.execute("SET checkpoint_threshold = '512MB'")


def _attach(path: str | Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A connection whose default database is the store, attached with small row groups.

    DuckDB's row groups hold 122,880 rows by default, and a table's rows that do not fill
    one are held in the WAL and rewritten at each checkpoint: appending files of 50,000
    requests, the 512 MB checkpoints took 6 to 12 s and grew with the store. With row
    groups of ``ROW_GROUP_ROWS``, an insert writes whole row groups straight to the file
    and a checkpoint has little left to do (docs/benchmarks.md); scans of tables of a few
    thousand rows also run on every thread. DuckDB does not keep the size in the file, so
    every open passes it.
    """
    # TYPE duckdb: DuckDB otherwise picks a storage by the file's extension, and a store
    # named *.json or *.parquet was attached as an empty in-memory database (a budget gate
    # pointed at the wrong file passed, and an ingest into it kept nothing).
    options = ["TYPE duckdb", f"ROW_GROUP_SIZE {ROW_GROUP_ROWS}"] + (
        ["READ_ONLY"] if read_only else []
    )
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {sql_string(str(path))} AS {STORE} ({', '.join(options)})")
    except duckdb.Error as exc:
        con.close()
        raise InputError(f"cannot open the store {path}: {exc}") from exc
    con.execute(f"USE {STORE}")
    return con


def _refuse_foreign(con: duckdb.DuckDBPyConnection, path: str | Path, existing: bool) -> bool:
    """An InputError when the attached database is not a tokaudit store, before any write;
    True when it holds nothing yet (a new store).

    A store has ``schema_info`` with its ``schema_version``. A database holding other tables
    (or, when ``existing``, nothing at all) is someone else's file: writing tokaudit's
    schema into it and reporting $0 spend from it would both be wrong.
    """
    names = {
        str(r[0])
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? UNION ALL "
            "SELECT view_name FROM duckdb_views() WHERE database_name = ? AND NOT internal",
            [STORE, STORE],
        ).fetchall()
    }
    if not names and not existing:
        return True  # a new store
    version = None
    if "schema_info" in names:
        try:
            row = con.execute(
                "SELECT max(value) FROM schema_info WHERE key = 'schema_version'"
            ).fetchone()
            version = row[0] if row else None
        except duckdb.Error as exc:
            # a tokaudit store whose blocks cannot be read (cut short, corrupt): it was
            # called "not a tokaudit store", and to give "the store `tokaudit ingest` wrote"
            con.close()
            raise InputError(damaged_store(str(exc).splitlines()[0], path)) from exc
    if version is None:
        con.close()
        held = f"tables: {', '.join(sorted(names)[:5])}" if names else "an empty database"
        raise InputError(
            f"{path} is not a tokaudit store (no tokaudit schema_info; {held}); "
            "give the store `tokaudit ingest` wrote, or a new file to ingest into"
        )
    if not (str(version).isdigit() and int(version) <= int(SCHEMA_VERSION)):
        # a later release's schema: its columns may mean other things, and this release
        # wrote its own rows into it and priced it as if they did not (QA)
        con.close()
        raise InputError(
            f"{path} is a tokaudit store of schema version {version}, written by a newer "
            f"tokaudit; this release reads version {SCHEMA_VERSION} and older: upgrade tokaudit"
        )
    return False


def damaged_store(why: str, path: str | Path | None = None) -> str:
    """The words for a store that is cut short or corrupt (``why``: DuckDB's first line),
    whether opening it or a later query found out."""
    what = (
        "the store is damaged or cut short"
        if path is None
        else f"cannot read the store {path}, which is damaged or cut short"
    )
    return f"{what} ({why}): restore it from a copy, or ingest the logs into a new file"


def store_path(path: str | Path) -> str | Path:
    """``path`` with a leading ``~`` expanded, as DuckDB expands it when it opens a file.

    Unexpanded (``TOKAUDIT_DB=~/spend.duckdb`` in a CI file, or a quoted ``--db``), ingest
    wrote the store in the home directory while every check of the path looked for a
    directory named ``~``: each later command said there was no store (QA).
    """
    return path if str(path) == ":memory:" else Path(path).expanduser()


def open_store(path: str | Path, existing: bool = False) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) a writable store and apply the schema.

    A DuckDB file that holds something other than a tokaudit store is refused untouched;
    ``existing=True`` (commands that read a store) also refuses a missing or empty one.
    """
    path = store_path(path)
    if existing and str(path) != ":memory:" and not Path(path).is_file():
        raise InputError(f"no store at {path}: run `tokaudit ingest LOGS --db {path}` first")
    if not existing and _empty_file(path):
        # `mktemp` makes an empty file; DuckDB refuses one as "not a valid database"
        Path(path).unlink()
    con = _attach(path, read_only=False)
    new = _refuse_foreign(con, path, existing)
    _configure(con)
    _configure_writable(con)
    # The schema in one transaction: a failure (out of memory, Ctrl-C) left tables without
    # schema_info, a file every later command refused as "not a tokaudit store".
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(resources.files("tokaudit.store").joinpath("schema.sql").read_text("utf-8"))
        con.execute(
            "INSERT INTO schema_info VALUES ('schema_version', ?) ON CONFLICT DO NOTHING",
            [SCHEMA_VERSION],
        )
        _blank_attribution_is_none(con, new)
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        con.close()
        raise
    return con


# Attribution columns a log gave blank ("", spaces): ingest stores NULL since 2026-11-27
# (loader.BLANK_IS_NONE); a store written before holds "" beside NULL, two "(none)" groups.
_BLANK_COLUMNS = ("team", "user_id", "feature", "project", "prompt_id", "environment")
_BLANK_DONE = "blank_attribution_is_null"


def blank_sql(column: str) -> str:
    """SQL: the attribution ``column`` (an identifier) holds only blanks, which an earlier
    release wrote for "no value" (read as NULL since)."""
    return f"regexp_full_match({column}, '\\s*')"


def _blank_attribution_is_none(con: duckdb.DuckDBPyConnection, new: bool = False) -> None:
    """Once per store: blank attribution written by an earlier release becomes NULL.

    A ``new`` store has no requests to update: it is only marked done (six UPDATE
    statements cost about 25 ms, paid by every store created)."""
    done = con.execute("SELECT count(*) FROM schema_info WHERE key = ?", [_BLANK_DONE]).fetchone()
    if done and done[0]:
        return
    if not new:  # a new store has no requests to update
        for column in _BLANK_COLUMNS:
            con.execute(f"UPDATE requests SET {column} = NULL WHERE {blank_sql(column)}")
    con.execute("INSERT INTO schema_info VALUES (?, 'done') ON CONFLICT DO NOTHING", [_BLANK_DONE])


def _empty_file(path: str | Path) -> bool:
    try:
        return str(path) != ":memory:" and Path(path).is_file() and Path(path).stat().st_size == 0
    except OSError:
        return False


def open_store_read_only(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open an existing store for reading; a missing file is an input error, never created."""
    path = store_path(path)
    if not Path(path).is_file():
        raise InputError(f"no store at {path}: run `tokaudit ingest LOGS --db {path}` first")
    con = _attach(path, read_only=True)
    _refuse_foreign(con, path, existing=True)
    _configure(con)
    return con


def bulk_insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: dict[str, str],
    rows: Sequence[tuple[object, ...]],
    on_conflict: str = "",
) -> None:
    """Insert many rows in one statement (``executemany`` runs one statement per row).

    ``columns`` maps each column name to its SQL type; rows are passed column-wise as
    typed lists and unnested together.
    """
    if not rows:
        return
    names = list(columns)
    lists = [list(col) for col in zip(*rows, strict=True)]
    select = ", ".join(
        f"unnest(?::{columns[n].replace('DECIMAL(38,18)', 'VARCHAR')}[])" for n in names
    )
    casts = ", ".join(
        f"c{i}::{columns[n]}" if columns[n].startswith("DECIMAL") else f"c{i}"
        for i, n in enumerate(names)
    )
    inner = ", ".join(f"c{i}" for i in range(len(names)))
    con.execute(
        f"INSERT INTO {table} ({', '.join(names)}) SELECT {casts} FROM "
        f"(SELECT {select}) AS t({inner}) {on_conflict}",
        lists,
    )


def temp_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: dict[str, str],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """A temp table of these typed columns holding ``rows`` (replacing one of that name)."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {name} ({', '.join(f'{k} {v}' for k, v in columns.items())})"
    )
    bulk_insert(con, name, columns, rows)
