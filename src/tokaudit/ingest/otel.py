"""OpenTelemetry GenAI spans as OTLP JSON: one request per model-call span.

Documented in docs/formats.md. A file is one OTLP ``ExportTraceServiceRequest``
(``{"resourceSpans": [...]}``, possibly pretty-printed) or JSON Lines of them, as the
collector's file exporter writes. Spans sit at ``resourceSpans[].scopeSpans[].spans[]``
with attributes as ``[{key, value: {stringValue | intValue | doubleValue | boolValue |
arrayValue}}]``; ``intValue`` may be a string.

Each span's attributes become one JSON object, read with a single ``json_extract``. The
GenAI conventions make ``gen_ai.usage.input_tokens`` include cached tokens and
``output_tokens`` include reasoning, so usage is mapped with the OpenAI convention; the
cache attributes are read in their common spellings (semconv ≥ 1.40, older OpenLLMetry,
OpenInference ``llm.token_count.*``).

A span is a model call when it names a model or carries token counts, unless it is an
agent or tool span (``gen_ai.operation.name`` ``invoke_agent`` / ``create_agent`` /
``execute_tool`` / ``invoke_workflow``, or an OpenInference kind other than LLM /
EMBEDDING): agent spans repeat their children's usage, and counting both would double
the cost. Other spans are not records.
"""

from __future__ import annotations

import re
from typing import Any

from tokaudit.ingest.jsondocs import (
    DocumentFormat,
    before_2000,
    count_problems_sql,
    extract_sql,
    record_line,
)
from tokaudit.ingest.usage import TOKEN_CLASS_COLUMNS, usage_struct

INPUT = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"]
OUTPUT = [
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
]
CACHE_READ = [
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
]
CACHE_WRITE = [
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "llm.token_count.prompt_details.cache_write",
]
REASONING = [
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.reasoning_tokens",
    "llm.token_count.completion_details.reasoning",
]
COUNTS = INPUT + OUTPUT + CACHE_READ + CACHE_WRITE + REASONING
_OTHER = [
    "gen_ai.provider.name",
    "gen_ai.system",
    "llm.provider",
    "llm.system",
    "gen_ai.operation.name",
    "openinference.span.kind",
    "gen_ai.request.model",
    "llm.model_name",
    "gen_ai.response.model",
    "gen_ai.response.id",
    "gen_ai.response.finish_reasons",
    "error.type",
    "user.id",
    "enduser.id",
    "session.id",
    "gen_ai.conversation.id",
    "gen_ai.prompt.name",
    "traceloop.prompt.key",
    "langfuse.observation.prompt.name",
    "gen_ai.prompt.version",
    "traceloop.prompt.version",
    "langfuse.observation.prompt.version",
    "openai.response.service_tier",
    "gen_ai.openai.response.service_tier",
    "gen_ai.system_instructions",
    "gen_ai.input.messages",
    "gen_ai.tool.definitions",
    "gen_ai.output.messages",
]
_ATTRS = COUNTS + _OTHER
_RES = [
    "service.name",
    "deployment.environment.name",
    "deployment.environment",
    "user.id",
    "enduser.id",
]
A = {k: f"a[{i + 1}]" for i, k in enumerate(_ATTRS)}
R = {k: f"ra[{i + 1}]" for i, k in enumerate(_RES)}
# Prompt and completion content: big, and already in the text columns; kept out of metadata.
_CONTENT = (
    r"^(gen_ai\.(input|output)\.messages|gen_ai\.system_instructions|gen_ai\.tool\.definitions|"
    r"gen_ai\.(prompt|completion)\.[0-9]|llm\.(input|output)_messages\.|(input|output)\.value)"
)
_MODEL_CALL_OPS = "'chat', 'text_completion', 'generate_content', 'embeddings'"
_AGENT_OPS = "'invoke_agent', 'create_agent', 'execute_tool', 'invoke_workflow'"


def _paths(keys: list[str]) -> list[str]:
    return ['$."' + k + '"' for k in keys]


def _first(keys: list[str]) -> str:
    """The first of ``keys`` that holds a whole number (from the ``nums`` list)."""
    return "coalesce(" + ", ".join(f"nums[{COUNTS.index(k) + 1}]" for k in keys) + ")"


def _str(key: str) -> str:
    return f"ta_str({A[key]})"


# The OTLP shape read with one typed json_transform per document (every value as text, so
# a string intValue and a number both survive; arrays and maps stay JSON).
_ANY_VALUE = (
    '{"stringValue": "VARCHAR", "intValue": "VARCHAR", "doubleValue": "VARCHAR", '
    '"boolValue": "VARCHAR", "arrayValue": "JSON", "kvlistValue": "JSON"}'
)
_KEY_VALUES = '[{"key": "VARCHAR", "value": ' + _ANY_VALUE + "}]"
_SPAN = (
    '{"traceId": "VARCHAR", "spanId": "VARCHAR", "parentSpanId": "VARCHAR", "name": "VARCHAR", '
    '"startTimeUnixNano": "VARCHAR", "endTimeUnixNano": "VARCHAR", '
    '"status": {"code": "VARCHAR", "message": "VARCHAR"}, "attributes": ' + _KEY_VALUES + "}"
)
_SCOPE_SPANS = '[{"scope": {"name": "VARCHAR"}, "spans": [' + _SPAN + "]}]"
OTLP_SHAPE = (
    '{"resourceSpans": [{"resource": {"attributes": ' + _KEY_VALUES + "}, "
    '"scopeSpans": ' + _SCOPE_SPANS + ', "instrumentationLibrarySpans": ' + _SCOPE_SPANS + "}]}"
)

# One attribute value as JSON text: strings quoted, integers and booleans bare when they are
# well-formed (else quoted as logged), arrays and maps as their AnyValue object.
_VALUE_JSON = """CASE
    WHEN x.value.stringValue IS NOT NULL THEN to_json(x.value.stringValue)::VARCHAR
    WHEN x.value.intValue IS NOT NULL THEN CASE
        WHEN regexp_full_match(x.value.intValue, '-?[0-9]{1,18}') THEN x.value.intValue
        ELSE to_json(x.value.intValue)::VARCHAR END
    WHEN x.value.doubleValue IS NOT NULL THEN CASE
        WHEN isfinite(TRY_CAST(x.value.doubleValue AS DOUBLE)) THEN x.value.doubleValue
        ELSE to_json(x.value.doubleValue)::VARCHAR END
    WHEN x.value.boolValue IN ('true', 'false') THEN x.value.boolValue
    WHEN x.value.arrayValue IS NOT NULL
        THEN '{"arrayValue":' || x.value.arrayValue::VARCHAR || '}'
    WHEN x.value.kvlistValue IS NOT NULL
        THEN '{"kvlistValue":' || x.value.kvlistValue::VARCHAR || '}'
    ELSE 'null' END"""


def _attr_object(attrs: str, only: str = "true") -> str:
    """A typed attribute list as one JSON object {key: value}; ``only`` filters keys."""
    return (
        f"('{{' || array_to_string(list_transform(list_filter({attrs}, "
        f"lambda x: x.key IS NOT NULL AND ({only})), "
        f"lambda x: to_json(x.key)::VARCHAR || ':' || {_VALUE_JSON}), ',') || '}}')::JSON"
    )


def _parts_text(parts: str) -> str:
    """Text of OTel GenAI message parts ([{type: text, content}])."""
    return (
        f"nullif(array_to_string(list_transform(list_filter(ta_list({parts}), "
        "lambda p: coalesce(p ->> '$.type', 'text') = 'text'), "
        "lambda p: coalesce(p ->> '$.content', p ->> '$.text')), chr(10)), '')"
    )


_METADATA_ATTRS = _attr_object("sp.attributes", f"NOT regexp_matches(x.key, '{_CONTENT}')")
_FIRST_TEXT = _parts_text(
    "list_filter(ta_list(msgs), lambda m: coalesce(m ->> '$.role', '') <> 'system')[1] -> '$.parts'"
)
_COUNT_CHECKS = count_problems_sql(f"a[1:{len(COUNTS)}]", COUNTS)

# Where a document breaks the OTLP structure (an element that is not an object, a list that
# is not a list): the typed read above makes such a part empty, so its spans would vanish
# without a word. Each is a reject of its own, with the path in the reason.
_AT = "'$.resourceSpans[' || (i - 1) || '].' || key || '[' || (j - 1) || ']'"
_HOLES = f"""
SELECT line_no AS doc_line, unnest(list_filter(flatten(list_transform(
    CAST((doc -> '$.resourceSpans') AS JSON[]), lambda rs, i:
    CASE WHEN json_type(rs) <> 'OBJECT'
         THEN ['$.resourceSpans[' || (i - 1) || '] is not an object (got '
               || lower(json_type(rs)) || ')']
    ELSE flatten(list_transform(['scopeSpans', 'instrumentationLibrarySpans'], lambda key:
        CASE WHEN coalesce(json_type(rs, key), 'NULL') = 'NULL' THEN []::VARCHAR[]
             WHEN json_type(rs, key) <> 'ARRAY'
             THEN ['$.resourceSpans[' || (i - 1) || '].' || key || ' is not an array']
        ELSE flatten(list_transform(CAST((rs -> key) AS JSON[]), lambda ss, j:
            CASE WHEN json_type(ss) <> 'OBJECT' THEN [{_AT} || ' is not an object']
                 WHEN coalesce(json_type(ss, '$.spans'), 'NULL') = 'NULL' THEN []::VARCHAR[]
                 WHEN json_type(ss, '$.spans') <> 'ARRAY' THEN [{_AT} || '.spans is not an array']
            ELSE list_transform(CAST((ss -> '$.spans') AS JSON[]), lambda sp, k:
                CASE WHEN json_type(sp) <> 'OBJECT'
                     THEN {_AT} || '.spans[' || (k - 1) || '] is not an object'
                     WHEN coalesce(json_type(sp, '$.attributes'), 'NULL') NOT IN ('ARRAY', 'NULL')
                     THEN {_AT} || '.spans[' || (k - 1) || '].attributes is not an array' END)
            END))
        END))
    END)), lambda h: h IS NOT NULL)) AS hole
FROM _docs WHERE problem IS NULL AND json_type(doc, '$.resourceSpans') = 'ARRAY'
"""

_STAGE = f"""
WITH shaped AS (
    SELECT line_no AS doc_line, problem, json_transform(doc, '{OTLP_SHAPE}') AS t
    FROM _docs
), holes AS ({_HOLES}), items AS (
    SELECT doc_line, problem, coalesce(t.resourceSpans IS NOT NULL, false) AS is_otlp,
        CASE WHEN t.resourceSpans IS NOT NULL THEN flatten(list_transform(t.resourceSpans,
            lambda rs, i: flatten(list_transform(
                coalesce(rs.scopeSpans, rs.instrumentationLibrarySpans),
                lambda ss, j: list_transform(ss.spans,
                    lambda sp, k: {{'span': sp, 'res': rs.resource.attributes,
                                   'scope': ss.scope.name,
                                   'at': [i, j, k], 'legacy': rs.scopeSpans IS NULL}})))))
        END AS elems
    FROM shaped
), flat AS (
    SELECT doc_line, problem, is_otlp, len(elems) AS n,
        unnest(coalesce(elems, [NULL])) AS el, generate_subscripts(coalesce(elems, [NULL]), 1)
            AS ord
    FROM items
), spans AS (
    SELECT *, el.span AS sp,
        CASE WHEN is_otlp THEN {record_line("ord", "n", "doc_line")} ELSE doc_line END
            AS rec_line,
        {extract_sql(_attr_object("el.span.attributes"), _paths(_ATTRS))} AS a,
        {extract_sql(_attr_object("el.res"), _paths(_RES))} AS ra
    FROM flat
), calls AS (
    SELECT *,
        lower({_str("gen_ai.operation.name")}) AS op,
        upper({_str("openinference.span.kind")}) AS oi_kind,
        coalesce({_str("gen_ai.request.model")}, {_str("llm.model_name")}) AS model_req,
        {_str("gen_ai.response.model")} AS model_resp,
        TRY_CAST(sp.startTimeUnixNano AS BIGINT) AS start_ns,
        TRY_CAST(sp.endTimeUnixNano AS BIGINT) AS end_ns,
        {_COUNT_CHECKS} AS count_problem,
        list_transform(a[1:{len(COUNTS)}], lambda x: ta_num(x)) AS nums
    FROM spans
), kept AS (
    SELECT * FROM calls
    WHERE problem IS NOT NULL OR NOT is_otlp
       OR ((model_req IS NOT NULL OR model_resp IS NOT NULL
            OR list_sum(list_transform([{", ".join(A[k] for k in INPUT + OUTPUT)}],
                                       lambda c: (c IS NOT NULL)::INT)) > 0
            OR op IN ({_MODEL_CALL_OPS}))
           AND coalesce(op, '') NOT IN ({_AGENT_OPS})
           AND coalesce(oi_kind, 'LLM') IN ('LLM', 'EMBEDDING'))
), usage AS (
    SELECT *, {usage_struct("openai", "u")} AS us FROM (
        SELECT *, json_object(
            'prompt_tokens', {_first(INPUT)}, 'completion_tokens', {_first(OUTPUT)},
            'prompt_tokens_details', json_object('cached_tokens', {_first(CACHE_READ)},
                                                 'cache_write_tokens', {_first(CACHE_WRITE)}),
            'completion_tokens_details', json_object('reasoning_tokens', {_first(REASONING)}))
            AS u
        FROM kept)
), texts AS (
    SELECT *,
        CASE WHEN start_ns > 0 THEN 'epoch'::TIMESTAMPTZ + to_microseconds(start_ns // 1000)
        END AS ts,
        ta_json({A["gen_ai.system_instructions"]}) AS si,
        ta_json({A["gen_ai.input.messages"]}) AS msgs,
        ta_json({A["gen_ai.tool.definitions"]}) AS tool_defs,
        ta_json({A["gen_ai.output.messages"]}) AS out_msgs,
        lower(coalesce({_str("openai.response.service_tier")},
                       {_str("gen_ai.openai.response.service_tier")})) AS tier_raw,
        nullif(sp.traceId, '') AS trace_id, nullif(sp.spanId, '') AS span_id
    FROM usage
)
SELECT
    rec_line AS line_no, doc_line,
    NULL::VARCHAR AS line,
    CASE WHEN is_otlp THEN 'span ' || coalesce(span_id, '#' || ord) END AS rec_label,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN NOT is_otlp THEN 'not an OTLP JSON trace export (no resourceSpans array)'
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN nullif(trim(sp.startTimeUnixNano), '') IS NULL THEN 'no startTimeUnixNano'
        WHEN ts IS NULL THEN 'startTimeUnixNano is not a time in nanoseconds: '
            || to_json(sp.startTimeUnixNano)::VARCHAR
        {before_2000("ts", "'startTimeUnixNano ' || to_json(sp.startTimeUnixNano)::VARCHAR")}
        WHEN coalesce(model_resp, model_req) IS NULL THEN 'no gen_ai.request.model or '
            || 'gen_ai.response.model'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason,
    CASE WHEN is_otlp AND reject_reason IS NOT NULL THEN '$.resourceSpans[' || (el.at[1] - 1)
        || CASE WHEN el.legacy THEN '].instrumentationLibrarySpans[' ELSE '].scopeSpans[' END
        || (el.at[2] - 1) || '].spans[' || (el.at[3] - 1) || ']' END AS rec_path,
    'otel:' || coalesce(trace_id || '/' || span_id, 'line-md5:' || md5(to_json(sp)::VARCHAR))
        AS request_key,
    {_str("gen_ai.response.id")} AS request_id,
    ts,
    coalesce(ta_provider(coalesce({_str("gen_ai.provider.name")}, {_str("gen_ai.system")},
                                  {_str("llm.provider")}, {_str("llm.system")})),
             ta_provider_from_model(coalesce(model_resp, model_req)), 'unknown') AS provider,
    op AS api,
    model_req AS model_requested,
    model_resp AS model_responded,
    coalesce({_str("user.id")}, {_str("enduser.id")}, ta_str({R["user.id"]}),
             ta_str({R["enduser.id"]})) AS user_id,
    CASE WHEN NOT starts_with(ta_str({R["service.name"]}), 'unknown_service')
         THEN ta_str({R["service.name"]}) END AS feature,
    coalesce({_str("gen_ai.prompt.name")}, {_str("traceloop.prompt.key")},
             {_str("langfuse.observation.prompt.name")}) AS prompt_id,
    coalesce({_str("gen_ai.prompt.version")}, {_str("traceloop.prompt.version")},
             {_str("langfuse.observation.prompt.version")}) AS prompt_version,
    coalesce(ta_str({R["deployment.environment.name"]}), ta_str({R["deployment.environment"]}))
        AS environment,
    json_object(
        'trace_id', trace_id, 'span_id', span_id,
        'parent_span_id', nullif(sp.parentSpanId, ''),
        'span_name', sp.name,
        'scope', el.scope,
        'session_id', coalesce({_str("session.id")}, {_str("gen_ai.conversation.id")}),
        'attributes', {_METADATA_ATTRS},
        'resource', {_attr_object("el.res")}) AS metadata,
    {TOKEN_CLASS_COLUMNS},
    CASE WHEN us.has_usage THEN 0 END AS web_search_requests,
    coalesce(us.has_usage, false) AS has_usage,
    CASE WHEN sp.status.code IN ('2', 'STATUS_CODE_ERROR') THEN 'error' ELSE 'ok' END AS status,
    {_str("error.type")} AS error_type,
    nullif(sp.status.message, '') AS error_message,
    coalesce({A["gen_ai.response.finish_reasons"]} ->> '$.arrayValue.values[0].stringValue',
             ta_json({A["gen_ai.response.finish_reasons"]}) ->> '$[0]') AS finish_reason,
    CASE WHEN end_ns >= start_ns THEN (end_ns - start_ns) / 1e6 END AS latency_ms,
    CASE WHEN tier_raw IS NULL OR tier_raw IN ('default', 'auto', 'standard') THEN NULL
         WHEN tier_raw = 'fast' THEN 'priority'  -- OpenAI's name for priority since 2026-07-30
         ELSE tier_raw END AS service_tier,
    CASE WHEN si IS NOT NULL OR msgs IS NOT NULL
         THEN md5(json_object('model', model_req, 'system_instructions', si,
                              'messages', msgs, 'tools', tool_defs)::VARCHAR) END AS request_hash,
    nullif(concat_ws(E'\\n', {_parts_text("si")},
        nullif(array_to_string(list_transform(list_filter(ta_list(msgs),
            lambda m: m ->> '$.role' = 'system'), lambda m: {_parts_text("m -> '$.parts'")}),
            E'\\n'), '')), '') AS system_text,
    {_FIRST_TEXT} AS first_text,
    CASE WHEN si IS NOT NULL OR msgs IS NOT NULL
         THEN json_object('system_instructions', si, 'messages', msgs,
                          'tools', tool_defs)::VARCHAR END
        AS input_body,
    -- the reply, for the output recount (a call logged without usage was priced with none)
    CASE WHEN json_type(out_msgs) = 'ARRAY' AND json_array_length(out_msgs) > 0
         THEN json_object('messages', out_msgs)::VARCHAR END AS output_body
FROM texts
UNION ALL BY NAME
SELECT doc_line AS line_no, doc_line, NULL::VARCHAR AS line, 'OTLP structure' AS rec_label,
    hole AS reject_reason
FROM holes
"""


class OtelGenAIFormat(DocumentFormat):
    name = "otel-genai"
    description = "OpenTelemetry GenAI spans as OTLP JSON (one document or JSON Lines)"
    head_key = re.compile(r'"resourceSpans"\s*:')
    element_depth = 6
    stage_sql = _STAGE
    # file exporters write a file per export batch: small files are staged together
    batch_bytes = 64 * 1024 * 1024

    def looks_right(self, record: dict[str, Any]) -> bool:
        return _looks_like_otlp(record)


def _looks_like_otlp(record: dict[str, Any]) -> bool:
    return isinstance(record.get("resourceSpans"), list)
