"""Anthropic Admin API usage reports (``GET /v1/organizations/usage_report/messages``).

Documented in docs/formats.md. Each result of a bucket becomes one aggregated row
(``granularity = 'bucket'``). The token classes are already disjoint
(log-formats §1): ``uncached_input_tokens``, ``cache_read_input_tokens``,
``cache_creation.ephemeral_5m_input_tokens`` / ``ephemeral_1h_input_tokens`` and
``output_tokens``, so they go through the Anthropic usage convention as a Messages
``usage`` object. The report has no request count (``request_count`` is NULL). Its
``context_window`` (``0-200k`` / ``200k-1M``) picks the long-context price tier through
``tier_input_tokens``; a report not grouped by it is priced at the standard tier.
``workspace_id`` becomes the row's ``project``.
"""

from __future__ import annotations

from tokaudit.ingest.interface import FileHead
from tokaudit.ingest.jsondocs import before_2000
from tokaudit.ingest.usage import usage_struct
from tokaudit.ingest.usage_export import UsageExportFormat, count_check, group_key, has_marker

UNGROUPED_MODEL = "(not grouped by model)"
# Count fields, as JSON paths in a result, and how they are named in reject reasons.
_COUNTS = {
    "uncached_input_tokens": "$.uncached_input_tokens",
    "cache_read_input_tokens": "$.cache_read_input_tokens",
    "cache_5m": "$.cache_creation.ephemeral_5m_input_tokens",
    "cache_1h": "$.cache_creation.ephemeral_1h_input_tokens",
    "output_tokens": "$.output_tokens",
    "web_search_requests": "$.server_tool_use.web_search_requests",
}
_LABELS = {
    "cache_5m": "cache_creation.ephemeral_5m_input_tokens",
    "cache_1h": "cache_creation.ephemeral_1h_input_tokens",
    "web_search_requests": "server_tool_use.web_search_requests",
}
# Every result has these two: a null one is a broken record, never 0 (usage.NOT_NULL_FIELDS).
_NOT_NULL = ("uncached_input_tokens", "output_tokens")


_GROUPS = [
    "workspace_id",
    "api_key_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "account_id",
    "service_account_id",
]
# The Messages usage shape, so the one Anthropic convention maps the classes.
_AS_MESSAGES_USAGE = """json_object('input_tokens', uncached_input_tokens,
    'cache_read_input_tokens', cache_read_input_tokens,
    'cache_creation', json_object('ephemeral_5m_input_tokens', cache_5m,
                                  'ephemeral_1h_input_tokens', cache_1h),
    'output_tokens', output_tokens,
    'server_tool_use', json_object('web_search_requests', web_search_requests))"""
# A per-call input size inside each context_window class (tiers start above 200,000).
LONG_CONTEXT_TOKENS = 200_001

_STAGE = f"""
WITH fields AS (
    SELECT *, ta_ts(bucket -> '$.starting_at') AS ts,
        bucket -> '$.starting_at' AS starting_at, bucket -> '$.ending_at' AS ending_at,
        {", ".join(f"ta_int(result, '{p}') AS {c}" for c, p in _COUNTS.items())},
        {", ".join(f"result -> '$.{g}' AS {g}" for g in _GROUPS)},
        nullif(concat_ws('; ', {
    ", ".join(
        f"{count_check(c, _NOT_NULL)}(result, '{_LABELS.get(c, c)}', '{p}')"
        for c, p in _COUNTS.items()
    )
}), '') AS count_problem
    FROM _results
), usage AS (
    SELECT *, lower(service_tier ->> '$') AS tier_raw,
        lower(context_window ->> '$') AS ctx_window,
        {usage_struct("anthropic", _AS_MESSAGES_USAGE)} AS us
    FROM fields
)
SELECT rec_line AS line_no, rec_raw AS line,
    CASE
        WHEN shape_problem IS NOT NULL THEN shape_problem
        WHEN ts IS NULL THEN 'bucket starting_at is missing or not an RFC 3339 time: '
            || coalesce(starting_at::VARCHAR, 'absent')
        {before_2000("ts", "'bucket starting_at ' || starting_at::VARCHAR")}
        WHEN count_problem IS NOT NULL THEN count_problem
        WHEN uncached_input_tokens IS NULL
            THEN 'missing uncached_input_tokens (not a messages usage report result?)'
        -- every result carries it: absent, read as 0, it would price the bucket without
        -- its output
        WHEN output_tokens IS NULL THEN 'missing output_tokens'
        WHEN ctx_window IS NOT NULL AND ctx_window NOT IN ('0-200k', '200k-1m')
            THEN 'unknown context_window ' || (context_window ->> '$')
                 || ' (expected 0-200k or 200k-1M)'
        WHEN us.problem IS NOT NULL THEN us.problem
    END AS reject_reason,
    {group_key("anthropic", ["starting_at", "ending_at", *_GROUPS])} AS request_key,
    ts, 'anthropic' AS provider, 'usage_report.messages' AS api,
    model ->> '$' AS model_responded,
    coalesce(model ->> '$', '{UNGROUPED_MODEL}') AS model,
    workspace_id ->> '$' AS project,
    json_object('bucket_start', starting_at, 'bucket_end', ending_at,
                {", ".join(f"'{g}', {g}" for g in _GROUPS)}) AS metadata,
    us.input AS input_tokens, us.cache_read AS cache_read_tokens,
    us.cache_write_5m AS cache_write_5m_tokens, us.cache_write_1h AS cache_write_1h_tokens,
    us.output AS output_tokens, us.web_search AS web_search_requests, true AS has_usage,
    coalesce(tier_raw = 'batch', false) AS is_batch,
    -- fast mode (grouped by speed) is its own price, as in Claude Code logs: the `fast`
    -- tier, unpriced (unknown_context) while the table has no rate for it, never standard
    CASE WHEN lower(speed ->> '$') = 'fast' THEN 'fast'
         WHEN tier_raw IS NULL OR tier_raw IN ('standard', 'batch') THEN NULL
         WHEN tier_raw IN ('priority', 'priority_on_demand') THEN 'priority'
         ELSE tier_raw END AS service_tier,
    'bucket' AS granularity, NULL::BIGINT AS request_count,
    CASE WHEN ctx_window = '200k-1m' THEN {LONG_CONTEXT_TOKENS} ELSE 0 END AS tier_input_tokens
FROM usage
"""


class AnthropicUsageFormat(UsageExportFormat):
    name = "anthropic-usage"
    description = "Anthropic Admin API messages usage report pages"
    stage_sql = _STAGE

    def sniff(self, head: FileHead) -> bool:
        # A cost report names token types in strings ("token_type": "...") and has amounts.
        if has_marker(head.lines, '"amount"'):
            return False
        return has_marker(head.lines, '"uncached_input_tokens"') or has_marker(
            head.lines, '"starting_at"', '"results"', '"cache_read_input_tokens"'
        )
