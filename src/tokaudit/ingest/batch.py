"""What the batch formats share: finding a batch's input file, and filling prompts late.

Batch output lines (OpenAI) and result lines (Anthropic) carry no prompt: the request
bodies are in the batch *input* file, matched on ``custom_id``. A ``custom_id`` is only
unique within one batch (every batch may have a ``request-1``), so an output file is
matched to one input *file* as a whole (``picked_inputs``). When no input file is picked,
its rows load without a request (no prompt text) and are filled when the input file is
ingested later (``fill_late_inputs``): the same columns, from the same SQL, as if it had
come first.

Rows of batch formats keep ``{"custom_id": ..., "batch_input": <input file or null>}`` in
``requests.metadata``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from tokaudit.ingest.staging import insert_prompt_texts, sql_string

BATCH_FORMATS = ("openai-batch", "anthropic-batch", "gemini-batch")

# A file staged from a temporary copy (one with a byte order mark or bare CRs, a damaged
# archive): the copy's path -> the file itself, set by the loader while it stages. A batch
# output is matched to the input in its own directory and timed by its own modification
# time, never the copy's.
_ORIGINALS: dict[str, Path] = {}


@contextmanager
def staged_copies(originals: dict[Path, Path]) -> Iterator[None]:
    """While staging: each copy in ``originals`` stands for the file it maps to."""
    _ORIGINALS.update({str(copy): original for copy, original in originals.items()})
    try:
        yield
    finally:
        for copy in originals:
            _ORIGINALS.pop(str(copy), None)


def original_file(path: Path) -> Path:
    """The file ``path`` was copied from for staging (``staged_copies``), else ``path``."""
    return _ORIGINALS.get(str(path), path)


def api_from_url(url_sql: str) -> str:
    """SQL: the API name of a batch endpoint (``/v1/chat/completions`` → ``chat.completions``)."""
    return f"nullif(replace(regexp_extract({url_sql}, '^/v1/(.+)$', 1), '/', '.'), '')"


def object_value(expr: str) -> str:
    """SQL: a JSON object, or JSON text holding one (a BigQuery export's JSON column as a
    string); NULL otherwise."""
    text = f"({expr} ->> '$')"
    return f"""CASE json_type({expr}) WHEN 'OBJECT' THEN {expr}
        WHEN 'VARCHAR' THEN CASE WHEN json_valid({text})
                                  AND json_type({text}::JSON) = 'OBJECT' THEN {text}::JSON END
        END"""


def text_value(expr: str) -> str:
    """SQL: a JSON string's text, NULL when blank or not a string."""
    return f"CASE WHEN json_type({expr}) = 'VARCHAR' THEN nullif(trim({expr} ->> '$'), '') END"


def given_time(expr: str) -> str:
    """SQL: a line's time field, NULL when null or a blank string (no time given: the
    file's earliest stands in); any other value is kept for the envelope to check."""
    return f"""CASE WHEN json_type({expr}) = 'NULL'
        OR (json_type({expr}) = 'VARCHAR' AND trim({expr} ->> '$') = '') THEN NULL
        ELSE {expr} END"""


def line_time(own: str, path: Path) -> str:
    """SQL: a result line's time: its own (``own``, JSON, e.g. ``given_time``), else the
    earliest own time in its file, else the file's modification time (``file_time``)."""
    return f"""coalesce({own},
        to_json((min(try_cast({own} ->> '$' AS TIMESTAMPTZ)) OVER ())::VARCHAR),
        {file_time(path)})"""


def file_time(path: Path) -> str:
    """SQL JSON literal of a file's modification time (UTC), the last-resort timestamp."""
    try:
        mtime = original_file(path).stat().st_mtime
    except OSError:
        mtime = datetime.now(UTC).timestamp()
    return f"to_json({sql_string(datetime.fromtimestamp(mtime, UTC).isoformat())})"


def picked_inputs(outs_sql: str) -> str:
    """SQL: ``(out_file, input_file)``, the input file each batch output file takes.

    ``outs_sql`` selects ``out_file, provider, custom_id`` for the output rows. An input
    file *covers* an output file when it holds every one of its custom_ids. The pick is the
    only covering file in the output's directory; else, when none is there, the only
    covering file anywhere. Several candidates mean no pick: a wrong prompt is worse than
    none. Candidates that give the same requests (the input and its ``.gz`` copy) are one:
    the first by name is picked (both copies left every output without its prompt).
    """
    return f"""(
    WITH outs AS (
        SELECT DISTINCT out_file, provider, custom_id FROM ({outs_sql}) o
        WHERE custom_id IS NOT NULL
    ), need AS (SELECT out_file, count(*) AS n FROM outs GROUP BY out_file),
    cand AS (
        SELECT o.out_file, b.source_file, count(*) AS hits,
            md5(string_agg(json_array(b.custom_id, b.url, b.body)::VARCHAR, chr(10)
                           ORDER BY b.custom_id)) AS gives
        FROM outs o JOIN batch_inputs b ON b.custom_id = o.custom_id AND b.provider = o.provider
        GROUP BY ALL
    ), covering AS (
        SELECT c.out_file, c.source_file, c.gives,
            parse_dirpath(c.source_file) = parse_dirpath(c.out_file) AS same_dir
        FROM cand c JOIN need USING (out_file) WHERE c.hits = need.n
    ), ranked AS (
        SELECT *, bool_or(same_dir) OVER (PARTITION BY out_file) AS any_same FROM covering
    )
    SELECT out_file, min(source_file) AS input_file FROM ranked WHERE same_dir = any_same
    GROUP BY out_file HAVING count(DISTINCT gives) = 1
)"""


def matched_inputs(provider: str, path: Path, ids_sql: str) -> str:
    """SQL: the ``batch_inputs`` rows of the input file picked for one output file.

    ``ids_sql`` selects the output file's ``custom_id`` values (one column, ``custom_id``).
    """
    out = sql_string(str(original_file(path).resolve()))
    outs = (
        f"SELECT {out} AS out_file, {sql_string(provider)} AS provider, custom_id FROM ({ids_sql})"
    )
    return f"""(
    SELECT b.* FROM batch_inputs b JOIN {picked_inputs(outs)} p ON b.source_file = p.input_file
)"""


def fill_late_inputs(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Give rows of earlier-loaded batch outputs the prompts of this input file.

    Runs while the input file loads, over its ``_staged`` rows (the request columns the
    envelope SQL computed from each body) joined to ``_front`` (custom_id, provider). An
    output file is filled only when this input holds every one of its custom_ids.
    """
    formats = ", ".join(sql_string(f) for f in BATCH_FORMATS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _late AS
        WITH pending AS (
            SELECT request_key, source_file AS out_file, provider,
                -- a Gemini API batch result names its request by its key; a Vertex one
                -- holds its own request (never pending)
                CASE WHEN source_format <> 'gemini-batch' THEN metadata ->> 'custom_id'
                     WHEN request_hash IS NULL THEN metadata ->> 'key' END AS custom_id,
                model_responded, model_requested AS model_before, model AS model_was
            FROM requests
            WHERE source_format IN ({formats}) AND metadata ->> 'batch_input' IS NULL
        ), mine AS (
            SELECT f.custom_id, s.* EXCLUDE (model_responded)
            FROM _staged s JOIN _front f USING (line_no) WHERE s.reject_reason IS NULL
        ), picked AS (
            SELECT out_file FROM {picked_inputs("SELECT * FROM pending")}
            WHERE input_file = {sql_string(source)}
        )
        SELECT p.model_responded, p.model_before, p.model_was,
            m.* EXCLUDE (custom_id, request_key), p.request_key
        FROM pending p JOIN picked USING (out_file)
        JOIN mine m ON m.custom_id = p.custom_id AND m.provider = p.provider"""
    )
    con.execute(
        f"""UPDATE requests SET
            -- a Gemini input names no model (the batch job does): the row keeps its own
            model_requested = coalesce(l.model_requested, l.model_before),
            model = coalesce(l.model_responded, l.model_requested, l.model_was),
            api = coalesce(requests.api, l.api),
            user_id = coalesce(requests.user_id, l.user_id),
            request_hash = l.request_hash, prompt_hash = l.prompt_hash,
            input_hash = l.input_hash,
            -- the request's inference_geo, as the envelope takes it when the response names
            -- none: a US-only batch call loaded before its input is then priced as such
            metadata = json_merge_patch(json_merge_patch(requests.metadata,
                                        json_object('batch_input', {sql_string(source)})),
                CASE WHEN requests.metadata ->> 'inference_geo' IS NULL
                          AND l.metadata ->> 'inference_geo' IS NOT NULL
                     THEN json_object('inference_geo', l.metadata -> 'inference_geo')
                     ELSE '{{}}'::JSON END),
            recounted_input_tokens = NULL, recount_tokenizer = NULL, recount_exact = NULL
        FROM _late l WHERE requests.request_key = l.request_key"""
    )
    insert_prompt_texts(con, "_late")
