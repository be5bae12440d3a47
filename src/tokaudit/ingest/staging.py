"""The contract between a format and the loader: the ``_staged`` temp table.

A format's ``stage()`` builds ``_staged`` with ``create_staged``: it selects only the
columns it knows; the rest are filled with NULL of the right type (or a default).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

from tokaudit.store.connection import sql_string as sql_string  # re-exported for formats
from tokaudit.store.parallel import any_order, over_row_ranges

# Every column of _staged with its type. `line_no`, `line` and `reject_reason` come first:
# a row with a reject reason goes to `rejects`, every other row becomes a request. `line`
# is needed only by rejects and by the request key of a row without a request id (the
# envelope leaves it NULL elsewhere, so the raw text is not held twice).
STAGED_COLUMNS: dict[str, str] = {
    "line_no": "BIGINT",
    "line": "VARCHAR",
    "reject_reason": "VARCHAR",
    # A valid line that is not a model call (a Claude Code user or summary line): counted
    # as read, neither loaded nor rejected.
    "non_request": "BOOLEAN",
    # Which file of a multi-file stage (``LogFormat.stage_files``) the line is from.
    "file_no": "INTEGER",
    "request_key": "VARCHAR",
    "request_id": "VARCHAR",
    "ts": "TIMESTAMPTZ",
    "provider": "VARCHAR",
    "api": "VARCHAR",
    "model_requested": "VARCHAR",
    "model_responded": "VARCHAR",
    "model": "VARCHAR",
    "team": "VARCHAR",
    "user_id": "VARCHAR",
    "feature": "VARCHAR",
    "prompt_id": "VARCHAR",
    "prompt_version": "VARCHAR",
    "environment": "VARCHAR",
    "project": "VARCHAR",
    "metadata": "JSON",
    "input_tokens": "BIGINT",
    "input_audio_tokens": "BIGINT",
    "cache_read_tokens": "BIGINT",
    "cache_read_audio_tokens": "BIGINT",
    "cache_write_5m_tokens": "BIGINT",
    "cache_write_1h_tokens": "BIGINT",
    "output_tokens": "BIGINT",
    "reasoning_tokens": "BIGINT",
    "web_search_requests": "BIGINT",
    "file_search_calls": "BIGINT",
    "grounding_queries": "BIGINT",
    "has_usage": "BOOLEAN",
    "status": "VARCHAR",
    "http_status": "INTEGER",
    "error_type": "VARCHAR",
    "error_message": "VARCHAR",
    "finish_reason": "VARCHAR",
    "latency_ms": "DOUBLE",
    "is_batch": "BOOLEAN",
    "service_tier": "VARCHAR",
    "request_hash": "VARCHAR",
    "prompt_hash": "VARCHAR",
    "input_hash": "VARCHAR",
    "system_text": "VARCHAR",
    "first_text": "VARCHAR",
    "input_body": "VARCHAR",
    # optional: the reply's output-bearing keys as JSON, for the output recount
    "output_body": "VARCHAR",
    "output_hash": "VARCHAR",
    # 'bucket' for a row of an aggregated usage export; request_count calls it stands for.
    "granularity": "VARCHAR",
    "request_count": "BIGINT",
    "tier_input_tokens": "BIGINT",
}
DEFAULTS = {
    "has_usage": "false",
    "is_batch": "false",
    "status": "'ok'",
    "granularity": "'request'",
    "request_count": "1",
    "non_request": "false",
    "file_no": "0",
}
# Columns derived from others when a format does not give them: (needed columns, SQL).
DERIVED: dict[str, tuple[set[str], str]] = {
    "model": (
        {"model_responded", "model_requested"},
        "coalesce(s.model_responded, s.model_requested)",
    ),
    "request_key": (
        {"provider"},
        "s.provider || ':' || coalesce({request_id}, 'line-md5:' || md5(s.line))",
    ),
    "prompt_hash": ({"system_text", "first_text"}, "md5(coalesce(s.system_text, s.first_text))"),
    "input_hash": ({"input_body"}, "md5(s.input_body)"),
    "output_hash": ({"output_body"}, "md5(s.output_body)"),
}
MAX_LINE_BYTES = 256 * 1024 * 1024
# what counts as blank: spaces, tabs, line breaks (a trim per row, cheaper than a regex)
BLANKS = "(' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13))"


_GLOB_CHARS = re.compile(r"([*?\[])")


def path_sql(path: Path | str) -> str:
    """``path`` as a SQL literal for DuckDB's file readers, which take every path for a glob
    pattern: a file named ``a*.jsonl`` also read ``ab.jsonl``. Each pattern character is
    bracketed (``[*]``) so it matches itself, in the path resolved first: DuckDB's glob
    takes ``link/..`` as text, not as the link's parent (QA: such a file was not found).
    DuckDB then reports the file under its own spelling of the path: tell files apart by
    ``file_index``, not by ``filename``."""
    text = str(path)
    if _GLOB_CHARS.search(text) is None:
        return sql_string(text)
    return sql_string(_GLOB_CHARS.sub(r"[\1]", os.path.realpath(text)))


def read_lines_sql(path: Path | list[Path]) -> str:
    """A DuckDB scan of every physical line of ``path`` (streamed, .gz/.zst decompressed).

    Given a list, one scan reads every file in order (DuckDB's ``file_index`` tells them
    apart): formats with many small files stage them in one pass.
    """
    if isinstance(path, list):
        target = "[" + ", ".join(path_sql(p) for p in path) + "]"
    else:
        target = path_sql(path)
    return (
        f"read_csv({target}, columns = {{'line': 'VARCHAR'}}, delim = '\x1f', "
        "quote = '', escape = '', header = false, auto_detect = false, strict_mode = false, "
        # '\\r\\n' counts LF, CRLF and mixed endings once each (the default splits a
        # CRLF inside an LF file twice, shifting every later line number).
        "new_line = '\\r\\n', "
        # DuckDB's buffer defaults to 16 lines of the longest: 4 GiB, allocated whole for a
        # compressed file (its size is unknown), which no memory limit below it allows.
        f"max_line_size = {MAX_LINE_BYTES}, buffer_size = {MAX_LINE_BYTES})"
    )


def numbered_lines_sql(path: Path) -> str:
    """A relation ``(line_no, line)`` of every physical line with its 1-based number."""
    return f"(SELECT row_number() OVER () AS line_no, line FROM {read_lines_sql(path)})"


def stage_lines(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``_raw(line_no, line)``: every physical line with its 1-based number."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {numbered_lines_sql(path)}")


# Several files staged in one pass (``LogFormat.stage_files``) by a format whose staging
# SQL takes each line on its own and passes ``line_no`` through: while staged, a line's
# number carries its file's (``file_no``, the index in the batch) in its high 32 bits.
FILE_NO_SHIFT = 32


def files_lines_sql(paths: list[Path]) -> str:
    """A relation ``(line_no, line)`` of every physical line of ``paths``, numbered from 1 in
    each file, with the file's index in ``paths`` packed into ``line_no`` (see
    ``FILE_NO_SHIFT``; ``unpack_file_numbers`` splits them after staging). Lines are
    numbered in read order, as ``numbered_lines_sql`` numbers one file's, and told apart by
    DuckDB's ``file_index``, never by the name it reports (a name spelt another way, such
    as ``//tmp/x``, matched no file and its lines were lost)."""
    return f"""(SELECT (file_index::BIGINT << {FILE_NO_SHIFT})
            + rn - min(rn) OVER (PARTITION BY file_index) + 1 AS line_no, line
        FROM (SELECT file_index, row_number() OVER () AS rn, line
              FROM {read_lines_sql(paths)}))"""


def stage_files_lines(con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
    """``_raw(line_no, line)`` of several files, numbered as ``files_lines_sql`` says."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM {files_lines_sql(paths)}")


def unpack_file_numbers(con: duckdb.DuckDBPyConnection) -> None:
    """Split the packed ``line_no`` of a multi-file ``_staged`` into ``file_no`` and
    ``line_no``."""
    con.execute(
        f"UPDATE _staged SET file_no = (line_no >> {FILE_NO_SHIFT})::INTEGER, "
        f"line_no = line_no & {(1 << FILE_NO_SHIFT) - 1}"
    )


# The columns of fixed staging SELECTs, by their text: a DESCRIBE plans the whole query,
# which for a large one (the envelope's, 0.3 s) costs as much as staging a small file.
_DESCRIBED: dict[str, frozenset[str]] = {}
SPLIT_VARIABLE = "tokaudit_split_lines"  # false: create_staged runs split SELECTs whole
# True: create_staged makes ``_staged`` a table of the connection's current schema instead
# of a temp table. The loader's staging workers (loader._Stager) stage in their own schema
# of an in-memory database, where the loading connection reads it without a copy.
IN_SCHEMA_VARIABLE = "tokaudit_staged_in_schema"


# The input-side token classes, which the pricing view and ``token_audit`` add up as
# BIGINT (a request's total input). Each count may be up to 2^63 - 1, so a record whose
# classes add up beyond that is rejected here, for every format, rather than stored to
# crash every report that prices it.
INPUT_TOKEN_CLASSES = (
    "input_tokens",
    "input_audio_tokens",
    "cache_read_tokens",
    "cache_read_audio_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
)
_TOO_LARGE = "input token counts add up to more than 9223372036854775807: too large"


def _reject_reason(present: frozenset[str]) -> str:
    """SQL: the staged row's reject reason, or why its input classes do not add up."""
    classes = [c for c in INPUT_TOKEN_CLASSES if c in present]
    if len(classes) < 2:
        return "s.reject_reason"
    total = " + ".join(f"coalesce(s.{c}::HUGEINT, 0)" for c in classes)
    return f"coalesce(s.reject_reason, CASE WHEN {total} > {2**63 - 1} THEN '{_TOO_LARGE}' END)"


def create_staged(
    con: duckdb.DuckDBPyConnection,
    select_sql: str,
    *,
    append: bool = False,
    fixed_columns: bool = False,
    split: tuple[str, str] | None = None,
    source: tuple[str, str] | None = None,
) -> None:
    """Create ``_staged`` from ``select_sql``, completing the columns it does not name.

    ``append`` adds the rows to the existing ``_staged`` instead (a format that stages a
    file in more than one statement). ``fixed_columns``: the columns of ``select_sql``
    depend on its text only (no ``SELECT *`` over a per-file table), so they are looked
    up once per process. ``split`` = (table, text): ``select_sql`` stages each row of
    ``table`` on its own and reads it after ``text`` (``FROM _raw WHERE``), so it runs
    over ranges of the table's rows, one per DuckDB thread (``store/parallel.py``),
    unless the connection's ``SPLIT_VARIABLE`` is false: the loader sets it where other
    batches load meanwhile, which already keep every core busy (splitting there measured
    7 to 14 % slower). ``IN_SCHEMA_VARIABLE`` says where ``_staged`` is made.
    ``source`` = (text, replacement): run ``select_sql`` with its one ``text`` replaced
    (the columns stay those of ``select_sql``, looked up once with ``fixed_columns``).
    """
    key = select_sql
    if source is not None:
        text, replacement = source
        if select_sql.count(text) != 1:
            raise ValueError(f"the query must contain {text!r} once")
        select_sql = select_sql.replace(text, replacement)
    present = _DESCRIBED.get(key) if fixed_columns else None
    if present is None:
        described = con.execute(f"DESCRIBE SELECT * FROM ({select_sql}) AS s").fetchall()
        present = frozenset(row[0] for row in described)
        if fixed_columns:
            _DESCRIBED[key] = present
    unknown = present - set(STAGED_COLUMNS)
    if unknown:
        raise ValueError(f"_staged has no column(s) {sorted(unknown)}")

    def column(name: str, kind: str) -> str:
        if name == "reject_reason" and name in present:
            return f"{_reject_reason(present)}::{kind} AS {name}"
        if name in present:
            return f"s.{name}::{kind} AS {name}"
        needed, expr = DERIVED.get(name, (None, ""))
        if needed is not None and needed <= present:
            rid = "s.request_id" if "request_id" in present else "NULL"
            return f"({expr.replace('{request_id}', rid)})::{kind} AS {name}"
        return f"{DEFAULTS.get(name, 'NULL')}::{kind} AS {name}"

    columns = ", ".join(column(n, k) for n, k in STAGED_COLUMNS.items())
    may_split, in_schema = _staging_flags(con)
    table_kind = "TABLE" if in_schema else "TEMP TABLE"
    target = "INSERT INTO _staged" if append else f"CREATE OR REPLACE {table_kind} _staged AS"
    if split is None or not may_split:
        con.execute(f"{target} SELECT {columns} FROM ({select_sql}) s")
        return
    table, anchor = split
    parts = over_row_ranges(con, select_sql, table, anchor)
    with any_order(con):
        con.execute(f"{target} SELECT {columns} FROM ({parts}) s")


def _staging_flags(con: duckdb.DuckDBPyConnection) -> tuple[bool, bool]:
    """(may split statements, make ``_staged`` in the current schema), from the connection's
    ``SPLIT_VARIABLE`` (unset: may split) and ``IN_SCHEMA_VARIABLE`` (unset: a temp table)."""
    row = con.execute(
        f"SELECT getvariable('{SPLIT_VARIABLE}'), getvariable('{IN_SCHEMA_VARIABLE}')"
    ).fetchone()
    split, in_schema = row if row else (None, None)
    return split is not False, in_schema is True


def split_allowed(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this connection may split a staging statement over every thread.

    False where the loader stages other batches meanwhile (``SPLIT_VARIABLE``).
    """
    return _staging_flags(con)[0]


def insert_prompt_texts(con: duckdb.DuckDBPyConnection, relation: str) -> None:
    """Keep the unique texts of staged-shaped rows in ``prompt_texts`` (system, input, output)."""
    con.execute(
        # a text sent to several providers is kept as OpenAI's when it was sent there (its
        # o200k size is then exact for those requests): any_value picked one at random
        f"""INSERT INTO prompt_texts
        SELECT prompt_hash, 'system',
               CASE WHEN bool_or(provider = 'openai') THEN 'openai' ELSE min(provider) END,
               any_value(body),
               left(regexp_replace(any_value(body), '\\s+', ' ', 'g'), 60),
               length(any_value(body))
        FROM (SELECT prompt_hash, provider, coalesce(system_text, first_text) AS body
              FROM {relation})
        WHERE body IS NOT NULL GROUP BY prompt_hash
        ON CONFLICT DO NOTHING"""
    )
    con.execute(
        # Inputs rarely repeat (each turn re-sends a longer history): no GROUP BY, whose
        # copies of every body cost a fifth of the insert; ON CONFLICT DO NOTHING also
        # keeps the first of the rows a statement repeats (tested)
        f"""INSERT INTO prompt_texts
        SELECT input_hash, 'input', provider, input_body, '', length(input_body)
        FROM {relation} WHERE input_body IS NOT NULL
        ON CONFLICT DO NOTHING"""
    )
    con.execute(
        f"""INSERT INTO prompt_texts
        SELECT output_hash, 'output', any_value(provider), any_value(output_body), '',
               length(any_value(output_body))
        FROM {relation} WHERE output_body IS NOT NULL GROUP BY output_hash
        ON CONFLICT DO NOTHING"""
    )
