"""Gemini batch results: Vertex AI batch prediction output and Gemini API Batch Mode results.

Two public shapes, one result per line (docs/formats.md, "gemini-batch"):

- **Vertex AI** batch prediction output (Cloud Storage JSONL, or a BigQuery table exported
  as JSONL), as in cloud.google.com/vertex-ai/generative-ai/docs/multimodal/
  batch-prediction-from-cloud-storage: ``{"status": "", "processed_time": "…",
  "request": {GenerateContentRequest}, "response": {GenerateContentResponse}}``. A failed
  line has the error text in ``status`` (``Bad Request: {"error": {"code": 400, …}}``) and no
  ``response``. Fields of the input line beyond ``request`` are copied through. A BigQuery
  table exported as JSONL may leave out a NULL ``status`` (a successful line).
- **Gemini API** Batch Mode results file (ai.google.dev/gemini-api/docs/batch-api):
  ``{"key": "request-1", "response": {GenerateContentResponse}}`` or ``{"key": …,
  "error": {google.rpc.Status: code, message, details}}``. The prompt is in the input file
  (``{"key", "request"}`` lines, read by ``batch_input.py``) matched as OpenAI's are
  (``batch.py``).

Each line is rewritten as a ``google`` envelope with ``batch: true``: usage, token classes,
texts and hashes are the envelope's, and every row is priced with the batch variant.

- **Failures are requests, not rejects** (``status = 'error'``, the message kept).
- **Model.** The response's ``modelVersion`` (Vertex writes ``gemini-2.0-flash-001@default``;
  the pricing reads ``@default`` as no suffix, ``pricing/names.py``), else the request's
  ``model``; a failed line that names none is ``unknown``.
- **Time.** The line's ``timestamp``, else the response's ``createTime`` (``create_time``
  in an SDK dump), else Vertex's ``processed_time``; a line with none (Gemini API results
  carry no time) takes the earliest time in its file, else the file's modification time.
- **Key.** ``google:<responseId>`` (``response_id`` in a google-genai SDK dump); else a
  Gemini API line is ``google:<key>@<md5 of the line>`` (no path: a copy of the file loads
  nothing new) and a Vertex line the hash of the line.
- **Claude.** A Vertex line whose request is a Claude Messages request is
  ``vertex-claude-batch``'s: not detected here, and rejected with that advice when forced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import duckdb

from tokaudit.ingest.batch import (
    given_time,
    line_time,
    matched_inputs,
    object_value,
    text_value,
)
from tokaudit.ingest.gemini_pairs import GeminiPairsFormat
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import stage_lines
from tokaudit.ingest.streams import body_provider
from tokaudit.ingest.vertex_claude_batch import claude_request_sql, decoded_object

# google.rpc.Code (googleapis google/rpc/code.proto), in number order from 0: the type of a
# Gemini API result's error, whose ``code`` is this, not an HTTP status.
RPC_CODES = (
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
)
_RPC = ", ".join(f"'{c}'" for c in RPC_CODES)
VERTEX_KEYS = ("status", "processed_time", "request", "response")
STUDIO_KEYS = ("key", "response", "error", "timestamp")
_P = [
    "$.key",
    "$.status",
    "$.processed_time",
    "$.request",
    "$.response",
    "$.error",
    "$.timestamp",
]
T = {p[2:]: field(_P, p) for p in _P}
# Vertex: the line without its own fields is what was copied through from the input line
_COPIED = "'{" + ", ".join(f'"{k}": null' for k in VERTEX_KEYS) + "}'::JSON"


def _front(path: Path) -> str:
    return f"""
WITH top AS ({parsed_lines(_P)}
), lines AS (
    SELECT *, list_has_any(keys, ['status', 'processed_time']) AS vertex,
        CASE WHEN json_type({T["key"]}) = 'VARCHAR' THEN {T["key"]} ->> '$' END AS key,
        {object_value(T["request"])} AS req,
        {object_value(T["response"])} AS resp,
        {present(T["error"])} AS err
    FROM top
), fields AS (
    SELECT *,
        -- the API's names, then the google-genai SDK's (a model_dump of the response)
        json_extract(resp, ['$.responseId', '$.createTime', '$.response_id',
                            '$.create_time']) AS rs,
        json_extract(req, ['$.model', '$.labels']) AS rq,
        -- Vertex: a failed line's error, e.g. 'Bad Request: {{"error": {{"code": 400, ...}}}}'
        -- (a BigQuery export leaves out a NULL status: a successful line)
        CASE WHEN vertex THEN {text_value(T["status"])} END AS failure
    FROM lines
), detailed AS (
    SELECT *, CASE WHEN json_valid(regexp_extract(failure, '\\{{.*\\}}'))
                   THEN regexp_extract(failure, '\\{{.*\\}}')::JSON -> '$.error' END AS detail,
        -- a blank time is no time (the file's earliest stands in)
        coalesce({given_time(T["timestamp"])},
                 CASE WHEN {text_value("rs[2]")} IS NOT NULL THEN rs[2] END,
                 CASE WHEN {text_value("rs[4]")} IS NOT NULL THEN rs[4] END,
                 {given_time(T["processed_time"])}) AS own_time
    FROM fields
), inputs AS {matched_inputs("google", path, "SELECT key AS custom_id FROM lines WHERE NOT vertex")}
SELECT l.line_no, l.line, CASE WHEN NOT l.vertex THEN l.key END AS custom_id,
    CASE {not_object_reason()}
        WHEN l.vertex AND json_type({T["status"]}) NOT IN ('VARCHAR', 'NULL')
            THEN 'status is not a string'
        WHEN l.vertex AND l.req IS NULL THEN 'request is missing or not an object'
        WHEN l.vertex AND {claude_request_sql("l.req")}
            THEN 'a Claude request (anthropic_version or messages): use --format '
                 || 'vertex-claude-batch'
        WHEN {present(T["response"])} IS NOT NULL AND l.resp IS NULL
            THEN 'response is not an object'
        WHEN l.vertex AND l.failure IS NULL AND l.resp IS NULL
            THEN 'response is missing but status is empty (a successful line)'
        WHEN NOT l.vertex AND l.key IS NULL THEN 'key is missing or not a string'
        WHEN NOT l.vertex AND l.err IS NOT NULL AND json_type(l.err) <> 'OBJECT'
            THEN 'error is not an object'
        WHEN NOT l.vertex AND l.resp IS NULL AND l.err IS NULL
            THEN 'neither a response nor an error'
    END AS reject_reason,
    json_object(
        'timestamp', {line_time("l.own_time", path)},
        'provider', 'google', 'api', 'generate_content',
        -- the responseId when there is one (the envelope's key); a Gemini API line's key
        -- is unique in its batch only: with the hash of the line (never the file's path,
        -- so a copy of the file elsewhere loads nothing new)
        'request_id', CASE WHEN NOT l.vertex AND {text_value("l.rs[1]")} IS NULL
                                AND {text_value("l.rs[3]")} IS NULL
                           THEN l.key || '@' || md5(l.line) END,
        -- a failed line whose request names no model: the batch job had it
        'model', CASE WHEN l.resp IS NULL
                       AND nullif(coalesce(l.rq[1], i.body -> '$.model') ->> '$', '') IS NULL
                      THEN 'unknown' END,
        'metadata', CASE WHEN l.vertex
            THEN json_merge_patch(json_merge_patch(l.j, {_COPIED}),
                                  json_object('labels', l.rq[2]))
            ELSE json_object('key', l.key, 'batch_input', i.source_file) END,
        'request', CASE WHEN l.vertex THEN l.req ELSE i.body END,
        'response', l.resp,
        'error', CASE WHEN l.failure IS NOT NULL THEN json_object(
                'status', try_cast(l.detail ->> '$.code' AS INTEGER),
                'type', l.detail -> '$.status',
                'message', coalesce(l.detail -> '$.message', to_json(l.failure)))
            WHEN NOT l.vertex AND l.err IS NOT NULL THEN json_object(
                'status', CASE WHEN try_cast(l.err ->> '$.code' AS INTEGER) BETWEEN 100 AND 599
                               THEN try_cast(l.err ->> '$.code' AS INTEGER) END,
                'type', coalesce(l.err ->> '$.status',
                                 [{_RPC}][try_cast(l.err ->> '$.code' AS INTEGER) + 1]),
                'message', l.err -> '$.message') END,
        'batch', true) AS env
FROM detailed l LEFT JOIN inputs i ON i.custom_id = l.key AND NOT l.vertex
"""


def _is_result(record: Any) -> bool:
    if not isinstance(record, dict) or "provider" in record:
        return False
    # Vertex (a BigQuery export leaves out a NULL status): a GenerateContentRequest, whose
    # contents are required (Claude's lines are vertex-claude-batch; an open model's
    # OpenAI-style messages are neither)
    if "processed_time" in record and isinstance(record.get("status"), str | None):
        request = decoded_object(record.get("request"))
        return request is not None and "contents" in request
    if not isinstance(record.get("key"), str) or not set(record) <= set(STUDIO_KEYS):
        return False
    response, error = record.get("response"), record.get("error")
    return body_provider(response) == "google" or (response is None and isinstance(error, dict))


class GeminiBatchFormat(LogFormat):
    name = "gemini-batch"
    description = "Vertex AI batch prediction output / Gemini API Batch Mode results (JSONL)"
    # Vertex with $alt=json;enum-encoding=int: finishReason numbers as names (gemini-pairs)
    replace: ClassVar[dict[str, str]] = GeminiPairsFormat.replace

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_result)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, _front(path), self.replace)
