"""The envelope format: tokaudit's native JSONL, one provider request/response per line.

Documented in docs/envelope.md. Usage is read from the raw provider body and mapped
to disjoint token classes by the provider's convention (pricing-semantics §2):
OpenAI ``prompt_tokens`` include cached and cache-write tokens; Anthropic
``input_tokens`` exclude cache reads/writes; Gemini ``candidatesTokenCount``
excludes ``thoughtsTokenCount``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.jsondocs import before_2000, epoch_sql
from tokaudit.ingest.staging import (
    BLANKS,
    create_staged,
    files_lines_sql,
    numbered_lines_sql,
    split_allowed,
    stage_files_lines,
    stage_lines,
    unpack_file_numbers,
)
from tokaudit.ingest.usage import (
    COUNT_FIELDS,
    GEMINI_DETAILS,
    PLAIN_INT,
    TOKEN_CLASS_COLUMNS,
    count_containers,
    count_problems,
    gm_modality_is,
    not_plain_count,
    null_count_pattern,
    usage_struct,
)

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
    "$.system_instruction",  # the REST API takes either spelling (proto JSON names)
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
    "$.stop",
    # Responses API: the output format (text.format), and context the server adds that the
    # log does not hold (an earlier response, a conversation, a stored prompt): the recount
    # reads them to label its count (docs/recount.md)
    "$.text",
    "$.previous_response_id",
    "$.conversation",
    "$.prompt",
    # Predicted Outputs: billed beyond the messages (input and rejected output tokens)
    "$.prediction",
    # Anthropic data residency: "us" asks for US-only inference (priced 1.1x on 4.6+ models)
    "$.inference_geo",
    # Anthropic fast mode ("fast"): its own price, read when the response does not say
    "$.speed",
    # the google-genai SDK's arguments (generate_content(model, contents, config)) logged as
    # the request: its GenerateContentConfig holds what the REST body has at its top
    "$.config.systemInstruction",
    "$.config.system_instruction",
    "$.config.tools",
]
# A Gemini request's system instruction and tools: the REST body's, else the SDK config's
# (the first present one only, so none is counted twice).
_GM_SYSTEM = (
    "$.systemInstruction",
    "$.system_instruction",
    "$.config.systemInstruction",
    "$.config.system_instruction",
)
_GM_TOOLS = ("$.tools", "$.config.tools")
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
    "$.error",
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


def _geo_metadata(resp_geo: str, req_geo: str) -> str:
    """SQL: ``meta`` with an Anthropic call's inference geo in ``metadata.inference_geo``.

    Where inference ran, as the response's ``usage.inference_geo`` reports it; when that is
    missing, empty or ``not_available`` (the API set no geo), the request's
    ``inference_geo``. Lowercased; the pricing reads it (docs/pricing.md, "Data
    residency"). With no geo set, the metadata is left as logged (``not_available`` is
    every older model's answer: noise in every Anthropic row's metadata).
    """
    r, q = f"lower(trim({resp_geo}))", f"lower(trim({req_geo}))"
    geo = (
        f"coalesce(CASE WHEN {r} NOT IN ('', 'not_available') THEN {r} END, "
        f"CASE WHEN {q} NOT IN ('', 'not_available') THEN {q} END)"
    )
    return (
        f"CASE WHEN provider = 'anthropic' AND {geo} IS NOT NULL THEN json_merge_patch("
        f"coalesce(meta, '{{}}'::JSON), json_object('inference_geo', {geo})) ELSE meta END"
    )


def _first_present(values: dict[str, str], paths: tuple[str, ...]) -> str:
    """SQL: the first of the extracted ``paths`` that is present (JSON null is absent)."""
    return (
        "coalesce("
        + ", ".join(
            f"CASE WHEN json_type({values[p]}) <> 'NULL' THEN {values[p]} END" for p in paths
        )
        + ")"
    )


def _typed(paths: tuple[str, ...]) -> str:
    """The typed path's ``_first_present`` (from_json reads a JSON null as NULL)."""
    return "coalesce(" + ", ".join("rq." + p[2:] for p in paths) + ")"


def _at(name: str, path: str, paths: list[str]) -> str:
    return f"{name}[{paths.index(path) + 1}]"


def _obj(expr: str) -> str:
    return f"CASE WHEN json_type({expr}) = 'OBJECT' THEN {expr} END"


def _text(expr: str) -> str:
    return f"({expr} ->> '$')"


def _meta_text(expr: str) -> str:
    """An attribution value of ``metadata`` (JSON ``expr``) as the attribution rules read
    one (attribution._metadata_read): a list of one text, number or boolean is that value;
    any other list or object names nobody (its JSON text, ``["a","b"]``, became the team,
    and the rules' fallback to the logged team brought it back)."""
    return f"""CASE json_type({expr}) WHEN 'OBJECT' THEN NULL
        WHEN 'ARRAY' THEN CASE WHEN json_array_length({expr}) = 1
            AND json_type({expr} -> 0) NOT IN ('OBJECT', 'ARRAY', 'NULL')
            THEN {expr} ->> 0 END
        ELSE {expr} ->> '$' END"""


def _id(text: str) -> str:
    """An id's text, None when blank: a logged ``""`` names no id (keyed on it, every such
    record of a provider was one request, the others counted as its duplicates)."""
    return f"CASE WHEN trim({text}, {BLANKS}) <> '' THEN {text} END"


# Why a timestamp is unusable: not a time at all (epoch numbers are read by their size,
# jsondocs.epoch_sql), or a time before any LLM request (the same words in both paths).
_TS_UNREADABLE = "'timestamp is not ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds): '"


def _ts_checks(raw: str) -> str:
    """The reject WHENs of the staged ``ts``, ``raw`` being the timestamp's JSON text."""
    # an epoch time in quotes is read by its size only where it is a JSON number
    quoted = (
        f"WHEN ts IS NULL AND regexp_full_match({raw}, '\\s*\"\\s*-?[0-9]+(\\.[0-9]*)?\\s*\"\\s*') "
        f"THEN 'timestamp ' || {raw} || ' is an epoch time written as a string: "
        "epoch times are read from JSON numbers only'"
    )
    unreadable = f"{quoted}\n        WHEN ts IS NULL THEN {_TS_UNREADABLE} || {raw}"
    early = before_2000("ts", f"'timestamp ' || {raw}")
    return f"{unreadable}\n        {early}"


_KEYS = ", ".join(f"'{k}'" for k in ENVELOPE_KEYS)
_PROVIDERS = ", ".join(f"'{p}'" for p in PROVIDERS)
T = {k: _at("top", "$." + k, _TOP) for k in ENVELOPE_KEYS}
Q = {p: _at("rq", p, _REQ) for p in _REQ}
R = {p: _at("rs", p, _RESP) for p in _RESP}
M = {p: _at("md", p, _META) for p in _META}

# Whether the call succeeded, from the usage STRUCT ``us``, the error ``err`` and the
# response ``resp`` (the same in both staging paths).
# A Google error ({code: 503, status: "UNAVAILABLE", message}, google.rpc.Status as the
# REST API sends it) has its HTTP code in ``code`` and its name in ``status``; the
# envelope's own error and OpenAI's and Anthropic's have ``status`` (HTTP) and ``type``.
_OUTCOME = """coalesce(us.has_usage, false) AS has_usage,
    CASE WHEN err IS NOT NULL OR resp IS NULL THEN 'error' ELSE 'ok' END AS status,
    coalesce(try_cast(err ->> 'status' AS INTEGER),
             CASE WHEN regexp_full_match(err ->> 'code', '[1-5][0-9][0-9]')
                  THEN (err ->> 'code')::INTEGER END) AS http_status,
    coalesce(err ->> 'type',
             CASE WHEN NOT regexp_full_match(err ->> 'status', '-?[0-9]+')
                  THEN err ->> 'status' END,
             err ->> 'code') AS error_type,
    err ->> 'message' AS error_message"""


def _tool_calls(output: str, candidates: str) -> str:
    """The billed tool-call columns, given the response's ``output`` and ``candidates``
    (JSON) expressions.

    OpenAI Responses bills each ``web_search_call`` and ``file_search_call`` output item;
    its usage has no count of them (Anthropic counts its web searches in ``us``). Gemini's
    grounding with Google Search is billed per grounded prompt or per search query after a
    free allowance that no log shows, so its queries are counted (the first candidate's
    ``groundingMetadata.webSearchQueries``) and reported, never priced (docs/pricing.md).
    """

    def items(kind: str) -> str:
        return (
            f"CASE WHEN provider = 'openai' THEN len(list_filter(ta_list({output}), "
            f"lambda o: o ->> 'type' = '{kind}')) ELSE 0 END"
        )

    grounding = (
        f"CASE WHEN us.has_usage AND provider = 'google' THEN coalesce(json_array_length("
        f"{candidates}, '$[0].groundingMetadata.webSearchQueries'), 0) END"
    )
    return (
        f"CASE WHEN us.has_usage THEN us.web_search + {items('web_search_call')} END "
        f"AS web_search_requests,\n    "
        f"CASE WHEN us.has_usage THEN {items('file_search_call')} END AS file_search_calls,\n    "
        f"{grounding} AS grounding_queries"
    )


# A logged service tier (lowercased, as ``tier_raw``) as a price context: the defaults and
# batch (priced through is_batch) are standard; Bedrock's on-demand spellings map to theirs.
# A Claude call that ran in fast mode (``speed_raw``: the response's ``usage.speed``, else
# the request's ``speed``) is the ``fast`` tier, as in Claude Code logs and the Admin usage
# report: unpriced (unknown_context) while the table has no rate for it, never standard.
_SERVICE_TIER = """CASE
        WHEN provider = 'anthropic' AND speed_raw = 'fast' THEN 'fast'
        -- (Vertex's trafficType 0 and 1 by number, and by name)
        WHEN tier_raw IS NULL OR tier_raw IN ('default', 'auto', 'standard', 'standard_only',
                                             'on_demand', 'batch', '0', '1',
                                             'traffic_type_unspecified') THEN NULL
        WHEN tier_raw IN ('flex', 'on_demand_flex') THEN 'flex'
        WHEN tier_raw IN ('priority', 'on_demand_priority') THEN 'priority'
        -- OpenAI renamed priority processing Fast mode on 2026-07-30 and takes either name
        -- (developers.openai.com/api/docs/guides/fast-mode); Claude's fast mode is not it
        WHEN tier_raw = 'fast' AND provider = 'openai' THEN 'priority'
        ELSE tier_raw
    END"""

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
), sdk AS (
    -- a google-genai SDK dump (snake_case names) read as the API's JSON (genai_sdk.py)
    SELECT *, CASE WHEN lower({_text(T["provider"])}) = 'google'
                   THEN ta_genai_camel({T["response"]}) ELSE {T["response"]} END AS response
    FROM top
), fields AS (
    SELECT line_no, line, j, jtype, keys, top,
        lower({_text(T["provider"])}) AS provider,
        {_obj(T["request"])} AS req,
        json_type(response) AS resp_type,
        {_obj("response")} AS resp,
        -- a streamed response: a list of chunks, or SSE text (folded in `streamed`)
        CASE WHEN json_type(response) IN ('ARRAY', 'VARCHAR')
             THEN ta_stream_chunks(response) END AS chunks,
        {_obj(T["error"])} AS err,
        {_obj(T["metadata"])} AS meta,
        CASE WHEN json_type({T["timestamp"]}) IN ('BIGINT', 'UBIGINT', 'DOUBLE')
                 THEN {epoch_sql(_text(T["timestamp"]))}
             ELSE try_cast({_text(T["timestamp"])} AS TIMESTAMPTZ) END AS ts
    FROM sdk
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
                   ELSE {_obj(R["$.usage"])} END AS u,
        CASE WHEN provider = 'google' THEN json_type({R["$.usageMetadata"]})
             ELSE json_type({R["$.usage"]}) END AS utype
    FROM docs
), failed AS (
    -- a provider's error body logged as the response (its "error" object and no usage:
    -- {{"error": {{...}}}}, Anthropic's {{"type": "error", ...}}, a failed Responses API
    -- response, a stream that ended in an error) is the call's error, never a success
    SELECT * REPLACE (coalesce(err, CASE WHEN coalesce(utype, 'NULL') = 'NULL'
        AND json_type(resp, '$.error') = 'OBJECT' THEN resp -> 'error' END) AS err)
    FROM usage_doc
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
    FROM failed
), classes AS (
    SELECT *,
        CASE provider
            WHEN 'openai' THEN CASE WHEN {_text(R["$.object"])} = 'response'
                                     OR ({Q["$.input"]} IS NOT NULL AND {Q["$.messages"]} IS NULL)
                                    THEN 'responses' ELSE 'chat.completions' END
            WHEN 'anthropic' THEN 'messages'
            WHEN 'google' THEN 'generate_content'
        END AS inferred_api,
        -- an empty model names none (the request's then stands)
        coalesce(nullif({_text(T["model"])}, ''), nullif({_text(Q["$.model"])}, ''))
            AS model_requested,
        nullif(CASE WHEN provider = 'google' THEN {_text(R["$.modelVersion"])}
                    ELSE {_text(R["$.model"])} END, '') AS model_responded
    FROM usage
), texts AS (
    SELECT *, coalesce({_text(T["api"])}, inferred_api) AS api_name,
        CASE provider
            WHEN 'openai' THEN nullif(concat_ws('\n', {_text(Q["$.instructions"])},
                array_to_string(list_transform(list_filter(ta_list({Q["$.messages"]}),
                    lambda m: m ->> 'role' IN ('system', 'developer')),
                    lambda m: ta_text(m -> 'content')), '\n')), '')
            WHEN 'anthropic' THEN nullif(ta_text({Q["$.system"]}), '')
            WHEN 'google' THEN nullif(ta_text({_first_present(Q, _GM_SYSTEM)}), '')
        END AS system_text,
        CASE provider
            WHEN 'openai' THEN coalesce(
                ta_text(list_filter(ta_list({Q["$.messages"]}),
                    lambda m: m ->> 'role' NOT IN ('system', 'developer'))[1] -> 'content'),
                CASE WHEN json_type({Q["$.input"]}) = 'VARCHAR' THEN {_text(Q["$.input"])}
                     ELSE ta_text(ta_list({Q["$.input"]})[1] -> 'content') END)
            WHEN 'anthropic' THEN ta_text(ta_list({Q["$.messages"]})[1] -> 'content')
            -- (the SDK also takes one Content, or a text, as contents)
            WHEN 'google' THEN ta_text(CASE WHEN json_type({Q["$.contents"]}) = 'ARRAY'
                THEN {Q["$.contents"]} -> '$[0]' ELSE {Q["$.contents"]} END)
        END AS first_text,
        CASE WHEN req IS NULL THEN NULL WHEN provider = 'openai' THEN json_object(
                'instructions', {Q["$.instructions"]}, 'messages', {Q["$.messages"]},
                'input', {Q["$.input"]}, 'tools', {Q["$.tools"]}, 'functions', {Q["$.functions"]},
                'response_format', {Q["$.response_format"]}, 'tool_choice', {Q["$.tool_choice"]},
                'function_call', {Q["$.function_call"]}, 'stop', {Q["$.stop"]},
                'text', {Q["$.text"]}, 'previous_response_id', {Q["$.previous_response_id"]},
                'conversation', {Q["$.conversation"]}, 'prompt', {Q["$.prompt"]},
                'prediction', {Q["$.prediction"]})
             WHEN provider = 'anthropic' THEN json_object('system', {Q["$.system"]},
                'messages', {Q["$.messages"]}, 'tools', {Q["$.tools"]})
             WHEN provider = 'google' THEN json_object('systemInstruction',
                {_first_present(Q, _GM_SYSTEM)}, 'contents', {Q["$.contents"]},
                'tools', {_first_present(Q, _GM_TOOLS)})
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
        lower(coalesce(u ->> 'speed', {_text(Q["$.speed"])})) AS speed_raw,
        coalesce({_id(_text(T["request_id"]))}, {_id(_text(R["$.id"]))},
                 {_id(_text(R["$.responseId"]))}) AS rid
    FROM classes
)
SELECT
    line_no, line,
    CASE
        WHEN j IS NULL THEN 'invalid JSON'
        WHEN jtype <> 'OBJECT' THEN 'not a JSON object (got ' || ta_kind_name(jtype) || ')'
        WHEN len(unknown_keys) > 0 THEN 'unknown envelope field(s): '
            || array_to_string(unknown_keys, ', ')
            || ' (allowed: ' || '{", ".join(ENVELOPE_KEYS)}' || ')'
        WHEN {T["timestamp"]} IS NULL THEN 'missing timestamp'
        {_ts_checks(T["timestamp"] + "::VARCHAR")}
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
        -- a usage that is there but not an object is a broken record, not "no usage"
        WHEN utype NOT IN ('OBJECT', 'NULL')
            THEN CASE WHEN provider = 'google' THEN 'response.usageMetadata'
                      ELSE 'response.usage' END
                 || ' is not an object (got ' || ta_kind_name(utype) || ')'
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN coalesce(model_responded, model_requested) IS NULL
            THEN 'no model in the envelope, request or response'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason,
    rid AS request_id,
    ts, provider, api_name AS api, model_requested, model_responded,
    {_meta_text(M["$.team"])} AS team,
    coalesce({_meta_text(M["$.user"])}, {_meta_text(M["$.user_id"])}, {_text(Q["$.user"])},
             {_text(Q["$.metadata.user_id"])})
        AS user_id,
    {_meta_text(M["$.feature"])} AS feature,
    coalesce({_meta_text(M["$.prompt_id"])}, {_text(R["$.prompt.id"])}) AS prompt_id,
    coalesce({_meta_text(M["$.prompt_version"])}, {_text(R["$.prompt.version"])}) AS prompt_version,
    {_meta_text(M["$.environment"])} AS environment,
    {_geo_metadata("u ->> 'inference_geo'", _text(Q["$.inference_geo"]))} AS metadata,
    {TOKEN_CLASS_COLUMNS},
    {_tool_calls(R["$.output"], R["$.candidates"])},
    {_OUTCOME},
    CASE provider
        WHEN 'openai' THEN coalesce({_text(R["$.choices[0].finish_reason"])},
                                    {_text(R["$.status"])})
        WHEN 'anthropic' THEN {_text(R["$.stop_reason"])}
        WHEN 'google' THEN {_text(R["$.candidates[0].finishReason"])}
    END AS finish_reason,
    try_cast({_text(T["latency_ms"])} AS DOUBLE) AS latency_ms,
    coalesce(try_cast({_text(T["batch"])} AS BOOLEAN), false)
        OR coalesce(tier_raw = 'batch', false) AS is_batch,
    {_SERVICE_TIER} AS service_tier,
    CASE WHEN req IS NOT NULL THEN md5(req::VARCHAR) END AS request_hash,
    system_text, first_text, input_body, output_body
FROM texts
"""


# The fast path: each line's JSON is parsed once into a typed shape (docs/benchmarks.md,
# "Envelope ingest vs DuckDB read_json"). Its only JSON-typed leaves are small scalars and
# the bodies that are stored or read further (request, response, messages, usage); their
# JSON type is their first character (from_json writes them minified), so no leaf is
# parsed just to learn its type. A "plain" line (a JSON object of known fields, with a
# timestamp, a response that is an object or absent, and counts that are plain integers)
# gets exactly the _STAGE results from here; every other line (invalid, streamed,
# suspect counts, unknown fields) goes through _STAGE itself, so the reasons and results
# of unusual lines are _STAGE's by construction.
def _shape(value: object) -> str:
    return "'" + json.dumps(value, separators=(",", ":")) + "'"


_J = "JSON"


def _nest(fields: list[str]) -> dict[str, object]:
    """{"a.b": ...} paths as a nested from_json shape with JSON leaves."""
    shape: dict[str, object] = {}
    for f in fields:
        *parents, leaf = f.split(".")
        node = shape
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[leaf] = _J
    return shape


_TOP_SHAPE = {k: _J for k in ENVELOPE_KEYS}
_REQ_SHAPE = _nest([p[2:] for p in _REQ])
_RESP_SHAPE = {
    **{p[2:]: _J for p in _RESP if p[2:].isidentifier()},  # "$.choices[0]..." is read off "choices"
    "prompt": {"id": _J, "version": _J},
    # a google-genai SDK dump's names (genai_sdk.py): such a response goes to _STAGE
    "usage_metadata": _J,
    "model_version": _J,
}


_DETAIL = [{"modality": "VARCHAR", "tokenCount": _J}]
_USAGE_SHAPE = {
    **_nest(sorted({f for fields in COUNT_FIELDS.values() for f in fields})),
    "service_tier": _J,
    "trafficType": _J,
    "inference_geo": _J,
    "speed": _J,
    "promptTokensDetails": _DETAIL,
    "toolUsePromptTokensDetails": _DETAIL,
    "cacheTokensDetails": _DETAIL,
}
_MSGS_SHAPE = [{"role": "VARCHAR", "content": _J}]
_CONVENTION = {"openai": "openai", "anthropic": "anthropic", "google": "gemini"}


def _count(field: str) -> str:
    return "uf." + field


def _logged(key: str) -> str:
    """SQL: the usage text ``u`` holds ``key`` with a value other than null (for a key its
    typed parse read as absent)."""
    return f"""contains(u, '"{key}":') AND NOT contains(u, '"{key}":null')"""


def _suspect(convention: str) -> str:
    """SQL: a count of the convention that is not a plain integer (ta_int_problem words it),
    or an object of counts that is not an object (from_json types it as an object of NULLs,
    as if absent: the cheap test of its counts first, the text only when none is there);
    for Gemini also a detail list that is not a list, or an AUDIO count that is not plain."""
    fields = COUNT_FIELDS[convention]
    counts = [not_plain_count(_count(f)) for f in fields]
    objects = [
        "("
        + " AND ".join(f"{_count(f)} IS NULL" for f in fields if f.startswith(c + "."))
        + f" AND {_logged(c)})"
        for c in count_containers(convention)
    ]
    # Gemini AUDIO details: a list that is not one, or an AUDIO count that is not plain
    details = [
        f"(uf.{d} IS NULL AND {_logged(d)})"
        f" OR coalesce(list_bool_or(list_transform(uf.{d}, lambda d: "
        f"{gm_modality_is('d.modality', 'AUDIO')} AND "
        f"NOT regexp_full_match(coalesce(d.tokenCount, '0'), '{PLAIN_INT}'))), false)"
        for d in (GEMINI_DETAILS if convention == "gemini" else ())
    ]
    return " OR ".join([*counts, *objects, *details])


def _n(field: str) -> str:
    # plain integers only reach here (_suspect), so a plain cast reads them as ta_int does
    return f"try_cast({_count(field)} AS BIGINT)"


def _audio(details: str) -> str:
    """_GM_AUDIO's sum over typed details (ta_int of a JSON number text)."""
    return (
        f"coalesce(list_sum(list_transform(list_filter(uf.{details}, "
        f"lambda d: {gm_modality_is('d.modality', 'AUDIO')}), lambda d: CASE WHEN "
        "regexp_full_match(d.tokenCount, '-?[0-9]+') THEN try_cast(d.tokenCount AS BIGINT) "
        "END)), 0)"
    )


_US_FAST = {
    "openai": "ta_usage_openai_n(coalesce({a}, {b}), coalesce({c}, {d}, 0), "
    "coalesce({e}, {f}, 0), coalesce({g}, {h}), coalesce({i}, {j}))".format(
        **dict(zip("abcdefghij", (_n(f) for f in COUNT_FIELDS["openai"]), strict=True))
    ),
    "anthropic": "ta_usage_anthropic_n("
    + ", ".join(_n(f) for f in COUNT_FIELDS["anthropic"])
    + ")",
    "gemini": f"ta_usage_gemini_n({_n('promptTokenCount')}, "
    f"coalesce({_n('toolUsePromptTokenCount')}, 0), "
    f"coalesce({_n('cachedContentTokenCount')}, 0), {_n('candidatesTokenCount')}, "
    f"{_n('thoughtsTokenCount')}, ({_audio('promptTokensDetails')} "
    f"+ {_audio('toolUsePromptTokensDetails')} - {_audio('cacheTokensDetails')}), "
    f"{_audio('cacheTokensDetails')})",
}


def _is(leaf: str, first: str) -> str:
    """A JSON leaf of from_json is minified: its first character is its type."""
    return f"starts_with({leaf}, '{first}')"


def _as_obj(leaf: str) -> str:
    return f"CASE WHEN {_is(leaf, '{')} THEN {leaf} END"


_KEY_LIST = "[" + _KEYS + "]"
_SUSPECT = (
    "CASE provider "
    + " ".join(f"WHEN '{p}' THEN {_suspect(c)}" for p, c in _CONVENTION.items())
    + " END"
)


_FAST = f"""
SELECT *,
    typed AND t.timestamp IS NOT NULL
    AND NOT coalesce({_is("t.response", "[")} OR {_is("t.response", '"')}, false)
    -- a response that is an error body (an "error" object at its top: an Anthropic, OpenAI,
    -- Gemini or failed Responses API error; a stream is a list, read by _STAGE anyway)
    AND NOT coalesce({_is("rs.error", "{")}, false)
    -- a google-genai SDK dump (snake_case names): _STAGE renames them (ta_genai_camel)
    AND NOT coalesce(provider = 'google'
                     AND (rs.usage_metadata <> 'null' OR rs.model_version <> 'null'), false)
    AND NOT coalesce({_SUSPECT}, false)
    -- a usage that is not an object: rejected by the reference's words
    AND NOT coalesce(NOT {_is("raw_usage", "{")} AND raw_usage <> 'null', false)
    -- a null input or output count: rejected by the reference's words (count_problems)
    AND NOT coalesce(contains(u, ':null') AND regexp_matches(u, '{null_count_pattern()}'), false)
        AS plain,
    CASE
        {_ts_checks("t.timestamp")}
        WHEN provider IS NULL THEN 'missing provider'
        WHEN provider NOT IN ({_PROVIDERS}) THEN 'unknown provider ' || t.provider
            || ' (expected one of {", ".join(PROVIDERS)})'
        WHEN t.request IS NOT NULL AND NOT {_is("t.request", "{")}
            THEN 'request is not an object'
        WHEN t.response IS NOT NULL AND NOT {_is("t.response", "{")}
            THEN 'response is not an object'
        WHEN t.error IS NOT NULL AND NOT {_is("t.error", "{")} THEN 'error is not an object'
        WHEN t.metadata IS NOT NULL AND NOT {_is("t.metadata", "{")}
            THEN 'metadata is not an object'
        WHEN t.batch IS NOT NULL AND t.batch NOT IN ('true', 'false')
            THEN 'batch is not true/false'
        WHEN t.latency_ms IS NOT NULL AND NOT regexp_matches(t.latency_ms, '^-?[0-9]')
            THEN 'latency_ms is not a number'
        WHEN resp IS NULL AND err IS NULL THEN 'neither a response nor an error'
        WHEN coalesce(model_responded, model_requested) IS NULL
            THEN 'no model in the envelope, request or response'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason
FROM (
    SELECT *,
        CASE provider WHEN 'openai' THEN {_US_FAST["openai"]}
                      WHEN 'anthropic' THEN {_US_FAST["anthropic"]}
                      WHEN 'google' THEN {_US_FAST["gemini"]} END AS us,
        coalesce(nullif(t.model ->> '$', ''), nullif(rq.model ->> '$', '')) AS model_requested,
        nullif(CASE WHEN provider = 'google' THEN rs.modelVersion ->> '$'
                    ELSE rs.model ->> '$' END, '') AS model_responded,
        coalesce({_id("(t.request_id ->> '$')")}, {_id("(rs.id ->> '$')")},
                 {_id("(rs.responseId ->> '$')")}) AS rid,
        lower(coalesce(rs.service_tier ->> '$', uf.service_tier ->> '$',
                       rs.trafficType ->> '$', uf.trafficType ->> '$',
                       rq.service_tier ->> '$')) AS tier_raw,
        lower(coalesce(uf.speed ->> '$', rq.speed ->> '$')) AS speed_raw,
        -- the documents the texts are read from, as columns: ta_text repeats its argument,
        -- and lambdas cost less outside a CASE (msgs is empty but for OpenAI)
        array_to_string(list_transform(list_filter(msgs,
            lambda m: m.role IN ('system', 'developer')),
            lambda m: ta_text_min(m.content)), '\n') AS system_msgs,
        CASE provider WHEN 'anthropic' THEN rq.system
                      WHEN 'google' THEN {_typed(_GM_SYSTEM)}
                      END AS system_doc,
        CASE provider
            WHEN 'openai' THEN list_filter(msgs,
                lambda m: m.role NOT IN ('system', 'developer'))[1].content
            WHEN 'anthropic' THEN CASE WHEN {_is("rq.messages", "[")}
                                       THEN rq.messages -> '$[0].content' END
            WHEN 'google' THEN CASE WHEN {_is("rq.contents", "[")}
                                    THEN rq.contents -> '$[0]' ELSE rq.contents END
        END AS first_doc,
        CASE WHEN provider = 'openai' AND {_is("rq.input", "[")}
             THEN rq.input -> '$[0].content' END AS input_doc
    FROM (
        SELECT *,
            CASE WHEN u IS NOT NULL THEN from_json(u, {_shape(_USAGE_SHAPE)}) END AS uf,
            CASE WHEN provider = 'openai' AND {_is("rq.messages", "[")}
                 THEN from_json(rq.messages, {_shape(_MSGS_SHAPE)}) ELSE [] END AS msgs
        FROM (
            SELECT *,
                CASE WHEN req IS NOT NULL THEN from_json(req, {_shape(_REQ_SHAPE)}) END AS rq,
                CASE WHEN provider = 'google' THEN {_as_obj("rs.usageMetadata")}
                     ELSE {_as_obj("rs.usage")} END AS u,
                CASE WHEN provider = 'google' THEN rs.usageMetadata ELSE rs.usage END
                    AS raw_usage
            FROM (
                SELECT *,
                    CASE WHEN resp IS NOT NULL THEN from_json(resp, {_shape(_RESP_SHAPE)})
                        END AS rs
                FROM (
                    SELECT line_no, line, typed, t, lower(t.provider ->> '$') AS provider,
                        {_as_obj("t.request")} AS req, {_as_obj("t.response")} AS resp,
                        {_as_obj("t.error")} AS err, {_as_obj("t.metadata")} AS meta,
                        -- a JSON number's minified text is the number: no parse
                        CASE WHEN regexp_matches(t.timestamp, '^-?[0-9]')
                                 THEN {epoch_sql("t.timestamp")}
                             ELSE try_cast(t.timestamp ->> '$' AS TIMESTAMPTZ) END AS ts
                    FROM (
                        SELECT line_no, line, typed,
                            CASE WHEN typed THEN from_json(line, {_shape(_TOP_SHAPE)}) END AS t
                        FROM (
                            SELECT line_no, line,
                                -- json_keys fails where json_valid is false (one parser)
                                coalesce(starts_with(line, '{{') AND list_has_all(
                                    {_KEY_LIST}, try(json_keys(line))), false) AS typed
                            FROM _raw WHERE line IS NOT NULL
                                AND regexp_matches(line, '[^ \\t\\r\\n\\f\\v]')
                        )
                    )
                )
            )
        )
    )
)
"""


# Texts, bodies and the final columns of a plain line: _STAGE's expressions, read from the
# typed leaves instead of re-extracting them from the request and response.
_FAST_COLUMNS = f"""
    line_no, line, reject_reason, rid AS request_id, ts, provider,
    coalesce(t.api ->> '$', CASE provider
        WHEN 'openai' THEN CASE WHEN rs.object ->> '$' = 'response' THEN 'responses'
                                -- messages that are not null: present (from_json reads a
                                -- JSON null as NULL, so only the rest needs the keys)
                                WHEN rq.messages IS NOT NULL THEN 'chat.completions'
                                WHEN json_extract(req, '$.input') IS NOT NULL
                                     AND json_extract(req, '$.messages') IS NULL
                                THEN 'responses' ELSE 'chat.completions' END
        WHEN 'anthropic' THEN 'messages'
        WHEN 'google' THEN 'generate_content' END) AS api,
    model_requested, model_responded,
    {_meta_text("md.team")} AS team,
    coalesce({_meta_text("md.user")}, {_meta_text("md.user_id")}, rq.user ->> '$',
             rq.metadata.user_id ->> '$')
        AS user_id,
    {_meta_text("md.feature")} AS feature,
    coalesce({_meta_text("md.prompt_id")}, rs.prompt.id ->> '$') AS prompt_id,
    coalesce({_meta_text("md.prompt_version")}, rs.prompt.version ->> '$') AS prompt_version,
    {_meta_text("md.environment")} AS environment,
    {_geo_metadata("uf.inference_geo ->> '$'", "rq.inference_geo ->> '$'")} AS metadata,
    {TOKEN_CLASS_COLUMNS},
    {_tool_calls("rs.output", "rs.candidates")},
    {_OUTCOME},
    CASE provider
        WHEN 'openai' THEN coalesce(rs.choices ->> '$[0].finish_reason', rs.status ->> '$')
        WHEN 'anthropic' THEN rs.stop_reason ->> '$'
        WHEN 'google' THEN rs.candidates ->> '$[0].finishReason'
    END AS finish_reason,
    try_cast(t.latency_ms ->> '$' AS DOUBLE) AS latency_ms,
    coalesce(try_cast(t.batch ->> '$' AS BOOLEAN), false)
        OR coalesce(tier_raw = 'batch', false) AS is_batch,
    {_SERVICE_TIER} AS service_tier,
    md5(req) AS request_hash,
    nullif(system_raw, '') AS system_text,
    coalesce(ta_text_min(first_doc), CASE WHEN provider = 'openai' THEN
        CASE WHEN {_is("rq.input", '"')} THEN rq.input ->> '$' ELSE ta_text_min(input_doc) END
        END) AS first_text,
    CASE WHEN req IS NULL THEN NULL WHEN provider = 'openai' THEN json_object(
            'instructions', rq.instructions, 'messages', rq.messages, 'input', rq.input,
            'tools', rq.tools, 'functions', rq.functions, 'response_format', rq.response_format,
            'tool_choice', rq.tool_choice, 'function_call', rq.function_call, 'stop', rq.stop,
            'text', rq.text, 'previous_response_id', rq.previous_response_id,
            'conversation', rq.conversation, 'prompt', rq.prompt, 'prediction', rq.prediction)
         WHEN provider = 'anthropic' THEN json_object('system', rq.system,
            'messages', rq.messages, 'tools', rq.tools)
         WHEN provider = 'google' THEN json_object('systemInstruction',
            {_typed(_GM_SYSTEM)}, 'contents', rq.contents, 'tools', {_typed(_GM_TOOLS)})
    END::VARCHAR AS input_body,
    CASE WHEN resp IS NULL THEN NULL
         WHEN provider = 'openai' AND len(list_filter(json_extract(rs.choices,
             '$[*].message'), lambda m: json_type(m) = 'OBJECT')) > 0
             THEN json_object('messages', json_extract(rs.choices, '$[*].message'))
         WHEN provider = 'openai' AND {_is("rs.output", "[")}
             THEN json_object('output', rs.output)
         WHEN provider = 'anthropic' AND {_is("rs.content", "[")}
             THEN json_object('content', rs.content)
         WHEN provider = 'google' AND len(list_filter(json_extract(rs.candidates,
             '$[*].content'), lambda m: json_type(m) = 'OBJECT')) > 0
             THEN json_object('candidates', json_extract(rs.candidates, '$[*].content'))
    END::VARCHAR AS output_body
"""

# Lines the fast path leaves to _STAGE, marked in _staged until _STAGE has replaced them.
_TO_EXACT = "\x00exact"
# md: the metadata fields; system_raw apart from its nullif, which would repeat ta_text
_MD = f"""CASE WHEN meta IS NOT NULL THEN from_json(meta, {_shape(_nest([p[2:] for p in _META]))})
        END AS md,
    CASE WHEN provider = 'openai' THEN concat_ws('\n', rq.instructions ->> '$', system_msgs)
         ELSE ta_text_min(system_doc) END AS system_raw"""

# EnvelopeFormat.stage: every line in one statement; the few that are not plain keep their
# text under the _TO_EXACT mark, for a second statement. The line text is kept only where
# it is used: rejects, and the request key of a line without a request id.
_STAGE_FAST = f"""
SELECT * EXCLUDE (plain) REPLACE (
    CASE WHEN plain THEN reject_reason ELSE '{_TO_EXACT}' END AS reject_reason,
    CASE WHEN NOT plain OR reject_reason IS NOT NULL OR request_id IS NULL THEN line END
        AS line)
FROM (SELECT plain, {_FAST_COLUMNS} FROM (SELECT *, {_MD} FROM ({_FAST})))
"""

_EXACT = _STAGE.replace("FROM _raw WHERE", "FROM _env_exact WHERE")

# select_sql: the same as one SELECT (the lines that are not plain read twice).
_HYBRID = f"""
WITH _fast AS ({_FAST}), _not_plain AS (SELECT line_no, line FROM _fast WHERE NOT plain)
SELECT {_FAST_COLUMNS}
FROM (SELECT *, {_MD} FROM _fast WHERE plain)
UNION ALL BY NAME
SELECT * FROM ({_STAGE.replace("FROM _raw WHERE", "FROM _not_plain WHERE")})
"""


class EnvelopeFormat(LogFormat):
    name = "envelope"
    description = "tokaudit envelope JSONL (docs/envelope.md)"
    parallel_staging = True  # reads only its file
    # a directory of small files (one request each, as some loggers write) is staged and
    # loaded a batch at a time: one at a time cost about 70 ms a file
    batch_bytes = 64 * 1024 * 1024

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(
            lambda r: "provider" in r and ("response" in r or "request" in r or "error" in r)
        )

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        """``_staged`` by the fast path; then _STAGE on the lines it left, if any."""
        self._stage_lines(con, numbered_lines_sql(path), lambda: stage_lines(con, path))

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files in one pass, as ``stage`` stages one (``staging.files_lines_sql``)."""
        self._stage_lines(con, files_lines_sql(paths), lambda: stage_files_lines(con, paths))
        unpack_file_numbers(con)

    def _stage_lines(
        self, con: duckdb.DuckDBPyConnection, lines: str, materialise: Callable[[], None]
    ) -> None:
        """``_staged`` from ``lines``, a relation ``(line_no, line)``; ``materialise`` makes
        it the table ``_raw`` when the statement may split over every thread."""
        # the last file's rows go first, so two files' never sit in memory together
        con.execute("DROP TABLE IF EXISTS _staged")
        anchor = "FROM _raw WHERE"
        if split_allowed(con):
            materialise()
            # each line is staged on its own: the file's lines run on every DuckDB thread
            create_staged(con, _STAGE_FAST, fixed_columns=True, split=("_raw", anchor))
            con.execute("DROP TABLE _raw")  # the lines rejects need are in _staged
        else:  # in one piece: the lines stream from the file (storing them cost 10-15 %)
            source = (anchor, f"FROM {lines} WHERE")
            create_staged(con, _STAGE_FAST, fixed_columns=True, source=source)
        marked = con.execute(
            "SELECT count(*) FROM _staged WHERE reject_reason = ?", [_TO_EXACT]
        ).fetchone()
        if marked and marked[0]:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _env_exact AS SELECT line_no, line FROM _staged "
                "WHERE reject_reason = ?",
                [_TO_EXACT],
            )
            con.execute("DELETE FROM _staged WHERE reject_reason = ?", [_TO_EXACT])
            create_staged(con, _EXACT, append=True, fixed_columns=True)
            con.execute("DROP TABLE _env_exact")


def select_sql(source: str) -> str:
    """The staging SELECT over any ``(line_no, line)`` relation of envelope lines.

    Formats whose records carry provider bodies rewrite each record as an envelope and
    run this, so every provider body is read by the same SQL as the envelope's.
    """
    anchor = "FROM _raw WHERE"
    assert _HYBRID.count(anchor) == 1
    return _HYBRID.replace(anchor, f"FROM {source} WHERE")
