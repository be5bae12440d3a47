"""Read-only ad-hoc SQL over a store, for analysts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.errors import UsageError
from tokaudit.store import open_store_read_only

READ_ONLY_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA,
}


def run_query(db: Path, query: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run one read-only statement; anything that could write is refused before it runs."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise UsageError(f"SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise UsageError(f"give exactly one SQL statement (got {len(statements)})")
    kind = statements[0].type
    if kind not in READ_ONLY_STATEMENTS:
        raise UsageError(
            f"refused: `tokaudit sql` is read-only and this is a {kind.name} statement; "
            "use the duckdb CLI on a copy of the store to change it"
        )
    con = open_store_read_only(db)
    try:
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    except duckdb.Error as exc:
        raise UsageError(f"SQL error: {str(exc).splitlines()[0]}") from exc
    finally:
        con.close()
