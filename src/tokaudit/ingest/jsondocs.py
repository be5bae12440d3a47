"""Shared plumbing for the gateway and observability formats (LiteLLM, Langfuse, OTel).

Their exports arrive as JSON Lines (one document per line) or as one JSON document per
file, often pretty-printed over many lines (a Langfuse trace export, an OTLP file, a
LiteLLM JSON array), and one document can hold many records (spans, observations,
array elements). This module gives every such file the same shape and keeps line
numbers honest:

- ``stage_documents`` builds ``_docs(line_no, doc, raw, problem)``: one row per JSON line,
  or one row for a whole-file document. A line or document that is not JSON keeps its
  ``problem`` and becomes a reject.
- ``stage_element_lines`` finds, in a pretty-printed document, the line on which each
  record of one array starts, so rejects point at the record and not at line 1.
- ``create_staged_merged`` builds ``_staged`` and folds several rejected records that
  share a line (a compact document, an OTLP line holding many spans) into one reject
  naming each record, because ``rejects`` holds one row per line.
- ``GATEWAY_MACROS``: tolerant readers for values these tools write loosely: counts as
  numbers or numeric strings (CSV, OTLP ``intValue``), JSON carried inside strings, and
  timestamps as ISO strings or epoch numbers (unit by magnitude, ``epoch_sql``).
- ``epoch_sql`` / ``before_2000``: the one reading of an epoch number and the one floor on
  request times, shared with the envelope and the mapped format.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.staging import (
    FILE_NO_SHIFT,
    create_staged,
    stage_lines,
    unpack_file_numbers,
)

# The earliest request time: LLM APIs are younger, so an earlier time is a misread field
# (a JavaScript millisecond clock taken for seconds is year 58720; -1 or 0 is 1969-70).
EARLIEST = "TIMESTAMPTZ '2000-01-01 00:00:00+00'"
# Epoch numbers carry no unit, so it is read from the size: below 1e11 seconds (up to year
# 5138), below 1e14 milliseconds, below 1e17 microseconds, else nanoseconds up to int64's
# limit (what nanosecond clocks write). Every unit puts a time after 2000 in its own band.
EPOCH_MS, EPOCH_US, EPOCH_NS, EPOCH_MAX = "1e11", "1e14", "1e17", "9223372036854775808.0"


def epoch_sql(text: str) -> str:
    """SQL: the TIMESTAMPTZ of an epoch number given as text (NULL when out of range).

    ``text`` is a JSON number's text or a numeric string. Seconds keep the reading they
    always had (``to_timestamp`` of the DOUBLE); nanoseconds are divided as integers, a
    DOUBLE being too coarse for them.
    """
    x = f"TRY_CAST({text} AS DOUBLE)"
    ns_micros = (
        f"CASE WHEN regexp_full_match({text}, '-?[0-9]+') THEN TRY_CAST({text} AS BIGINT) // 1000 "
        f"ELSE TRY_CAST({x} / 1e3 AS BIGINT) END"
    )
    return (
        f"CASE WHEN abs({x}) < {EPOCH_MS} THEN try(to_timestamp({x})) "
        f"WHEN abs({x}) < {EPOCH_US} THEN try(to_timestamp({x} / 1e3)) "
        f"WHEN abs({x}) < {EPOCH_NS} THEN try(to_timestamp({x} / 1e6)) "
        f"WHEN abs({x}) < {EPOCH_MAX} THEN try(to_timestamp(0) + to_microseconds({ns_micros})) "
        "END"
    )


def before_2000(ts: str, what: str) -> str:
    """SQL ``WHEN`` clauses: reject a time ``ts`` before 2000, naming it by ``what`` (SQL
    text) and saying how it was read, so a misread unit shows at a glance; and an infinite
    one (``infinity`` parses as a time: it loaded, priced at the newest prices, and
    ``-infinity``'s "read as" was NULL, which made the whole reason NULL)."""
    return (
        f"WHEN NOT isfinite({ts}) THEN {what} || ' is not a request time (an infinite time)' "
        f"WHEN {ts} < {EARLIEST} THEN {what} || ' is before 2000: not a "
        f"request time (read as ' || make_timestamp(epoch_us({ts}))::VARCHAR || ' UTC)'"
    )


GATEWAY_MACROS = r"""
-- Whether a JSON value is written as a whole number: a JSON number, an integral float
-- (10.0), or a numeric string, of any size.
CREATE OR REPLACE TEMP MACRO ta_whole(v) AS
    regexp_full_match(v ->> '$', '\s*-?[0-9]+(\.0*)?\s*')
    AND json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'VARCHAR');
-- That whole number, or NULL (not one, or beyond BIGINT).
CREATE OR REPLACE TEMP MACRO ta_num(v) AS CASE
    WHEN ta_whole(v) THEN try_cast(regexp_extract(v ->> '$', '-?[0-9]+') AS BIGINT) END;
-- Why a count is unusable, or NULL (absent and JSON null are fine; an empty CSV cell is
-- read as null). An empty or blank string is not a count: read as 0 it would price the call
-- without it. A whole number beyond BIGINT is too large, as ta_int_problem words it.
CREATE OR REPLACE TEMP MACRO ta_num_problem(v, label) AS CASE
    WHEN coalesce(json_type(v), 'NULL') = 'NULL' THEN NULL
    WHEN ta_num(v) IS NULL AND ta_whole(v)
        THEN label || CASE WHEN starts_with(trim(v ->> '$'), '-') THEN ' is negative'
                           ELSE ' is too large: ' || left(trim(v ->> '$'), 80) END
    WHEN ta_num(v) IS NULL THEN label || ' should be a whole number, got ' || left(v::VARCHAR, 80)
    WHEN ta_num(v) < 0 THEN label || ' is negative' END;
-- The same for a count a provider always writes (prompt, completion): there a JSON null is
-- a broken record, not a count of 0 (an absent field is still fine).
CREATE OR REPLACE TEMP MACRO ta_num_problem_nn(v, label) AS CASE
    WHEN json_type(v) = 'NULL' THEN label || ' is null' ELSE ta_num_problem(v, label) END;
-- What a JSON value is, in JSON's words (for reject reasons).
CREATE OR REPLACE TEMP MACRO ta_json_kind(v) AS CASE json_type(v)
    WHEN 'BIGINT' THEN 'number' WHEN 'UBIGINT' THEN 'number' WHEN 'DOUBLE' THEN 'number'
    WHEN 'VARCHAR' THEN 'string' ELSE lower(json_type(v)) END;
-- A scalar as trimmed text; NULL for absent, null or empty.
CREATE OR REPLACE TEMP MACRO ta_str(v) AS nullif(trim(CASE
    WHEN json_type(v) IN ('OBJECT', 'ARRAY') THEN v::VARCHAR
    WHEN json_type(v) = 'NULL' THEN NULL ELSE v ->> '$' END), '');
-- An object or array, also when it arrives serialised inside a JSON string.
CREATE OR REPLACE TEMP MACRO ta_json(v) AS CASE
    WHEN json_type(v) IN ('OBJECT', 'ARRAY') THEN v
    WHEN json_type(v) = 'VARCHAR' AND json_valid(v ->> '$')
         AND json_type((v ->> '$')::JSON) IN ('OBJECT', 'ARRAY') THEN (v ->> '$')::JSON
    END;
-- A timestamp from an RFC 3339 / ISO string (naive = UTC) or an epoch number (a number or
-- a numeric string; seconds, milliseconds, microseconds or nanoseconds by its size).
CREATE OR REPLACE TEMP MACRO ta_epoch(s) AS {epoch};
CREATE OR REPLACE TEMP MACRO ta_ts(v) AS CASE
    WHEN json_type(v) IN ('BIGINT', 'UBIGINT', 'DOUBLE') THEN ta_epoch(v ->> '$')
    WHEN json_type(v) = 'VARCHAR' AND regexp_full_match(trim(v ->> '$'), '[0-9]+(\.[0-9]+)?')
        THEN ta_epoch(trim(v ->> '$'))
    WHEN json_type(v) = 'VARCHAR' THEN try_cast(trim(v ->> '$') AS TIMESTAMPTZ)
    END;
-- Providers named the way the price tables and the envelope name them (google for Gemini
-- and Vertex in every spelling); anything else as logged, in lower case.
CREATE OR REPLACE TEMP MACRO ta_provider(p) AS CASE
    WHEN lower(p) IN ('gcp.gemini', 'gcp.vertex_ai', 'gcp.gen_ai', 'gemini', 'google',
                      'vertex_ai', 'vertex_ai_beta', 'vertexai', 'google_genai', 'google_ai')
        THEN 'google'
    WHEN lower(p) IN ('anthropic', 'claude') THEN 'anthropic'
    -- the OTel GenAI names of the clouds LiteLLM calls bedrock and azure: one label each
    WHEN lower(p) = 'aws.bedrock' THEN 'bedrock'
    WHEN lower(p) = 'azure.ai.openai' THEN 'azure'
    ELSE lower(p) END;
-- A provider guessed from a model name, for sources that do not name one (Langfuse).
CREATE OR REPLACE TEMP MACRO ta_provider_from_model(m) AS CASE
    WHEN regexp_matches(lower(m), '^(openai/)?(gpt-|o[1-9]|chatgpt-|text-embedding-|ft:gpt|'
                                   || 'davinci|babbage|codex-|computer-use)') THEN 'openai'
    WHEN regexp_matches(lower(m), '^(anthropic/)?claude') THEN 'anthropic'
    WHEN regexp_matches(lower(m), '^((models|gemini|vertex_ai)/)?gemini') THEN 'google'
    END;
-- The text of chat messages: the system ones, and the first other one (OpenAI/LiteLLM shape).
CREATE OR REPLACE TEMP MACRO ta_system_text(msgs) AS nullif(array_to_string(list_transform(
    list_filter(ta_list(msgs), lambda m: m ->> 'role' IN ('system', 'developer')),
    lambda m: ta_text(m -> 'content')), chr(10)), '');
CREATE OR REPLACE TEMP MACRO ta_first_text(msgs) AS ta_text(list_filter(ta_list(msgs),
    lambda m: coalesce(m ->> 'role', '') NOT IN ('system', 'developer'))[1] -> 'content');
""".replace("{epoch}", epoch_sql("s"))


def install_gateway_macros(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(GATEWAY_MACROS)


# Not blank. (A regexp: trim() with a character list copies every line and is ~50x slower.)
NOT_BLANK = "line IS NOT NULL AND regexp_matches(line, '[^ \\t\\r\\n\\f\\v]')"


def stage_documents(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Read ``path`` into ``_raw``, then ``docs_from_raw``."""
    stage_lines(con, path)
    return docs_from_raw(con)


def docs_from_raw(con: duckdb.DuckDBPyConnection) -> str:
    """Build ``_docs`` from ``_raw``; return ``"lines"`` or ``"document"``.

    JSON Lines when every non-blank line is JSON on its own, or the first one is. Else the
    whole text is one document when it parses as one (pretty-printed JSON). Else, when
    most lines are JSON objects or arrays, still JSON Lines (a log whose first line is
    damaged keeps its other lines, each bad line its own reject); otherwise one reject
    for the document (a truncated pretty-printed file).
    A whole-file document is parsed in memory: these exports are small, and large
    exports should be written as JSON Lines.

    ``raw`` is kept only where a reject will need it and ``_raw`` cannot give it (the
    text of a whole document); ``create_staged_merged`` takes a rejected line's text
    from ``_raw``.
    """
    install_gateway_macros(con)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _docs AS
        SELECT line_no, doc, NULL::VARCHAR AS raw,
            CASE WHEN doc IS NULL THEN 'invalid JSON' END AS problem
        FROM (SELECT line_no, TRY_CAST(line AS JSON) AS doc FROM _raw WHERE {NOT_BLANK})"""
    )
    total, valid, objects, first_line, first_valid = con.execute(
        """SELECT count(*), count(doc), count(*) FILTER (WHERE starts_with(doc::VARCHAR, '{')
                                                          OR starts_with(doc::VARCHAR, '[')),
                  min(line_no), arg_min(doc IS NOT NULL, line_no) FROM _docs"""
    ).fetchone() or (0, 0, 0, None, None)
    if total == valid or first_valid:
        return "lines"
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _whole AS
        SELECT text, TRY_CAST(text AS JSON) AS doc
        FROM (SELECT string_agg(line, E'\\n' ORDER BY line_no) AS text FROM _raw)"""
    )
    whole_valid = (con.execute("SELECT doc IS NOT NULL FROM _whole").fetchone() or (False,))[0]
    if not whole_valid and 2 * objects >= total:
        return "lines"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _docs AS
        SELECT {int(first_line)}::BIGINT AS line_no, doc, text AS raw,
            CASE WHEN doc IS NULL THEN 'invalid JSON: neither JSON Lines nor one JSON '
                 || 'document (a truncated or concatenated file?)' END AS problem
        FROM _whole"""
    )
    con.execute("DROP TABLE _whole")
    return "document"


_ELEMENT_LINES = r"""
CREATE OR REPLACE TEMP TABLE _elem_lines AS
WITH l AS (
    SELECT line_no, regexp_replace(line, '"(?:[^"\\]|\\.)*"', '""', 'g') AS s
    FROM _raw WHERE line IS NOT NULL
), d AS (
    SELECT line_no, s, coalesce(sum(
        length(regexp_replace(s, '[^\[{]', '', 'g')) - length(regexp_replace(s, '[^\]}]', '', 'g')))
        OVER (ORDER BY line_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS depth
    FROM l
)
SELECT row_number() OVER (ORDER BY line_no) AS elem_ord, line_no AS elem_line FROM d
WHERE depth = {depth} AND starts_with(ltrim(s, E' \t,'), '{{')
"""


def stage_element_lines(con: duckdb.DuckDBPyConnection, mode: str, depth: int) -> None:
    """``_elem_lines(elem_ord, elem_line)``: where each element of the record array starts.

    In a pretty-printed document, an element of the array that sits ``depth`` brackets
    deep starts on a line that opens at that depth with ``{``. Brackets are counted per
    line with string literals blanked out (JSON strings never span lines). Use
    ``record_line`` to read it: it falls back to the document's line whenever the count
    of such lines differs from the number of elements (compact documents, JSON Lines).
    """
    if mode != "document":
        con.execute("CREATE OR REPLACE TEMP TABLE _elem_lines (elem_ord BIGINT, elem_line BIGINT)")
        return
    con.execute(_ELEMENT_LINES.replace("{depth}", str(int(depth))).replace("{{", "{"))


def record_line(ord_expr: str, count_expr: str, line_expr: str) -> str:
    """SQL: the line of record ``ord_expr`` of ``count_expr`` (see ``stage_element_lines``).

    In a batch of files (``DocumentFormat.stage_files``) the element lines of every file
    are in ``_elem_lines``, each file's told by the high bits of its line numbers
    (``staging.FILE_NO_SHIFT``): a document's records are looked up among its own file's.
    """
    same_file = f"elem_line >> {FILE_NO_SHIFT} = ({line_expr}) >> {FILE_NO_SHIFT}"
    return (
        f"coalesce(CASE WHEN {count_expr} = (SELECT count(*) FROM _elem_lines WHERE {same_file})"
        f" THEN (SELECT elem_line FROM _elem_lines WHERE elem_ord = {ord_expr} AND {same_file})"
        f" END, {line_expr})"
    )


def records_vote(head: FileHead, looks_like: Callable[[dict[str, Any]], bool]) -> bool | None:
    """Whether a file's parsed head records are mostly of a format (``looks_like``): its
    objects and the first elements of its arrays, at least half of them hits. None when the
    head holds no whole record (a pretty-printed document): the caller reads its text."""
    objects = [r for r in head.records if isinstance(r, dict)]
    objects += [e for r in head.records if isinstance(r, list) for e in r[:5]]
    hits = [o for o in objects if isinstance(o, dict) and looks_like(o)]
    if hits:
        return 2 * len(hits) >= len(objects)
    return False if objects else None


def record_ctes(paths: list[str]) -> str:
    """SQL: the CTEs ``recs``, ``flat`` and ``top`` over ``_docs``: one row per record
    (an array document's elements, or the document itself), with its line (``rec_line``,
    ``record_line``), its JSON type (``r_type``) and one ``extract_sql`` of ``paths``
    (``top``). An array's text is not carried to its elements: a rejected element is
    re-read by path (``create_staged_merged``)."""
    return f"""recs AS (
    SELECT line_no AS doc_line, problem, coalesce(json_type(doc) = 'ARRAY', false) AS in_array,
        CASE WHEN json_type(doc) = 'ARRAY' THEN NULL ELSE raw END AS raw,
        CASE WHEN json_type(doc) = 'ARRAY' THEN CAST(doc AS JSON[]) ELSE [doc] END AS items
    FROM _docs
), flat AS (
    SELECT doc_line, raw, problem, in_array, len(items) AS n,
        unnest(items) AS r, generate_subscripts(items, 1) AS ord
    FROM recs
), top AS (
    SELECT *, CASE WHEN in_array THEN {record_line("ord", "n", "doc_line")} ELSE doc_line END
            AS rec_line,
        json_type(r) AS r_type,
        CASE WHEN json_type(r) = 'OBJECT' THEN {extract_sql("r", paths)} END AS top
    FROM flat
)"""


# Optional helper columns a format's select may carry; never stored.
HELPER_COLUMNS = ("rec_label", "rec_path", "doc_line")


def create_staged_merged(con: duckdb.DuckDBPyConnection, select_sql: str) -> None:
    """``create_staged`` after folding rejected records that share a line into one row.

    Optional columns of ``select_sql``: ``rec_label`` ("span 3", "observation ab12")
    prefixes each reason, so a merged reject names every record it stands for;
    ``rec_path`` and ``doc_line`` locate a record inside its ``_docs`` document, so a
    rejected record keeps its own JSON as raw text without every record carrying a copy.
    A rejected line with no text gets the line from ``_raw``.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gw_rows AS {select_sql}")
    cols = {row[0] for row in con.execute("DESCRIBE _gw_rows").fetchall()}
    if {"rec_path", "doc_line"} <= cols:
        con.execute(
            """UPDATE _gw_rows SET line = json_extract(d.doc, _gw_rows.rec_path)::VARCHAR
            FROM _docs d WHERE _gw_rows.reject_reason IS NOT NULL AND _gw_rows.line IS NULL
              AND _gw_rows.rec_path IS NOT NULL AND d.line_no = _gw_rows.doc_line"""
        )
    label = "rec_label" if "rec_label" in cols else "NULL::VARCHAR"
    helpers = [c for c in HELPER_COLUMNS if c in cols]
    keep = f"* EXCLUDE ({', '.join(helpers)})" if helpers else "*"
    create_staged(
        con,
        f"""SELECT {keep} FROM _gw_rows WHERE reject_reason IS NULL
        UNION ALL BY NAME
        SELECT line_no,
            coalesce(string_agg(line, E'\\n' ORDER BY rn),
                     (SELECT any_value(r.line) FROM _raw r WHERE r.line_no = b.line_no)) AS line,
            string_agg(coalesce({label} || ': ', '') || reject_reason, '; ' ORDER BY rn)
                AS reject_reason
        FROM (SELECT *, row_number() OVER () AS rn FROM _gw_rows
              WHERE reject_reason IS NOT NULL) b
        GROUP BY line_no""",
    )


def extract_sql(doc: str, paths: list[str]) -> str:
    """One ``json_extract`` for many paths: a single parse of ``doc`` (see envelope.py)."""
    listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
    return f"json_extract({doc}, [{listed}])"


def picker(name: str, paths: list[str]) -> dict[str, str]:
    """``{path: name[i]}``: SQL to read each path out of the list ``extract_sql`` made."""
    return {p: f"{name}[{i + 1}]" for i, p in enumerate(paths)}


def count_problems_sql(values: str, labels: list[str], not_null: Collection[str] = ()) -> str:
    """SQL: the problems of the counts in the list ``values`` (from ``extract_sql``), joined
    with '; ', or NULL. One lambda instead of a macro per field keeps planning fast.
    A label in ``not_null`` names a count whose JSON null is a problem too."""
    names = ", ".join("'" + label.replace("'", "''") + "'" for label in labels)
    check = f"ta_num_problem({values}[i], [{names}][i])"
    if any(label in not_null for label in labels):
        strict = ", ".join("true" if label in not_null else "false" for label in labels)
        check = (
            f"CASE WHEN [{strict}][i] THEN ta_num_problem_nn({values}[i], [{names}][i]) "
            f"ELSE {check} END"
        )
    return (
        f"nullif(array_to_string(list_filter(list_transform(range(1, {len(labels)} + 1), "
        f"lambda i: {check}), lambda p: p IS NOT NULL), '; '), '')"
    )


def read_each_file(
    con: duckdb.DuckDBPyConnection,
    paths: list[Path],
    read_one: Callable[[duckdb.DuckDBPyConnection, Path], None],
) -> None:
    """``_raw``, ``_docs`` and ``_elem_lines`` of several files, for one staging statement.

    Planning a format's staging SQL costs 0.15 to 0.3 s, about all a small file's staging
    costs (200 one-span OTLP files took 55 s), so each file is read on its own by
    ``read_one`` (whether it is JSON Lines, one document or CSV is decided per file), its
    line numbers given its number in their high bits (``staging.FILE_NO_SHIFT``), and the
    format's staging SQL runs once over all of them (then ``unpack_file_numbers``).
    """
    tables = {
        "_raw": "line_no + {base} AS line_no, line",
        "_docs": "line_no + {base} AS line_no, doc, raw, problem",
        "_elem_lines": "elem_ord, elem_line + {base} AS elem_line",
    }
    for number, path in enumerate(paths):
        read_one(con, path)
        base = number << FILE_NO_SHIFT
        for table, columns in tables.items():
            select = f"SELECT {columns.format(base=base)} FROM {table}"
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {table}_all AS {select}"
                if number == 0
                else f"INSERT INTO {table}_all {select}"
            )
    for table in tables:
        con.execute(f"DROP TABLE {table}")
        con.execute(f"ALTER TABLE {table}_all RENAME TO {table}")


class DocumentFormat(LogFormat):
    """A format whose files are JSON documents holding records (Langfuse, OTLP).

    Detection: the parsed head records must mostly look right; a pretty-printed document
    has no whole record in its first lines, so its opening key (``head_key``) decides.
    Staging: the documents, the line of each record of the array ``element_depth`` levels
    down, then the format's own ``stage_sql`` over them.
    """

    head_key: re.Pattern[str]
    head_lines: int = 5
    reads_documents = True
    element_depth: int
    stage_sql: str
    #: statements run after the documents are read and before ``stage_sql`` (its inputs),
    #: and after it (dropping what they made)
    before_sql: tuple[str, ...] = ()
    after_sql: tuple[str, ...] = ()

    @abstractmethod
    def looks_right(self, record: dict[str, Any]) -> bool:
        """Whether one parsed head record is of this format."""

    def sniff(self, head: FileHead) -> bool:
        if head.objects:
            return head.mostly(self.looks_right)
        return any(self.head_key.search(line) for line in head.lines[: self.head_lines])

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._read_one(con, path)
        self._stage_docs(con)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files, each read as ``stage`` reads one, then staged in one statement
        (``read_each_file``)."""
        read_each_file(con, paths, self._read_one)
        self._stage_docs(con)
        unpack_file_numbers(con)

    def _read_one(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        mode = stage_documents(con, path)
        stage_element_lines(con, mode, self.element_depth)

    def _stage_docs(self, con: duckdb.DuckDBPyConnection) -> None:
        """``_staged`` from ``_raw``, ``_docs`` and ``_elem_lines``."""
        for statement in self.before_sql:
            con.execute(statement)
        create_staged_merged(con, self.stage_sql)
        for statement in self.after_sql:
            con.execute(statement)
