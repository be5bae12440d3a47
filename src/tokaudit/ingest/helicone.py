"""Helicone request exports (docs/formats.md, "helicone").

One ``HeliconeRequest`` per record (``packages/llm-mapper/types.ts`` in
github.com/Helicone/helicone), as the exporter ``examples/export/typescript`` writes them:
JSON Lines (its default, one row per line) or a JSON array (``--format json``), with the
request and response bodies when run with ``--include-body``. The rows are what Helicone's
``POST /v1/request/query-clickhouse`` returns (``valhalla/jawn/src/lib/stores/request/
request.ts``): ``cost`` is already in USD there (``cost / COST_PRECISION_MULTIPLIER``).

Token classes. Helicone stores its counts split by class, not provider-style:

- Anthropic: ``prompt_tokens`` is the response's ``input_tokens`` (cache reads and writes
  excluded), ``prompt_cache_read_tokens`` / ``prompt_cache_write_tokens`` its
  ``cache_read_input_tokens`` / ``cache_creation_input_tokens``
  (``valhalla/jawn/src/lib/shared/bodyProcessors/anthropicBodyProcessor.ts``).
- OpenAI-style bodies: Helicone's processors subtract ``prompt_tokens_details.cached_tokens``
  (and audio) from ``prompt_tokens`` before storing it, and the reasoning tokens from
  ``completion_tokens``, which go to ``reasoning_tokens``
  (``bodyProcessors/openaiBodyProcessor.ts``, ``genericBodyProcessor.ts``; the query
  computes ``total_tokens`` as prompt + completion + reasoning).

So every count is read as its own class: input = ``prompt_tokens``, cache read and write
added beside it (writes as 5-minute writes, the export not splitting them by TTL, unless
an exported Anthropic reply's ``usage.cache_creation`` splits them and adds up to the row's),
output = ``completion_tokens`` + ``reasoning_tokens``. Older Helicone versions stored
OpenAI's cache-inclusive ``prompt_tokens``; that reading cannot be told from the row
alone (the one chosen, disjoint, never goes negative nor prices a call below its tokens),
but an exported reply whose usage has the row's very counts shows them inclusive.
``prompt_audio_tokens`` is uncached audio input (unpriced where a model has no audio
rate); a row with ``completion_audio_tokens`` is a reject, audio output having no price
class here. Helicone's ``cost`` is kept in ``metadata.cost`` for comparison, never used
to price.

Cache hits. A request served from Helicone's response cache (``Helicone-Cache-Enabled``)
names the cached request in ``cache_reference_id`` (the zero UUID, ClickHouse's default,
is no hit: ``cacheReferenceId != DEFAULT_UUID`` in ``valhalla/jawn/src/lib/handlers/
LoggingHandler.ts``). Helicone stores a hit's counts as 0 (``HandlerContext.ts``: "We don't
track tokens on cache hits, since cost is 0") but not its ``cost``, an older row may hold
the original's counts, and its exported bodies are the original's (``S3ReaderHandler.ts``
reads them by ``cache_reference_id``). A hit is loaded as a call that cost nothing: every
class 0, the logged counts in ``metadata.cache_hit_usage``, no request hash and no texts
to recount (it is neither a duplicate call to save nor a billing discrepancy).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from tokaudit.ingest.interface import FileHead, LogFormat
from tokaudit.ingest.jsondocs import (
    before_2000,
    count_problems_sql,
    create_staged_merged,
    docs_from_raw,
    picker,
    read_each_file,
    record_ctes,
    records_vote,
    stage_element_lines,
)
from tokaudit.ingest.staging import stage_lines, unpack_file_numbers

_COUNTS = [
    "prompt_tokens",
    "completion_tokens",
    "reasoning_tokens",
    "prompt_cache_read_tokens",
    "prompt_cache_write_tokens",
    "prompt_audio_tokens",
    "completion_audio_tokens",
]
_TOP = [
    "$.request_id",
    "$.request_created_at",
    "$.request_body",
    "$.request_path",
    "$.target_url",
    "$.request_user_id",
    "$.request_properties",
    "$.request_model",
    "$.model_override",
    "$.model",
    "$.helicone_user",
    "$.response_status",
    "$.response_model",
    "$.response_body",
    "$.provider",
    "$.delay_ms",
    "$.time_to_first_token",
    "$.total_tokens",
    "$.cost",
    "$.prompt_id",
    "$.prompt_version",
    "$.country_code",
    "$.cache_reference_id",
    "$.request_referrer",
    *("$." + k for k in _COUNTS),
]
T = picker("top", _TOP)
_FIRST_COUNT = _TOP.index("$." + _COUNTS[0]) + 1
_COUNT_CHECKS = count_problems_sql(
    f"top[{_FIRST_COUNT}:{_FIRST_COUNT + len(_COUNTS) - 1}]", _COUNTS
)
# the counts but prompt_tokens and completion_tokens, for a row that did not count those
_OTHER_CHECKS = count_problems_sql(
    f"top[{_FIRST_COUNT + 2}:{_FIRST_COUNT + len(_COUNTS) - 1}]", _COUNTS[2:]
)


def _n(key: str) -> str:
    return f"ta_num({T['$.' + key]})"


# Helicone's provider names (the legacy upper-case ProviderName of packages/cost/providers/
# mappings.ts, or the AI Gateway's lower-case slugs) as the price tables name providers.
# The AI Gateway's `vertex` serves Gemini and Claude: the model names the provider (Claude
# on Vertex is priced as Anthropic's model, as a Vertex name `claude-…@date` is), and
# `google-ai-studio` is Gemini's API.
_PROVIDER = """CASE
    WHEN lower({p}) IN ('aws', 'bedrock') THEN 'bedrock'
    WHEN lower({p}) IN ('custom', '') THEN NULL
    WHEN lower({p}) = 'google-ai-studio' THEN 'google'
    WHEN lower({p}) = 'vertex' THEN coalesce(ta_provider_from_model({m}), 'google')
    ELSE ta_provider({p}) END"""
_PROV_SQL = _PROVIDER.format(p=f"ta_str({T['$.provider']})", m="coalesce(model_resp, model_req)")

# The API named as the other formats name it: the OpenAI paths as batch.api_from_url does,
# Gemini's `models/{model}:generateContent` (and `:streamGenerateContent`) as the envelope
# does (`generate_content`), Bedrock's runtime paths as bedrock-invocation does (`/model/
# {id}/converse[-stream]` is `converse`; `/model/{id}/invoke[-with-response-stream]` is
# `messages` for a Claude model, else `invoke_model`), and Vertex's Claude endpoint
# (`publishers/anthropic/models/{model}:rawPredict` / `:streamRawPredict`) `messages`.
_API = """CASE
    WHEN {p} LIKE '%chat/completions%' THEN 'chat.completions'
    WHEN {p} LIKE '%/messages%' THEN 'messages'
    WHEN {p} LIKE '%/responses%' THEN 'responses'
    WHEN {p} LIKE '%/embeddings%' THEN 'embeddings'
    WHEN {p} LIKE '%/completions%' THEN 'completions'
    WHEN {p} LIKE '%:generatecontent%' OR {p} LIKE '%:streamgeneratecontent%'
        THEN 'generate_content'
    WHEN {p} LIKE '%:rawpredict%' OR {p} LIKE '%:streamrawpredict%' THEN 'messages'
    WHEN regexp_matches({p}, '/model/[^/]+/converse') THEN 'converse'
    WHEN regexp_matches({p}, '/model/[^/]+/invoke')
        THEN CASE WHEN regexp_matches({p}, 'anthropic\\.claude') OR {m} LIKE '%claude%'
                  THEN 'messages' ELSE 'invoke_model' END END"""
_API_SQL = _API.format(
    p=f"lower(coalesce(ta_str({T['$.request_path']}), ta_str({T['$.target_url']})))",
    m="lower(coalesce(model_resp, model_req))",
)

_STAGE = f"""
WITH {record_ctes(_TOP)}, bodies AS (
    SELECT *,
        -- without --include-body the export holds a placeholder {{"helicone_message": ...}}
        ta_json({T["$.request_body"]}) AS req,
        ta_json({T["$.response_body"]}) AS resp,
        ta_str({T["$.request_id"]}) AS rid,
        ta_ts({T["$.request_created_at"]}) AS ts,
        {_n("prompt_tokens")} AS p, {_n("completion_tokens")} AS c,
        {_n("reasoning_tokens")} AS rsn, {_n("prompt_cache_read_tokens")} AS cr,
        {_n("prompt_cache_write_tokens")} AS cw, {_n("prompt_audio_tokens")} AS pa,
        {_n("completion_audio_tokens")} AS ca,
        -- Helicone's stream processor stores -1 for both when the stream carried no usage
        -- ("counting tokens not supported"): not counted, so no usage (the recount may count it)
        coalesce(p = -1 AND c = -1, false) AS uncounted,
        CASE WHEN uncounted THEN {_OTHER_CHECKS} ELSE {_COUNT_CHECKS} END AS count_problem,
        try_cast(ta_str({T["$.response_status"]}) AS INTEGER) AS http,
        ta_str({T["$.response_model"]}) AS model_resp,
        coalesce(ta_str({T["$.model_override"]}), ta_str({T["$.request_model"]}),
                 ta_str({T["$.model"]})) AS model_req
    FROM top
), parts AS (
    SELECT *,
        CASE WHEN json_type(req, '$.messages') = 'ARRAY' THEN req -> '$.messages' END AS msgs,
        req -> '$.system' AS sys,
        -- a Gemini request (generateContent): contents, and its system instruction in
        -- either spelling the REST API takes (proto JSON names), as the envelope reads it
        CASE WHEN json_type(req, '$.contents') IN ('ARRAY', 'OBJECT', 'VARCHAR')
             THEN req -> '$.contents' END AS gcontents,
        coalesce(req -> '$.systemInstruction', req -> '$.system_instruction') AS gsys,
        -- served from Helicone's own response cache (Helicone-Cache-Enabled): the row names
        -- the request it copied; the zero UUID (ClickHouse's default) is no hit
        coalesce(lower(ta_str({T["$.cache_reference_id"]}))
                 <> '00000000-0000-0000-0000-000000000000', false) AS cache_hit,
        CASE WHEN json_type(resp, '$.error') NOT IN ('NULL') THEN resp -> '$.error' END AS err,
        coalesce({_PROV_SQL}, ta_provider_from_model(coalesce(model_resp, model_req)),
                 'unknown') AS prov,
        (p IS NOT NULL OR c IS NOT NULL) AND NOT uncounted AS counted,
        resp -> '$.usage' AS bu
    FROM bodies
), split AS (
    SELECT *,
        ta_int(bu, '$.cache_creation.ephemeral_5m_input_tokens') AS bw5,
        ta_int(bu, '$.cache_creation.ephemeral_1h_input_tokens') AS bw1,
        coalesce(least(coalesce(bw5, 0), coalesce(bw1, 0)) >= 0
                 AND coalesce(bw5, 0)::HUGEINT + coalesce(bw1, 0) = cw, false) AS split_ok,
        -- an older Helicone copied OpenAI's inclusive counts: a row whose prompt_tokens is
        -- the reply's prompt_tokens, cached ones included, has them taken out here (and a
        -- completion_tokens that is the reply's, reasoning included, gets none added)
        coalesce(cr > 0 AND p >= cr AND p = coalesce(ta_int(bu, '$.prompt_tokens'),
                     ta_int(bu, '$.input_tokens'))
                 AND cr = coalesce(ta_int(bu, '$.prompt_tokens_details.cached_tokens'),
                     ta_int(bu, '$.input_tokens_details.cached_tokens')), false) AS p_incl,
        coalesce(rsn > 0 AND c >= rsn AND c = coalesce(ta_int(bu, '$.completion_tokens'),
                     ta_int(bu, '$.output_tokens'))
                 AND rsn = coalesce(ta_int(bu, '$.completion_tokens_details.reasoning_tokens'),
                     ta_int(bu, '$.output_tokens_details.reasoning_tokens')), false) AS c_incl
    FROM parts
), classes AS (
    -- the export's one write count split by TTL as the reply's usage splits it (an
    -- Anthropic body's cache_creation), when that split adds up to the row's count
    SELECT *, CASE WHEN cache_hit
        -- a cache hit made no provider call: every class 0, whatever the row counted
        -- (Helicone stores 0 since LoggingHandler zeroes a hit's counts; an older row may
        -- carry the original's, kept in metadata.cache_hit_usage)
        THEN ta_usage_anthropic_n(0, 0, 0, NULL, NULL, 0, NULL, 0)
        ELSE ta_usage_anthropic_n(
            CASE WHEN counted THEN coalesce(p, 0) - CASE WHEN p_incl THEN cr ELSE 0 END END,
            cr, cw, CASE WHEN split_ok THEN bw5 END, CASE WHEN split_ok THEN bw1 END,
            CASE WHEN NOT uncounted THEN TRY_CAST(coalesce(c, 0)::HUGEINT
                + CASE WHEN c_incl THEN 0 ELSE coalesce(rsn, 0) END AS BIGINT) END, rsn, 0)
        END AS us
    FROM split
)
SELECT
    rec_line AS line_no, doc_line,
    raw AS line,
    CASE WHEN in_array THEN '$[' || (ord - 1) || ']' END AS rec_path,
    CASE WHEN in_array THEN 'record ' || ord END AS rec_label,
    CASE
        WHEN problem IS NOT NULL THEN problem
        WHEN r_type <> 'OBJECT' THEN 'not a JSON object (got ' || ta_json_kind(r) || ')'
        WHEN rid IS NULL THEN 'missing request_id'
        WHEN ta_str({T["$.request_created_at"]}) IS NULL THEN 'missing request_created_at'
        WHEN ts IS NULL THEN 'request_created_at is not a timestamp: '
            || left({T["$.request_created_at"]}::VARCHAR, 80)
        {before_2000("ts", "'request_created_at ' || " + T["$.request_created_at"] + "::VARCHAR")}
        WHEN coalesce(model_resp, model_req) IS NULL
            THEN 'no model (response_model, model_override and request_model empty)'
        WHEN ta_str({T["$.response_status"]}) IS NOT NULL AND http IS NULL
            THEN 'response_status should be a whole number, got '
                || left({T["$.response_status"]}::VARCHAR, 80)
        WHEN count_problem IS NOT NULL THEN count_problem
        -- HeliconeRequest's counts are nullable: both null is a call whose response logged
        -- no usage (no usage here); a null prompt_tokens beside a completion count is broken
        WHEN c IS NOT NULL AND json_type({T["$.prompt_tokens"]}) = 'NULL'
            THEN 'prompt_tokens is null'
        WHEN coalesce(c, 0)::HUGEINT + coalesce(rsn, 0) > 9223372036854775807
            THEN 'completion_tokens + reasoning_tokens is too large'
        WHEN us.problem IS NOT NULL THEN us.problem
        -- (a cache hit is not priced: its audio is no reject)
        WHEN ca > 0 AND NOT cache_hit THEN 'completion_audio_tokens: audio output has no '
            || 'price class (the call cannot be priced)'
    END AS reject_reason,
    'helicone:' || rid AS request_key,
    rid AS request_id,
    ts,
    prov AS provider,
    {_API_SQL} AS api,
    model_req AS model_requested,
    model_resp AS model_responded,
    coalesce(ta_str({T["$.request_user_id"]}), ta_str({T["$.helicone_user"]})) AS user_id,
    ta_str({T["$.prompt_id"]}) AS prompt_id,
    ta_str({T["$.prompt_version"]}) AS prompt_version,
    -- json_merge_patch leaves out the keys the row does not carry (JSON null)
    json_merge_patch('{{}}', json_object(
        'properties', ta_json({T["$.request_properties"]}),
        'cost', {T["$.cost"]},
        'helicone_user', ta_str({T["$.helicone_user"]}),
        'request_path', ta_str({T["$.request_path"]}),
        'target_url', ta_str({T["$.target_url"]}),
        'country_code', ta_str({T["$.country_code"]}),
        'cache_reference_id', ta_str({T["$.cache_reference_id"]}),
        'cache_hit', CASE WHEN cache_hit THEN true END,
        -- a hit's counts as the row logged them (0 in today's Helicone), none priced
        'cache_hit_usage', CASE WHEN cache_hit THEN json_object(
            'prompt_tokens', p, 'completion_tokens', c, 'reasoning_tokens', rsn,
            'prompt_cache_read_tokens', cr, 'prompt_cache_write_tokens', cw,
            'prompt_audio_tokens', pa, 'completion_audio_tokens', ca) END,
        'request_referrer', ta_str({T["$.request_referrer"]}),
        'time_to_first_token', {T["$.time_to_first_token"]},
        'total_tokens', {T["$.total_tokens"]},
        'response_status', http)) AS metadata,
    CASE WHEN us.has_usage THEN us.input END AS input_tokens,
    CASE WHEN us.has_usage THEN CASE WHEN cache_hit THEN 0 ELSE coalesce(pa, 0) END END
        AS input_audio_tokens,
    CASE WHEN us.has_usage THEN us.cache_read END AS cache_read_tokens,
    CASE WHEN us.has_usage THEN 0 END AS cache_read_audio_tokens,
    CASE WHEN us.has_usage THEN us.cache_write_5m END AS cache_write_5m_tokens,
    CASE WHEN us.has_usage THEN us.cache_write_1h END AS cache_write_1h_tokens,
    CASE WHEN us.has_usage THEN us.output END AS output_tokens,
    CASE WHEN us.has_usage THEN us.reasoning END AS reasoning_tokens,
    CASE WHEN us.has_usage THEN 0 END AS web_search_requests,
    coalesce(us.has_usage, false) AS has_usage,
    -- Helicone writes negative codes for calls that got no HTTP response (timeouts,
    -- cancellations); a body with an error object failed whatever its status
    CASE WHEN http >= 400 OR http < 100 OR err IS NOT NULL THEN 'error' ELSE 'ok' END
        AS status,
    CASE WHEN http >= 100 THEN http END AS http_status,
    coalesce(ta_str(err -> '$.type'), ta_str(err -> '$.code')) AS error_type,
    coalesce(ta_str(err -> '$.message'), CASE WHEN json_type(err) = 'VARCHAR'
        THEN ta_str(err) END) AS error_message,
    coalesce(ta_str(resp -> '$.choices[0].finish_reason'), ta_str(resp -> '$.stop_reason'))
        AS finish_reason,
    ta_num({T["$.delay_ms"]})::DOUBLE AS latency_ms,
    -- a cache hit sent nothing to a provider: no request hash (it is no duplicate call to
    -- save, D04) and no texts to recount (its reported 0 is no billing discrepancy, D15)
    CASE WHEN cache_hit THEN NULL
         WHEN msgs IS NOT NULL OR gcontents IS NOT NULL
              OR json_type(req, '$.input') IN ('VARCHAR', 'ARRAY')
         THEN md5(req::VARCHAR) END AS request_hash,
    coalesce(ta_system_text(msgs), nullif(ta_text(sys), ''), nullif(ta_text(gsys), ''))
        AS system_text,
    coalesce(ta_first_text(msgs), ta_text(CASE WHEN json_type(gcontents) = 'ARRAY'
        THEN gcontents -> '$[0]' ELSE gcontents END)) AS first_text,
    CASE WHEN cache_hit THEN NULL
         WHEN len(list_filter(json_extract(resp, '$.choices[*].message'),
                              lambda m: json_type(m) = 'OBJECT')) > 0
         THEN json_object('messages', json_extract(resp, '$.choices[*].message'))::VARCHAR
         -- the reply's text in the other APIs' shapes, as the recount reads them: Responses
         -- output items, Anthropic content blocks, Gemini candidates
         WHEN json_type(resp, '$.output') = 'ARRAY'
         THEN json_object('output', resp -> '$.output')::VARCHAR
         WHEN json_type(resp, '$.content') = 'ARRAY'
         THEN json_object('content', resp -> '$.content')::VARCHAR
         WHEN len(list_filter(json_extract(resp, '$.candidates[*].content'),
                              lambda m: json_type(m) = 'OBJECT')) > 0
         THEN json_object('candidates', json_extract(resp, '$.candidates[*].content'))::VARCHAR
         END AS output_body,
    CASE WHEN cache_hit THEN NULL
         WHEN msgs IS NOT NULL
         THEN json_merge_patch(json_object('messages', msgs),
                 json_object('system', sys, 'tools', req -> '$.tools'))::VARCHAR
         WHEN json_type(req, '$.input') IN ('VARCHAR', 'ARRAY')
         THEN json_merge_patch(json_object('input', req -> '$.input'),
                 json_object('instructions', req -> '$.instructions',
                             'tools', req -> '$.tools'))::VARCHAR
         -- a Gemini request as the envelope keeps one: systemInstruction, contents, tools
         WHEN gcontents IS NOT NULL
         THEN json_merge_patch(json_object('contents', gcontents),
                 json_object('systemInstruction', gsys, 'tools', req -> '$.tools'))::VARCHAR
         END AS input_body
FROM classes
"""


class HeliconeFormat(LogFormat):
    name = "helicone"
    description = "Helicone request exports (HeliconeRequest rows, JSON Lines or a JSON array)"
    batch_bytes = 64 * 1024 * 1024
    reads_documents = True

    def sniff(self, head: FileHead) -> bool:
        vote = records_vote(head, _looks_like_helicone)
        if vote is not None:  # parsed records decide; the text test is for documents
            return vote
        # a pretty-printed array: no whole record in the head, its first keys decide
        text = "\n".join(head.lines)
        # (the exporter writes each row in the query's column order: response_id,
        # response_created_at, then a body that --include-body may spread over many lines)
        return any(f'"{k}"' in text for k in ("request_created_at", "response_created_at")) and any(
            f'"{k}"' in text for k in ("response_id", "response_status", "request_id")
        )

    def stage(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        _read_one(con, path)
        create_staged_merged(con, _STAGE)

    def stage_files(self, con: duckdb.DuckDBPyConnection, paths: list[Path]) -> None:
        """Several files, each read on its own, staged in one statement."""
        read_each_file(con, paths, _read_one)
        create_staged_merged(con, _STAGE)
        unpack_file_numbers(con)


def _read_one(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    stage_lines(con, path)
    mode = docs_from_raw(con)
    stage_element_lines(con, mode, 1)


def _looks_like_helicone(record: dict[str, Any]) -> bool:
    """``request_id`` and ``request_created_at`` with a response or count column: names
    no other format's records carry together (LiteLLM has ``request_id`` and
    ``startTime``; the envelope ``request_id`` and ``ts``)."""
    names = set(record)
    return {"request_id", "request_created_at"} <= names and bool(
        names & {"response_status", "provider", "prompt_tokens", "request_properties"}
    )
