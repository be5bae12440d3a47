"""OpenAI Batch API output (and error) files, joined to their input file (docs/formats.md).

A line is ``{id, custom_id, response: {status_code, request_id, body} | null, error}``.
``body`` is the ordinary Chat Completions / Responses / Embeddings response, so its usage is
read like any other; every row is priced with the model's batch variant (``is_batch``).

- **Failures are requests, not rejects.** ``status_code`` ≥ 400 (the error in ``body``) or
  ``response: null`` with ``error`` loads as ``status = 'error'`` with no usage.
- **Prompts** come from the matching batch input file (``batch.py``).
- **Time.** Lines carry none: ``body.created`` (``created_at`` for Responses). A failed
  line takes the earliest response time in its file, else the file's modification time.
- **Key.** ``openai:<id>`` (the ``batch_req_…`` id of the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.batch import api_from_url, file_time, matched_inputs
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import stage_lines

_P = [
    "$.id",
    "$.custom_id",
    "$.response",
    "$.error",
    "$.response.status_code",
    "$.response.body",
]
T = {p[2:]: field(_P, p) for p in _P}


def _front(path: Path) -> str:
    ok = "(status_code < 400)"
    return f"""
WITH top AS ({parsed_lines(_P)}
), lines AS (
    SELECT *, CASE WHEN json_type({T["custom_id"]}) = 'VARCHAR' THEN {T["custom_id"]} ->> '$'
              END AS custom_id,
        {present(T["response"])} AS resp, {present(T["error"])} AS err,
        CASE WHEN json_type({T["response.status_code"]}) IN ('BIGINT', 'UBIGINT')
             THEN try_cast({T["response.status_code"]} ->> '$' AS INTEGER) END AS status_code,
        {present(T["response.body"])} AS body
    FROM top
), timed AS (
    -- a JSON null is no time: the file's earliest, as for a line without one
    SELECT *, coalesce(
        CASE WHEN json_type(body, '$.created') <> 'NULL' THEN body -> 'created' END,
        CASE WHEN json_type(body, '$.created_at') <> 'NULL' THEN body -> 'created_at' END
    ) AS created FROM lines
), inputs AS {matched_inputs("openai", path, "SELECT custom_id FROM lines")}
SELECT l.line_no, l.line, l.custom_id,
    CASE {not_object_reason()}
        WHEN l.custom_id IS NULL THEN 'custom_id is missing or not a string'
        WHEN l.resp IS NOT NULL AND json_type(l.resp) <> 'OBJECT'
            THEN 'response is not an object'
        WHEN l.resp IS NOT NULL AND l.status_code IS NULL
            THEN 'response.status_code is missing or not a whole number'
        WHEN l.resp IS NULL AND l.err IS NULL THEN 'neither a response nor an error'
        WHEN l.resp IS NOT NULL AND {ok} AND json_type(l.body) IS DISTINCT FROM 'OBJECT'
            THEN 'response.body is not an object'
    END AS reject_reason,
    json_object(
        'timestamp', coalesce(l.created, to_json(min(try_cast(l.created ->> '$' AS DOUBLE))
                              OVER ()), {file_time(path)}),
        'provider', 'openai', 'api', {api_from_url("i.url")},
        'request_id', {T["id"]},
        -- a failed line whose input is not loaded names no model at all
        'model', CASE WHEN i.body IS NULL AND (l.resp IS NULL OR NOT {ok})
                      THEN 'unknown' END,
        'metadata', json_object('custom_id', l.custom_id, 'batch_input', i.source_file),
        'request', i.body,
        'response', CASE WHEN l.resp IS NOT NULL AND {ok} THEN l.body END,
        'error', CASE WHEN l.resp IS NULL OR NOT {ok} THEN json_object(
            'status', l.status_code,
            'type', coalesce(l.body -> '$.error.type', l.err -> 'type'),
            'code', coalesce(l.body -> '$.error.code', l.err -> 'code'),
            'message', coalesce(l.body -> '$.error.message', l.err -> 'message')) END,
        'batch', true) AS env
FROM timed l LEFT JOIN inputs i ON i.custom_id = l.custom_id
"""


def _is_output(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        return False
    response = record.get("response")
    return "response" in record and (
        (isinstance(response, dict) and "status_code" in response)
        or (response is None and isinstance(record.get("error"), dict))
    )


class OpenAIBatchFormat(LogFormat):
    name = "openai-batch"
    description = "OpenAI Batch API output / error files (JSONL)"

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_output)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, _front(path))
