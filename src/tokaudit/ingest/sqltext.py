"""SQL macros shared by the formats: text out of provider content shapes, safe integers."""

from __future__ import annotations

import duckdb

from tokaudit.ingest.genai_sdk import GENAI_MACROS
from tokaudit.ingest.streams import STREAM_MACROS
from tokaudit.ingest.usage import USAGE_MACROS

MACROS = r"""
-- Text of a content value: a string, a list of parts ({text}/{type,text}/strings), or {parts}.
CREATE OR REPLACE TEMP MACRO ta_text(c) AS CASE json_type(c)
    WHEN 'VARCHAR' THEN c ->> '$'
    WHEN 'ARRAY' THEN array_to_string(list_transform(CAST(c AS JSON[]),
        lambda p: CASE json_type(p) WHEN 'VARCHAR' THEN p ->> '$'
                               ELSE coalesce(p ->> 'text', p ->> 'input_text', '') END), '\n')
    WHEN 'OBJECT' THEN coalesce(c ->> 'text', array_to_string(list_transform(
        CASE WHEN json_type(c, '$.parts') = 'ARRAY' THEN CAST(c -> 'parts' AS JSON[]) END,
        lambda p: coalesce(p ->> 'text', '')), '\n'))
    ELSE NULL END;
-- ta_text of a minified JSON value (a from_json leaf, a json_extract result): its first
-- character is its type, so the value is not parsed just to learn it.
CREATE OR REPLACE TEMP MACRO ta_text_min(c) AS CASE
    WHEN starts_with(c, '"') THEN c ->> '$'
    WHEN starts_with(c, '[') THEN array_to_string(list_transform(CAST(c AS JSON[]),
        lambda p: CASE WHEN starts_with(p, '"') THEN p ->> '$'
                       ELSE coalesce(p ->> 'text', p ->> 'input_text', '') END), '\n')
    WHEN starts_with(c, '{') THEN coalesce(c ->> 'text', array_to_string(list_transform(
        CASE WHEN json_type(c, '$.parts') = 'ARRAY' THEN CAST(c -> 'parts' AS JSON[]) END,
        lambda p: coalesce(p ->> 'text', '')), '\n'))
    ELSE NULL END;
-- A json_type() result as JSON names it, for reject reasons ("got number", not "ubigint").
CREATE OR REPLACE TEMP MACRO ta_kind_name(t) AS CASE t
    WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number'
    WHEN 'VARCHAR' THEN 'string' ELSE lower(t) END;
-- The elements of a JSON array, or an empty list for anything else.
CREATE OR REPLACE TEMP MACRO ta_list(a) AS
    CASE WHEN json_type(a) = 'ARRAY' THEN CAST(a AS JSON[]) ELSE []::JSON[] END;
-- A whole-number field: NULL when absent or JSON null.
CREATE OR REPLACE TEMP MACRO ta_int(doc, path) AS
    CASE WHEN json_type(doc, path) IN ('BIGINT', 'UBIGINT')
         THEN try_cast(doc ->> path AS BIGINT) END;
-- Why a whole-number field is unusable, or NULL when it is fine (absent counts as fine).
-- An integer literal beyond BIGINT is too large (or negative), whatever JSON type DuckDB
-- reads it as (UBIGINT up to 2^64 - 1, DOUBLE beyond), so every size gets one reason.
CREATE OR REPLACE TEMP MACRO ta_int_problem(doc, label, path) AS CASE
    WHEN json_type(doc, path) IS NULL OR json_type(doc, path) = 'NULL' THEN NULL
    WHEN json_type(doc, path) = 'DOUBLE' AND regexp_full_match(doc ->> path, '-?[0-9]+')
        THEN label || CASE WHEN starts_with(doc ->> path, '-') THEN ' is negative'
                           ELSE ' is too large: ' || (doc ->> path) END
    WHEN json_type(doc, path) NOT IN ('BIGINT', 'UBIGINT')
        THEN label || ' should be a whole number, got ' || (doc -> path)::VARCHAR
    WHEN try_cast(doc ->> path AS BIGINT) IS NULL THEN label || ' is too large: ' || (doc ->> path)
    WHEN (doc ->> path)::BIGINT < 0 THEN label || ' is negative'
    END;
"""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(MACROS)
    con.execute(USAGE_MACROS)
    con.execute(STREAM_MACROS)
    con.execute(GENAI_MACROS)
