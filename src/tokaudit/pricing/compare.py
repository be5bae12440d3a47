"""Re-price the same requests two ways and show the dollar effect per group.

``tokaudit report --compare-pricing OLD`` answers "what did the table change cost us": every
request is priced with the current table and with OLD (a directory or ``git:REV``).
``--compare-at now`` answers "what would these requests cost at today's prices": the
comparison prices every request with the versions in force at one instant instead of at its
own time. Both run in SQL over ``request_costs``; the store is left priced with the current
table, as every priced command leaves it.

Only requests priced under both tables are compared: a request unpriced under either has no
cost on one side, and counting it as $0 there would show a fake saving (or rise). Such a
request adds to neither cost nor the delta; ``excluded_requests`` counts it, and a group with
no request priced under both tables has no costs and no delta (None, JSON null).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from tokaudit.models import PricingInfo
from tokaudit.pricing.store_tables import (
    ESTIMATED_SPEND,
    install_price_table,
    read_pricing_info,
)
from tokaudit.pricing.table import PriceTable
from tokaudit.report.breakdown import DIMENSIONS, time_filter, time_series


@dataclass(frozen=True)
class ComparisonRow:
    keys: dict[str, str | None]
    requests: int
    # Both costs cover only the requests priced under both tables; None when there is none.
    cost_usd: Decimal | None  # priced with the current table
    compare_cost_usd: Decimal | None  # priced with the compared table / instant
    unpriced_requests: int
    compare_unpriced_requests: int
    excluded_requests: int = 0  # unpriced under either table: in neither cost nor the delta
    # compared requests priced from recounted tokens (logged without usage): estimates
    estimated_requests: int = 0

    @property
    def delta_usd(self) -> Decimal | None:
        """What switching to the compared prices changes: compared - current, or None."""
        if self.cost_usd is None or self.compare_cost_usd is None:
            return None
        return self.compare_cost_usd - self.cost_usd


@dataclass(frozen=True)
class PricingComparison:
    group_by: list[str]
    rows: list[ComparisonRow]
    totals: ComparisonRow
    pricing: PricingInfo
    compare_pricing: PricingInfo
    compare_at: datetime | None
    # Requests whose status differs (priced under one table, unpriced under the other).
    status_changes: int


def compare_pricing(
    con: duckdb.DuckDBPyConnection,
    current: PriceTable,
    other: PriceTable,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
    compare_at: datetime | None = None,
) -> PricingComparison:
    where, params = time_filter(since, until)  # a bad window fails before any re-pricing
    install_price_table(con, other, price_at=compare_at)
    other_info = read_pricing_info(con)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _compare AS "
        "SELECT request_key, cost_usd, pricing_status FROM request_costs"
    )
    install_price_table(con, current)
    info = read_pricing_info(con)
    columns = {row[0] for row in con.execute("DESCRIBE request_costs").fetchall()}
    calls = "coalesce(c.request_count, 1)" if "request_count" in columns else "1"
    # Compared: priced under both tables (cost_usd is NULL exactly when a request is unpriced).
    both = "c.cost_usd IS NOT NULL AND o.cost_usd IS NOT NULL"
    sums = f"""
        sum({calls}) AS requests,
        sum(c.cost_usd) FILTER (WHERE {both}), sum(o.cost_usd) FILTER (WHERE {both}),
        coalesce(sum({calls}) FILTER (WHERE c.pricing_status = 'unpriced'), 0),
        coalesce(sum({calls}) FILTER (WHERE o.pricing_status = 'unpriced'), 0),
        coalesce(sum({calls}) FILTER (WHERE c.pricing_status <> o.pricing_status), 0),
        coalesce(sum({calls}) FILTER (WHERE NOT ({both})), 0),
        coalesce(sum({calls}) FILTER (WHERE {both} AND {ESTIMATED_SPEND}), 0)"""
    keys = ", ".join(f"{DIMENSIONS[d]} AS k_{d}" for d in group_by)
    order = ", ".join(f"k_{d}" for d in group_by)
    base = "FROM request_costs c JOIN _compare o USING (request_key)"
    # largest change first; periods alone in time order, as every report lists them
    ranked = (
        order
        if time_series(group_by)
        else f"""abs(sum(o.cost_usd) FILTER (WHERE {both})
                     - sum(c.cost_usd) FILTER (WHERE {both})) DESC NULLS LAST, {order}"""
    )
    rows = con.execute(
        f"""SELECT {keys}, {sums} {base} WHERE {where} GROUP BY {order} ORDER BY {ranked}""",
        params,
    ).fetchall()
    total = con.execute(f"SELECT {sums} {base} WHERE {where}", params).fetchone()
    con.execute("DROP TABLE _compare")
    n = len(group_by)

    def row(keys: dict[str, str | None], values: tuple[Any, ...]) -> ComparisonRow:
        return ComparisonRow(
            keys,
            int(values[0] or 0),
            None if values[1] is None else Decimal(values[1]),
            None if values[2] is None else Decimal(values[2]),
            int(values[3]),
            int(values[4]),
            int(values[6]),
            int(values[7]),
        )

    assert total is not None
    return PricingComparison(
        group_by=group_by,
        rows=[
            row({d: (None if r[i] is None else str(r[i])) for i, d in enumerate(group_by)}, r[n:])
            for r in rows
        ],
        totals=row({d: None for d in group_by}, total),
        pricing=info,
        compare_pricing=other_info,
        compare_at=compare_at,
        status_changes=int(total[5]),
    )


COLUMNS = [
    "requests",
    "cost_usd",
    "compare_cost_usd",
    "delta_usd",
    "unpriced_requests",
    "compare_unpriced_requests",
    "excluded_requests",
    "estimated_requests",
]


def comparison_rows(result: PricingComparison) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Flat rows (group keys, then COLUMNS) with a final ``total`` row, for any renderer."""
    from tokaudit.report.renderers.common import money_or_none

    def flat(r: ComparisonRow, label: list[Any]) -> tuple[Any, ...]:
        return (
            *label,
            r.requests,
            money_or_none(r.cost_usd),
            money_or_none(r.compare_cost_usd),
            money_or_none(r.delta_usd),
            r.unpriced_requests,
            r.compare_unpriced_requests,
            r.excluded_requests,
            r.estimated_requests,
        )

    rows = [flat(r, [r.keys[d] for d in result.group_by]) for r in result.rows]
    rows.append(flat(result.totals, ["total", *[""] * (len(result.group_by) - 1)]))
    return [*result.group_by, *COLUMNS], rows


def comparison_rows_for_people(
    result: PricingComparison,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """``comparison_rows`` with money as the tables and Markdown show it everywhere
    (``$1.01``, a signed delta ``+$0.46``); they printed the exact decimal strings (QA)."""
    from tokaudit.report.renderers.common import display_usd

    def shown(column: str, value: Any) -> Any:
        if value is None or not column.endswith("_usd"):
            return value
        amount = Decimal(value)
        if column != "delta_usd":
            return display_usd(amount)
        return ("-" if amount < 0 else "+" if amount > 0 else "") + display_usd(abs(amount))

    columns, rows = comparison_rows(result)
    return columns, [tuple(shown(c, v) for c, v in zip(columns, r, strict=True)) for r in rows]


def comparison_dict(result: PricingComparison) -> dict[str, Any]:
    from tokaudit.report.renderers.common import money_or_none, pricing_dict

    def item(r: ComparisonRow) -> dict[str, Any]:
        return {
            **r.keys,
            "requests": r.requests,
            "cost_usd": money_or_none(r.cost_usd),
            "compare_cost_usd": money_or_none(r.compare_cost_usd),
            "delta_usd": money_or_none(r.delta_usd),
            "unpriced_requests": r.unpriced_requests,
            "compare_unpriced_requests": r.compare_unpriced_requests,
            "excluded_requests": r.excluded_requests,
            "estimated_requests": r.estimated_requests,
        }

    totals = item(result.totals)
    for d in result.group_by:
        totals.pop(d)
    return {
        "group_by": result.group_by,
        "currency": "USD",
        "pricing": pricing_dict(result.pricing),
        "compare_pricing": {
            **pricing_dict(result.compare_pricing),
            "price_at": None if result.compare_at is None else result.compare_at.isoformat(),
        },
        "rows": [item(r) for r in result.rows],
        "totals": totals,
        "status_changes": result.status_changes,
    }


def comparison_caption(result: PricingComparison) -> str:
    from tokaudit.report.renderers.common import overlay_text

    p, o = result.pricing, result.compare_pricing
    at = f" at {result.compare_at.isoformat()}" if result.compare_at else ""
    return (
        f"prices: table {p.table_version} (sha256 {p.sha256[:12]}){overlay_text(p)}; "
        f"compared with table {o.table_version} (sha256 {o.sha256[:12]}){overlay_text(o)}{at}; "
        "delta = compared - current, USD\n"
    )
