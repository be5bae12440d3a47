"""Anthropic Message Batches results files (docs/formats.md).

A line is ``{custom_id, result: {type, message | error}}`` with ``type`` one of
``succeeded`` (with the ordinary Message, usage included), ``errored``, ``canceled`` or
``expired``. Every row is priced with the batch variant.

- **Failures are requests, not rejects**: any type but ``succeeded`` loads as
  ``status = 'error'`` with ``error_type`` = the result type and no usage.
- **Prompts** come from a matching batch input file of ``{custom_id, params}`` lines
  (``batch.py``), when one is loaded.
- **Time.** Result lines carry none; the batch object's ``created_at``/``ended_at`` are not
  in the file. A line's own ``timestamp``, ``created_at`` or ``ended_at`` (added by whoever
  saved the file) is used when present; otherwise the file's modification time, which is
  when the results were downloaded, not when the requests ran.
- **Key.** ``anthropic:<message id>`` for succeeded lines; the other lines have no id and
  are keyed by the hash of the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.batch import file_time, matched_inputs
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import stage_lines

RESULT_TYPES = ("succeeded", "errored", "canceled", "expired")
_TYPES = ", ".join(f"'{t}'" for t in RESULT_TYPES)
_P = [
    "$.custom_id",
    "$.result",
    "$.result.type",
    "$.result.message",
    "$.result.error",
    "$.timestamp",
    "$.created_at",
    "$.ended_at",
]
T = {p[2:]: field(_P, p) for p in _P}


def _front(path: Path) -> str:
    return f"""
WITH top AS ({parsed_lines(_P)}
), lines AS (
    SELECT *, CASE WHEN json_type({T["custom_id"]}) = 'VARCHAR' THEN {T["custom_id"]} ->> '$'
              END AS custom_id,
        {T["result.type"]} ->> '$' AS result_type,
        {present(T["result.message"])} AS message, {present(T["result.error"])} AS err
    FROM top
), inputs AS {matched_inputs("anthropic", path, "SELECT custom_id FROM lines")}
SELECT l.line_no, l.line, l.custom_id,
    CASE {not_object_reason()}
        WHEN l.custom_id IS NULL THEN 'custom_id is missing or not a string'
        WHEN json_type({T["result"]}) IS DISTINCT FROM 'OBJECT'
            THEN 'result is missing or not an object'
        WHEN l.result_type IS NULL OR l.result_type NOT IN ({_TYPES})
            THEN 'result.type is ' || coalesce({T["result.type"]}::VARCHAR, 'missing')
                 || ' (expected one of {", ".join(RESULT_TYPES)})'
        WHEN l.result_type = 'succeeded' AND json_type(l.message) IS DISTINCT FROM 'OBJECT'
            THEN 'result.message is not an object'
    END AS reject_reason,
    json_object(
        'timestamp', coalesce({present(T["timestamp"])}, {present(T["created_at"])},
                              {present(T["ended_at"])}, {file_time(path)}),
        'provider', 'anthropic', 'api', 'messages',
        'model', CASE WHEN i.body IS NULL AND l.result_type <> 'succeeded'
                      THEN 'unknown' END,
        'metadata', json_object('custom_id', l.custom_id, 'batch_input', i.source_file),
        'request', i.body,
        'response', CASE WHEN l.result_type = 'succeeded' THEN l.message END,
        'error', CASE WHEN l.result_type <> 'succeeded' THEN json_object(
            'type', l.result_type,
            'message', nullif(concat_ws(': ', coalesce(l.err ->> '$.error.type',
                                                       l.err ->> '$.type'),
                                        coalesce(l.err ->> '$.error.message',
                                                 l.err ->> '$.message')), '')) END,
        'batch', true) AS env
FROM lines l LEFT JOIN inputs i ON i.custom_id = l.custom_id
"""


def _is_result(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("custom_id"), str):
        return False
    result = record.get("result")
    return isinstance(result, dict) and result.get("type") in RESULT_TYPES


class AnthropicBatchFormat(LogFormat):
    name = "anthropic-batch"
    description = "Anthropic Message Batches results (JSONL)"

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_result)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, _front(path))
