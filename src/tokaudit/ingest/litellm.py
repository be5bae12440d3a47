"""LiteLLM proxy logs: ``LiteLLM_SpendLogs`` rows and the ``StandardLoggingPayload``.

Documented in docs/formats.md. Spend-log rows come exported as JSON Lines, a JSON array,
one JSON object per file, or CSV (``psql --csv``, the admin UI); callback payloads as
JSON Lines or one object per file. Both have the same token convention, which is the
trap here: ``prompt_tokens`` is cache-INCLUSIVE for every provider, Claude included
(LiteLLM adds Anthropic's cache reads and writes into it), so usage is mapped with the
OpenAI convention. The cache split is only in ``metadata``, which a spend-log row carries
as a JSON string, as it does ``request_tags``; both are parsed in SQL. LiteLLM's own
``spend`` / ``response_cost`` is kept in ``metadata.spend`` for comparison, never used to
price.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.csvrows import header_line, stage_csv_docs
from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.jsondocs import (
    before_2000,
    count_problems_sql,
    create_staged_merged,
    docs_from_raw,
    extract_sql,
    install_gateway_macros,
    picker,
    read_each_file,
    record_ctes,
    records_vote,
    stage_element_lines,
)
from tokaudit.ingest.staging import stage_lines, unpack_file_numbers
from tokaudit.ingest.usage import usage_struct

# Counts, relative to a usage object: metadata.usage_object (spend logs) or the
# payload's response.usage; additional_usage_values holds Anthropic's cache split.
_USAGE = [
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details.cached_tokens",
    "cache_read_input_tokens",
    "prompt_tokens_details.cache_creation_tokens",
    "prompt_tokens_details.cache_write_tokens",
    "cache_creation_input_tokens",
    "prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens",
    "completion_tokens_details.reasoning_tokens",
    "prompt_tokens_details.audio_tokens",
]
_EXTRA = [
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "completion_tokens_details.reasoning_tokens",
]
_TOP = [
    "$.request_id",
    "$.id",
    "$.call_type",
    "$.startTime",
    "$.endTime",
    "$.model",
    "$.model_group",
    "$.model_id",
    "$.custom_llm_provider",
    "$.user",
    "$.end_user",
    "$.team_id",
    "$.organization_id",
    "$.metadata",
    "$.request_tags",
    "$.spend",
    "$.response_cost",
    "$.prompt_tokens",
    "$.completion_tokens",
    "$.status",
    "$.session_id",
    "$.messages",
    "$.proxy_server_request",
    "$.request_duration_ms",
    "$.response_time",
    "$.error_str",
    "$.error_information",
    "$.api_key",
    "$.model_parameters",
    "$.trace_id",
    "$.response.model",
    "$.response.choices[0].finish_reason",
    "$.response.choices",
    *("$.response.usage." + k for k in _USAGE),
]
_META = [
    "$.user_api_key_team_id",
    "$.user_api_key_team_alias",
    "$.user_api_key_user_id",
    "$.user_api_key_end_user_id",
    "$.user_api_key_hash",
    "$.error_information",
    "$.prompt_management_metadata.prompt_id",
    "$.user_api_key_project_alias",
    "$.user_api_key_project_id",
    *("$.usage_object." + k for k in _USAGE),
    *("$.additional_usage_values." + k for k in _EXTRA),
]
T = picker("top", _TOP)
M = picker("md", _META)


def _usage(key: str) -> str:
    """A usage count: the spend log's usage_object, else the payload's response.usage."""
    return f"coalesce(ta_num({M['$.usage_object.' + key]}), ta_num({T['$.response.usage.' + key]}))"


def _extra(key: str) -> str:
    return f"ta_num({M['$.additional_usage_values.' + key]})"


_API = """CASE
    WHEN lower({c}) IN ('completion', 'acompletion') THEN 'chat.completions'
    WHEN lower({c}) IN ('text_completion', 'atext_completion') THEN 'completions'
    WHEN lower({c}) IN ('responses', 'aresponses') THEN 'responses'
    WHEN lower({c}) IN ('embedding', 'aembedding') THEN 'embeddings'
    WHEN lower({c}) IN ('anthropic_messages', 'aanthropic_messages') THEN 'messages'
    ELSE {c} END"""
_API_SQL = _API.format(c=f"ta_str({T['$.call_type']})")

_N_USAGE = len(_USAGE)
_MD_USAGE = _META.index("$.usage_object." + _USAGE[0]) + 1
_TOP_USAGE = _TOP.index("$.response.usage." + _USAGE[0]) + 1
_MD_EXTRA = _META.index("$.additional_usage_values." + _EXTRA[0]) + 1
# prompt_tokens and completion_tokens are in every row and usage object LiteLLM writes: a
# null there is a broken record (read as 0 it would price the call without them). A null
# breakdown (cached_tokens, reasoning_tokens) is LiteLLM's "not reported", read as absent.
_NOT_NULL = ("prompt_tokens", "completion_tokens")
_COUNT_CHECKS = ", ".join(
    [
        f"ta_num_problem_nn({T['$.prompt_tokens']}, 'prompt_tokens')",
        f"ta_num_problem_nn({T['$.completion_tokens']}, 'completion_tokens')",
        count_problems_sql(
            f"md[{_MD_USAGE}:{_MD_USAGE + _N_USAGE - 1}]",
            ["metadata.usage_object." + k for k in _USAGE],
            ["metadata.usage_object." + k for k in _NOT_NULL],
        ),
        count_problems_sql(
            f"top[{_TOP_USAGE}:{_TOP_USAGE + _N_USAGE - 1}]",
            ["response.usage." + k for k in _USAGE],
            ["response.usage." + k for k in _NOT_NULL],
        ),
        count_problems_sql(
            f"md[{_MD_EXTRA}:{_MD_EXTRA + len(_EXTRA) - 1}]",
            ["metadata.additional_usage_values." + k for k in _EXTRA],
        ),
    ]
)
_CACHE_READ = (
    f"coalesce({_usage('prompt_tokens_details.cached_tokens')}, "
    f"{_extra('cache_read_input_tokens')}, {_usage('cache_read_input_tokens')})"
)
_CACHE_WRITE = (
    f"coalesce({_usage('prompt_tokens_details.cache_creation_tokens')}, "
    f"{_usage('prompt_tokens_details.cache_write_tokens')}, "
    f"{_extra('cache_creation_input_tokens')}, {_usage('cache_creation_input_tokens')})"
)
_WRITE_1H = _usage("prompt_tokens_details.cache_creation_token_details.ephemeral_1h_input_tokens")
_REASONING = (
    f"coalesce({_usage('completion_tokens_details.reasoning_tokens')}, "
    f"{_extra('completion_tokens_details.reasoning_tokens')})"
)

# One json_extract per record and one per metadata object: every other read of them would
# parse the whole text again (a spend-log metadata string is ~3 KB).
_STAGE = f"""
WITH {record_ctes(_TOP)}, parsed AS (
    SELECT *,
        CASE json_type({T["$.metadata"]}) WHEN 'OBJECT' THEN {T["$.metadata"]}
             WHEN 'VARCHAR' THEN TRY_CAST({T["$.metadata"]} ->> '$' AS JSON) END AS meta_any,
        ta_str({T["$.request_id"]}) AS rid_spend, ta_str({T["$.id"]}) AS rid_payload
    FROM top
), meta AS (
    SELECT *, CASE WHEN starts_with(ltrim(meta_any::VARCHAR), '{{') THEN meta_any END AS meta
    FROM parsed
), docs AS (
    SELECT *, {extract_sql("meta", _META)} AS md,
        CASE json_type({T["$.proxy_server_request"]})
            WHEN 'OBJECT' THEN {T["$.proxy_server_request"]}
            WHEN 'VARCHAR' THEN CASE WHEN length({T["$.proxy_server_request"]} ->> '$') > 2
                THEN TRY_CAST({T["$.proxy_server_request"]} ->> '$' AS JSON) END END AS psr_any
    FROM meta
), usage AS (
    SELECT *,
        coalesce(ta_num({T["$.prompt_tokens"]}), {_usage("prompt_tokens")}) AS p_tokens,
        coalesce(ta_num({T["$.completion_tokens"]}), {_usage("completion_tokens")}) AS c_tokens,
        {_WRITE_1H} AS w1h,
        -- Gemini's audio input, part of prompt_tokens, priced apart (docs/formats.md)
        {_usage("prompt_tokens_details.audio_tokens")} AS audio,
        nullif(concat_ws('; ', {_COUNT_CHECKS}), '') AS count_problem,
        CASE WHEN json_type(psr_any) = 'OBJECT'
             THEN {extract_sql("psr_any", ["$.messages", "$.model", "$.tools"])} END AS psr
    FROM docs
), classes AS (
    -- the column must be named u: the usage macros' lambdas refer to their argument by name
    SELECT *, {usage_struct("openai", "u")} AS us FROM (
        SELECT *, json_object(
            'prompt_tokens', p_tokens, 'completion_tokens', c_tokens,
            'prompt_tokens_details', json_object('cached_tokens', {_CACHE_READ},
                                                 'cache_write_tokens', {_CACHE_WRITE}),
            'completion_tokens_details', json_object('reasoning_tokens', {_REASONING})) AS u
        FROM usage)
), fields AS (
    SELECT *,
        ta_ts({T["$.startTime"]}) AS ts,
        ta_ts({T["$.endTime"]}) AS ts_end,
        coalesce(ta_str(psr[2]), ta_str({T["$.model_group"]})) AS model_req,
        coalesce(ta_str({T["$.response.model"]}), ta_str({T["$.model"]})) AS model_resp,
        coalesce(CASE WHEN json_type(psr[1]) = 'ARRAY' THEN psr[1] END,
                 CASE WHEN json_type({T["$.messages"]}) = 'ARRAY' THEN {T["$.messages"]} END)
            AS msgs,
        lower(ta_str({T["$.status"]})) AS status_raw,
        coalesce(ta_json({T["$.error_information"]}), {M["$.error_information"]}) AS err,
        coalesce(ta_provider(ta_str({T["$.custom_llm_provider"]})),
                 ta_provider_from_model(coalesce(model_resp, model_req)), 'unknown') AS prov
    FROM classes
), audio_split AS (
    -- LiteLLM reports Gemini's AUDIO prompt tokens as prompt_tokens_details.audio_tokens,
    -- cached audio included and not split out: only uncached audio can be told apart
    SELECT *, CASE WHEN prov = 'google' AND us.has_usage THEN coalesce(audio, 0) ELSE 0 END
        AS gm_audio
    FROM fields
)
SELECT
    rec_line AS line_no, doc_line,
    raw AS line,
    CASE WHEN in_array THEN '$[' || (ord - 1) || ']' END AS rec_path,
    CASE WHEN in_array THEN 'record ' || ord END AS rec_label,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN r_type <> 'OBJECT' THEN 'not a JSON object (got ' || ta_json_kind(r) || ')'
        WHEN meta IS NULL AND json_type({T["$.metadata"]}) IN ('VARCHAR', 'ARRAY')
             AND coalesce(trim({T["$.metadata"]} ->> '$'), '') NOT IN ('', 'None', 'null')
            THEN 'metadata is not a JSON object: ' || left({T["$.metadata"]} ->> '$', 80)
        WHEN ta_str({T["$.startTime"]}) IS NULL THEN 'missing startTime'
        WHEN ts IS NULL THEN 'startTime is not a timestamp: ' || {T["$.startTime"]}::VARCHAR
        {before_2000("ts", "'startTime ' || " + T["$.startTime"] + "::VARCHAR")}
        WHEN coalesce(model_resp, model_req) IS NULL THEN 'no model (model and model_group empty)'
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN us.problem IS NOT NULL THEN us.problem
        WHEN w1h > us.cache_write_5m THEN 'cache_creation_token_details.ephemeral_1h_input_tokens'
            || ' exceeds the cache writes'
        WHEN gm_audio > us.input THEN 'prompt_tokens_details.audio_tokens exceeds the uncached '
            || 'prompt tokens (cached audio is not split out: the audio cannot be priced)'
    END AS reject_reason,
    'litellm:' || coalesce(rid_spend, rid_payload, 'line-md5:' || md5(r::VARCHAR)) AS request_key,
    coalesce(rid_spend, rid_payload) AS request_id,
    ts,
    prov AS provider,
    {_API_SQL} AS api,
    model_req AS model_requested,
    model_resp AS model_responded,
    coalesce(ta_str({T["$.team_id"]}), ta_str({M["$.user_api_key_team_id"]}),
             ta_str({M["$.user_api_key_team_alias"]})) AS team,
    coalesce(ta_str({T["$.user"]}), ta_str({T["$.end_user"]}),
             ta_str({M["$.user_api_key_user_id"]}), ta_str({M["$.user_api_key_end_user_id"]}))
        AS user_id,
    ta_str({M["$.prompt_management_metadata.prompt_id"]}) AS prompt_id,
    coalesce(ta_str({M["$.user_api_key_project_alias"]}),
             ta_str({M["$.user_api_key_project_id"]})) AS project,
    json_merge_patch(coalesce(meta, '{{}}'),
        json_object('model_map_information', NULL,
            'spend', coalesce({T["$.spend"]}, {T["$.response_cost"]}),
            'request_tags', coalesce(ta_json({T["$.request_tags"]}), {T["$.request_tags"]}),
            'session_id', ta_str({T["$.session_id"]}),
            'trace_id', ta_str({T["$.trace_id"]}),
            'call_type', ta_str({T["$.call_type"]}),
            'model_group', ta_str({T["$.model_group"]}),
            'model_id', ta_str({T["$.model_id"]}),
            'organization_id', ta_str({T["$.organization_id"]}),
            'user', ta_str({T["$.user"]}),
            'end_user', ta_str({T["$.end_user"]}),
            'api_key', coalesce(ta_str({T["$.api_key"]}), ta_str({M["$.user_api_key_hash"]}))))
        AS metadata,
    CASE WHEN us.has_usage THEN us.input - gm_audio END AS input_tokens,
    CASE WHEN us.has_usage THEN us.input_audio + gm_audio END AS input_audio_tokens,
    CASE WHEN us.has_usage THEN us.cache_read END AS cache_read_tokens,
    CASE WHEN us.has_usage THEN us.cache_read_audio END AS cache_read_audio_tokens,
    CASE WHEN us.has_usage THEN us.cache_write_5m - coalesce(w1h, 0) END
        AS cache_write_5m_tokens,
    CASE WHEN us.has_usage THEN coalesce(w1h, 0) END AS cache_write_1h_tokens,
    CASE WHEN us.has_usage THEN us.output END AS output_tokens,
    CASE WHEN us.has_usage THEN us.reasoning END AS reasoning_tokens,
    CASE WHEN us.has_usage THEN 0 END AS web_search_requests,
    coalesce(us.has_usage, false) AS has_usage,
    CASE WHEN status_raw IN ('failure', 'error', 'failed') THEN 'error'
         WHEN status_raw IS NULL AND (ta_str({T["$.error_str"]}) IS NOT NULL
              OR ta_str(err -> '$.error_class') IS NOT NULL) THEN 'error'
         ELSE 'ok' END AS status,
    try_cast(ta_str(err -> '$.error_code') AS INTEGER) AS http_status,
    ta_str(err -> '$.error_class') AS error_type,
    coalesce(ta_str(err -> '$.error_message'), ta_str({T["$.error_str"]})) AS error_message,
    ta_str({T["$.response.choices[0].finish_reason"]}) AS finish_reason,
    coalesce(ta_num({T["$.request_duration_ms"]})::DOUBLE,
             try_cast(ta_str({T["$.response_time"]}) AS DOUBLE) * 1000,
             (epoch_us(ts_end) - epoch_us(ts)) / 1000.0) AS latency_ms,
    CASE WHEN msgs IS NOT NULL THEN md5(json_object('model', model_req, 'messages', msgs,
        'tools', psr[3], 'parameters', {T["$.model_parameters"]})::VARCHAR) END
        AS request_hash,
    ta_system_text(msgs) AS system_text,
    ta_first_text(msgs) AS first_text,
    -- the reply as the envelope keeps it: the output recount prices a call logged without
    -- usage from it (it was priced with no output at all)
    CASE WHEN len(list_filter(json_extract({T["$.response.choices"]}, '$[*].message'),
                              lambda m: json_type(m) = 'OBJECT')) > 0
         THEN json_object('messages', json_extract({T["$.response.choices"]}, '$[*].message'))
             ::VARCHAR END AS output_body,
    CASE WHEN msgs IS NOT NULL
         -- the StandardLoggingPayload keeps the tools in model_parameters when there is no
         -- proxy request: both are the request's tools
         THEN json_object('messages', msgs, 'tools', coalesce(psr[3],
                json_extract({T["$.model_parameters"]}, '$.tools')))::VARCHAR END AS input_body
FROM audio_split
"""

_CSV_HEADER = re.compile(r"(^|,)\"?(request_id|id)\"?(,|$)")


class LiteLLMFormat(LogFormat):
    name = "litellm-spendlogs"
    description = "LiteLLM proxy SpendLogs rows (JSON, JSONL, CSV) and StandardLoggingPayload"
    # a logger may write each StandardLoggingPayload to a file of its own: small files are
    # staged together (0.4 s a file alone)
    batch_bytes = 64 * 1024 * 1024
    reads_documents = True

    def sniff(self, head: FileHead) -> bool:
        vote = records_vote(head, _looks_like_litellm)
        if vote is not None:  # parsed records decide; the text test is for documents
            return vote
        text = "\n".join(head.lines)
        if head.lines and not head.lines[0].lstrip().startswith(("{", "[")):
            header = head.lines[0].lower()
            return (
                bool(_CSV_HEADER.search(header))
                and "call_type" in header
                and ("spend" in header or "prompt_tokens" in header)
            )
        return '"call_type"' in text and any(
            f'"{k}"' in text for k in ("spend", "response_cost", "startTime", "prompt_tokens")
        )

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        _read_one(con, path)
        create_staged_merged(con, _STAGE)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files, each read on its own (CSV, JSON Lines or one document), staged
        in one statement (``jsondocs.read_each_file``)."""
        read_each_file(con, paths, _read_one)
        create_staged_merged(con, _STAGE)
        unpack_file_numbers(con)


def _read_one(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """``_raw``, ``_docs`` and ``_elem_lines`` of one file: CSV rows, JSON Lines or one
    document."""
    stage_lines(con, path)
    first = header_line(con)
    if first is not None and not first[1].lstrip(" ").startswith(("{", "[")):
        install_gateway_macros(con)
        stage_csv_docs(con, ",")
        stage_element_lines(con, "lines", 0)
    else:
        mode = docs_from_raw(con)
        stage_element_lines(con, mode, 1)


def _looks_like_litellm(record: dict[str, Any]) -> bool:
    names = set(record)
    return "call_type" in names and bool(
        names & {"spend", "response_cost", "prompt_tokens", "startTime"}
    )
