"""Cost breakdowns by team, model, prompt, user, feature, day, week, month …, straight from SQL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from tokaudit.errors import UsageError
from tokaudit.models import Breakdown, BreakdownRow, PricingInfo, Totals, UnpricedModel
from tokaudit.pricing.store_tables import ESTIMATED_SPEND

# The SQL expression for each dimension a user may group by.
TIME_DIMENSIONS = ("day", "week", "month")
DIMENSIONS: dict[str, str] = {
    "team": "c.team",
    "model": "c.model",
    "prompt": "coalesce(c.prompt_id, 'fp:' || left(c.prompt_hash, 8))",
    "user": "c.user_id",
    "feature": "c.feature",
    "project": "c.project",
    "environment": "c.environment",
    # calendar buckets in UTC, as budget periods are (budget/evaluate.py): ISO weeks
    "day": "strftime(c.ts, '%Y-%m-%d')",
    "week": "strftime(c.ts, '%G-W%V')",
    "month": "strftime(c.ts, '%Y-%m')",
    "provider": "c.provider",
    # the price-table model a request was priced as: dated snapshots, provider prefixes and
    # aliases of one model together (unpriced requests have none)
    "priced_model": "c.priced_model",
}

# The request_costs columns a breakdown reads (DIMENSIONS, _TOTALS_SQL, the grounding
# counts, unpriced_models, time_filter) and the overlay's credits (overlay.credit_usage):
# ``api.report`` freezes only these.
BREAKDOWN_COLUMNS = (
    "request_key", "ts", "team", "model", "prompt_id", "prompt_hash", "user_id", "feature",
    "project", "environment", "provider", "priced_model", "request_count", "input_tokens",
    "input_audio_tokens", "cache_read_tokens", "cache_read_audio_tokens",
    "cache_write_5m_tokens", "cache_write_1h_tokens", "output_tokens", "reasoning_tokens",
    "cost_usd", "pricing_status", "usage_source", "unpriced_reason", "grounding_queries",
)  # fmt: skip

_TOTALS_SQL = f"""
    -- an aggregated (bucket) row counts the calls it stands for; unknown counts as one
    coalesce(sum(coalesce(c.request_count, 1)), 0) AS requests,
    -- audio is a priced class of its own but shown with the input it is part of
    coalesce(sum(c.input_tokens), 0) + coalesce(sum(c.input_audio_tokens), 0) AS input_tokens,
    coalesce(sum(c.cache_read_tokens), 0) + coalesce(sum(c.cache_read_audio_tokens), 0)
        AS cache_read_tokens,
    coalesce(sum(c.cache_write_5m_tokens), 0) + coalesce(sum(c.cache_write_1h_tokens), 0)
        AS cache_write_tokens,
    coalesce(sum(c.output_tokens), 0) AS output_tokens,
    coalesce(sum(c.reasoning_tokens), 0) AS reasoning_tokens,
    -- the priced requests' spend; unknown (NULL) when every request is unpriced, never $0
    CASE WHEN sum(c.cost_usd) IS NULL AND count(*) FILTER (WHERE c.pricing_status = 'unpriced') > 0
         THEN NULL ELSE coalesce(sum(c.cost_usd), 0) END AS cost_usd,
    coalesce(sum(coalesce(c.request_count, 1)) FILTER (WHERE c.pricing_status = 'unpriced'), 0)
        AS unpriced_requests,
    -- spend priced from recounted tokens (no usage logged): an estimate, flagged in reports
    count(*) FILTER (WHERE {ESTIMATED_SPEND}) AS estimated_requests,
    coalesce(sum(c.cost_usd) FILTER (WHERE {ESTIMATED_SPEND}), 0) AS estimated_cost_usd
"""


def time_series(group_by: list[str]) -> bool:
    """Whether a grouping is time buckets alone: such rows read in time order (every view of
    ``report``: spend, --show recount, --compare-pricing), not largest first."""
    return all(d in TIME_DIMENSIONS for d in group_by)


def parse_group_by(text: str) -> list[str]:
    """Known dimensions, each once: a repeated one would only print the same column twice."""
    dims = [d.strip().lower() for d in text.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if not dims or unknown:
        raise UsageError(
            f"--by {text!r}: choose one or more of {', '.join(DIMENSIONS)} (comma-separated)"
        )
    repeated = sorted({d for d in dims if dims.count(d) > 1}, key=dims.index)
    if repeated:
        raise UsageError(f"--by {text!r}: {', '.join(repeated)} given more than once")
    return dims


def time_filter(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """A WHERE clause over ``c.ts``: since inclusive, until exclusive.

    An empty or inverted window is a usage error: it would select nothing, silently.
    """
    if since is not None and until is not None and since >= until:
        raise UsageError(
            f"--since {since.isoformat()} is not before --until {until.isoformat()}: "
            "the window is empty (since is inclusive, until exclusive)"
        )
    clauses, params = ["TRUE"], []
    if since:
        clauses.append("c.ts >= ?")
        params.append(since)
    if until:
        clauses.append("c.ts < ?")
        params.append(until)
    return " AND ".join(clauses), params


def pricing_info(con: duckdb.DuckDBPyConnection) -> PricingInfo:
    """Table version, SHA-256 and overlay of the prices in use (pricing/store_tables.py)."""
    from tokaudit.pricing.store_tables import read_pricing_info

    return read_pricing_info(con)


def _totals(values: tuple[Any, ...]) -> Totals:
    return Totals(
        requests=int(values[0]),
        input_tokens=int(values[1]),
        cache_read_tokens=int(values[2]),
        cache_write_tokens=int(values[3]),
        output_tokens=int(values[4]),
        reasoning_tokens=int(values[5]),
        cost_usd=None if values[6] is None else Decimal(values[6]).normalize(),
        unpriced_requests=int(values[7]),
        estimated_requests=int(values[8]) if len(values) > 8 else 0,
        estimated_cost_usd=Decimal(values[9]).normalize()
        if len(values) > 9 and values[9]
        else Decimal(0),
    )


def unpriced_models(
    con: duckdb.DuckDBPyConnection, where: str = "TRUE", params: list[Any] | None = None
) -> list[UnpricedModel]:
    rows = con.execute(
        f"""SELECT c.model, c.provider, sum(coalesce(c.request_count, 1)), c.unpriced_reason
        FROM request_costs c
        WHERE c.pricing_status = 'unpriced' AND {where}
        GROUP BY ALL ORDER BY 3 DESC, c.model""",
        params or [],
    ).fetchall()
    return [UnpricedModel(str(m), str(p), int(n), str(r)) for m, p, n, r in rows]


def breakdown(
    con: duckdb.DuckDBPyConnection,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    top: int | None = None,
) -> Breakdown:
    """Spend per group, most expensive first; totals always cover every row."""
    where, params = time_filter(since, until)
    keys = ", ".join(f"{DIMENSIONS[d]} AS k_{d}" for d in group_by)
    preview = "any_value(p.preview) AS preview" if "prompt" in group_by else "NULL AS preview"
    join = "LEFT JOIN prompt_texts p ON p.text_hash = c.prompt_hash" if "prompt" in group_by else ""
    named = ", ".join(f"k_{d}" for d in group_by)
    # a time series reads in time order; any other grouping costliest first (and --top
    # keeps the costliest periods)
    order = (
        named
        if top is None and time_series(group_by)
        else f"cost_usd DESC NULLS LAST, requests DESC, {named}"
    )
    rows = con.execute(
        f"""SELECT {keys}, {_TOTALS_SQL}, {preview}
        FROM request_costs c {join} WHERE {where}
        GROUP BY {named}
        ORDER BY {order}""",
        params,
    ).fetchall()
    n = len(group_by)
    out = [
        BreakdownRow(
            keys={d: (None if r[i] is None else str(r[i])) for i, d in enumerate(group_by)},
            totals=_totals(tuple(r[n : n + 10])),
            preview=r[n + 10],
        )
        for r in rows
    ]
    # the totals, and the Gemini requests grounded with Google Search, in one scan
    total = con.execute(
        f"""SELECT {_TOTALS_SQL}, count(*) FILTER (WHERE c.grounding_queries > 0),
            coalesce(sum(c.grounding_queries), 0)
        FROM request_costs c WHERE {where}""",
        params,
    ).fetchone()
    assert total is not None  # an aggregate without GROUP BY returns one row
    totals, grounded = _totals(tuple(total[:-2])), total[-2:]
    kept = out[:top] if top else out
    return Breakdown(
        group_by=group_by,
        rows=kept,
        totals=totals,
        unpriced=unpriced_models(con, where, params),
        pricing=pricing_info(con),
        omitted_rows=len(out) - len(kept),
        grounded_requests=int(grounded[0]),
        grounding_queries=int(grounded[1]),
    )
