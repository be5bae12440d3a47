"""Read-only ad-hoc SQL over a store, for analysts."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.errors import UsageError
from tokaudit.models import JsonText
from tokaudit.store import open_store_read_only

READ_ONLY_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA,
}


ANALYZE_WORDS = {"ANALYZE", "ANALYSE"}

# The PRAGMAs that only describe the store or DuckDB. Others act: import_database runs
# the statements of a directory's schema.sql (a COPY TO wrote its file, an ATTACH and
# CREATE TABLE wrote another database: QA), copy_database copies, force_checkpoint writes.
READ_ONLY_PRAGMAS = {
    "collations",
    "database_list",
    "database_size",
    "extension_versions",
    "functions",
    "metadata_info",
    "platform",
    "show",
    "show_databases",
    "show_tables",
    "show_tables_expanded",
    "storage_info",
    "table_info",
    "user_agent",
    "version",
}


def _words(query: str) -> list[tuple[int, str]]:
    """``query``'s tokens that are not comments, as (offset, text)."""
    spans = duckdb.tokenize(query)
    return [
        (pos, query[pos : spans[i + 1][0] if i + 1 < len(spans) else len(query)].strip())
        for i, (pos, kind) in enumerate(spans)
        if kind != duckdb.token_type.comment
    ]


def _check_pragma(query: str) -> None:
    """Refuse a PRAGMA that is not one of ``READ_ONLY_PRAGMAS``."""
    words = _words(query)  # words[0] is PRAGMA
    name = words[1][1] if len(words) > 1 else ""
    if name.startswith('"') and name.endswith('"') and len(name) > 1:
        name = name[1:-1].replace('""', '"')
    if name.lower() not in READ_ONLY_PRAGMAS:
        raise UsageError(
            f"refused: `tokaudit sql` is read-only and PRAGMA {name} is not one that only "
            f"reads (those are: {', '.join(sorted(READ_ONLY_PRAGMAS))}); "
            "use the duckdb CLI on a copy of the store"
        )


def _check_explain(query: str) -> None:
    """Refuse EXPLAIN ANALYZE (it runs its statement: a COPY writes its file) and an
    EXPLAIN of anything but a query; ``EXPLAIN [(options)] SELECT ...`` only plans."""
    tokens = _words(query)
    refused = (
        "refused: `tokaudit sql` is read-only and EXPLAIN ANALYZE runs its statement; "
        "use EXPLAIN without ANALYZE, or run the query itself"
    )
    i = 1  # tokens[0] is EXPLAIN
    if i < len(tokens) and tokens[i][1].upper() in ANALYZE_WORDS:
        raise UsageError(refused)
    if i < len(tokens) and tokens[i][1] == "(" and _statement_type(query[tokens[i][0] :]) is None:
        depth = 0  # an option list: EXPLAIN (ANALYZE, FORMAT json) ...
        while i < len(tokens):
            text = tokens[i][1]
            depth += (text == "(") - (text == ")")
            if text.upper() in ANALYZE_WORDS:
                raise UsageError(refused)
            i += 1
            if depth == 0:
                break
    inner = _statement_type(query[tokens[i][0] :]) if i < len(tokens) else None
    if inner != duckdb.StatementType.SELECT:
        what = f"a {inner.name} statement" if inner is not None else "a statement it cannot read"
        raise UsageError(
            f"refused: `tokaudit sql` is read-only and this EXPLAIN is of {what}; "
            "only queries can be explained"
        )


def _statement_type(text: str) -> duckdb.StatementType | None:
    """The type of ``text`` when it is exactly one statement, else None."""
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error:
        return None
    return statements[0].type if len(statements) == 1 else None


def _first_line(exc: duckdb.Error) -> str:
    """DuckDB's message, first line; an extension it may not install said it was trying to
    (the store's connections never download one: no network), so say what is missing."""
    message = str(exc)
    needed = re.search(r"automatically install the required extension '(\w+)", message)
    if needed:
        return (
            f"this needs DuckDB's {needed.group(1)} extension, which is not installed; "
            "tokaudit never downloads one (no network)"
        )
    return message.splitlines()[0]


BATCH_ROWS = 10_000  # rows fetched at a time when a result is streamed


@contextmanager
def stream_query(
    db: Path,
    query: str,
    prices: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> Iterator[tuple[list[str], Iterator[list[tuple[Any, ...]]]]]:
    """Run one read-only statement; yield its columns and its rows in batches.

    Anything that could write is refused before it runs. ``prices`` installs the price
    table in this connection first (read-only: temporary objects), so ``request_costs`` is
    what ``report`` prices with now, not the prices the store was last written with (QA:
    the two disagreed after a price change). Rows are fetched ``BATCH_ROWS`` at a time: a
    `SELECT *` of a million requests was held whole (24 GB) before a byte was written.
    """
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise UsageError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in READ_ONLY_STATEMENTS:
        raise UsageError(
            f"refused: `tokaudit sql` is read-only and this is "
            f"{'an' if kind.name[:1] in 'AEIOU' else 'a'} {kind.name} statement; "
            "use the duckdb CLI on a copy of the store to change it"
        )
    if kind == duckdb.StatementType.EXPLAIN:
        _check_explain(statements[0].query)
    if kind == duckdb.StatementType.PRAGMA:
        _check_pragma(statements[0].query)
    con = open_store_read_only(db)
    try:
        try:
            if prices is not None:
                prices(con)
            cursor = con.execute(query)
        except duckdb.Error as exc:
            if "read-only mode" in str(exc):
                # a write its statement type does not show (a DELETE … RETURNING inside a
                # WITH is a SELECT), stopped by the read-only connection: DuckDB's message
                # blamed the SELECT (QA)
                raise UsageError(
                    "refused: `tokaudit sql` is read-only and this statement writes to the "
                    "store (a data-modifying part, such as DELETE … RETURNING in a WITH); "
                    "use the duckdb CLI on a copy of the store to change it"
                ) from exc
            raise UsageError(f"SQL error: {_first_line(exc)}") from exc
        description = cursor.description or []
        json_columns = {i for i, d in enumerate(description) if str(d[1]) == "JSON"}

        def batches() -> Iterator[list[tuple[Any, ...]]]:
            while True:
                try:
                    rows = cursor.fetchmany(BATCH_ROWS)
                except duckdb.Error as exc:
                    raise UsageError(f"SQL error: {str(exc).splitlines()[0]}") from exc
                if not rows:
                    return
                if json_columns:
                    rows = [
                        tuple(
                            JsonText(v) if i in json_columns and isinstance(v, str) else v
                            for i, v in enumerate(row)
                        )
                        for row in rows
                    ]
                yield rows

        yield [d[0] for d in description], batches()
    finally:
        con.close()
