"""Shared plumbing for aggregated usage exports (OpenAI Usage API, Anthropic usage report).

Both are paged JSON: ``{"data": [bucket, ...], "has_more", "next_page"}`` where a bucket
has a start, an end and ``results``: one row per group (model, project, API key, ...)
with token counts summed over the bucket and no prompt text. A file may hold one page
(pretty-printed or compact), a JSON array of pages, one page per line (JSON Lines), or
bare buckets. Each result becomes one ``requests`` row with ``granularity = 'bucket'``;
the findings rules skip those rows, and reports count their ``request_count``.

``flatten_results`` flattens any of these shapes into ``_results``: one row per result
(or per page or document that cannot be read, so it becomes a reject) with the line the
result starts on, so a reject points at the record and not at line 1.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import duckdb

from tokaudit.ingest.interface import LogFormat
from tokaudit.ingest.jsondocs import (
    create_staged_merged,
    read_each_file,
    record_line,
    stage_documents,
    stage_element_lines,
)
from tokaudit.ingest.staging import FILE_NO_SHIFT, unpack_file_numbers

# Where results sit in a pretty-printed document, by the shape of the whole document:
# page {"data": [bucket {"results": [result]}]} puts results four brackets deep.
_DEPTH = {"page": 4, "pages": 5, "bucket": 2, "buckets": 3}

_FLATTEN = """
CREATE OR REPLACE TEMP TABLE _results AS
WITH docs AS (
    -- a document is a page, a list of pages or buckets, or one bucket
    SELECT line_no AS doc_line, raw, problem, CASE
            WHEN problem IS NULL AND json_type(doc) = 'ARRAY' AND json_array_length(doc) > 0
                THEN CAST(doc AS JSON[])
            ELSE [doc] END AS l
    FROM _docs
), pages AS (
    SELECT doc_line, raw, problem, unnest(l) AS page, generate_subscripts(l, 1) AS page_i
    FROM docs
), page_lists AS (
    SELECT *, CASE
            WHEN json_type(page, '$.data') = 'ARRAY' AND json_array_length(page, '$.data') > 0
                THEN CAST(page -> '$.data' AS JSON[])
            WHEN json_type(page, '$.data') = 'ARRAY' THEN []::JSON[]
            WHEN json_type(page, '$.results') = 'ARRAY' THEN [page]
            ELSE [NULL::JSON] END AS l
    FROM pages
), buckets AS (
    SELECT doc_line, raw, problem, page, page_i,
        unnest(l) AS bucket, generate_subscripts(l, 1) AS bucket_i
    FROM page_lists
), bucket_lists AS (
    SELECT *, CASE
            WHEN json_type(bucket, '$.results') = 'ARRAY'
                THEN CAST(bucket -> '$.results' AS JSON[])
            ELSE [NULL::JSON] END AS l
    FROM buckets
), results AS (
    SELECT doc_line, raw, problem, page, page_i, bucket, bucket_i,
        unnest(l) AS result, generate_subscripts(l, 1) AS result_i
    FROM bucket_lists
), numbered AS (
    -- per file: a batch's files are told by the high bits of their line numbers
    SELECT *, row_number() OVER (PARTITION BY {file}
                                 ORDER BY doc_line, page_i, bucket_i, result_i) AS ord,
        -- the n-th result of the file, for finding the line it starts on
        row_number() OVER (PARTITION BY {file}, result IS NULL
                           ORDER BY doc_line, page_i, bucket_i, result_i) AS result_ord,
        count(*) FILTER (WHERE result IS NOT NULL) OVER (PARTITION BY {file}) AS n
    FROM results
)
SELECT ord, doc_line, problem, bucket, result,
    CASE WHEN result IS NOT NULL THEN {line} ELSE doc_line END AS rec_line,
    coalesce(result::VARCHAR, bucket::VARCHAR, page::VARCHAR, raw) AS rec_raw,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN page IS NULL OR json_type(page) <> 'OBJECT'
            THEN 'not a usage page: expected {{"data": [{{..., "results": [...]}}]}}'
        WHEN bucket IS NULL AND (json_type(page, '$.input_tokens') IS NOT NULL
                                 OR json_type(page, '$.uncached_input_tokens') IS NOT NULL)
            THEN 'a usage result outside its bucket has no time: load the page it came from'
        WHEN bucket IS NULL OR json_type(bucket) <> 'OBJECT'
            THEN 'not a usage bucket: expected an object with "results"'
        WHEN result IS NULL THEN 'bucket "results" is not a list'
        WHEN json_type(result) <> 'OBJECT' THEN 'result is not a JSON object'
    END AS shape_problem
FROM numbered
"""


def flatten_results(con: duckdb.DuckDBPyConnection) -> None:
    """``_results(ord, doc_line, problem, bucket, result, rec_line, rec_raw, shape_problem)``
    from ``_docs`` and ``_elem_lines``: one file's (``read_export``), or a batch's, each
    file read on its own (``jsondocs.read_each_file``) and its number in the high bits of
    its line numbers (``staging.unpack_file_numbers`` after staging)."""
    line = record_line("result_ord", "n", "doc_line")
    con.execute(
        _FLATTEN.replace("{line}", line)
        .replace("{file}", f"doc_line >> {FILE_NO_SHIFT}")
        .replace("{{", "{")
        .replace("}}", "}")
    )


def read_export(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``_raw``, ``_docs`` and ``_elem_lines`` of one usage-export file, its shape its own."""
    mode = stage_documents(con, path)
    shape = "page"
    if mode == "document":
        row = con.execute(
            """SELECT CASE
                WHEN json_type(doc) = 'ARRAY' AND json_type(doc, '$[0].data') IS NOT NULL
                    THEN 'pages'
                WHEN json_type(doc) = 'ARRAY' THEN 'buckets'
                WHEN json_type(doc, '$.data') IS NULL AND json_type(doc, '$.results') = 'ARRAY'
                    THEN 'bucket'
                ELSE 'page' END
            FROM _docs WHERE problem IS NULL LIMIT 1"""
        ).fetchone()
        shape = str(row[0]) if row else "page"
    stage_element_lines(con, mode, _DEPTH[shape])


class UsageExportFormat(LogFormat):
    """A usage export: its files flattened to ``_results``, then its own ``stage_sql``."""

    stage_sql: str
    # daily exports come a file a day: staged a batch at a time (0.2 s a file alone)
    batch_bytes = 64 * 1024 * 1024
    reads_documents = True

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        read_export(con, path)
        flatten_results(con)
        create_staged_merged(con, self.stage_sql)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        read_each_file(con, paths, read_export)
        flatten_results(con)
        create_staged_merged(con, self.stage_sql)
        unpack_file_numbers(con)


def count_check(count: str, not_null: Collection[str]) -> str:
    """The macro that words a count's problem: ``ta_count_problem`` (a JSON null too) for a
    count every result carries (``not_null``), ``ta_int_problem`` for the rest."""
    return "ta_count_problem" if count in not_null else "ta_int_problem"


def group_key(provider: str, fields: list[str]) -> str:
    """SQL: a stable request key for a bucket result, from its bucket times and group keys.

    The counts are left out on purpose: re-loading the same bucket from another export
    (an overlapping download) is then a duplicate, not double spend.
    """
    pairs = ", ".join(f"'{f}', {f}" for f in fields)
    return f"'{provider}:usage:' || md5(json_object({pairs})::VARCHAR)"


def has_marker(lines: list[str], *markers: str) -> bool:
    """Whether the first lines of a file mention every one of ``markers`` (for sniffing)."""
    text = "\n".join(lines)
    return all(m in text for m in markers)
