"""This release's views on a store opened read-only, as the connection's own objects.

A store keeps the views (``token_audit``) and columns of the release that last opened it
writable. A read-only connection cannot bring them up, so ``tokaudit sql`` read an older
store through its stored ``token_audit``, and through its stored ``request_costs`` when the
current one did not bind (a column an older release lacked). Here the connection gets
temporary objects instead, which DuckDB looks up before the store's: a table missing
columns is shown with them as the upgrade would add them (``schema.sql``'s ``ALTER TABLE
… ADD COLUMN`` defaults), and the views are this release's. The file is never written.
"""

from __future__ import annotations

from importlib import resources

import duckdb

from tokaudit.store.connection import _BLANK_COLUMNS, _BLANK_DONE, STORE, blank_sql

_SCRATCH = "_tokaudit_schema"  # an in-memory database holding this release's schema


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def install_current_views(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Install this release's views (and the columns they read) as temporary objects on a
    read-only store connection; the tables shown with added columns, by name.

    A writable connection has them already (``open_store`` applies ``schema.sql``).
    """
    readonly = con.execute(
        "SELECT readonly FROM duckdb_databases() WHERE database_name = ?", [STORE]
    ).fetchone()
    if not (readonly and readonly[0]):
        return []
    schema = resources.files("tokaudit.store").joinpath("schema.sql").read_text("utf-8")
    con.execute(f"ATTACH ':memory:' AS {_SCRATCH}")
    try:
        con.execute(f"USE {_SCRATCH}")
        try:
            con.execute(schema)
        finally:
            con.execute(f"USE {STORE}")
        missing = con.execute(
            """
            SELECT c.table_name, c.column_name, c.data_type, c.column_default
            FROM duckdb_columns() AS c
            JOIN duckdb_tables() AS t
              ON t.database_name = ? AND t.schema_name = 'main' AND t.table_name = c.table_name
            WHERE c.database_name = ? AND NOT EXISTS (
                SELECT 1 FROM duckdb_columns() AS s
                WHERE s.database_name = ? AND s.schema_name = 'main'
                  AND s.table_name = c.table_name AND s.column_name = c.column_name)
            ORDER BY c.table_name, c.column_index
            """,
            [STORE, _SCRATCH, STORE],
        ).fetchall()
        views = con.execute(
            "SELECT view_name, sql FROM duckdb_views() WHERE database_name = ? AND NOT internal",
            [_SCRATCH],
        ).fetchall()
    finally:
        con.execute(f"DETACH {_SCRATCH}")
    added: dict[str, list[str]] = {}
    for table, column, data_type, default in missing:
        value = default if default is not None else "NULL"
        added.setdefault(table, []).append(f"CAST({value} AS {data_type}) AS {_ident(column)}")
    blank = _blank_attribution_replaced(con, {c for t, c, _, _ in missing if t == "requests"})
    if blank:
        added.setdefault("requests", [])
    for table, columns in added.items():
        replace = f" REPLACE ({blank})" if table == "requests" and blank else ""
        extra = "".join(f", {c}" for c in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {_ident(table)} AS "
            f"SELECT *{replace}{extra} FROM {STORE}.main.{_ident(table)}"
        )
    for name, sql in views:
        ddl = sql.replace("CREATE VIEW", "CREATE OR REPLACE TEMP VIEW", 1)
        con.execute(ddl)
        try:
            con.execute(f"SELECT * FROM temp.main.{_ident(name)} LIMIT 0")
        except duckdb.BinderException:  # a column no upgrade adds: the stored view stays
            con.execute(f"DROP VIEW temp.main.{_ident(name)}")
    return sorted(added)


def _blank_attribution_replaced(con: duckdb.DuckDBPyConnection, missing: set[str]) -> str:
    """The ``REPLACE`` list that reads blank attribution as NULL, as the first writable open
    of a store written before 2026-11-27 rewrites it (``connection._blank_attribution_is_none``);
    empty when the store has been rewritten already."""
    done = con.execute(
        f"SELECT count(*) FROM {STORE}.main.schema_info WHERE key = ?", [_BLANK_DONE]
    ).fetchone()
    if done and done[0]:
        return ""
    return ", ".join(
        f"CASE WHEN {blank_sql(_ident(c))} THEN NULL ELSE {_ident(c)} END AS {_ident(c)}"
        for c in _BLANK_COLUMNS
        if c not in missing
    )
