"""Langfuse exports: one request per GENERATION (or EMBEDDING) observation.

Documented in docs/formats.md. Three shapes, as JSON Lines or one (pretty-printed)
document per file:

- a trace export ``{"trace": {...}, "observations": [...]}``;
- an ingestion batch ``{"batch": [{"type": "trace-create" | "generation-create" |
  "generation-update" | "observation-create" | ..., "body": {...}}]}``; create and update
  events of one generation merge (the last non-null value of each field wins), in one file
  and across files (the store keeps the merged fields in ``langfuse_generations``);
- an observation export: one observation per line, trace fields inline (``traceName``,
  ``traceTags``, ``userId``).

``usageDetails`` keys are free-form and their meaning depends on the path the data took
(log-formats §1, §7): Langfuse's own keys are disjoint (``input`` is net of every
``input_*`` key, ``output`` of every ``output_*`` key), OpenInference's raw
``prompt_details.*`` / ``completion_details.*`` sit inside ``input`` / ``output``, and
LiteLLM's Langfuse logger sends a cache-inclusive ``input``. A ``total``, when given,
decides between the additive and the inclusive reading; see docs/formats.md.
"""

from __future__ import annotations

import re
from typing import Any

from tokaudit.ingest.jsondocs import (
    DocumentFormat,
    before_2000,
    extract_sql,
    picker,
    record_line,
)
from tokaudit.ingest.usage import TOKEN_CLASS_COLUMNS, count_problems, usage_struct

_OBS = [
    "$.id",
    "$.traceId",
    "$.type",
    "$.name",
    "$.startTime",
    "$.endTime",
    "$.model",
    "$.modelParameters",
    "$.input",
    "$.output",
    "$.metadata",
    "$.level",
    "$.statusMessage",
    "$.promptName",
    "$.promptVersion",
    "$.usageDetails",
    "$.usage",
    "$.costDetails",
    "$.totalCost",
    "$.environment",
    "$.latency",
    "$.userId",
    "$.sessionId",
    "$.traceName",
    "$.traceTags",
    "$.traceTimestamp",
    "$.projectId",
]
_TRACE = [
    "$.userId",
    "$.sessionId",
    "$.tags",
    "$.name",
    "$.metadata",
    "$.environment",
    "$.timestamp",
    "$.release",
    "$.version",
    "$.projectId",
]
# a trace-create/-update body: the export's trace fields (but projectId) and its id
_TRACE_BATCH = ["$.id", *(p for p in _TRACE if p != "$.projectId")]
F = picker("f", _OBS)
TB = picker("tf", _TRACE_BATCH)
TR = picker("tx", _TRACE)


def _col(path: str) -> str:
    """Column name for a merged observation field."""
    return "o_" + path[2:].lower()


def _keys(keys: list[str]) -> str:
    return ", ".join(f"'{k}'" for k in keys)


# usageDetails key → token class (log-formats §7).
BASE_IN, BASE_OUT, TOTAL = "input", "output", "total"
CACHE_READ_ADD = ["input_cached_tokens", "input_cache_read", "cache_read_input_tokens"]
CACHE_WRITE_5M_ADD = [
    "input_cache_creation",
    "input_cache_creation_5m",
    "cache_creation_input_tokens",
    "cache_write_tokens",
]
CACHE_WRITE_1H_ADD = ["input_cache_creation_1h"]
REASONING_ADD = ["output_reasoning_tokens", "output_reasoning", "reasoning_tokens"]
CACHE_READ_IN = ["prompt_details.cache_read"]
CACHE_WRITE_IN = ["prompt_details.cache_write"]
REASONING_IN = ["completion_details.reasoning"]
GEMINI = [
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "cached_content_token_count",
    "toolUsePromptTokenCount",
]
_NAMED = [
    BASE_IN,
    BASE_OUT,
    TOTAL,
    *CACHE_READ_ADD,
    *CACHE_WRITE_5M_ADD,
    *CACHE_WRITE_1H_ADD,
    *REASONING_ADD,
    *CACHE_READ_IN,
    *CACHE_WRITE_IN,
    *REASONING_IN,
    *GEMINI,
]


# Each usageDetails entry carries its count read once (``n``, by ta_num in one lambda):
# every ta_num written out is a large expression to plan, and there were twenty.
def _sum(cond: str) -> str:
    return (
        f"coalesce(list_sum(list_transform(list_filter(ents, lambda e: {cond}), lambda e: e.n)), 0)"
    )


def _in(keys: list[str]) -> str:
    return f"e.key IN ({_keys(keys)})"


def _one(key: str) -> str:
    return f"list_filter(ents, lambda e: e.key = '{key}')[1].n"


_OTHER_IN_ADD = f"starts_with(e.key, 'input_') AND e.key NOT IN ({_keys(_NAMED)})"
_OTHER_OUT_ADD = f"starts_with(e.key, 'output_') AND e.key NOT IN ({_keys(_NAMED)})"
_UNKNOWN = (
    f"e.key NOT IN ({_keys(_NAMED)}) AND NOT starts_with(e.key, 'input_') "
    "AND NOT starts_with(e.key, 'output_') AND NOT starts_with(e.key, 'prompt_details.') "
    "AND NOT starts_with(e.key, 'completion_details.')"
)

_USAGE_COLUMNS = f"""
    {_one(BASE_IN)} AS u_in, {_one(BASE_OUT)} AS u_out, {_one(TOTAL)} AS u_total,
    {_sum(_in(CACHE_READ_ADD))} AS cr_add, {_sum(_in(CACHE_WRITE_5M_ADD))} AS cw5_add,
    {_sum(_in(CACHE_WRITE_1H_ADD))} AS cw1_add, {_sum(_in(REASONING_ADD))} AS r_add,
    {_sum(_OTHER_IN_ADD)} AS oi_add, {_sum(_OTHER_OUT_ADD)} AS oo_add,
    {_sum(_in(CACHE_READ_IN))} AS cr_in, {_sum(_in(CACHE_WRITE_IN))} AS cw_in,
    {_sum(_in(REASONING_IN))} AS r_in,
    len(list_filter(ents, lambda e: {_in(REASONING_ADD + REASONING_IN)})) > 0 AS has_r,
    len(list_filter(ents, lambda e: e.key = 'promptTokenCount')) > 0 AS gemini_shaped,
    list_transform(list_filter(ents, lambda e: {_UNKNOWN}), lambda e: e.key) AS unknown_keys,
    list_filter(list_transform(ents, lambda e: ta_num_problem(e.value, 'usageDetails.' || e.key)),
                lambda p: p IS NOT NULL) AS bad_counts
"""

_GEMINI_DOC = f"""json_object(
    'promptTokenCount', {_one("promptTokenCount")},
    'cachedContentTokenCount', coalesce({_one("cachedContentTokenCount")},
                                        {_one("cached_content_token_count")}),
    'candidatesTokenCount', {_one("candidatesTokenCount")},
    'thoughtsTokenCount', {_one("thoughtsTokenCount")},
    'toolUsePromptTokenCount', {_one("toolUsePromptTokenCount")})"""

# The additive reading (Langfuse's own keys: every key is its own slice) and the
# inclusive one (input/output already hold the cache and reasoning slices).
_TOTAL_ADD = (
    "coalesce(u_in, 0) + oi_add + cr_add + cw5_add + cw1_add + coalesce(u_out, 0) + r_add + oo_add"
)
_TOTAL_INCL = "coalesce(u_in, 0) + coalesce(u_out, 0)"

# Langfuse's ingestion API also takes an OpenAI usage object as usageDetails (Chat
# Completions or Responses shape, nothing else in it), which its server converts; the
# Langfuse SDKs' OpenAI integrations send it so. Such an object is read with the OpenAI
# convention (cache and reasoning inside the headline counts), never key by key.
_OPENAI_SHAPES = [
    ("prompt_tokens", "completion_tokens", "prompt_tokens_details", "completion_tokens_details"),
    ("input_tokens", "output_tokens", "input_tokens_details", "output_tokens_details"),
]


def _openai_shaped(ud: str) -> str:
    """SQL: ``ud`` is an OpenAI usage object of one of ``_OPENAI_SHAPES``."""
    shapes = []
    for keys in _OPENAI_SHAPES:
        allowed = _keys([*keys, "total_tokens"])
        shapes.append(
            f"(len(list_filter(json_keys({ud}), lambda k: k NOT IN ({allowed}))) = 0 "
            f"AND (json_exists({ud}, '$.{keys[0]}') OR json_exists({ud}, '$.{keys[1]}')))"
        )
    return f"coalesce(json_type({ud}) = 'OBJECT' AND ({' OR '.join(shapes)}), false)"


# Paths read from an observation's metadata (OTel-ingested ones keep span attributes under
# "attributes"; the LiteLLM logger writes litellm_response_cost and hidden_params).
_META = [
    '$.attributes."gen_ai.provider.name"',
    '$."gen_ai.provider.name"',
    '$.attributes."gen_ai.system"',
    '$."gen_ai.system"',
    '$.attributes."llm.provider"',
    '$."llm.provider"',
    '$.attributes."llm.system"',
    '$."llm.system"',
    "$.ls_provider",
    '$.attributes."gen_ai.response.model"',
    '$."gen_ai.response.model"',
    "$.team",
    "$.litellm_response_cost",
    "$.hidden_params",
]
MX = picker("mx", _META)


def _parsed_object(expr: str) -> str:
    """SQL: the JSON object ``expr`` holds, directly or serialised in a string; else NULL."""
    return (
        f"(CASE json_type({expr}) WHEN 'OBJECT' THEN {expr} "
        f"WHEN 'VARCHAR' THEN CASE WHEN starts_with(ltrim({expr} ->> '$'), '{{') "
        f"THEN TRY_CAST({expr} ->> '$' AS JSON) END END)"
    )


def _last(expr: str, name: str) -> str:
    """The value of ``expr`` in the last event (by ``seq``) where it is set."""
    return (
        f"arg_max({expr}, seq) FILTER (WHERE {expr} IS NOT NULL "
        f"AND json_type({expr}) <> 'NULL') AS {name}"
    )


_LAST_TRACE_FIELDS = ", ".join(_last(TB[p], "t_" + p[2:].lower()) for p in _TRACE_BATCH[1:])
_LAST_OBS_FIELDS = ", ".join(_last(F[p], _col(p)) for p in _OBS)

_TRACE_COLS = ["t_" + p[2:].lower() for p in _TRACE_BATCH[1:]]
_MERGE_OBS = ", ".join(f"coalesce(g.{_col(p)}, p.{_col(p)}) AS {_col(p)}" for p in _OBS)
_PRIOR_TRACE = ", ".join(f"p.{c} AS p_{c}" for c in _TRACE_COLS)
_PRIOR_TRACE_NAMES = ", ".join(f"p_{c}" for c in _TRACE_COLS)
_MERGE_TRACE = ", ".join(f"coalesce(b.{c}, m.p_{c}) AS {c}" for c in _TRACE_COLS)
# What the store keeps of each batch-event generation with a real id, for later files.
GENERATIONS_DDL = (
    "CREATE TABLE IF NOT EXISTS langfuse_generations (gid VARCHAR PRIMARY KEY, "
    "n_events BIGINT, ev_ts JSON, ev_kinds VARCHAR[], tx JSON[], "
    + ", ".join(f"{_col(p)} JSON" for p in _OBS)
    + ", "
    + ", ".join(f"{c} JSON" for c in _TRACE_COLS)
    + ")"
)
# a store from before the generation's output was kept gains its column
_GENERATIONS_OUTPUT = "ALTER TABLE langfuse_generations ADD COLUMN IF NOT EXISTS o_output JSON"
_KEEP = (
    "INSERT OR REPLACE INTO langfuse_generations BY NAME SELECT gid, n_events, ev_ts, "
    "ev_kinds, tx, "
    + ", ".join(_col(p) for p in _OBS)
    + ", "
    + ", ".join(_TRACE_COLS)
    # only ingestion-batch events arrive split; exported traces and observations are whole
    + " FROM _lf_traced WHERE NOT starts_with(gid, '#')"
    + " AND NOT list_contains(ev_kinds, 'observation')"
)

# Statement 1: every event of the file, classified.
_EVENTS = f"""
CREATE OR REPLACE TEMP TABLE _lf_kinds AS
WITH shaped AS (
    SELECT line_no AS doc_line, raw, problem, doc, ta_json_kind(doc) AS doc_kind,
        CASE WHEN json_type(doc) <> 'OBJECT' THEN NULL
             WHEN json_type(doc -> '$.observations') = 'ARRAY' THEN 'trace'
             WHEN json_type(doc -> '$.batch') = 'ARRAY' THEN 'batch'
             WHEN doc ->> '$.traceId' IS NOT NULL AND doc ->> '$.type' IS NOT NULL
                THEN 'observation'
        END AS shape
    FROM _docs
), items AS (
    -- only small per-document values travel with the elements (a document can be large)
    SELECT doc_line, problem, shape, doc_kind,
        CASE WHEN shape IS NULL OR problem IS NOT NULL THEN raw END AS raw,
        CASE WHEN shape = 'trace' THEN {extract_sql("doc -> '$.trace'", _TRACE)} END AS tx,
        CASE shape WHEN 'trace' THEN CAST(doc -> '$.observations' AS JSON[])
                   WHEN 'batch' THEN CAST(doc -> '$.batch' AS JSON[])
                   ELSE [doc] END AS elems
    FROM shaped
), flat AS (
    SELECT doc_line, raw, problem, shape, doc_kind, tx, len(elems) AS n,
        unnest(elems) AS el, generate_subscripts(elems, 1) AS ord
    FROM items
), events AS (
    SELECT *, row_number() OVER (ORDER BY doc_line, ord) AS seq,
        CASE WHEN shape IN ('trace', 'batch')
             THEN {record_line("ord", "n", "doc_line")} ELSE doc_line END AS rec_line,
        CASE WHEN shape = 'batch' THEN el ->> '$.type' END AS ev_type,
        CASE WHEN shape = 'batch' THEN el -> '$.body' ELSE el END AS obs,
        CASE WHEN shape = 'batch' THEN el -> '$.timestamp' END AS ev_ts
    FROM flat
), kinds AS (
    SELECT *, CASE
        WHEN problem IS NOT NULL OR shape IS NULL OR json_type(el) <> 'OBJECT'
             OR json_type(obs) <> 'OBJECT' THEN 'bad'
        WHEN shape = 'batch' AND ev_type IN ('trace-create', 'trace-update') THEN 'trace'
        WHEN shape = 'batch' AND (ev_type IN ('generation-create', 'generation-update')
             OR (ev_type IN ('observation-create', 'observation-update')
                 AND upper(obs ->> '$.type') IN ('GENERATION', 'EMBEDDING'))) THEN 'gen'
        WHEN shape IN ('trace', 'observation')
             AND upper(obs ->> '$.type') IN ('GENERATION', 'EMBEDDING') THEN 'gen'
        END AS kind
    FROM events
)
SELECT * FROM kinds
"""

# Statement 2: one row per generation, its events merged (each field: the last non-null
# value), then merged with what earlier files said about the same observation id
# (``langfuse_generations``), so a create and its update load as one generation
# whichever files they arrive in.
_GENERATIONS = f"""
CREATE OR REPLACE TEMP TABLE _lf_traced AS
WITH batch_traces AS (
    SELECT tid, {_LAST_TRACE_FIELDS}
    FROM (SELECT seq, obs ->> '$.id' AS tid, {extract_sql("obs", _TRACE_BATCH)} AS tf
          FROM _lf_kinds WHERE kind = 'trace')
    GROUP BY tid
), gen_fields AS (
    SELECT *, coalesce(obs ->> '$.id', '#' || seq) AS gid, {extract_sql("obs", _OBS)} AS f
    FROM _lf_kinds WHERE kind = 'gen'
), gens AS (
    SELECT gid, min(rec_line) AS rec_line, arg_min(el::VARCHAR, seq) AS line,
        arg_min(ev_ts, seq) AS ev_ts, any_value(tx) AS tx,
        list_sort(list_distinct(list(coalesce(ev_type, 'observation')))) AS ev_kinds,
        count(*) AS n_events,
        {_LAST_OBS_FIELDS}
    FROM gen_fields GROUP BY gid
), prior AS (
    SELECT p.* FROM langfuse_generations p WHERE p.gid IN (SELECT gid FROM gens)
), merged AS (
    SELECT g.* REPLACE ({_MERGE_OBS},
            coalesce(g.tx, p.tx) AS tx, coalesce(g.ev_ts, p.ev_ts) AS ev_ts,
            list_sort(list_distinct(g.ev_kinds || coalesce(p.ev_kinds, []))) AS ev_kinds,
            g.n_events + coalesce(p.n_events, 0) AS n_events),
        {_PRIOR_TRACE}
    FROM gens g LEFT JOIN prior p ON p.gid = g.gid
), traced AS (
    SELECT m.* EXCLUDE ({_PRIOR_TRACE_NAMES}), b.tid, {_MERGE_TRACE}
    FROM merged m LEFT JOIN batch_traces b ON b.tid = ta_str(m.o_traceid)
)
SELECT * FROM traced
"""

# Every time a generation has, read by one ta_ts inside a lambda: each ta_ts written out
# is a large expression to plan (seven of them, and the request time four times over, took
# about half of the staging statement's planning). Its start and end, then what stands in
# for a missing start: its event's time, its trace's (exported, batch, inline).
_TIMES = (
    "list_transform([o_starttime, o_endtime, ev_ts, " + TR["$.timestamp"] + ", t_timestamp, "
    "o_tracetimestamp], lambda v: ta_ts(v))"
)
# A generation's time: its start, else its event's, else its trace's.
_TS = "coalesce(times[1], times[3], times[4], times[5], times[6])"
_TS_WHAT = (
    "CASE WHEN ts_start IS NOT NULL THEN 'startTime ' || o_starttime::VARCHAR "
    "ELSE 'the event or trace timestamp' END"
)

# Statement 4: the staged rows, from the merged generations and the bad events.
_STAGE = f"""
WITH attributed AS (
    -- metadata and input may be JSON inside a string: parse each once (TRY_CAST), then
    -- read every needed path with one json_extract
    SELECT *,
        {_parsed_object("o_metadata")} AS meta,
        {_parsed_object("o_modelparameters")} AS mparams,
        coalesce({_parsed_object(TR["$.metadata"])}, {_parsed_object("t_metadata")}) AS tmeta,
        coalesce(ta_json({TR["$.tags"]}), ta_json(t_tags), ta_json(o_tracetags)) AS tags,
        CASE WHEN json_type(o_input) = 'VARCHAR'
             THEN coalesce(TRY_CAST(o_input ->> '$' AS JSON), o_input) ELSE o_input END AS inp,
        CASE WHEN json_type(o_output) = 'VARCHAR'
             THEN coalesce(TRY_CAST(o_output ->> '$' AS JSON), o_output) ELSE o_output END
            AS outp,
        CASE WHEN json_type(o_usagedetails) = 'OBJECT' AND o_usagedetails::VARCHAR <> '{{}}'
                THEN o_usagedetails
             WHEN json_type(o_usage) = 'OBJECT' THEN json_object(
                'input', coalesce(o_usage -> '$.input', o_usage -> '$.promptTokens'),
                'output', coalesce(o_usage -> '$.output', o_usage -> '$.completionTokens'),
                'total', coalesce(o_usage -> '$.total', o_usage -> '$.totalTokens'))
        END AS ud_raw
    FROM _lf_traced
), shaped AS (
    SELECT *, {_openai_shaped("ud_raw")} AS openai_shaped FROM attributed
), entries AS (
    SELECT *, list_transform(CASE WHEN json_type(ud_raw) = 'OBJECT' AND NOT openai_shaped
        THEN list_filter(map_entries(CAST(ud_raw AS MAP(VARCHAR, JSON))),
                         lambda e: e.value IS NOT NULL AND json_type(e.value) <> 'NULL')
        ELSE [] END, lambda e: {{'key': e.key, 'value': e.value, 'n': ta_num(e.value)}}) AS ents,
        {extract_sql("meta", _META)} AS mx,
        nullif(trim(tmeta ->> '$.team'), '') AS trace_team,
        CASE WHEN openai_shaped THEN {count_problems("openai", "ud_raw", "usageDetails")} END
            AS openai_problem
    FROM shaped
), counted AS (
    SELECT *, {_USAGE_COLUMNS},
        coalesce({MX["$.litellm_response_cost"]} IS NOT NULL
                 OR starts_with({MX["$.hidden_params"]}::VARCHAR, '{{'), false) AS from_litellm
    FROM entries
), read AS (
    SELECT *,
        CASE WHEN u_total IS NOT NULL AND u_total = {_TOTAL_ADD} AND u_total <> {_TOTAL_INCL}
                THEN false
             WHEN u_total IS NOT NULL AND u_total = {_TOTAL_INCL} AND u_total <> {_TOTAL_ADD}
                THEN true
             ELSE from_litellm END AS inclusive,
        -- a count of any class is usage (Anthropic's cache_read_input_tokens with no
        -- input key is 0 uncached input); a total alone, or a Gemini key outside a
        -- Gemini-shaped object, gives no class and is no usage
        len(list_filter(ents, lambda e: e.key NOT IN ({_keys([TOTAL, *GEMINI])}))) > 0
            AS has_counts
    FROM counted
), classes AS (
    SELECT *,
        CASE WHEN inclusive THEN coalesce(u_in, 0) - cr_add - cw5_add - cw1_add - cr_in - cw_in
             ELSE coalesce(u_in, 0) + oi_add - cr_in - cw_in END AS k_in,
        cr_add + cr_in AS k_cr, cw5_add + cw_in AS k_cw5, cw1_add AS k_cw1,
        CASE WHEN inclusive THEN coalesce(u_out, 0)
             ELSE coalesce(u_out, 0) + r_add + oo_add END AS k_out,
        CASE WHEN has_r THEN r_add + r_in END AS k_r
    FROM read
), usage AS (
    -- the column must be named u: the usage macros' lambdas refer to their argument by name
    SELECT *, CASE WHEN openai_shaped THEN {usage_struct("openai", "u")}
                   WHEN gemini_shaped THEN {usage_struct("gemini", "u")}
                   WHEN has_counts THEN {usage_struct("anthropic", "u")} END AS us
    FROM (SELECT *, CASE WHEN openai_shaped THEN ud_raw
                         WHEN gemini_shaped THEN {_GEMINI_DOC} ELSE json_object(
            'input_tokens', k_in, 'cache_read_input_tokens', k_cr,
            'cache_creation_input_tokens', k_cw5 + k_cw1,
            'cache_creation', json_object('ephemeral_5m_input_tokens', k_cw5,
                                          'ephemeral_1h_input_tokens', k_cw1),
            'output_tokens', k_out,
            'output_tokens_details', json_object('thinking_tokens', k_r)) END AS u
          FROM classes)
), texts AS (
    SELECT *,
        times[1] AS ts_start, times[2] AS ts_end, {_TS} AS req_ts,
        ta_str(o_model) AS model_name,
        CASE WHEN json_type(inp) = 'ARRAY' THEN inp
             WHEN json_type(inp -> '$.messages') = 'ARRAY' THEN inp -> '$.messages' END AS msgs,
        coalesce(ta_str({MX['$.attributes."gen_ai.provider.name"']}),
                 ta_str({MX['$."gen_ai.provider.name"']}),
                 ta_str({MX['$.attributes."gen_ai.system"']}), ta_str({MX['$."gen_ai.system"']}),
                 ta_str({MX['$.attributes."llm.provider"']}), ta_str({MX['$."llm.provider"']}),
                 ta_str({MX['$.attributes."llm.system"']}), ta_str({MX['$."llm.system"']}),
                 ta_str({MX["$.ls_provider"]})) AS provider_attr,
        coalesce(ta_str({MX['$.attributes."gen_ai.response.model"']}),
                 ta_str({MX['$."gen_ai.response.model"']})) AS model_attr
    FROM (SELECT *, {_TIMES} AS times, {{_STRS}} AS strs FROM usage)
)
SELECT
    rec_line AS line_no, line,
    'observation ' || gid AS rec_label,
    CASE
        WHEN openai_problem IS NOT NULL THEN openai_problem
        WHEN len(bad_counts) > 0 THEN array_to_string(bad_counts, '; ')
        WHEN len(unknown_keys) > 0 THEN 'usageDetails key(s) not understood: '
            || array_to_string(unknown_keys, ', ')
        WHEN req_ts IS NULL THEN 'no startTime (or it is not a timestamp)'
        {before_2000("req_ts", _TS_WHAT)}
        WHEN coalesce(model_name, model_attr) IS NULL
            THEN 'no model' || CASE WHEN ev_kinds = ['generation-update']
                THEN ' yet (an update whose create is not loaded: kept, and merged when it is)'
                ELSE '' END
        WHEN NOT gemini_shaped AND has_counts AND k_in < 0 THEN
            'usageDetails cache tokens exceed input (' || k_in || ' uncached)'
        WHEN us.problem IS NOT NULL THEN 'usageDetails: ' || us.problem
    END AS reject_reason,
    'langfuse:' || gid AS request_key,
    CASE WHEN NOT starts_with(gid, '#') THEN gid END AS request_id,
    req_ts AS ts,
    coalesce(ta_provider(provider_attr), ta_provider_from_model(model_name), 'unknown')
        AS provider,
    CASE WHEN upper(ta_str(o_type)) = 'EMBEDDING' THEN 'embeddings' END AS api,
    model_name AS model_requested,
    model_attr AS model_responded,
    coalesce(
        nullif(regexp_replace(ta_str(list_filter(ta_list(tags),
            lambda t: regexp_matches(t ->> '$', '^team[:=]'))[1]), '^team[:=]\\s*', ''), ''),
        trace_team, ta_str({MX["$.team"]})) AS team,
    coalesce(ta_str({TR["$.userId"]}), ta_str(t_userid), ta_str(o_userid)) AS user_id,
    coalesce(ta_str({TR["$.name"]}), ta_str(t_name), ta_str(o_tracename)) AS feature,
    ta_str(o_promptname) AS prompt_id,
    ta_str(o_promptversion) AS prompt_version,
    coalesce(ta_str(o_environment), ta_str({TR["$.environment"]}), ta_str(t_environment))
        AS environment,
    coalesce(ta_str(o_projectid), ta_str({TR["$.projectId"]})) AS project,
    json_object(
        'trace_id', ta_str(o_traceid),
        'session_id', coalesce(ta_str({TR["$.sessionId"]}), ta_str(t_sessionid),
                               ta_str(o_sessionid)),
        'tags', tags,
        'observation_name', ta_str(o_name),
        'release', coalesce(ta_str({TR["$.release"]}), ta_str(t_release)),
        'version', coalesce(ta_str({TR["$.version"]}), ta_str(t_version)),
        'usage_details', ud_raw,
        'cost_details', o_costdetails,
        'total_cost', o_totalcost,
        'metadata', meta,
        'trace_metadata', tmeta,
        'langfuse_events', n_events) AS metadata,
    {TOKEN_CLASS_COLUMNS},
    CASE WHEN us.has_usage THEN 0 END AS web_search_requests,
    coalesce(us.has_usage, false) AS has_usage,
    CASE WHEN upper(ta_str(o_level)) = 'ERROR' THEN 'error' ELSE 'ok' END AS status,
    CASE WHEN upper(ta_str(o_level)) = 'ERROR' THEN ta_str(o_statusmessage) END
        AS error_message,
    coalesce((epoch_us(ts_end) - epoch_us(ts_start)) / 1000.0,
             try_cast(ta_str(o_latency) AS DOUBLE) * 1000) AS latency_ms,
    CASE WHEN inp IS NOT NULL THEN md5(json_object('model', model_name, 'input', inp,
        'parameters', o_modelparameters)::VARCHAR) END AS request_hash,
    ta_system_text(msgs) AS system_text,
    coalesce(ta_first_text(msgs),
             CASE WHEN json_type(inp) = 'VARCHAR' THEN inp ->> '$' END,
             ta_text(inp -> '$.contents'), ta_text(ta_list(inp -> '$.contents')[1]))
        AS first_text,
    -- The OpenAI Agents SDK (Responses API) logs only the input items; the agent's
    -- instructions are in the model parameters and its tools in the response it got
    -- back, and both are billed as input: folded in, as the request body held them.
    CASE WHEN json_type(inp) = 'ARRAY'
              AND json_type(mparams, '$.instructions') = 'VARCHAR'
         THEN json_object('instructions', mparams -> '$.instructions', 'input', inp,
              'tools', CASE WHEN json_type(outp, '$.tools') = 'ARRAY'
                                 AND json_array_length(outp, '$.tools') > 0
                            THEN outp -> '$.tools' END)
         ELSE inp END::VARCHAR AS input_body,
    -- the reply, as the envelope keeps it, for the output recount: a text, a message, a
    -- list of messages, or OpenAI's choices
    CASE json_type(outp)
        WHEN 'VARCHAR' THEN json_object('messages',
            [json_object('role', 'assistant', 'content', outp ->> '$')])
        WHEN 'ARRAY' THEN json_object('messages', outp)
        WHEN 'OBJECT' THEN CASE
            WHEN json_type(outp, '$.choices') = 'ARRAY'
                THEN json_object('messages', json_extract(outp, '$.choices[*].message'))
            ELSE json_object('messages', [outp]) END
    END::VARCHAR AS output_body
FROM texts
UNION ALL BY NAME
SELECT rec_line AS line_no, CASE WHEN shape IS NULL THEN raw ELSE el::VARCHAR END AS line,
    coalesce(problem, CASE
        WHEN doc_kind <> 'object' THEN 'not a JSON object (got ' || doc_kind || ')'
        WHEN shape IS NULL THEN 'not a Langfuse trace export, ingestion batch or observation'
        WHEN shape = 'batch' THEN 'batch event ' || ord || ' is not an object with a body'
        ELSE 'observation ' || ord || ' is not an object' END) AS reject_reason
FROM _lf_kinds WHERE kind = 'bad'
"""


# Every field read as text, by one ta_str inside a lambda (41 ta_str written out were a
# fifth of the statement's planning): ``ta_str(f)`` of a column or picked path becomes
# ``strs[i]``, each field listed once.
_TEXT_FIELD = re.compile(r"ta_str\(((?:o_|t_)[a-z_]+|(?:mx|tx)\[[0-9]+\])\)")
_STR_FIELDS = list(dict.fromkeys(_TEXT_FIELD.findall(_STAGE)))
_STRS = f"list_transform([{', '.join(_STR_FIELDS)}], lambda v: ta_str(v))"
_STAGE = _TEXT_FIELD.sub(lambda m: f"strs[{_STR_FIELDS.index(m[1]) + 1}]", _STAGE).replace(
    "{_STRS}", _STRS
)


class LangfuseFormat(DocumentFormat):
    name = "langfuse"
    description = "Langfuse trace exports, ingestion batches and observation exports"
    head_key = re.compile(r'^\s*\{?\s*"(trace|observations|batch)"\s*:')
    head_lines = 3
    element_depth = 2
    before_sql = (GENERATIONS_DDL, _GENERATIONS_OUTPUT, _EVENTS, _GENERATIONS, _KEEP)
    stage_sql = _STAGE
    after_sql = ("DROP TABLE _lf_kinds", "DROP TABLE _lf_traced")
    reloadable = False  # its events merge with langfuse_generations (interface.py)

    def looks_right(self, record: dict[str, Any]) -> bool:
        return _looks_like_langfuse(record)

    def preference(self, row: str) -> str:
        """The generation merged from the most events wins (an update after its create)."""
        return f"-coalesce(({row}.metadata ->> 'langfuse_events')::BIGINT, 0)"


def _looks_like_langfuse(record: dict[str, Any]) -> bool:
    batch = record.get("batch")
    return (
        ("observations" in record and "trace" in record)
        or (isinstance(batch, list) and all(isinstance(e, dict) and "body" in e for e in batch[:3]))
        or (
            "traceId" in record
            and "type" in record
            and ("usageDetails" in record or "model" in record)
        )
    )
