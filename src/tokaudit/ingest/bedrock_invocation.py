"""Amazon Bedrock model invocation logs (docs/formats.md, "bedrock-invocation").

AWS's "Monitor model invocation using CloudWatch Logs and Amazon S3"
(docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html) delivers one
JSON object per call, to S3 (gzipped JSON Lines) or CloudWatch Logs:
``schemaType: "ModelInvocationLog"``, ``schemaVersion``, ``timestamp``, ``accountId``,
``identity: {arn}``, ``region``, ``requestId``, ``operation`` (InvokeModel,
InvokeModelWithResponseStream, Converse, ConverseStream), ``modelId``, ``input:
{inputContentType, inputBodyJson, inputTokenCount, cacheReadInputTokenCount,
cacheWriteInputTokenCount, inputBodyS3Path}``, ``output: {outputContentType,
outputBodyJson, outputTokenCount, outputBodyS3Path}``, ``errorCode`` for a failed call,
and optionally ``requestMetadata`` (the caller's key/value pairs), ``inferenceRegion`` and
``performanceConfig``.
Field list: Panther's ``AWS.BedrockModelInvocation`` schema
(docs.panther.com/data-onboarding/supported-logs/aws/bedrock-model-invocation); record
examples: github.com/dheerajoruganty/aws-bedrock-logs-mcp-server (setup.md, a
ConverseStream record with the cache counts) and a Converse record of
anthropic.claude-3-haiku in a public talk (speakerdeck, "ModelInvocationLog の分析").

Each record is rewritten as an ``anthropic`` envelope, so usage, token classes, texts,
hashes and streams are read by the envelope's SQL:

- **Usage.** From the output body when it has one: an InvokeModel Claude body is an
  Anthropic Message (its usage convention: ``input_tokens`` exclude cache reads and
  writes, ``cache_creation`` splits 5m/1h), a streamed one the list of its chunks (folded
  as every Anthropic stream: ``message_start`` patched with the last ``message_delta``);
  a Converse body's camelCase ``usage`` (AWS ``TokenUsage``: ``inputTokens`` exclude
  ``cacheReadInputTokens`` and ``cacheWriteInputTokens``; ``cacheDetails`` splits the
  writes by ``ttl`` 5m/1h) is spelt the Anthropic way, and so is the ``metadata.usage``
  event of a logged ConverseStream event list (a body without the optional cache fields
  takes the record's cache counts; a ``cacheDetails`` ttl other than 5m/1h is a reject).
  Otherwise (other vendors' bodies, a body delivered to S3, text logging off) the
  record's ``inputTokenCount``, ``outputTokenCount``, ``cacheReadInputTokenCount`` and
  ``cacheWriteInputTokenCount``, read as disjoint (the CloudWatch metrics of the same
  names are).
- **Model.** ``modelId``: the requested Bedrock id decides route and region (pricing).
  A prompt router's ARN names no model: the Converse response's
  ``trace.promptRouter.invokedModelId`` (AWS ``PromptRouterTrace``) is the model, the
  router's ARN kept in metadata. A model that is not Anthropic's (Llama, Nova, Titan,
  Mistral) is stored with provider ``bedrock`` and its counts, and no table prices it
  (unpriced, never $0).
- **Tier.** A Converse ``serviceTier`` other than ``default`` (priority, flex, reserved)
  or ``performanceConfig.latency: optimized`` is kept as the service tier, so the call is
  unpriced (``unknown_context``) rather than priced at the standard rate.
- **Key.** ``bedrock:<requestId>``: a record loaded twice (S3 and CloudWatch copies, a
  re-ingest) is one call.
- **Failures.** ``errorCode`` makes the call an error row (its HTTP status from the
  Bedrock Runtime API reference's error list).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.batch import text_value
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.rewrite import field, not_object_reason, parsed_lines, present, stage_rewritten
from tokaudit.ingest.staging import stage_files_lines, stage_lines, unpack_file_numbers
from tokaudit.pricing.names import BEDROCK_ARN

SCHEMA_TYPE = "ModelInvocationLog"
_P = [
    "$.schemaType",
    "$.timestamp",
    "$.accountId",
    "$.identity",
    "$.identity.arn",
    "$.region",
    "$.requestId",
    "$.operation",
    "$.modelId",
    "$.input",
    "$.output",
    "$.errorCode",
    "$.errorMessage",
    "$.inferenceRegion",
    "$.requestMetadata",
    "$.performanceConfig",
]
T = {p[2:]: field(_P, p) for p in _P}

# The errors of the Bedrock Runtime InvokeModel / Converse API reference and their HTTP
# status (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_InvokeModel.html).
HTTP_STATUS = {
    "AccessDeniedException": 403,
    "InternalServerException": 500,
    "ModelErrorException": 424,
    "ModelNotReadyException": 429,
    "ModelStreamErrorException": 424,
    "ModelTimeoutException": 408,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 400,
    "ServiceUnavailableException": 503,
    "ThrottlingException": 429,
    "ValidationException": 400,
}
_STATUS_CASE = " ".join(f"WHEN '{k}' THEN {v}" for k, v in HTTP_STATUS.items())
_COUNTS = (
    ("input", "inputTokenCount"),
    ("input", "cacheReadInputTokenCount"),
    ("input", "cacheWriteInputTokenCount"),
    ("output", "outputTokenCount"),
)


def _block(b: str) -> str:
    """SQL: a Converse content block (JSON ``b``) as an Anthropic one (text, tool use, tool
    result); a cache point is dropped by the caller; anything else is kept as logged."""
    return f"""CASE
        WHEN json_type({b}, '$.text') = 'VARCHAR'
            THEN json_object('type', 'text', 'text', {b} -> '$.text')
        WHEN json_type({b}, '$.toolUse') = 'OBJECT' THEN json_object('type', 'tool_use',
            'id', {b} -> '$.toolUse.toolUseId', 'name', {b} -> '$.toolUse.name',
            'input', {b} -> '$.toolUse.input')
        WHEN json_type({b}, '$.toolResult') = 'OBJECT' THEN json_object('type', 'tool_result',
            'tool_use_id', {b} -> '$.toolResult.toolUseId',
            'content', to_json(list_transform(ta_list({b} -> '$.toolResult.content'),
                lambda c: CASE WHEN json_type(c, '$.text') = 'VARCHAR'
                    THEN json_object('type', 'text', 'text', c -> '$.text')
                    WHEN json_type(c, '$.json') IS NOT NULL
                    THEN json_object('type', 'text', 'text', (c -> '$.json')::VARCHAR)
                    ELSE c END)))
        ELSE {b} END"""


def _blocks(arr: str) -> str:
    """SQL: a Converse content list as an Anthropic one (JSON array)."""
    return f"""to_json(list_transform(list_filter(ta_list({arr}),
        lambda b: json_type(b, '$.cachePoint') IS NULL), lambda b: {_block("b")}))"""


def _converse_usage(u: str) -> str:
    """SQL: an AWS ``TokenUsage`` (JSON ``u``) spelt as an Anthropic usage object.

    ``inputTokens`` exclude cache reads and writes, as Anthropic's ``input_tokens`` do; the
    ``cacheDetails`` list splits ``cacheWriteInputTokens`` by ``ttl`` (5m, 1h). The API
    reference marks ``cacheReadInputTokens`` and ``cacheWriteInputTokens`` "Required: No"
    (docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_TokenUsage.html): a body
    without them has not reported the cache, so the record's ``cacheReadInputTokenCount``
    / ``cacheWriteInputTokenCount`` stand in (rather than reading it as no cache); a body
    field that is present, 0 included, wins."""

    def ttl(t: str) -> str:
        return f"""coalesce(list_sum(list_transform(list_filter(ta_list({u} -> '$.cacheDetails'),
            lambda d: d ->> 'ttl' = '{t}'), lambda d: ta_int(d, '$.inputTokens'))), 0)"""

    return f"""json_object('input_tokens', {u} -> '$.inputTokens',
        'output_tokens', {u} -> '$.outputTokens',
        'cache_read_input_tokens', coalesce({present(f"{u} -> '$.cacheReadInputTokens'")},
                                            inp -> '$.cacheReadInputTokenCount'),
        'cache_creation_input_tokens', coalesce({present(f"{u} -> '$.cacheWriteInputTokens'")},
                                                inp -> '$.cacheWriteInputTokenCount'),
        'cache_creation', CASE WHEN json_array_length({u}, '$.cacheDetails') > 0
            THEN json_object('ephemeral_5m_input_tokens', {ttl("5m")},
                             'ephemeral_1h_input_tokens', {ttl("1h")}) END)"""


# the usage of a logged ConverseStream event list: its (last) metadata event's
_EVENTS_USAGE = (
    "(list_filter(ta_list(ob), lambda e: json_type(e, '$.metadata.usage') = 'OBJECT')[-1]"
    " -> '$.metadata.usage')"
)


# the service tier of a logged ConverseStream event list: its (last) metadata event's
_EVENTS_TIER = (
    "(list_filter(ta_list(ob), lambda e: json_type(e, '$.metadata.serviceTier') = 'OBJECT')[-1]"
    " ->> '$.metadata.serviceTier.type')"
)


# the model a prompt router ran (AWS PromptRouterTrace.invokedModelId, in a Converse
# response's ``trace.promptRouter`` or a ConverseStream metadata event's ``trace``)
_INVOKED = (
    "coalesce(ob ->> '$.trace.promptRouter.invokedModelId', list_filter(ta_list(ob),"
    " lambda e: json_type(e, '$.metadata.trace.promptRouter.invokedModelId') = 'VARCHAR')[-1]"
    " ->> '$.metadata.trace.promptRouter.invokedModelId')"
)
# a prompt router's ARN (a default router, ``default-prompt-router/anthropic.claude:1``,
# or a configured one, ``prompt-router/<id>``): it names no model (Amazon Bedrock
# "Intelligent Prompt Routing", docs.aws.amazon.com/bedrock/latest/userguide/prompt-routing.html)
_ROUTER_ARN = r"^arn:aws[a-z-]*:bedrock:[^:/]*:[^:/]*:(default-prompt-router|prompt-router)/"


def _front() -> str:
    """The front query: each record as an envelope object, or its reject reason."""
    count_checks = "\n        ".join(
        f"""WHEN json_type({T[side]}, '$.{name}') NOT IN ('BIGINT', 'UBIGINT', 'NULL')
            OR ta_int({T[side]}, '$.{name}') < 0
            THEN '{side}.{name} is not a whole number'"""
        for side, name in _COUNTS
    )
    return f"""
WITH top AS ({parsed_lines(_P)}
), rec AS (
    SELECT *,
        {text_value(T["requestId"])} AS request_id,
        {text_value(T["modelId"])} AS model_id,
        {text_value(T["operation"])} AS operation,
        {text_value(T["errorCode"])} AS error_code,
        CASE WHEN json_type({T["input"]}) = 'OBJECT' THEN {T["input"]} END AS inp,
        CASE WHEN json_type({T["output"]}) = 'OBJECT' THEN {T["output"]} END AS outp
    FROM top
), bodies AS (
    SELECT *,
        CASE WHEN json_type(inp, '$.inputBodyJson') = 'OBJECT' THEN inp -> '$.inputBodyJson'
             END AS ib,
        CASE WHEN json_type(outp, '$.outputBodyJson') IN ('OBJECT', 'ARRAY')
             THEN outp -> '$.outputBodyJson' END AS ob,
        coalesce(operation IN ('Converse', 'ConverseStream'), false) AS converse,
        coalesce(regexp_matches(lower(model_id), '{_ROUTER_ARN}'), false) AS router
    FROM rec
), routed AS (
    -- a prompt router's call is the model it invoked (its id says route and region), the
    -- router's ARN kept in metadata; without a logged invokedModelId it stays the router
    SELECT *, CASE WHEN router THEN coalesce(nullif({_INVOKED}, ''), model_id)
                   ELSE model_id END AS model
    FROM bodies
), modeled AS (
    SELECT *,
        coalesce(regexp_matches(model, 'anthropic\\.claude'), false) AS claude,
        -- an ARN that is not a foundation model's or a system inference profile's (an
        -- application inference profile, a prompt router, a provisioned or custom model)
        -- does not say which model and region it bills
        NOT regexp_matches(lower(model), '^arn:')
            OR regexp_matches(lower(model), '^{BEDROCK_ARN}') AS named
    FROM routed
), kinds AS (
    SELECT *,
        CASE
            -- an Anthropic Message (InvokeModel of a Claude model)
            WHEN json_type(ob) = 'OBJECT' AND json_type(ob, '$.usage.input_tokens') IS NOT NULL
                THEN 'message'
            -- its stream, logged as the list of its chunks
            WHEN json_type(ob) = 'ARRAY' AND ob ->> '$[0].type' = 'message_start'
                THEN 'stream'
            -- a Converse response (ConverseStream is logged the same way)
            WHEN json_type(ob) = 'OBJECT' AND json_type(ob, '$.usage.inputTokens') IS NOT NULL
                THEN 'converse'
            -- a ConverseStream event list: the usage is in its metadata event
            WHEN json_type(ob) = 'ARRAY'
                 AND len(list_filter(ta_list(ob), lambda e:
                         json_type(e, '$.metadata.usage') = 'OBJECT')) > 0
                THEN 'converse_events'
        END AS body_kind
    FROM modeled
), usages AS (
    SELECT *, CASE body_kind WHEN 'converse' THEN ob -> '$.usage'
                             WHEN 'converse_events' THEN {_EVENTS_USAGE} END AS cu
    FROM kinds
), shaped AS (
    SELECT *,
        CASE
            WHEN body_kind IN ('message', 'stream') THEN ob
            WHEN body_kind = 'converse' THEN json_object('type', 'message', 'role', 'assistant',
                'model', to_json(model),
                'content', {_blocks("ob -> '$.output.message.content'")},
                'stop_reason', ob -> '$.stopReason',
                'usage', {_converse_usage("cu")})
            WHEN body_kind = 'converse_events' THEN json_object('type', 'message',
                'role', 'assistant',
                'model', to_json(model),
                'content', json_array(json_object('type', 'text', 'text', to_json(
                    coalesce(string_agg_delta, '')))),
                'stop_reason', list_filter(ta_list(ob), lambda e:
                    json_type(e, '$.messageStop') = 'OBJECT')[-1] -> '$.messageStop.stopReason',
                'usage', {_converse_usage("cu")})
            -- no usage in a body: the record's own counts; a Claude call always has an
            -- output count, so one without it has unknown output (it was priced as 0), while
            -- an embedding model's call has none (its output is 0)
            WHEN outp IS NOT NULL AND json_type(inp, '$.inputTokenCount') IN ('BIGINT', 'UBIGINT')
                 AND (NOT claude
                      OR json_type(outp, '$.outputTokenCount') IN ('BIGINT', 'UBIGINT'))
                THEN json_object('type', 'message', 'role', 'assistant',
                    'model', to_json(model),
                    'usage', json_object('input_tokens', inp -> '$.inputTokenCount',
                        'output_tokens', coalesce(outp -> '$.outputTokenCount', to_json(0)),
                        'cache_read_input_tokens', inp -> '$.cacheReadInputTokenCount',
                        'cache_creation_input_tokens', inp -> '$.cacheWriteInputTokenCount'))
            WHEN outp IS NOT NULL THEN json_object('type', 'message', 'role', 'assistant',
                'model', to_json(model))
        END AS resp,
        CASE
            WHEN ib IS NULL THEN NULL
            WHEN converse THEN json_object('model', to_json(model),
                'system', {_blocks("ib -> '$.system'")},
                'messages', to_json(list_transform(ta_list(ib -> '$.messages'),
                    lambda m: json_object('role', m -> '$.role',
                                          'content', {_blocks("m -> '$.content'")}))),
                'tools', CASE WHEN json_type(ib, '$.toolConfig.tools') = 'ARRAY'
                    THEN to_json(list_transform(ta_list(ib -> '$.toolConfig.tools'),
                        lambda t: json_object('name', t -> '$.toolSpec.name',
                            'description', t -> '$.toolSpec.description',
                            'input_schema', t -> '$.toolSpec.inputSchema.json'))) END)
            ELSE ib
        END AS req
    FROM (SELECT *, CASE WHEN body_kind = 'converse_events' THEN array_to_string(
                list_transform(list_filter(ta_list(ob), lambda e:
                    json_type(e, '$.contentBlockDelta.delta.text') = 'VARCHAR'),
                    lambda e: e ->> '$.contentBlockDelta.delta.text'), '') END
                AS string_agg_delta,
            -- a cacheDetails entry whose ttl is not one the API lists (5m, 1h)
            CASE WHEN cu IS NOT NULL THEN list_filter(ta_list(cu -> '$.cacheDetails'),
                lambda d: coalesce((d ->> '$.ttl') NOT IN ('5m', '1h'), true))[1] END
                AS odd_detail
          FROM usages)
)
SELECT line_no, line, claude, named,
    -- the service tier and latency mode the call ran in: Bedrock prices priority, flex and
    -- latency-optimized calls at their own rates, which no table holds (unknown_context)
    CASE WHEN lower(coalesce({T["performanceConfig"]} ->> '$.latency',
                             ob ->> '$.performanceConfig.latency',
                             ib ->> '$.performanceConfig.latency')) = 'optimized'
             THEN 'latency-optimized'
         ELSE nullif(nullif(lower(coalesce(ob ->> '$.serviceTier.type',
                                           {_EVENTS_TIER}, ib ->> '$.serviceTier.type')),
                            'default'), 'standard')
    END AS tier,
    CASE {not_object_reason()}
        WHEN {T["schemaType"]} ->> '$' IS DISTINCT FROM '{SCHEMA_TYPE}'
            THEN 'schemaType is not {SCHEMA_TYPE}'
        WHEN request_id IS NULL THEN 'requestId is missing or not a string'
        WHEN model_id IS NULL THEN 'modelId is missing or not a string'
        WHEN {present(T["identity"])} IS NOT NULL AND json_type({T["identity"]}) <> 'OBJECT'
            THEN 'identity is not an object'
        WHEN json_type({T["identity.arn"]}) NOT IN ('VARCHAR', 'NULL')
            THEN 'identity.arn is not a string'
        WHEN {present(T["input"])} IS NOT NULL AND inp IS NULL THEN 'input is not an object'
        WHEN {present(T["output"])} IS NOT NULL AND outp IS NULL THEN 'output is not an object'
        WHEN json_type({T["errorCode"]}) NOT IN ('VARCHAR', 'NULL')
            THEN 'errorCode is not a string'
        WHEN {present(T["requestMetadata"])} IS NOT NULL
             AND json_type({T["requestMetadata"]}) <> 'OBJECT'
            THEN 'requestMetadata is not an object'
        {count_checks}
        WHEN odd_detail IS NOT NULL THEN 'usage.cacheDetails ttl '
            || coalesce((odd_detail -> '$.ttl')::VARCHAR, 'missing')
            || ' is neither 5m nor 1h (CacheDetail.ttl)'
        WHEN outp IS NULL AND error_code IS NULL
            THEN 'neither output nor errorCode (a call without a result)'
    END AS reject_reason,
    json_object(
        'timestamp', {T["timestamp"]},
        'provider', 'anthropic',
        'api', CASE WHEN converse THEN 'converse' WHEN claude THEN 'messages'
                    ELSE 'invoke_model' END,
        'request_id', request_id,
        'model', model,
        -- the caller's requestMetadata (team, feature...), then the record's own fields;
        -- a JSON null drops its key
        'metadata', json_merge_patch(coalesce({T["requestMetadata"]}, '{{}}'::JSON),
            json_object('account_id', {T["accountId"]}, 'region', {T["region"]},
                'identity_arn', {T["identity.arn"]}, 'operation', {T["operation"]},
                'inference_region', {T["inferenceRegion"]},
                'prompt_router_arn', CASE WHEN router THEN model_id END,
                'input_body_s3_path', inp -> '$.inputBodyS3Path',
                'output_body_s3_path', outp -> '$.outputBodyS3Path')),
        'request', req,
        'response', resp,
        'error', CASE WHEN error_code IS NOT NULL THEN json_object(
            'status', CASE error_code {_STATUS_CASE} END,
            'type', error_code,
            'message', {T["errorMessage"]}) END) AS env
FROM shaped
"""


# A model that is not Anthropic's: its bodies are the vendor's own (no Anthropic texts to
# recount), and it is labelled ``bedrock``, not ``anthropic``.
_REPLACE = {
    "provider": "CASE WHEN f.claude THEN e.provider ELSE 'bedrock' END",
    "input_body": "CASE WHEN f.claude THEN e.input_body END",
    "output_body": "CASE WHEN f.claude THEN e.output_body END",
    "service_tier": "coalesce(f.tier, e.service_tier)",
}
_ADD = {
    "request_key": "'bedrock:' || e.request_id",
    # a modelId that names no model and region is the model, not the response's
    # first-party name: unpriced (unknown_model) rather than priced at another route's rate
    "model": "CASE WHEN f.named THEN coalesce(e.model_responded, e.model_requested) "
    "ELSE e.model_requested END",
}


def _is_record(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and record.get("schemaType") == SCHEMA_TYPE
        and ("modelId" in record or "requestId" in record)
    )


class BedrockInvocationFormat(LogFormat):
    name = "bedrock-invocation"
    description = "Amazon Bedrock model invocation logs (S3 or CloudWatch JSON Lines)"
    parallel_staging = True  # reads only its file (through the envelope's SQL)
    # S3 delivery writes many small gzipped objects: staged a batch at a time
    batch_bytes = 64 * 1024 * 1024

    def sniff(self, head: FileHead) -> bool:
        return head.mostly(_is_record)

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        stage_lines(con, path)
        stage_rewritten(con, _front(), _REPLACE, _ADD)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files in one pass: each record is rewritten on its own, keyed by its
        ``line_no``, so the packed numbers of ``staging.files_lines_sql`` pass through."""
        stage_files_lines(con, paths)
        stage_rewritten(con, _front(), _REPLACE, _ADD)
        unpack_file_numbers(con)
