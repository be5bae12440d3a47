"""CSV records parsed in SQL over a file's lines, each malformed one a reject with its line.

For the CSV readers: the ``mapped`` format and LiteLLM's spend-log CSV (a comma). One fixed
dialect: the delimiter given, fields quoted with ``"`` (a quote inside doubled), no
comment lines, the columns the header's. Nothing is guessed from a sample, so a file of
three rows reads as one of a million does. Lines come from ``_raw``
(``staging.stage_lines``), which reads LF, CRLF and a mix of them alike: a row reads as it
would with uniform endings, and a line break inside a quoted field reads as ``\\n``.

DuckDB's CSV reader fell short here: its sniffer failed a whole file on a row cut inside
its quotes, or guessed a dialect from a ragged sample; its strict mode fails a whole file
whose rows mix LF and CRLF; it drops empty fields after the last column without a word;
and it numbers rows, not lines.
"""

from __future__ import annotations

import csv
import io
import re

import duckdb

from tokaudit.ingest.files import BOM
from tokaudit.ingest.jsondocs import NOT_BLANK
from tokaudit.ingest.staging import sql_string

# Delimiters a header line may show (``sniff_delimiter``); the comma wins ties.
DELIMITERS = (",", "\t", ";", "|")
# Each delimiter as RE2 writes it, in a character class or out of one.
_RE2 = {",": ",", "\t": "\\t", ";": ";", "|": "\\|"}
_QUOTED = re.compile(r'"(?:[^"]|"")*"')


def sniff_delimiter(header: str) -> str:
    """The delimiter of a header line: of comma, tab, semicolon and pipe, the one it holds
    most often outside quotes; the comma on a tie, or when it holds none (one column)."""
    bare = _QUOTED.sub("", header)
    counts = {d: bare.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # the first of equals: the comma
    return best if counts[best] > 0 else ","


def header_line(con: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """(number, text) of the first non-blank line of ``_raw``: the header; None if none."""
    found = con.execute(
        f"SELECT line_no, line FROM _raw WHERE {NOT_BLANK} ORDER BY line_no LIMIT 1"
    ).fetchone()
    return None if found is None else (int(found[0]), str(found[1]))


def _patterns(delim: str) -> dict[str, str]:
    """The dialect as RE2 patterns over one physical line (no line ending).

    A field is quoted ("…", a quote inside doubled) or unquoted: empty, or not starting
    with a quote (a quote further in is text, as DuckDB's and Python's CSV readers have
    it). A line read from outside quotes ends outside (every field closed) or inside (the
    last field's quotes left open); read from inside a quoted field, the field closes (or
    not) and the line goes on as read from outside. A line that fits none (text after a
    closing quote) is broken. ``fields``: a well-formed record's fields, one match each
    (its delimiter first) once a delimiter is put in front of the record; no capture
    group: RE2 then finds them three times faster. ``filled``: a line that is not blank
    (a blank line, empty or white space, is no record).
    """
    d = _RE2[delim]
    field = f'(?:"(?:[^"]|"")*"|[^"{d}][^{d}]*)?'
    text = '(?:[^"]|"")*'
    return {
        "out_to_out": f"{field}(?:{d}{field})*",
        "out_to_in": f'(?:{field}{d})*"{text}',
        "in_to_out": f'{text}"(?:{d}{field})*',
        "in_to_in": f'{text}(?:"(?:{d}{field})*{d}"{text})?',
        "fields": f'{d}(?:"(?:[^"]|"")*"|[^"{d}][^{d}]*|)',
        # not blank: a character other than white space (a tab delimits, when it does)
        "filled": "[^ \\r\\n\\f\\v]" if delim == "\t" else "[^ \\t\\r\\n\\f\\v]",
    }


# _csv_records(rec, line_no, text, broken, unclosed): each CSV record of ``_raw`` from the
# header (line {header}, record 1) on, with the physical line it starts on. Whether a line
# starts inside quotes depends on every line before it, so each line's effect is taken as
# a function of the state it starts in (o: outside quotes, i: inside): identity, swap, or
# constant (a broken line ends its record: the next line starts outside). The state before
# a line is then the last constant before it, flipped once per swap since: window sums,
# no scan line by line. Only a line holding a quote can be other than the identity, so the
# windows run over those lines alone, and every line takes the state the last of them
# before it left (an ASOF join): a file with few quotes costs little more than its lines.
# A record starts on each line outside quotes that is not blank (empty or white space: no
# record, but counted in the line numbers); lines inside quotes belong to the record
# above. Most records are one line; only the others are grouped, their lines joined with
# LF (a line break inside a quoted field reads as \n whatever the file's line endings).
_CSV_RECORDS = """
CREATE OR REPLACE TEMP TABLE _csv_records AS
WITH ends AS (
    SELECT line_no,
        CASE WHEN regexp_full_match(line, {out_to_out}) THEN 'o'
             WHEN regexp_full_match(line, {out_to_in}) THEN 'i' ELSE 'x' END AS from_o,
        CASE WHEN regexp_full_match(line, {in_to_in}) THEN 'i'
             WHEN regexp_full_match(line, {in_to_out}) THEN 'o' ELSE 'x' END AS from_i
    FROM _raw WHERE line_no >= {header} AND contains(line, '"')
), kinds AS (
    SELECT *, (from_o = 'i') = (from_i = 'i') AS is_const,
        from_o = 'i' AND from_i <> 'i' AS is_swap
    FROM ends
), swaps AS (
    SELECT *, sum(is_swap::INTEGER) OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS swaps
    FROM kinds
), states AS (
    SELECT line_no, from_o, from_i,
        (coalesce(last_value(CASE WHEN is_const THEN (from_o = 'i')::INTEGER END IGNORE NULLS)
                      OVER before, 0)
         + swaps - is_swap::INTEGER
         - coalesce(last_value(CASE WHEN is_const THEN swaps END IGNORE NULLS) OVER before, 0))
        % 2 = 1 AS in_quotes
    FROM swaps
    WINDOW before AS (ORDER BY line_no ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
), quoted AS (
    SELECT line_no, in_quotes, CASE WHEN in_quotes THEN from_i ELSE from_o END AS ends
    FROM states
), lines AS (
    SELECT r.line_no, coalesce(r.line, '') AS text,
        CASE WHEN q.line_no = r.line_no THEN q.in_quotes ELSE coalesce(q.ends = 'i', false) END
            AS in_quotes,
        CASE WHEN q.line_no = r.line_no THEN q.ends WHEN q.ends = 'i' THEN 'i' ELSE 'o' END
            AS ends,
        r.line IS NOT NULL AND regexp_matches(r.line, {filled}) AS filled
    FROM _raw r ASOF LEFT JOIN quoted q ON r.line_no >= q.line_no
    WHERE r.line_no >= {header}
), numbered AS MATERIALIZED (
    SELECT line_no, text, in_quotes, ends, NOT in_quotes AND filled AS starts,
        sum((NOT in_quotes AND filled)::INTEGER)
            OVER (ORDER BY line_no ROWS UNBOUNDED PRECEDING) AS rec
    FROM lines WHERE in_quotes OR filled
)
SELECT rec, line_no, text, ends = 'x' AS broken, false AS unclosed
FROM numbered WHERE starts AND ends <> 'i'
UNION ALL
SELECT rec, min(line_no), string_agg(text, chr(10) ORDER BY line_no),
    bool_or(ends = 'x'), arg_max(ends, line_no) = 'i'
FROM numbered WHERE in_quotes OR ends = 'i' GROUP BY rec
"""

# _docs from _csv_records: a record of the header's field count becomes a JSON object of
# the header's names (an empty field is null, as DuckDB's CSV reader reads it); any other
# count is a reject, extra fields counted even when empty (nothing is dropped unseen). A
# record without a quote is split at its delimiters (`s`), three times faster than the
# pattern that finds the fields of the others (`v`).
_CSV_DOCS = """
CREATE OR REPLACE TEMP TABLE _docs AS
WITH recs AS (
    SELECT line_no, text, broken, unclosed, contains(text, '"') AS q,
        CASE WHEN NOT broken AND NOT unclosed AND contains(text, '"')
             THEN regexp_extract_all({delim} || text, {fields_pattern}) END AS v,
        CASE WHEN NOT contains(text, '"') THEN string_split(text, {delim}) END AS s
    FROM _csv_records WHERE rec > 1
), checked AS (
    SELECT *, CASE
        WHEN unclosed THEN 'malformed CSV row: Value with unterminated quote found.'
        WHEN broken THEN 'malformed CSV row: text after the closing quote of a field'
        WHEN coalesce(len(v), len(s)) <> {fields}
            THEN 'malformed CSV row: ' || coalesce(len(v), len(s))
            || CASE WHEN coalesce(len(v), len(s)) = 1 THEN ' field' ELSE ' fields' END
            || ' where the header has {fields}'
        END AS problem
    FROM recs
), docs AS (
    SELECT line_no, text, problem, CASE WHEN problem IS NULL THEN {object} END AS doc
    FROM checked
)
SELECT line_no, doc, coalesce(doc::VARCHAR, text) AS raw, problem FROM docs
"""


def stage_csv_docs(con: duckdb.DuckDBPyConnection, delim: str = ",") -> list[str]:
    """``_docs(line_no, doc, raw, problem)`` from a CSV file in ``_raw``; its column names.

    One row per record, at the physical line it starts on (1-based, blank lines counted):
    a well-formed one as a JSON object of its fields (text; an empty field null), ``raw``
    that object's text; a malformed one (a field count other than the header's, a quote
    left open at the end of the file, text after a closing quote) with ``doc`` NULL, its
    text as ``raw`` and the reason as ``problem``. The header is the first non-blank line;
    with none (an empty file) there are no columns and no records. ``delim`` is one of
    ``DELIMITERS``.
    """
    if delim not in _RE2:
        raise ValueError(f"unsupported CSV delimiter {delim!r}")
    found = header_line(con)
    patterns = {k: sql_string(v) for k, v in _patterns(delim).items()}
    con.execute(_CSV_RECORDS.format(header=1 if found is None else found[0], **patterns))
    head = con.execute("SELECT text FROM _csv_records WHERE rec = 1").fetchone()
    names = column_names("" if head is None else str(head[0]), delim)
    pairs = ", ".join(f"{sql_string(n)}, {_csv_value(i)}" for i, n in enumerate(names, 1))
    con.execute(
        _CSV_DOCS.format(
            delim=sql_string(delim),
            fields_pattern=patterns["fields"],
            fields=len(names),
            object=f"json_object({pairs})",
        )
    )
    con.execute("DROP TABLE _csv_records")
    return names


def _csv_value(i: int) -> str:
    """SQL: the value of field ``i`` (1-based) of a record: split at the delimiters (no
    quote in the record), or as matched by the ``fields`` pattern (its delimiter first):
    unquoted, or quoted with its doubled quotes made single. Empty is NULL, as DuckDB's
    reader has it. Written out per column: a lambda over the list of fields is a quarter
    slower."""
    v = f"v[{i}]"
    return (
        f"CASE WHEN q THEN nullif(CASE WHEN {v}[2] = '\"' THEN replace({v}[3:-2], '\"\"', '\"') "
        f"ELSE {v}[2:] END, '') ELSE nullif(s[{i}], '') END"
    )


def column_names(header: str, delim: str = ",") -> list[str]:
    """The header's column names as DuckDB's reader named them: spaces around a name
    trimmed, an empty one ``column<i>``, one repeated (case-insensitively) ``<name>_<n>``
    (a JSON object must not repeat a key). ``header`` is the header record's text."""
    fields = next(csv.reader(io.StringIO(header.removeprefix(BOM)), delimiter=delim), [])
    names: list[str] = []
    taken: set[str] = set()
    for i, field in enumerate(fields):
        name = base = field.strip(" ") or f"column{i}"
        n = 0
        while name.lower() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.lower())
        names.append(name)
    return names
