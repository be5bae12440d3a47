"""Batch input files: the prompts of a batch, kept for its output lines (docs/formats.md).

Lines are OpenAI Batch API input (``{custom_id, method, url, body}``), Anthropic Message
Batches requests saved one per line (``{custom_id, params}``, the ``requests[]`` items of
the create call) or Gemini API Batch Mode input (``{key, request}``, a GenerateContentRequest;
ai.google.dev/gemini-api/docs/batch-api), or Vertex AI batch prediction input
(``{request}``, no key: kept by line number, ``#12``; its output holds its request). They
are not model calls: they load into ``batch_inputs`` (the Gemini ``key`` as the
``custom_id``), or Vertex AI batch prediction input for Claude (``{custom_id, request}``, a
Messages request), and the ``openai-batch`` /
``anthropic-batch`` / ``gemini-batch`` rows take their request body from there (see
``batch.py``). This format loads before the others in one ingest call (``priority``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.batch import api_from_url, fill_late_inputs, object_value
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import sql_string, stage_lines
from tokaudit.ingest.vertex_claude_batch import (
    claude_request_sql,
    decoded_object,
    is_claude_request,
)

_P = [
    "$.custom_id",
    "$.method",
    "$.url",
    "$.body",
    "$.params",
    "$.key",
    "$.request",
]
T = {p[2:]: field(_P, p) for p in _P}

# a line whose request is sent to a model the batch job names (Gemini, Claude on Vertex)
_VERTEX_STYLE = f"""(provider = 'google'
    OR (provider = 'anthropic' AND {present(T["params"])} IS NULL))"""

_FRONT = f"""
WITH top AS ({parsed_lines(_P)}
), decoded AS (
    -- the request as an object, also when it is JSON text (a BigQuery table exported as
    -- JSON Lines, as the Claude output's request may be: vertex_claude_batch.py)
    SELECT *, {object_value(T["request"])} AS req FROM top
), lines AS (
    SELECT *, CASE WHEN {present(T["body"])} IS NOT NULL THEN 'openai'
             WHEN {present(T["params"])} IS NOT NULL THEN 'anthropic'
             -- a Gemini Batch Mode input line: its key is the custom_id
             WHEN {T["custom_id"]} IS NULL AND list_has_any(keys, ['key', 'request'])
                 THEN 'google'
             -- a Vertex AI batch input line for Claude: custom_id and a Messages request
             WHEN req IS NOT NULL AND {claude_request_sql("req")} THEN 'anthropic' END AS provider,
        {T["url"]} ->> '$' AS url,
        coalesce({present(T["body"])}, {present(T["params"])}, req, {present(T["request"])}) AS doc
    FROM decoded
), keyed AS (
    SELECT *, CASE WHEN provider = 'google'
                   THEN CASE WHEN json_type({T["key"]}) = 'VARCHAR' THEN {T["key"]} ->> '$'
                             -- a Vertex AI batch input line has no key (its output line
                             -- holds its request): kept by its line number
                             WHEN NOT list_contains(keys, 'key') THEN '#' || line_no END
                   WHEN json_type({T["custom_id"]}) = 'VARCHAR' THEN {T["custom_id"]} ->> '$'
              END AS custom_id
    FROM lines
), numbered AS (
    SELECT *, min(line_no) OVER (PARTITION BY custom_id) AS first_line FROM keyed
)
SELECT line_no, line, custom_id, provider, {T["method"]} ->> '$' AS method, url,
    doc AS body,
    -- a Gemini request, or a Claude one sent to Vertex, names no model (the batch job
    -- does): kept as none, not 'unknown'
    {_VERTEX_STYLE} AND nullif(req ->> '$.model', '') IS NULL AS unnamed,
    CASE {not_object_reason()}
        WHEN custom_id IS NULL THEN CASE provider WHEN 'google'
            THEN 'key is missing or not a string' ELSE 'custom_id is missing or not a string' END
        WHEN provider IS NULL THEN 'neither body (OpenAI) nor params (Anthropic)'
        WHEN json_type(doc) IS DISTINCT FROM 'OBJECT'
            THEN CASE WHEN provider = 'openai' THEN 'body'
                      WHEN provider = 'anthropic' AND {present(T["params"])} IS NOT NULL
                      THEN 'params' ELSE 'request' END
                 || CASE WHEN doc IS NULL THEN ' is missing' ELSE ' is not an object' END
        WHEN provider = 'openai' AND url IS NULL THEN 'url is missing or not a string'
        WHEN first_line < line_no
            THEN CASE provider WHEN 'google' THEN 'key ' ELSE 'custom_id ' END || custom_id
                 || ' repeats line ' || first_line
    END AS reject_reason,
    -- as an envelope: the envelope SQL computes the request columns (texts, hashes, model)
    -- (a prompt has no time of its own: a fixed placeholder, never stored)
    json_object('timestamp', '2000-01-01T00:00:00Z', 'provider', provider,
        'api', CASE provider WHEN 'anthropic' THEN 'messages' WHEN 'google' THEN 'generate_content'
                             ELSE {api_from_url("url")} END,
        'model', CASE WHEN {_VERTEX_STYLE} AND nullif(req ->> '$.model', '') IS NULL
                      THEN 'unknown' END,
        'request', doc,
        'error', json_object('type', 'batch_input')) AS env
FROM numbered
"""


# keys of a Gemini batch *result* line: a line with one of them is not an input
_RESULT_KEYS = ("response", "error", "status", "processed_time")


def _is_input(record: Any) -> bool:
    if not isinstance(record, dict):
        return False
    if not isinstance(record.get("custom_id"), str):
        # Gemini API Batch Mode input: {"key": ..., "request": GenerateContentRequest};
        # Vertex AI batch prediction input: {"request": GenerateContentRequest} and no key
        request = record.get("request")
        keyed = isinstance(record.get("key"), str) and isinstance(request, dict)
        # a Vertex request may be JSON text (a BigQuery input table exported as JSON Lines,
        # as its output is: gemini_batch.py), which the staging reads as the object
        vertex_request = decoded_object(request)
        vertex = "key" not in record and vertex_request is not None and "contents" in vertex_request
        return (keyed or vertex) and not any(k in record for k in _RESULT_KEYS)
    openai = isinstance(record.get("body"), dict) and "url" in record
    # Vertex AI batch prediction input for Claude: {custom_id, request} (its output line
    # adds response and status: vertex_claude_batch.py)
    claude = is_claude_request(record.get("request")) and not any(k in record for k in _RESULT_KEYS)
    return openai or isinstance(record.get("params"), dict) or claude


class BatchInputFormat(LogFormat):
    name = "batch-input"
    description = (
        "OpenAI Batch API / Anthropic Message Batches / Gemini Batch Mode input lines (JSONL)"
    )
    priority = -1

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_input)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        # the placeholder 'unknown' only passes the envelope's model check
        stage_rewritten(
            con,
            _FRONT,
            {"model_requested": "CASE WHEN f.unnamed THEN NULL ELSE e.model_requested END"},
        )

    def store_records(self, con: duckdb.DuckDBPyConnection, source: str) -> int:
        src = sql_string(source)
        row = con.execute(
            f"""INSERT INTO batch_inputs
            SELECT {src}, f.line_no, f.custom_id, f.provider, f.method, f.url,
                s.model_requested, f.body, now()
            FROM _staged s JOIN _front f USING (line_no)
            WHERE s.reject_reason IS NULL AND NOT EXISTS (
                SELECT 1 FROM batch_inputs b WHERE b.source_file = {src}
                AND b.custom_id = f.custom_id)"""
        ).fetchone()
        fill_late_inputs(con, source)
        return int(row[0]) if row else 0
