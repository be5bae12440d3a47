"""The envelope format: tokaudit's native JSONL, one provider request/response per line.

Documented in docs/envelope.md. Usage is read from the raw provider body and mapped
to disjoint token classes by the provider's convention (pricing-semantics §2):
OpenAI ``prompt_tokens`` include cached and cache-write tokens; Anthropic
``input_tokens`` exclude cache reads/writes; Gemini ``candidatesTokenCount``
excludes ``thoughtsTokenCount``.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.staging import create_staged, stage_lines
from tokaudit.ingest.usage import count_problems, usage_struct

ENVELOPE_KEYS = (
    "timestamp",
    "provider",
    "api",
    "request_id",
    "model",
    "metadata",
    "request",
    "response",
    "error",
    "latency_ms",
    "batch",
)
PROVIDERS = ("openai", "anthropic", "google")


def _extract(doc: str, paths: list[str]) -> str:
    """Pull many paths out of one JSON document with a single parse."""
    listed = ", ".join(f"'{p}'" for p in paths)
    return f"json_extract({doc}, [{listed}])"


_TOP = ["$." + k for k in ENVELOPE_KEYS]
_REQ = [
    "$.model",
    "$.messages",
    "$.system",
    "$.systemInstruction",
    "$.instructions",
    "$.input",
    "$.contents",
    "$.tools",
    "$.functions",
    "$.user",
    "$.metadata.user_id",
    "$.service_tier",
    "$.response_format",
    "$.tool_choice",
    "$.function_call",
]
_RESP = [
    "$.usage",
    "$.usageMetadata",
    "$.id",
    "$.responseId",
    "$.model",
    "$.modelVersion",
    "$.object",
    "$.service_tier",
    "$.trafficType",
    "$.choices[0].finish_reason",
    "$.status",
    "$.stop_reason",
    "$.candidates[0].finishReason",
    "$.prompt.id",
    "$.prompt.version",
    "$.output",
    "$.choices",
    "$.content",
    "$.candidates",
]
_META = [
    "$.team",
    "$.user",
    "$.user_id",
    "$.feature",
    "$.prompt_id",
    "$.prompt_version",
    "$.environment",
]


def _at(name: str, path: str, paths: list[str]) -> str:
    return f"{name}[{paths.index(path) + 1}]"


def _obj(expr: str) -> str:
    return f"CASE WHEN json_type({expr}) = 'OBJECT' THEN {expr} END"


def _text(expr: str) -> str:
    return f"({expr} ->> '$')"


_KEYS = ", ".join(f"'{k}'" for k in ENVELOPE_KEYS)
_PROVIDERS = ", ".join(f"'{p}'" for p in PROVIDERS)
T = {k: _at("top", "$." + k, _TOP) for k in ENVELOPE_KEYS}
Q = {p: _at("rq", p, _REQ) for p in _REQ}
R = {p: _at("rs", p, _RESP) for p in _RESP}
M = {p: _at("md", p, _META) for p in _META}

_STAGE = f"""
WITH parsed AS (
    SELECT line_no, line, CASE WHEN json_valid(line) THEN line::JSON END AS j
    -- not blank: a regex finds the first visible character without copying the line,
    -- where trim() copied every line (a fifth of the staging time on large files)
    FROM _raw WHERE line IS NOT NULL AND regexp_matches(line, '[^ \\t\\r\\n\\f\\v]')
), top AS (
    SELECT line_no, line, j, json_type(j) AS jtype,
        CASE WHEN json_type(j) = 'OBJECT' THEN json_keys(j) ELSE [] END AS keys,
        CASE WHEN json_type(j) = 'OBJECT' THEN {_extract("j", _TOP)} END AS top
    FROM parsed
), fields AS (
    SELECT line_no, line, j, jtype, keys, top,
        lower({_text(T["provider"])}) AS provider,
        {_obj(T["request"])} AS req,
        json_type({T["response"]}) AS resp_type,
        {_obj(T["response"])} AS resp,
        -- a streamed response: a list of chunks, or SSE text (folded in `streamed`)
        CASE WHEN json_type({T["response"]}) IN ('ARRAY', 'VARCHAR')
             THEN ta_stream_chunks({T["response"]}) END AS chunks,
        {_obj(T["error"])} AS err,
        {_obj(T["metadata"])} AS meta,
        CASE WHEN json_type({T["timestamp"]}) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
                 THEN try(to_timestamp({_text(T["timestamp"])}::DOUBLE))
             ELSE try_cast({_text(T["timestamp"])} AS TIMESTAMPTZ) END AS ts
    FROM top
), stream_check AS (
    SELECT *, CASE WHEN chunks IS NOT NULL
                   THEN ta_stream_problem_of(provider, chunks, resp_type = 'VARCHAR') END
                   AS stream_problem
    FROM fields
), streamed AS (
    SELECT * REPLACE (CASE WHEN chunks IS NOT NULL AND stream_problem IS NULL
                           THEN ta_stream_fold(provider, chunks) ELSE resp END AS resp)
    FROM stream_check
), docs AS (
    SELECT *, {_extract("req", _REQ)} AS rq, {_extract("resp", _RESP)} AS rs,
        {_extract("meta", _META)} AS md
    FROM streamed
), usage_doc AS (
    SELECT *, CASE WHEN provider = 'google' THEN {_obj(R["$.usageMetadata"])}
                   ELSE {_obj(R["$.usage"])} END AS u
    FROM docs
), usage AS (
    SELECT *,
        CASE provider WHEN 'openai' THEN {usage_struct("openai", "u")}
                      WHEN 'anthropic' THEN {usage_struct("anthropic", "u")}
                      WHEN 'google' THEN {usage_struct("gemini", "u")} END AS us,
        CASE provider WHEN 'openai' THEN {count_problems("openai", "u", "response.usage")}
                      WHEN 'anthropic' THEN {count_problems("anthropic", "u", "response.usage")}
                      WHEN 'google' THEN {count_problems("gemini", "u", "response.usageMetadata")}
        END AS count_problem,
        list_filter(keys, lambda k: k NOT IN ({_KEYS})) AS unknown_keys
    FROM usage_doc
), classes AS (
    SELECT *,
        CASE provider
            WHEN 'openai' THEN CASE WHEN {_text(R["$.object"])} = 'response'
                                     OR ({Q["$.input"]} IS NOT NULL AND {Q["$.messages"]} IS NULL)
                                    THEN 'responses' ELSE 'chat.completions' END
            WHEN 'anthropic' THEN 'messages'
            WHEN 'google' THEN 'generate_content'
        END AS inferred_api,
        coalesce({_text(T["model"])}, {_text(Q["$.model"])}) AS model_requested,
        CASE WHEN provider = 'google' THEN {_text(R["$.modelVersion"])}
             ELSE {_text(R["$.model"])} END AS model_responded
    FROM usage
), texts AS (
    SELECT *, coalesce({_text(T["api"])}, inferred_api) AS api_name,
        CASE provider
            WHEN 'openai' THEN nullif(concat_ws('\n', {_text(Q["$.instructions"])},
                array_to_string(list_transform(list_filter(ta_list({Q["$.messages"]}),
                    lambda m: m ->> 'role' IN ('system', 'developer')),
                    lambda m: ta_text(m -> 'content')), '\n')), '')
            WHEN 'anthropic' THEN nullif(ta_text({Q["$.system"]}), '')
            WHEN 'google' THEN nullif(ta_text({Q["$.systemInstruction"]}), '')
        END AS system_text,
        CASE provider
            WHEN 'openai' THEN coalesce(
                ta_text(list_filter(ta_list({Q["$.messages"]}),
                    lambda m: m ->> 'role' NOT IN ('system', 'developer'))[1] -> 'content'),
                CASE WHEN json_type({Q["$.input"]}) = 'VARCHAR' THEN {_text(Q["$.input"])}
                     ELSE ta_text(ta_list({Q["$.input"]})[1] -> 'content') END)
            WHEN 'anthropic' THEN ta_text(ta_list({Q["$.messages"]})[1] -> 'content')
            WHEN 'google' THEN ta_text(ta_list({Q["$.contents"]})[1])
        END AS first_text,
        CASE WHEN req IS NULL THEN NULL WHEN provider = 'openai' THEN json_object(
                'instructions', {Q["$.instructions"]}, 'messages', {Q["$.messages"]},
                'input', {Q["$.input"]}, 'tools', {Q["$.tools"]}, 'functions', {Q["$.functions"]},
                'response_format', {Q["$.response_format"]}, 'tool_choice', {Q["$.tool_choice"]},
                'function_call', {Q["$.function_call"]})
             WHEN provider = 'anthropic' THEN json_object('system', {Q["$.system"]},
                'messages', {Q["$.messages"]}, 'tools', {Q["$.tools"]})
             WHEN provider = 'google' THEN json_object('systemInstruction',
                {Q["$.systemInstruction"]}, 'contents', {Q["$.contents"]}, 'tools', {Q["$.tools"]})
        END::VARCHAR AS input_body,
        -- the reply's output-bearing keys, for the output recount (docs/recount.md)
        CASE WHEN resp IS NULL THEN NULL
             WHEN provider = 'openai' AND len(list_filter(json_extract({R["$.choices"]},
                 '$[*].message'), lambda m: json_type(m) = 'OBJECT')) > 0
                 THEN json_object('messages', json_extract({R["$.choices"]}, '$[*].message'))
             WHEN provider = 'openai' AND json_type({R["$.output"]}) = 'ARRAY'
                 THEN json_object('output', {R["$.output"]})
             WHEN provider = 'anthropic' AND json_type({R["$.content"]}) = 'ARRAY'
                 THEN json_object('content', {R["$.content"]})
             WHEN provider = 'google' AND len(list_filter(json_extract({R["$.candidates"]},
                 '$[*].content'), lambda m: json_type(m) = 'OBJECT')) > 0
                 THEN json_object('candidates', json_extract({R["$.candidates"]}, '$[*].content'))
        END::VARCHAR AS output_body,
        lower(coalesce({_text(R["$.service_tier"])}, u ->> 'service_tier',
                       {_text(R["$.trafficType"])}, u ->> 'trafficType',
                       {_text(Q["$.service_tier"])})) AS tier_raw,
        coalesce({_text(T["request_id"])}, {_text(R["$.id"])}, {_text(R["$.responseId"])})
            AS rid
    FROM classes
)
SELECT
    line_no, line,
    CASE
        WHEN j IS NULL THEN 'invalid JSON'
        WHEN jtype <> 'OBJECT' THEN 'not a JSON object (got ' || lower(jtype) || ')'
        WHEN len(unknown_keys) > 0 THEN 'unknown envelope field(s): '
            || array_to_string(unknown_keys, ', ')
            || ' (allowed: ' || '{", ".join(ENVELOPE_KEYS)}' || ')'
        WHEN {T["timestamp"]} IS NULL THEN 'missing timestamp'
        WHEN ts IS NULL
            THEN 'timestamp is not ISO 8601 or epoch seconds: ' || {T["timestamp"]}::VARCHAR
        WHEN provider IS NULL THEN 'missing provider'
        WHEN provider NOT IN ({_PROVIDERS}) THEN 'unknown provider ' || {T["provider"]}::VARCHAR
            || ' (expected one of {", ".join(PROVIDERS)})'
        WHEN json_type({T["request"]}) NOT IN ('OBJECT', 'NULL') THEN 'request is not an object'
        WHEN resp_type NOT IN ('OBJECT', 'NULL', 'ARRAY', 'VARCHAR')
            THEN 'response is not an object'
        WHEN stream_problem IS NOT NULL
            THEN 'response is not an object or a readable stream: ' || stream_problem
        WHEN json_type({T["error"]}) NOT IN ('OBJECT', 'NULL') THEN 'error is not an object'
        WHEN json_type({T["metadata"]}) NOT IN ('OBJECT', 'NULL')
            THEN 'metadata is not an object'
        WHEN json_type({T["batch"]}) NOT IN ('BOOLEAN', 'NULL') THEN 'batch is not true/false'
        WHEN json_type({T["latency_ms"]}) NOT IN ('BIGINT', 'UBIGINT', 'DOUBLE', 'NULL')
            THEN 'latency_ms is not a number'
        WHEN resp IS NULL AND err IS NULL THEN 'neither a response nor an error'
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN coalesce(model_responded, model_requested) IS NULL
            THEN 'no model in the envelope, request or response'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason,
    rid AS request_id,
    ts, provider, api_name AS api, model_requested, model_responded,
    {_text(M["$.team"])} AS team,
    coalesce({_text(M["$.user"])}, {_text(M["$.user_id"])}, {_text(Q["$.user"])},
             {_text(Q["$.metadata.user_id"])})
        AS user_id,
    {_text(M["$.feature"])} AS feature,
    coalesce({_text(M["$.prompt_id"])}, {_text(R["$.prompt.id"])}) AS prompt_id,
    coalesce({_text(M["$.prompt_version"])}, {_text(R["$.prompt.version"])}) AS prompt_version,
    {_text(M["$.environment"])} AS environment,
    meta AS metadata,
    CASE WHEN us.has_usage THEN us.input END AS input_tokens,
    CASE WHEN us.has_usage THEN us.input_audio END AS input_audio_tokens,
    CASE WHEN us.has_usage THEN us.cache_read END AS cache_read_tokens,
    CASE WHEN us.has_usage THEN us.cache_write_5m END AS cache_write_5m_tokens,
    CASE WHEN us.has_usage THEN us.cache_write_1h END AS cache_write_1h_tokens,
    CASE WHEN us.has_usage THEN us.output END AS output_tokens,
    CASE WHEN us.has_usage THEN us.reasoning END AS reasoning_tokens,
    -- OpenAI Responses bills each web_search_call output item (its usage has no count).
    CASE WHEN us.has_usage THEN us.web_search + CASE WHEN provider = 'openai' THEN len(
        list_filter(ta_list({R["$.output"]}), lambda o: o ->> 'type' = 'web_search_call'))
        ELSE 0 END END AS web_search_requests,
    coalesce(us.has_usage, false) AS has_usage,
    CASE WHEN err IS NOT NULL OR resp IS NULL THEN 'error' ELSE 'ok' END AS status,
    try_cast(err ->> 'status' AS INTEGER) AS http_status,
    coalesce(err ->> 'type', err ->> 'code') AS error_type,
    err ->> 'message' AS error_message,
    CASE provider
        WHEN 'openai' THEN coalesce({_text(R["$.choices[0].finish_reason"])},
                                    {_text(R["$.status"])})
        WHEN 'anthropic' THEN {_text(R["$.stop_reason"])}
        WHEN 'google' THEN {_text(R["$.candidates[0].finishReason"])}
    END AS finish_reason,
    try_cast({_text(T["latency_ms"])} AS DOUBLE) AS latency_ms,
    coalesce(try_cast({_text(T["batch"])} AS BOOLEAN), false)
        OR coalesce(tier_raw = 'batch', false) AS is_batch,
    CASE
        WHEN tier_raw IS NULL OR tier_raw IN ('default', 'auto', 'standard', 'standard_only',
                                             'on_demand', 'batch', '0', '1') THEN NULL
        WHEN tier_raw IN ('flex', 'on_demand_flex') THEN 'flex'
        WHEN tier_raw IN ('priority', 'on_demand_priority') THEN 'priority'
        ELSE tier_raw
    END AS service_tier,
    CASE WHEN req IS NOT NULL THEN md5(req::VARCHAR) END AS request_hash,
    system_text, first_text, input_body, output_body
FROM texts
"""


class EnvelopeFormat(LogFormat):
    name = "envelope"
    description = "tokaudit envelope JSONL (docs/envelope.md)"

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(
            lambda r: "provider" in r and ("response" in r or "request" in r or "error" in r)
        )

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        create_staged(con, _STAGE)


def select_sql(source: str) -> str:
    """The staging SELECT over any ``(line_no, line)`` relation of envelope lines.

    Formats whose records carry provider bodies rewrite each record as an envelope and
    run this, so every provider body is read by the same SQL as the envelope's.
    """
    anchor = "FROM _raw WHERE"
    assert _STAGE.count(anchor) == 1
    return _STAGE.replace(anchor, f"FROM {source} WHERE")
