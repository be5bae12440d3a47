"""OpenAI organization Usage API exports (``GET /v1/organization/usage/completions``).

Documented in docs/formats.md. Each ``organization.usage.completions.result`` in a bucket
becomes one aggregated row (``granularity = 'bucket'``, ``request_count`` =
``num_model_requests``). ``input_tokens`` is cache-INCLUSIVE (log-formats §1: 5000 =
1800 cached + 200 cache-write + 3000 uncached), so the counts go through the OpenAI
usage convention like any Responses usage object. The group keys (``project_id``,
``user_id``, ``api_key_id``, ``model``, ``batch``, ``service_tier``) are NULL unless the
export was grouped by them; a result without a model is kept, unpriced, under
``UNGROUPED_MODEL``.
"""

from __future__ import annotations

from tokaudit.ingest.interface import FileHead
from tokaudit.ingest.jsondocs import before_2000
from tokaudit.ingest.usage import usage_struct
from tokaudit.ingest.usage_export import UsageExportFormat, count_check, group_key, has_marker

RESULT_OBJECT = "organization.usage.completions.result"
UNGROUPED_MODEL = "(not grouped by model)"
_COUNTS = [
    "input_tokens",
    "input_cached_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "output_tokens",
    "num_model_requests",
]
_GROUPS = ["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]
# Every result has these two: a null one is a broken record, never 0 (usage.NOT_NULL_FIELDS).
_NOT_NULL = ("input_tokens", "output_tokens")


_AS_RESPONSES_USAGE = """json_object('input_tokens', input_tokens,
    'input_tokens_details', json_object('cached_tokens', input_cached_tokens,
                                        'cache_write_tokens', input_cache_write_tokens),
    'output_tokens', output_tokens)"""

_STAGE = f"""
WITH fields AS (
    SELECT *, ta_ts(bucket -> '$.start_time') AS ts,
        bucket -> '$.start_time' AS start_time, bucket -> '$.end_time' AS end_time,
        result ->> '$.object' AS object,
        {", ".join(f"ta_int(result, '$.{c}') AS {c}" for c in _COUNTS)},
        {", ".join(f"result -> '$.{g}' AS {g}" for g in _GROUPS)},
        nullif(concat_ws('; ', {
    ", ".join(f"{count_check(c, _NOT_NULL)}(result, '{c}', '$.{c}')" for c in _COUNTS)
}), '') AS count_problem
    FROM _results
), usage AS (
    SELECT *,
        coalesce(input_cached_tokens, 0) AS cached,
        coalesce(input_cache_write_tokens, 0) AS cache_write,
        lower(service_tier ->> '$') AS tier_raw,
        -- the Responses usage shape, so the one OpenAI convention maps the classes
        {usage_struct("openai", _AS_RESPONSES_USAGE)} AS us
    FROM fields
)
SELECT rec_line AS line_no, rec_raw AS line,
    CASE
        WHEN shape_problem IS NOT NULL THEN shape_problem
        WHEN ts IS NULL THEN 'bucket start_time is missing or not epoch seconds: '
            || coalesce(start_time::VARCHAR, 'absent')
        WHEN object IS NOT NULL AND object <> '{RESULT_OBJECT}'
            THEN 'not a completions usage result (object ' || object || '): only '
                 || '/v1/organization/usage/completions exports are read'
        {before_2000("ts", "'bucket start_time ' || start_time::VARCHAR")}
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN input_tokens IS NULL THEN 'missing input_tokens'
        -- required by the API schema: an absent count read as 0 would price the bucket
        -- without its output
        WHEN output_tokens IS NULL THEN 'missing output_tokens'
        WHEN cached + cache_write > input_tokens
            THEN 'input_cached_tokens + input_cache_write_tokens exceed input_tokens '
                 || '(input_tokens includes both)'
        WHEN input_uncached_tokens IS NOT NULL
             AND input_uncached_tokens <> input_tokens - cached - cache_write
            THEN 'input_uncached_tokens is not input_tokens - input_cached_tokens - '
                 || 'input_cache_write_tokens'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason,
    {group_key("openai", ["start_time", "end_time", *_GROUPS])} AS request_key,
    ts, 'openai' AS provider, 'usage.completions' AS api,
    model ->> '$' AS model_responded,
    coalesce(model ->> '$', '{UNGROUPED_MODEL}') AS model,
    user_id ->> '$' AS user_id, project_id ->> '$' AS project,
    json_object('bucket_start', start_time, 'bucket_end', end_time,
                {", ".join(f"'{g}', {g}" for g in _GROUPS)},
                'num_model_requests', num_model_requests) AS metadata,
    us.input AS input_tokens, us.cache_read AS cache_read_tokens,
    us.cache_write_5m AS cache_write_5m_tokens, us.cache_write_1h AS cache_write_1h_tokens,
    us.output AS output_tokens, true AS has_usage,
    coalesce((batch ->> '$') = 'true', false) OR coalesce(tier_raw = 'batch', false) AS is_batch,
    CASE WHEN tier_raw IS NULL OR tier_raw IN ('default', 'auto', 'standard', 'batch') THEN NULL
         WHEN tier_raw = 'fast' THEN 'priority'  -- priority's name since 2026-07-30
         ELSE tier_raw END AS service_tier,
    'bucket' AS granularity, num_model_requests AS request_count
FROM usage
"""


class OpenAIUsageFormat(UsageExportFormat):
    name = "openai-usage"
    description = "OpenAI organization Usage API pages (usage/completions buckets)"
    stage_sql = _STAGE

    def sniff(self, head: FileHead) -> bool:
        return has_marker(head.lines, f'"{RESULT_OBJECT}"') or (
            has_marker(head.lines, '"start_time"', '"results"')
            and (
                has_marker(head.lines, '"num_model_requests"')
                or has_marker(head.lines, '"input_cached_tokens"')
            )
        )
