"""Running one query on every DuckDB thread over a small table.

DuckDB scans a table on one thread per 122,880 rows (a temporary table keeps that size
whatever the store's), so a query over the 50,000 lines of one log file, or the 40,000
bodies of a store, runs on one core. The same query over ranges of row numbers, joined by
``UNION ALL``, runs one range per thread once ``preserve_insertion_order`` is off: each
statement that does so must not depend on the order of its result rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

import duckdb

__all__ = ["any_order", "over_row_ranges", "restore_order", "row_ranges", "threads"]


def threads(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT current_setting('threads')").fetchone()
    return max(1, int(row[0]) if row else 1)


def row_ranges(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Conditions splitting ``table`` into one range of row numbers per DuckDB thread."""
    row = con.execute(f"SELECT min(rowid), max(rowid) FROM {table}").fetchone()
    if row is None or row[0] is None:
        return ["true"]
    low, high = int(row[0]), int(row[1])
    step = (high - low) // threads(con) + 1
    return [f"rowid >= {a} AND rowid < {a + step}" for a in range(low, high + 1, step)]


def over_row_ranges(con: duckdb.DuckDBPyConnection, sql: str, table: str, anchor: str) -> str:
    """``sql`` once per range of ``table``'s rows, joined by ``UNION ALL``.

    ``sql`` reads ``table`` once, right after ``anchor`` (``FROM t WHERE``), and must treat
    each row on its own; run the result under ``any_order`` to use every thread.
    """
    if sql.count(anchor) != 1:
        raise ValueError(f"the query must read {table} once, after {anchor!r}")
    return " UNION ALL ".join(
        f"({sql.replace(anchor, f'{anchor} {rows} AND')})" for rows in row_ranges(con, table)
    )


@contextmanager
def any_order(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """``preserve_insertion_order`` off for the block, then as it was.

    A statement that fails inside an open transaction aborts it, and an aborted
    transaction refuses even ``SET``: then the block's own error is raised, and the
    transaction's owner calls ``restore_order`` after its ROLLBACK (other statements,
    such as numbering a file's lines, rely on the order being kept).
    """
    before = con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
    restore = f"SET preserve_insertion_order = {bool(before and before[0])}"
    con.execute("SET preserve_insertion_order = false")
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):
            con.execute(restore)
        raise
    con.execute(restore)


def restore_order(con: duckdb.DuckDBPyConnection) -> None:
    """DuckDB's default order-keeping, after a ROLLBACK that ``any_order`` could not undo."""
    con.execute("RESET preserve_insertion_order")
