"""Bare request/response pairs, and bare response bodies, of one provider (docs/formats.md).

A pair line is what an application logs around an SDK call, without tokaudit's envelope:

    {"request": {...}, "response": {...} | [chunk, ...] | "data: ...SSE text",
     "chunks": [chunk, ...], "error": {...}, "timestamp": "...", "metadata": {...},
     "request_id": "...", "model": "...", "url": "...", "latency_ms": 12, "api": "...",
     "batch": false}

Only ``response`` (or ``chunks``, a streamed response by another name) or ``error`` is
needed. A line without ``request``, ``response`` or ``chunks`` (nor a lone ``error``) is read as
a bare response body. The provider is the format's; a line whose response has another
provider's shape is rejected with the format to use instead, because reading one
provider's usage with another's convention would price the wrong token classes.

Each provider module (``openai_pairs``, ``anthropic_pairs``, ``gemini_pairs``) says where
its bodies keep the time and how they look; the rest is shared here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import duckdb

from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import (
    sql_string,
    stage_files_lines,
    stage_lines,
    unpack_file_numbers,
)
from tokaudit.ingest.streams import body_provider, request_provider

PAIR_KEYS = (
    "timestamp",
    "request",
    "response",
    "chunks",
    "error",
    "metadata",
    "request_id",
    "model",
    "url",
    "latency_ms",
    "api",
    "batch",
)
# Keys that make a line a wrapper. ``error`` alone does not: a Responses API body has one.
WRAPPER_KEYS = ("request", "response", "chunks")
FORMAT_OF = {"openai": "openai-pairs", "anthropic": "anthropic-pairs", "google": "gemini-pairs"}

_P = ["$." + k for k in PAIR_KEYS]
T = {k: field(_P, "$." + k) for k in PAIR_KEYS}
# A wrapper's fields; a bare response body is only a response (its own ``metadata``,
# ``model`` or ``error`` keys are the provider's, not ours).
W = {k: f"CASE WHEN wrapped THEN {v} END" for k, v in T.items()}
_KEYS = ", ".join(f"'{k}'" for k in PAIR_KEYS)
_WRAPPERS = ", ".join(f"'{k}'" for k in WRAPPER_KEYS)


class PairsFormat(LogFormat):
    """Shared by the three provider pair formats; subclasses set the provider's specifics."""

    parallel_staging = True  # reads only its file (through the envelope's SQL)
    # saved request/response pairs often come a file per call: staged a batch at a time
    batch_bytes = 64 * 1024 * 1024
    provider: ClassVar[str]
    #: SQL over the (stream-folded) response object ``resp``: its time, a JSON value the
    #: envelope reads (RFC 3339 string or epoch seconds), or NULL when bodies carry none.
    body_time_sql: ClassVar[str] = "NULL::JSON"
    #: Where the time comes from when a line has no ``timestamp``, for the reject reason.
    time_hint: ClassVar[str]
    #: Staged columns to override, as SQL over the envelope result ``e``.
    replace: ClassVar[dict[str, str]] = {}
    #: SQL over the logged response (JSON) ``raw_resp``: the body the envelope reads.
    body_sql: ClassVar[str] = "raw_resp"

    def _is_hit(self, record: Any) -> bool:
        if not isinstance(record, dict) or "provider" in record:
            return False
        if any(k in record for k in WRAPPER_KEYS) or (
            "error" in record and body_provider(record) is None
        ):
            # a wrapper of ours: no foreign keys (gateway payloads also have "response")
            body = record.get("response", record.get("chunks"))
            shape = (
                body_provider(body) if body is not None else request_provider(record.get("request"))
            )
            return set(record) <= set(PAIR_KEYS) and shape == self.provider
        return body_provider(record) == self.provider

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(self._is_hit)

    def front_sql(self) -> str:
        p = sql_string(self.provider)
        own = sql_string(FORMAT_OF[self.provider])
        return f"""
WITH top AS ({parsed_lines(_P)}
), shaped AS (
    SELECT *, list_has_any(keys, [{_WRAPPERS}])
            OR (list_contains(keys, 'error') AND ta_object_provider(j) IS NULL) AS wrapped,
        list_filter(keys, lambda k: k NOT IN ({_KEYS})) AS unknown_keys
    FROM top
), bodies AS (
    SELECT *, CASE WHEN wrapped THEN coalesce({present(T["response"])}, {T["chunks"]})
                   WHEN jtype = 'OBJECT' THEN j END AS raw_resp
    FROM shaped
), named AS (
    SELECT * REPLACE ({self.body_sql} AS raw_resp) FROM bodies
), streams AS (
    SELECT *, CASE WHEN json_type(raw_resp) IN ('ARRAY', 'VARCHAR')
                   THEN ta_stream_chunks(raw_resp) END AS chunks
    FROM named
), checked AS (
    SELECT *, CASE WHEN chunks IS NOT NULL
                   THEN ta_stream_problem_of({p}, chunks, json_type(raw_resp) = 'VARCHAR')
                   END AS stream_problem,
        CASE WHEN chunks IS NOT NULL THEN ta_chunk_provider(chunks[1])
             ELSE ta_object_provider(raw_resp) END AS shape
    FROM streams
), folded AS (
    SELECT *, CASE WHEN json_type(raw_resp) = 'OBJECT' THEN raw_resp
                   WHEN chunks IS NOT NULL AND stream_problem IS NULL
                   THEN ta_stream_fold({p}, chunks) END AS resp
    FROM checked
), timed AS (
    SELECT *, coalesce({present(W["timestamp"])}, {self.body_time_sql}) AS ts_json FROM folded
)
SELECT line_no, line,
    CASE {not_object_reason()}
        WHEN wrapped AND len(unknown_keys) > 0 THEN 'unknown field(s): '
            || array_to_string(unknown_keys, ', ') || ' (allowed: {", ".join(PAIR_KEYS)})'
        WHEN wrapped AND {present(T["response"])} IS NOT NULL AND {T["chunks"]} IS NOT NULL
            THEN 'both response and chunks: log a streamed response once'
        WHEN NOT wrapped AND shape IS NULL
            THEN 'neither a request/response pair nor a response body from ' || {p}
        WHEN shape <> {p} THEN 'the response looks like ' || shape || ', not ' || {p}
            || ' (use --format ' || CASE shape WHEN 'openai' THEN 'openai-pairs'
            WHEN 'anthropic' THEN 'anthropic-pairs' ELSE 'gemini-pairs' END || ', not '
            || {own} || ')'
        WHEN stream_problem IS NOT NULL
            THEN 'response is not an object or a readable stream: ' || stream_problem
        WHEN ts_json IS NULL THEN 'missing timestamp ({self.time_hint})'
    END AS reject_reason,
    json_object(
        'timestamp', ts_json, 'provider', {p}, 'api', {W["api"]},
        'request_id', {W["request_id"]},
        'model', coalesce({present(W["model"])}, to_json(nullif(regexp_extract(
            {W["url"]} ->> '$', '/models/([^/:?]+)', 1), ''))),
        'metadata', {W["metadata"]}, 'request', {W["request"]},
        'response', coalesce(resp, raw_resp), 'error', {W["error"]},
        'latency_ms', {W["latency_ms"]}, 'batch', {W["batch"]}) AS env
FROM timed
"""

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, self.front_sql(), self.replace)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files in one pass: each record is rewritten on its own, keyed by its
        ``line_no``, so the packed numbers of ``staging.files_lines_sql`` pass through."""
        stage_files_lines(con, paths)
        stage_rewritten(con, self.front_sql(), self.replace)
        unpack_file_numbers(con)
