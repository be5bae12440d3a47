"""Cost breakdowns by team, model, prompt, user, feature or day, straight from SQL."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from tokaudit.errors import UsageError
from tokaudit.models import Breakdown, BreakdownRow, PricingInfo, Totals, UnpricedModel

# The SQL expression for each dimension a user may group by.
DIMENSIONS: dict[str, str] = {
    "team": "c.team",
    "model": "c.model",
    "prompt": "coalesce(c.prompt_id, 'fp:' || left(c.prompt_hash, 8))",
    "user": "c.user_id",
    "feature": "c.feature",
    "day": "strftime(c.ts, '%Y-%m-%d')",
    "provider": "c.provider",
}

_TOTALS_SQL = """
    count(*) AS requests,
    coalesce(sum(c.input_tokens), 0) AS input_tokens,
    coalesce(sum(c.cache_read_tokens), 0) AS cache_read_tokens,
    coalesce(sum(c.cache_write_5m_tokens), 0) + coalesce(sum(c.cache_write_1h_tokens), 0)
        AS cache_write_tokens,
    coalesce(sum(c.output_tokens), 0) AS output_tokens,
    coalesce(sum(c.reasoning_tokens), 0) AS reasoning_tokens,
    coalesce(sum(c.cost_usd), 0) AS cost_usd,
    count(*) FILTER (WHERE c.pricing_status = 'unpriced') AS unpriced_requests
"""


def parse_group_by(text: str) -> list[str]:
    dims = [d.strip().lower() for d in text.split(",") if d.strip()]
    unknown = [d for d in dims if d not in DIMENSIONS]
    if not dims or unknown:
        raise UsageError(
            f"--by {text!r}: choose one or more of {', '.join(DIMENSIONS)} (comma-separated)"
        )
    return dims


def time_filter(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """A WHERE clause over ``c.ts``: since inclusive, until exclusive."""
    clauses, params = ["TRUE"], []
    if since:
        clauses.append("c.ts >= ?")
        params.append(since)
    if until:
        clauses.append("c.ts < ?")
        params.append(until)
    return " AND ".join(clauses), params


def pricing_info(con: duckdb.DuckDBPyConnection) -> PricingInfo:
    row = con.execute("SELECT table_version, table_sha256 FROM pricing_info").fetchone()
    return PricingInfo(str(row[0]), str(row[1])) if row else PricingInfo("none", "")


def _totals(values: tuple[Any, ...]) -> Totals:
    return Totals(
        requests=int(values[0]),
        input_tokens=int(values[1]),
        cache_read_tokens=int(values[2]),
        cache_write_tokens=int(values[3]),
        output_tokens=int(values[4]),
        reasoning_tokens=int(values[5]),
        cost_usd=Decimal(values[6]).normalize() if values[6] else Decimal(0),
        unpriced_requests=int(values[7]),
    )


def unpriced_models(
    con: duckdb.DuckDBPyConnection, where: str = "TRUE", params: list[Any] | None = None
) -> list[UnpricedModel]:
    rows = con.execute(
        f"""SELECT c.model, c.provider, count(*), c.unpriced_reason FROM request_costs c
        WHERE c.pricing_status = 'unpriced' AND {where}
        GROUP BY ALL ORDER BY count(*) DESC, c.model""",
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
    rows = con.execute(
        f"""SELECT {keys}, {_TOTALS_SQL}, {preview}
        FROM request_costs c {join} WHERE {where}
        GROUP BY {", ".join(f"k_{d}" for d in group_by)}
        ORDER BY cost_usd DESC, requests DESC, {", ".join(f"k_{d}" for d in group_by)}""",
        params,
    ).fetchall()
    n = len(group_by)
    out = [
        BreakdownRow(
            keys={d: (None if r[i] is None else str(r[i])) for i, d in enumerate(group_by)},
            totals=_totals(tuple(r[n : n + 8])),
            preview=r[n + 8],
        )
        for r in rows
    ]
    total = con.execute(f"SELECT {_TOTALS_SQL} FROM request_costs c WHERE {where}", params)
    kept = out[:top] if top else out
    return Breakdown(
        group_by=group_by,
        rows=kept,
        totals=_totals(tuple(total.fetchone() or ())),
        unpriced=unpriced_models(con, where, params),
        pricing=pricing_info(con),
        omitted_rows=len(out) - len(kept),
    )
