"""The ``mapped`` format: any CSV, JSON Lines or Parquet export, read through a field map.

Documented in docs/formats.md; the map itself is ``fieldmap.py``. DuckDB reads the file
(CSV in one fixed dialect with every column as text, ``csvrows.py``; the JSON Lines reader
of the other formats; or ``read_parquet``), every mapped value is cast in SQL, and a value
of the wrong type rejects its record with the record's line (CSV: the line the record
starts on, quoted line breaks and blank lines counted; JSON Lines: the line; Parquet: the
row number). A malformed CSV record (too many or too few fields, an unterminated quote) is
a reject too, and the file's other records load. A mapped column the whole file lacks
reads as empty unless the file cannot do without it (``_check_absent``), and is told
(``absent_columns``); the columns the map does not read (or those its ``metadata:``
lists) are the rows' ``metadata``. Token counts are made disjoint here: with
``input_includes_cache: true`` the cache columns are taken out of the input count, as for
OpenAI's ``prompt_tokens``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from tokaudit.ingest.csvrows import header_line, sniff_delimiter, stage_csv_docs
from tokaudit.ingest.fieldmap import (
    COUNT_TARGETS,
    PRICED_METADATA,
    REQUIRED_TARGETS,
    TEXT_TARGETS,
    FieldMap,
)
from tokaudit.ingest.files import BOM, COMPRESSED_SUFFIXES, COMPRESSION_MAGIC
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.jsondocs import (
    NOT_BLANK,
    before_2000,
    docs_from_raw,
    epoch_sql,
    install_gateway_macros,
    record_line,
    stage_element_lines,
)
from tokaudit.ingest.staging import (
    create_staged,
    path_sql,
    read_lines_sql,
    sql_string,
    stage_lines,
)

# The column DuckDB's read_parquet(file_row_number = true) adds: a Parquet row's number.
_ROW_NUMBER = "file_row_number"
# A compressed stream (files.COMPRESSION_MAGIC's suffix): its name and what undoes it.
_UNPACK = {".gz": ("gzip", "gzip -d"), ".zst": ("zstd", "zstd -d")}


def _base_name(path: Path) -> str:
    """The lower-case file name without a compression suffix."""
    name = path.name.lower()
    for comp in COMPRESSED_SUFFIXES:
        name = name.removesuffix(comp)
    return name


def reader_for(path: Path, fmap: FieldMap, con: duckdb.DuckDBPyConnection | None = None) -> str:
    """csv, jsonl or parquet: the map's ``format``, else the file name (a ``.gz`` or
    ``.zst`` suffix aside), else the first bytes of the content, decompressed (``con``
    reads a zstd stream): ``PAR1`` is Parquet, a first non-blank ``{`` or ``[`` JSON (Lines
    or one document), anything else CSV."""
    if fmap.reader:
        return fmap.reader
    name = _base_name(path)
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json", ".log")):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    start = _content_start(path, con)
    if start.startswith(b"PAR1"):
        return "parquet"
    return "jsonl" if start.removeprefix(BOM.encode()).lstrip()[:1] in (b"{", b"[") else "csv"


def _content_start(path: Path, con: duckdb.DuckDBPyConnection | None) -> bytes:
    """The first bytes of the file's content, a gzip stream decompressed; of a zstd stream
    (which DuckDB decompresses, as it does when the file is staged: the standard library
    has no zstd), its first non-blank line. Empty when unreadable: the reader says why."""
    packed = _packed(path)
    try:
        if packed is None or packed[0] == "gzip":
            opener = gzip.open if packed else open
            with opener(path, "rb") as fh:
                return bytes(fh.read(1 << 16))
        if con is None:
            return b""
        # the staging's own line reader, on a cursor of its own: a stream it cannot read
        # fails this probe only, not the caller's transaction
        probe = con.cursor()
        try:
            found = probe.execute(
                f"SELECT line FROM {read_lines_sql(path)} WHERE {NOT_BLANK} LIMIT 1"
            ).fetchone()
        finally:
            probe.close()
    except (OSError, EOFError, duckdb.Error):
        return b""
    return b"" if found is None else str(found[0]).encode("utf-8")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _json_path(dotted: str) -> str:
    """The JSON pointer of a dotted path into objects. (A ``$."key"`` path has no escape
    for a key that ends in a backslash: it failed the whole file as a binder error.)"""
    return "".join(_pointer(p) for p in dotted.split("."))


def _pointer(name: str) -> str:
    """The JSON pointer of a top-level key (RFC 6901: ``~`` and ``/`` escaped)."""
    return "/" + name.replace("~", "~0").replace("/", "~1")


def _whole(text: str) -> str:
    """SQL: a whole number from text ("12", "12.0"); NULL for "12.5", "1e3" or words."""
    return (
        f"CASE WHEN regexp_full_match({text}, '-?[0-9]+(\\.0*)?') "
        f"THEN try_cast(regexp_replace({text}, '\\.0*$', '') AS BIGINT) END"
    )


class MapError(duckdb.InvalidInputException):
    """A file the map cannot read (a required mapped column it lacks, or every count
    column; a compressed Parquet file):
    the whole file fails with this reason, the other files of the call still load."""


def _packed(path: Path) -> tuple[str, str] | None:
    """(compression, the command that undoes it) when the file's first bytes are those of
    a gzip or zstd stream, else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError:
        return None  # the reader says why
    suffix = next((s for magic, s in COMPRESSION_MAGIC.items() if head.startswith(magic)), None)
    return _UNPACK[suffix] if suffix else None


class MappedFormat(LogFormat):
    """Never auto-detected: ``--map`` forces it for every file of the call."""

    name = "mapped"
    description = "CSV, JSON Lines or Parquet read through a YAML field map (--map)"

    def __init__(self, fmap: FieldMap) -> None:
        self.fmap = fmap
        # what the file staged last lacks in every record (``absent_columns``)
        self._absent: list[tuple[str, str]] = []
        # the column of a Parquet row's number, as read (``_parquet_scan``)
        self._row_column = _ROW_NUMBER

    def sniff(self, head: FileHead) -> bool:
        return False

    def absent_columns(self) -> list[tuple[str, str]]:
        return list(self._absent)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._absent = []
        kind = reader_for(path, self.fmap, con)
        install_gateway_macros(con)
        if kind == "csv":
            self._rows_csv(con, path)
        elif kind == "parquet":
            self._rows_parquet(con, path)
        else:
            self._rows_json(con, path)
        # a Parquet record as read carries its row number, which is no part of it
        create_staged(con, self._select((self._row_column,) if kind == "parquet" else ()))

    # --- reading: _mrows(line_no, line, problem, v_<target> VARCHAR, ...) ----------------
    def _missing(self, target: str, columns: dict[str, str], hint: str = "") -> MapError:
        source = self.fmap.fields[target]
        return MapError(
            f"column {source!r} (fields.{target} in {self.fmap.origin}) is not in the "
            f"file{hint}; its columns are: {', '.join(columns)}"
        )

    def _check_absent(
        self, absent: list[str], columns: dict[str, str], hint: Callable[[str], str]
    ) -> None:
        """Fail the file (MapError) when a target it lacks is one it cannot do without:
        a required one (timestamp, and model or provider when mapped), or every token
        count the map names (the rows would load with no usage, unpriced, for a typo).
        Any other mapped target ``absent`` from the file reads as empty on its rows, the
        same in CSV, JSON Lines and Parquet (an export leaves out a column it has no
        value for; a JSON writer drops null keys). ``hint(target)``: the reason's tail."""
        fm = self.fmap
        for target in REQUIRED_TARGETS:
            if target in absent:
                raise self._missing(target, columns, hint(target))
        counts = [t for t in COUNT_TARGETS if t in fm.fields]
        if counts and all(t in absent for t in counts):
            named = ", ".join(f"{fm.fields[t]!r} (fields.{t})" for t in counts)
            raise MapError(
                f"no token count the map names is in the file: {named} in {fm.origin}"
                f"{hint(counts[0])}; its columns are: {', '.join(columns)}"
            )

    def _note_absent(self, absent: list[str], columns: dict[str, str] | None = None) -> None:
        """Keep, for ``absent_columns``, the optional mapped targets the file lacks (its
        rows read them as empty) and the ``metadata:`` columns it lacks (``columns``: the
        file's; None when ``absent`` already names them as ``metadata`` entries)."""
        fm = self.fmap
        self._absent = [(t, fm.fields[t]) for t in absent if t in fm.fields]
        if columns is not None:
            self._absent += [("metadata", c) for c in self._listed(absent) if c not in columns]

    def _listed(self, absent: list[str]) -> list[str]:
        """The columns ``metadata:`` lists, but for the source of a target in ``absent`` (a
        mapped column the file lacks is said once, for its target). A dotted source the
        map reads into an object (``usage.in``) is no top-level column, so listing it kept
        nothing, without a word: it is told as a column the file lacks."""
        said = {self.fmap.fields[t] for t in absent}
        return [c for c in self.fmap.metadata or () if c not in said]

    def _value_sql(
        self, columns: dict[str, str], target: str, con: duckdb.DuckDBPyConnection, scan: str
    ) -> str | None:
        """SQL text of a mapped column of ``r`` (struct fields through dotted names); None
        when the file has no such column or struct field."""
        source = self.fmap.fields[target]
        if source in columns:
            return f"CAST(r.{_ident(source)} AS VARCHAR)"
        head, *rest = source.split(".")
        if head not in columns or not rest:
            return None
        if columns[head] == "JSON":
            path = _json_path(".".join(rest))
            return f"json_extract_string(r.{_ident(head)}, {sql_string(path)})"
        expr = (
            f"CAST(r.{_ident(head)}" + "".join(f"[{sql_string(p)}]" for p in rest) + " AS VARCHAR)"
        )
        # a struct without that field fails to bind: the file's schema says, no row is read
        # (on a cursor of its own, so the failure is this probe's, not the transaction's)
        probe = con.cursor()
        try:
            probe.execute(f"DESCRIBE SELECT {expr} FROM {scan} r")
        except duckdb.Error:
            return None
        finally:
            probe.close()
        return expr

    def _rows_csv(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        # One fixed dialect, parsed in SQL over the file's lines (csvrows.py), never
        # sniffed: a sniffer guesses a header from a ragged row and drops lines it takes
        # for comments, and DuckDB's failed the whole file on a row cut inside its quotes.
        # Only the delimiter is read, from the header line, unless the name says .tsv.
        stage_lines(con, path)
        if _base_name(path).endswith(".tsv"):
            delim = "\t"
        else:
            head = header_line(con)
            delim = sniff_delimiter(head[1]) if head else ","
        columns = dict.fromkeys(stage_csv_docs(con, delim), "VARCHAR")
        if not columns:
            # empty or blank: no records, nothing lost, as an empty JSON Lines file (it
            # failed as unreadable, exit 2, for a day an export had no rows to write)
            nothing = ", ".join(f"NULL::VARCHAR AS v_{t}" for t in self.fmap.fields)
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _mrows AS SELECT NULL::BIGINT AS line_no, "
                f"NULL::VARCHAR AS line, NULL::VARCHAR AS problem, {nothing} WHERE false"
            )
            return
        fields = self.fmap.fields
        absent = [t for t, source in fields.items() if source not in columns]

        def hint(target: str) -> str:  # every field is text: a dotted name reaches nowhere
            if "." not in fields[target]:
                return ""
            return " (a CSV column holds text: a dotted name is a column's whole name)"

        self._check_absent(absent, columns, hint)
        self._note_absent(absent, columns)
        present = [t for t in fields if t not in absent]
        # one parse of each record's JSON for every mapped column
        pointers = ", ".join(sql_string(_pointer(fields[t])) for t in present)
        values = ", ".join(
            [
                *(f"v[{i}] AS v_{t}" for i, t in enumerate(present, 1)),
                *(f"NULL::VARCHAR AS v_{t}" for t in absent),
            ]
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _mrows AS
            SELECT line_no, line, problem, {values}
            FROM (SELECT line_no, raw AS line, problem,
                         json_extract_string(doc, [{pointers}]) AS v FROM _docs)"""
        )

    def _rows_parquet(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        # A Parquet file is read from its end (the footer) with random access, so it cannot
        # stream through a decompressor; its pages are compressed inside it anyway.
        packed = _packed(path)
        if packed is not None:
            kind, undo = packed
            # (not named here: the loader prefixes the file, which may be standard input)
            raise MapError(
                f"{kind}-compressed Parquet cannot be read: Parquet is read from its end and "
                f"compresses its own data, so it cannot stream through {kind}. Decompress the "
                f"file first ({undo})"
            )
        scan = self._parquet_scan(con, path)
        columns = {
            str(r[0]): str(r[1])
            for r in con.execute(f"DESCRIBE SELECT * FROM {scan}").fetchall()
            if r[0] != self._row_column
        }
        exprs = {t: self._value_sql(columns, t, con, scan) for t in self.fmap.fields}
        absent = [t for t, e in exprs.items() if e is None]
        self._check_absent(absent, columns, lambda t: "")
        self._note_absent(absent, columns)
        values = ", ".join(f"{e or 'NULL::VARCHAR'} AS v_{t}" for t, e in exprs.items())
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _mrows AS
            SELECT r.{_ident(self._row_column)} + 1 AS line_no,
                   to_json(r)::VARCHAR AS line, NULL::VARCHAR AS problem, {values}
            FROM {scan} r"""
        )

    def _parquet_scan(self, con: duckdb.DuckDBPyConnection, path: Path) -> str:
        """The relation of the file's rows with their 0-based row number in a column of
        their own (``self._row_column``): DuckDB's ``file_row_number``, unless the file has
        a column of that name (any case), which the option cannot be added beside (a Binder
        Error failed the whole file). Then the rows are copied, each whole as one struct,
        in the file's order (DuckDB keeps insertion order), and numbered in that copy's
        order under a name none of the file's columns has: the file's own
        ``file_row_number`` stays a column like any other, mappable and kept in metadata."""
        source = path_sql(path)
        names = {
            str(r[0]).lower()
            for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({source})").fetchall()
        }
        if _ROW_NUMBER not in names:
            self._row_column = _ROW_NUMBER
            return f"read_parquet({source}, file_row_number = true)"
        self._row_column = "tokaudit_row_number"
        while self._row_column in names:
            self._row_column += "_"
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _mparquet AS "
            f"SELECT r AS rec FROM read_parquet({source}) r"
        )
        # (numbered in rowid order: in the load's transaction a rowid does not start at 0)
        number = f"row_number() OVER (ORDER BY rowid) - 1 AS {_ident(self._row_column)}"
        return f"(SELECT {number}, unnest(rec) FROM _mparquet)"

    def _rows_json(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        mode = docs_from_raw(con)  # JSON Lines, or one document (a JSON array of records)
        unpack = "true" if mode == "document" else "false"
        stage_element_lines(con, mode, 1)  # where each element of a pretty-printed array starts
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _mdocs AS
            WITH d AS (
                SELECT line_no, problem, raw,
                    CASE WHEN {unpack} AND problem IS NULL AND json_type(doc) = 'ARRAY'
                              AND json_array_length(doc) > 0
                         THEN CAST(doc AS JSON[]) ELSE [doc] END AS l
                FROM _docs
            ), e AS (
                SELECT line_no AS doc_line, problem, raw, len(l) AS n,
                    unnest(l) AS rec, generate_subscripts(l, 1) AS ord
                FROM d
            )
            SELECT CASE WHEN {unpack} THEN {record_line("ord", "n", "doc_line")}
                        ELSE doc_line END AS line_no, problem, raw, rec
            FROM e"""
        )
        self._check_json_keys(con)
        values = ", ".join(
            f"json_extract_string(rec, {sql_string(_json_path(src))}) AS v_{t}"
            for t, src in self.fmap.fields.items()
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _mrows AS
            SELECT line_no, coalesce(rec::VARCHAR, raw) AS line,
                CASE WHEN problem IS NOT NULL THEN problem
                     WHEN json_type(rec) <> 'OBJECT' THEN 'not a JSON object' END AS problem,
                {values}
            FROM _mdocs"""
        )

    def _check_json_keys(self, con: duckdb.DuckDBPyConnection) -> None:
        """A mapped path that no record of ``_mdocs`` has is a column the file lacks, as in
        CSV and Parquet (``_check_absent``): a required one fails the file (a typo read
        NULL on every line and loaded the rows with no usage, without a word), any other
        reads as empty. (A record may leave any key out.)"""
        objects = "json_type(rec) = 'OBJECT'"

        def some_record_has(pointers: list[str]) -> str:
            """SQL: per JSON pointer, whether any object record of ``_mdocs`` has it."""
            return ", ".join(
                f"coalesce(bool_or(json_exists(rec, {sql_string(p)})) "
                f"FILTER (WHERE {objects}), false)"
                for p in pointers
            )

        kept = self._listed([])  # metadata: columns, top-level keys by their whole name
        paths = [_json_path(src) for src in self.fmap.fields.values()]
        paths += [_pointer(c) for c in kept]
        found = some_record_has(paths)
        row = con.execute(
            f"SELECT count(*) FILTER (WHERE {objects}), {found} FROM _mdocs WHERE problem IS NULL"
        ).fetchone()
        if row is None or not row[0]:
            return  # no record to read a key from: every line is its own reject, or none
        n = len(self.fmap.fields)
        absent = [t for t, has in zip(self.fmap.fields, row[1 : n + 1], strict=True) if not has]
        said = set(self._listed(absent))
        lacking = [c for c, has in zip(kept, row[n + 1 :], strict=True) if not has and c in said]
        self._absent = [("metadata", c) for c in lacking]
        if not absent:
            return
        keys = con.execute(
            f"SELECT DISTINCT unnest(json_keys(rec)) AS k FROM _mdocs "
            f"WHERE problem IS NULL AND {objects} ORDER BY k LIMIT 100"
        ).fetchall()
        columns = dict.fromkeys((str(k) for (k,) in keys), "JSON")
        # a key that holds the dots itself (a flattened export's "usage.x"), looked up in
        # every record, not among the keys listed: in a file of more than 100 keys it read
        # as empty, and a cache count so lost was priced as uncached input
        dotted = [t for t in absent if "." in self.fmap.fields[t]]
        flat: set[str] = set()
        if dotted:
            whole_keys = [_pointer(self.fmap.fields[t]) for t in dotted]
            has = con.execute(
                f"SELECT {some_record_has(whole_keys)} FROM _mdocs WHERE problem IS NULL"
            ).fetchone()
            flat = {t for t, found in zip(dotted, has or (), strict=False) if found}
        columns.update(dict.fromkeys((self.fmap.fields[t] for t in flat), "JSON"))

        def hint(target: str) -> str:
            if target in flat:
                return (
                    ": no record has it (a dotted name is a path into objects, not a key with dots)"
                )
            return ": no record has it"

        for target in absent:  # a key that holds the dots itself: read as nested, a mistake
            if target in flat:
                raise self._missing(target, columns, hint(target))
        self._check_absent(absent, columns, hint)
        self._absent[:0] = [(t, self.fmap.fields[t]) for t in absent]

    # --- mapping: _mrows to _staged ---------------------------------------------------
    def _v(self, target: str) -> str:
        """The raw text of a target for a row: its column, its static value, or NULL."""
        if target in self.fmap.fields:
            return f"nullif(trim(v_{target}), '')"
        if target in self.fmap.static:
            value = self.fmap.static[target]
            text = str(value).lower() if isinstance(value, bool) else str(value)
            return sql_string(text)
        return "NULL"

    def _select(self, not_record: tuple[str, ...] = ()) -> str:
        """The staging query over ``_mrows``; ``not_record``: keys of ``line`` that are not
        part of the record (left out of its hash)."""
        fm = self.fmap
        ts_fmt = fm.timestamp_format
        ts_text = self._v("timestamp")
        if ts_fmt:
            ts = f"try_strptime({ts_text}, {sql_string(ts_fmt)})::TIMESTAMPTZ"
        else:
            ts = (
                f"CASE WHEN regexp_full_match({ts_text}, '[0-9]+(\\.[0-9]+)?') "
                f"THEN {epoch_sql(ts_text)} "
                f"ELSE try_cast({ts_text} AS TIMESTAMPTZ) END"
            )
        checks = [
            f"WHEN {ts_text} IS NULL THEN 'missing timestamp ({self._label('timestamp')})'",
            "WHEN ts IS NULL THEN 'timestamp is not "
            + (
                "in the format " + ts_fmt.replace("'", "''")
                if ts_fmt
                else "ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds)"
            )
            + f" ({self._label('timestamp')}): ' || {ts_text}",
            before_2000("ts", f"'timestamp ' || {ts_text} || ' ({self._label('timestamp')})'"),
        ]
        for t in ("model", "provider"):
            checks.append(f"WHEN {self._v(t)} IS NULL THEN 'missing {t} ({self._label(t)})'")
        for t in COUNT_TARGETS:
            if t in fm.fields:
                # a whole number that BIGINT cannot hold is too large, as in every format
                checks.append(
                    f"WHEN {self._v(t)} IS NOT NULL AND c_{t} IS NULL AND "
                    f"regexp_full_match({self._v(t)}, '-?[0-9]+(\\.0*)?') THEN '{self._label(t)}"
                    f"' || CASE WHEN starts_with({self._v(t)}, '-') THEN ' is negative' "
                    f"ELSE ' is too large: ' || {self._v(t)} END"
                )
                checks.append(
                    f"WHEN {self._v(t)} IS NOT NULL AND c_{t} IS NULL THEN '{self._label(t)} "
                    f"should be a whole number, got ' || {self._v(t)}"
                )
                checks.append(f"WHEN c_{t} < 0 THEN '{self._label(t)} is negative'")
        # An empty input or output cell beside other counts is a lost value, not a 0: read
        # as 0 it would price the row without its output (or input).
        for t in ("input_tokens", "output_tokens"):
            others = " OR ".join(
                f"{self._v(o)} IS NOT NULL" for o in COUNT_TARGETS if o != t and o in fm.fields
            )
            if t in fm.fields and others:
                checks.append(
                    f"WHEN {self._v(t)} IS NULL AND ({others}) THEN '{self._label(t)} is empty'"
                )
        if "batch" in fm.fields:
            checks.append(
                f"WHEN {self._v('batch')} IS NOT NULL AND c_batch IS NULL "
                f"THEN '{self._label('batch')} should be true or false, got ' || {self._v('batch')}"
            )
        if "latency_ms" in fm.fields:
            checks.append(
                f"WHEN {self._v('latency_ms')} IS NOT NULL AND c_latency_ms IS NULL "
                f"THEN '{self._label('latency_ms')} should be a number, got ' "
                f"|| {self._v('latency_ms')}"
            )
        if "status" in fm.fields:
            checks.append(
                f"WHEN lower({self._v('status')}) NOT IN ('ok', 'error', 'success', 'failure', "
                f"'failed') THEN '{self._label('status')} should be ok or error, got ' "
                f"|| {self._v('status')}"
            )
        cache = " + ".join(
            f"coalesce(c_{t}, 0)"
            for t in ("cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens")
        )
        if fm.input_includes_cache and "input_tokens" in fm.fields:
            checks.append(
                f"WHEN {cache} > coalesce(c_input_tokens, 0) THEN 'cache tokens exceed the "
                "input tokens, which input_includes_cache: true says contain them'"
            )
            uncached = f"c_input_tokens - ({cache})"
        else:
            uncached = "c_input_tokens"
        if "reasoning_tokens" in fm.fields and fm.output_includes_reasoning:
            checks.append(
                "WHEN coalesce(c_reasoning_tokens, 0) > coalesce(c_output_tokens, 0) THEN "
                "'reasoning tokens exceed the output tokens, which "
                "output_includes_reasoning: true says contain them'"
            )
        output = "c_output_tokens"
        if not fm.output_includes_reasoning:
            output = "coalesce(c_output_tokens, 0) + coalesce(c_reasoning_tokens, 0)"
        casts = ", ".join(
            [
                *(f"{_whole(self._v(t))} AS c_{t}" for t in COUNT_TARGETS),
                f"try_cast({self._v('batch')} AS BOOLEAN) AS c_batch",
                f"try_cast({self._v('latency_ms')} AS DOUBLE) AS c_latency_ms",
            ]
        )
        any_count = " OR ".join(f"c_{t} IS NOT NULL" for t in COUNT_TARGETS)
        text = {t: self._v(t) for t in TEXT_TARGETS}
        tier = f"lower({text['service_tier']})"
        # Without a mapped request_id a row's key is a hash of the whole record, every column
        # mapped or not, with its keys sorted (and its copy number among equal records of the
        # file): the same export with its columns reordered or its JSON spaced otherwise is
        # duplicates (the record's text as read loaded it again), a map edited to read one
        # more column loads nothing twice, and two calls alike in every mapped value but told
        # apart by another column stay two. A key of the record as read that a store already
        # holds (written before this rule) still wins, so a grown file is not loaded twice.
        # (a Parquet row's number is left out: a re-export with rows added before it, or
        # sorted otherwise, loaded every row again)
        pointer = "'/' || replace(replace(k, '~', '~0'), '/', '~1')"
        keys = "list_sort(json_keys(line))"
        if not_record:
            skipped = ", ".join(sql_string(k) for k in not_record)
            keys = f"list_filter({keys}, lambda k: k NOT IN ({skipped}))"
        canonical = (
            f"array_to_string(list_transform({keys}, lambda k: "
            f"to_json(k)::VARCHAR || ':' || coalesce(json_extract(line, {pointer})::VARCHAR, "
            "'null')), ',')"
        )
        metadata = self._metadata_sql(not_record)
        provider = f"ta_provider({text['provider']})"
        key = f"""CASE WHEN {text["request_id"]} IS NOT NULL
                     THEN {provider} || ':' || {text["request_id"]}
                     WHEN legacy.request_key IS NOT NULL THEN legacy.request_key
                     ELSE {provider} || ':rec-md5:' || row_sig || ':' || row_copy END"""
        return f"""
        WITH c0 AS (SELECT *, {ts} AS ts, {casts},
                       row_number() OVER (PARTITION BY line ORDER BY line_no) AS occurrence
                   FROM _mrows),
        c AS (SELECT c0.*, s.row_sig,
                  row_number() OVER (PARTITION BY s.row_sig ORDER BY line_no) AS row_copy,
                  {provider} || ':line-md5:' || md5(line) || ':' || occurrence AS line_key
              FROM c0, LATERAL (SELECT CASE WHEN json_type(try(line::JSON)) = 'OBJECT'
                                            THEN md5({canonical}) ELSE md5(line) END
                                       AS row_sig) s)
        SELECT line_no, line,
            CASE WHEN problem IS NOT NULL THEN problem {" ".join(checks)} END AS reject_reason,
            ts, ta_provider({text["provider"]}) AS provider, {text["request_id"]} AS request_id,
            {key} AS request_key,
            {text["model"]} AS model_requested, {text["model"]} AS model,
            {text["team"]} AS team, {text["user"]} AS user_id, {text["feature"]} AS feature,
            {text["project"]} AS project, {text["prompt"]} AS prompt_id,
            {text["prompt_version"]} AS prompt_version, {text["environment"]} AS environment,
            {metadata} AS metadata,
            CASE WHEN {any_count} THEN {uncached} END AS input_tokens,
            c_cache_read_tokens AS cache_read_tokens,
            c_cache_write_tokens AS cache_write_5m_tokens,
            c_cache_write_1h_tokens AS cache_write_1h_tokens,
            CASE WHEN {any_count} THEN {output} END AS output_tokens,
            c_reasoning_tokens AS reasoning_tokens, c_web_search_requests AS web_search_requests,
            c_file_search_calls AS file_search_calls,
            coalesce({any_count}, false) AS has_usage,
            CASE WHEN lower({text["status"]}) IN ('error', 'failure', 'failed') THEN 'error'
                 ELSE 'ok' END AS status,
            c_latency_ms AS latency_ms,
            coalesce(c_batch, false) OR coalesce({tier} = 'batch', false) AS is_batch,
            CASE WHEN {tier} IS NULL OR {tier} IN ('default', 'auto', 'standard', 'batch')
                 THEN NULL
                 -- OpenAI's name for priority since 2026-07-30, as in the other formats
                 WHEN {tier} = 'fast' AND ta_provider({text["provider"]}) = 'openai'
                 THEN 'priority'
                 ELSE {tier} END AS service_tier
        FROM c LEFT JOIN (SELECT request_key FROM requests
                          WHERE contains(request_key, ':line-md5:')) legacy
            ON {text["request_id"]} IS NULL AND legacy.request_key = c.line_key"""

    def _metadata_sql(self, not_record: tuple[str, ...]) -> str:
        """SQL: a valid record's ``metadata``, for attribution's metadata.<key> rules
        (docs/attribution.md) and SQL, as other formats keep their logs' metadata.

        By default the record's fields that the map does not read whole (every other column
        of a CSV or Parquet row; a JSON record's other top-level keys, an object a dotted
        path reads into kept whole), and those of PRICED_METADATA even when mapped. With
        ``metadata:`` a list, the record's columns of those names (and of PRICED_METADATA),
        in that order, mapped or not; with ``false`` those of PRICED_METADATA only. A
        PRICED_METADATA target the map fills (``fields`` or ``static``) is set under its
        name, where it has a value. NULL when none is in the record."""
        fm = self.fmap
        valid = "problem IS NULL AND json_type(try(line::JSON)) = 'OBJECT'"
        kept = self._kept_metadata_sql(not_record)
        priced = [t for t in PRICED_METADATA if t in fm.fields or t in fm.static]
        if not priced:
            return kept
        # a priced target (``inference_geo: usage.inference_geo``) under its own name, over
        # a column of that name; where it is empty, the column (if any) stays
        meta = f"coalesce({kept}, '{{}}'::JSON)"
        for t in priced:
            value = self._v(t)
            patch = f"CASE WHEN {value} IS NOT NULL THEN json_object({sql_string(t)}, {value}) END"
            meta = f"json_merge_patch({meta}, coalesce({patch}, '{{}}'::JSON))"
        return f"CASE WHEN {valid} THEN nullif({meta}, '{{}}') END"

    def _kept_metadata_sql(self, not_record: tuple[str, ...]) -> str:
        """SQL: the record's columns that ``metadata`` keeps (``_metadata_sql``)."""
        fm = self.fmap
        valid = "problem IS NULL AND json_type(try(line::JSON)) = 'OBJECT'"
        if fm.metadata is None:
            # a mapped column of a PRICED_METADATA name is kept too: pricing reads it
            read = [c for c in fm.fields.values() if c not in PRICED_METADATA]
            unmapped = json.dumps(dict.fromkeys([*read, *not_record]))
            return (
                f"CASE WHEN {valid} THEN "
                f"nullif(json_merge_patch(line, {sql_string(unmapped)}), '{{}}') END"
            )
        kept = [k for k in dict.fromkeys([*fm.metadata, *PRICED_METADATA]) if k not in not_record]
        if not kept:
            return "NULL::JSON"
        # one parse of the record for every kept key; a key the record lacks is left out
        pointers = ", ".join(sql_string(_pointer(k)) for k in kept)
        names = ", ".join(sql_string(json.dumps(k, ensure_ascii=False) + ":") for k in kept)
        pairs = f"list_transform(json_extract(line, [{pointers}]), lambda v, i: [{names}][i] || v)"
        return (
            f"CASE WHEN {valid} THEN "
            f"nullif('{{' || array_to_string({pairs}, ',') || '}}', '{{}}')::JSON END"
        )

    def _label(self, target: str) -> str:
        if target in self.fmap.fields:
            return f"column {self.fmap.fields[target]}".replace("'", "''")
        return f"static.{target}"
