"""Claude on Vertex AI: batch prediction output (docs/formats.md, "vertex-claude-batch").

Google's "Batch predictions with Anthropic Claude models"
(cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude-batch): each input line
(Cloud Storage JSONL, or a BigQuery row) is ``{"custom_id": "request-1", "request":
{"messages": […], "anthropic_version": "vertex-2023-10-16", "max_tokens": 50}}``; the job
"reserve[s] two column names for the batch prediction output: response(JSON) and status",
and other input columns are passed through to the output. So an output line is the input
line plus ``response`` (an Anthropic Messages API response: id, model, usage with its cache
fields) and ``status`` (empty, or the error of a failed line, which has no ``response``).
A BigQuery table exported as JSON Lines may hold ``request``/``response`` as JSON text and
leave out a NULL ``status``.

Each line is rewritten as an ``anthropic`` ``messages`` envelope with ``batch: true``:
usage, token classes, texts and hashes are the envelope's, and every row is priced with the
model's batch variant.

- **Prompt.** The line's own ``request``: nothing to match with an input file.
- **Failures are requests, not rejects** (``status = 'error'``, the status text kept; a
  JSON error inside it gives the type and message).
- **Model.** The response's ``model`` (a Vertex ``claude-3-5-haiku@20241022`` is priced as
  ``claude-3-5-haiku-20241022``, ``pricing/names.py``), else the request's; a failed line
  that names none is ``unknown`` (the model is on the batch job, not in the file).
- **Time.** The line's ``timestamp``, else ``processed_time`` (as Vertex writes on its
  Gemini output; Messages carry no time), else the earliest of its file, else the file's
  modification time.
- **Key.** ``anthropic:<message id>``; a line without one (a failed line) is
  ``anthropic:<custom_id>@<md5 of the line>`` (no path in it: a copy of the file loads
  nothing new), else the hash of the line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.batch import given_time, line_time, object_value, text_value
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import stage_lines
from tokaudit.ingest.streams import body_provider

# The fields of an output line that are not copied through from its input line
OWN_KEYS = ("status", "processed_time", "request", "response")
_P = [
    "$.custom_id",
    "$.status",
    "$.processed_time",
    "$.request",
    "$.response",
    "$.timestamp",
]
T = {p[2:]: field(_P, p) for p in _P}
_COPIED = "'{" + ", ".join(f'"{k}": null' for k in OWN_KEYS) + "}'::JSON"


def claude_request_sql(req: str) -> str:
    """SQL: the request object ``req`` is a Claude Messages request as Vertex takes it: with
    ``anthropic_version``, which Vertex requires in a Claude request body (an open model's
    OpenAI-style ``messages`` request on Vertex has none)."""
    return f"json_exists({req}, '$.anthropic_version')"


def _front(path: Path) -> str:
    return f"""
WITH top AS ({parsed_lines(_P)}
), lines AS (
    SELECT *,
        CASE WHEN json_type({T["custom_id"]}) = 'VARCHAR' THEN {T["custom_id"]} ->> '$'
             END AS custom_id,
        {object_value(T["request"])} AS req,
        {object_value(T["response"])} AS resp_any,
        -- a failed line's error, e.g. 'Bad Request: {{"type": "error", "error": {{...}}}}'
        {text_value(T["status"])} AS status_text
    FROM top
), answered AS (
    -- an Anthropic error body as the response ({{"type": "error", "error": {{...}}}}) is a
    -- failed line too, as the envelope reads one
    SELECT *,
        CASE WHEN resp_any ->> '$.type' = 'error' THEN resp_any -> '$.error' END AS resp_error,
        CASE WHEN resp_any ->> '$.type' = 'error' THEN NULL ELSE resp_any END AS resp
    FROM lines
), detailed AS (
    SELECT *, coalesce(status_text, CASE WHEN resp_error IS NOT NULL THEN resp_any::VARCHAR END)
            AS failure,
        coalesce(resp_error,
            CASE WHEN json_valid(regexp_extract(status_text, '\\{{.*\\}}'))
                 THEN regexp_extract(status_text, '\\{{.*\\}}')::JSON -> '$.error' END) AS detail,
        {text_value("(resp -> '$.id')")} AS msg_id,
        -- a blank time is no time (the file's earliest stands in)
        coalesce({given_time(T["timestamp"])}, {given_time(T["processed_time"])}) AS own_time
    FROM answered
)
SELECT l.line_no, l.line, l.custom_id,
    CASE {not_object_reason()}
        WHEN json_type({T["status"]}) NOT IN ('VARCHAR', 'NULL') THEN 'status is not a string'
        WHEN l.req IS NULL THEN 'request is missing or not an object'
        WHEN {present(T["response"])} IS NOT NULL AND l.resp_any IS NULL
            THEN 'response is not an object'
        WHEN l.failure IS NULL AND l.resp IS NULL
            THEN 'response is missing but status is empty (a successful line)'
        WHEN l.resp IS NOT NULL AND ta_object_provider(l.resp) IS DISTINCT FROM 'anthropic'
            THEN 'response is not an Anthropic Message (Gemini output: use --format gemini-batch)'
    END AS reject_reason,
    json_object(
        'timestamp', {line_time("l.own_time", path)},
        'provider', 'anthropic', 'api', 'messages',
        -- the message id when there is one (the envelope's key); a failed line's custom_id
        -- is unique in its batch only: with the hash of the line, never the file's path
        'request_id', CASE WHEN l.msg_id IS NULL
                           THEN l.custom_id || '@' || md5(l.line) END,
        -- a failed line whose request names no model: the batch job had it
        'model', CASE WHEN l.resp IS NULL AND nullif(l.req ->> '$.model', '') IS NULL
                      THEN 'unknown' END,
        'metadata', json_merge_patch(l.j, {_COPIED}),
        'request', l.req,
        'response', l.resp,
        'error', CASE WHEN l.failure IS NOT NULL AND l.resp IS NULL THEN json_object(
                'status', try_cast(l.detail ->> '$.code' AS INTEGER),
                'type', coalesce(l.detail -> '$.type', l.detail -> '$.status'),
                'message', coalesce(l.detail -> '$.message', to_json(l.failure))) END,
        'batch', true) AS env
FROM detailed l
"""


def decoded_object(value: Any) -> Any:
    """A JSON object, or JSON text holding one (BigQuery exports), as a dict; else None."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return None
    return value if isinstance(value, dict) else None


def is_claude_request(request: Any) -> bool:
    """A Claude Messages request as Vertex takes it (mirrors ``claude_request_sql``)."""
    req = decoded_object(request)
    return req is not None and "anthropic_version" in req


def _is_output(record: Any) -> bool:
    if not isinstance(record, dict) or "provider" in record:
        return False
    # a request/response pair has none of these (an input line has no response nor status)
    if not any(k in record for k in ("status", "processed_time", "custom_id")):
        return False
    status = record.get("status")
    if not (status is None or isinstance(status, str)) or not is_claude_request(
        record.get("request")
    ):
        return False
    response = record.get("response")
    if response is None:
        return bool(status and status.strip())  # a failed line
    body = decoded_object(response)
    if body is not None and body.get("type") == "error":  # an Anthropic error body
        return True
    return body_provider(body) == "anthropic"


class VertexClaudeBatchFormat(LogFormat):
    name = "vertex-claude-batch"
    description = "Vertex AI batch prediction output of Anthropic Claude models (JSONL)"

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_output)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, _front(path))
