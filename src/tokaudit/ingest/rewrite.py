"""Formats that carry provider bodies: rewrite each record as an envelope, then stage it.

A provider-native record (a bare request/response pair, a batch output line) holds the
same provider bodies as an envelope, only wrapped differently. Each such format writes a
*front* query that maps its wrapper to an envelope object per line (or rejects the line),
and ``stage_rewritten`` runs the envelope's own staging SQL over those objects. So usage,
token classes, texts, hashes and ids are read by one piece of SQL for every format, and
the same call logged in two formats gets the same request key and the same hashes.
"""

from __future__ import annotations

import duckdb

from tokaudit.ingest.envelope import select_sql
from tokaudit.ingest.staging import create_staged

BLANK = "line IS NOT NULL AND regexp_matches(line, '[^ \\t\\r\\n\\f\\v]')"


def parsed_lines(paths: list[str]) -> str:
    """CTE body over ``_raw``: each non-blank line parsed once, its top-level fields pulled.

    Columns: line_no, line, j (JSON or NULL), jtype, keys (top-level names) and ``t``, the
    list of ``paths`` values (index with ``field(paths, path)``).
    """
    listed = ", ".join(f"'{p}'" for p in paths)
    return f"""
    SELECT line_no, line, j, json_type(j) AS jtype,
        CASE WHEN json_type(j) = 'OBJECT' THEN json_keys(j) ELSE [] END AS keys,
        CASE WHEN json_type(j) = 'OBJECT' THEN json_extract(j, [{listed}]) END AS t
    FROM (SELECT line_no, line, CASE WHEN json_valid(line) THEN line::JSON END AS j
          FROM _raw WHERE {BLANK})"""


def field(paths: list[str], path: str, name: str = "t") -> str:
    """SQL for the value of ``path`` in a ``parsed_lines`` row (JSON; NULL when absent)."""
    return f"{name}[{paths.index(path) + 1}]"


def present(expr: str) -> str:
    """A JSON value, with JSON null treated as absent (SQL NULL)."""
    return f"CASE WHEN json_type({expr}) <> 'NULL' THEN {expr} END"


def not_object_reason() -> str:
    """The reject reasons every JSONL format shares, as the first WHENs of a CASE."""
    return """WHEN j IS NULL THEN 'invalid JSON'
        WHEN jtype <> 'OBJECT' THEN 'not a JSON object (got ' || ta_kind_name(jtype) || ')'"""


def stage_rewritten(
    con: duckdb.DuckDBPyConnection,
    front_sql: str,
    replace: dict[str, str] | None = None,
    add: dict[str, str] | None = None,
) -> None:
    """Build ``_staged`` from a front query and the envelope's staging SQL.

    ``front_sql`` selects ``line_no, line, reject_reason, env`` (plus anything else the
    format needs later) over ``_raw``: ``env`` is the envelope object for lines it does not
    reject. It is kept as the temp table ``_front``. ``replace`` overrides staged columns
    with SQL over the envelope result ``e`` and ``_front`` ``f``; ``add`` names staged
    columns the envelope leaves to ``create_staged`` (``request_key``), in the same SQL.
    Rejects keep the original line; the front's reasons come first.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _front AS {front_sql}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _envs AS SELECT line_no, env::VARCHAR AS line "
        "FROM _front WHERE reject_reason IS NULL"
    )
    overrides = {
        "line": "f.line",
        # the envelope's wording; these records are not envelopes
        "reject_reason": "replace(e.reject_reason, 'in the envelope, request', "
        "'in the record, request')",
        **(replace or {}),
    }
    replaced = ", ".join(f"{expr} AS {col}" for col, expr in overrides.items())
    added = "".join(f", {expr} AS {col}" for col, expr in (add or {}).items())
    create_staged(
        con,
        f"""SELECT e.* REPLACE ({replaced}){added}
        FROM ({select_sql("_envs")}) e JOIN _front f USING (line_no)
        UNION ALL BY NAME
        SELECT line_no, line, reject_reason FROM _front WHERE reject_reason IS NOT NULL""",
    )
