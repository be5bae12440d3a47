"""Compare spend per period with each budget's limit, in SQL over ``request_costs``.

A ``model`` scope matches the logged model name or the price-table model the request was
priced as (``priced_model``), so ``model: gpt-4o`` covers ``gpt-4o-2024-08-06`` too. A scope
that matches no request at all (often a typo) is flagged through ``matched_requests``.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from tokaudit.budget.config import Budget
from tokaudit.models import BudgetOutcome, BudgetReport
from tokaudit.pricing.store_tables import ESTIMATED_SPEND
from tokaudit.report.breakdown import DIMENSIONS, pricing_info, unpriced_models

BUCKETS = {
    "day": "strftime(c.ts, '%Y-%m-%d')",
    "week": "strftime(c.ts, '%G-W%V')",
    "month": "strftime(c.ts, '%Y-%m')",
    "all": "'all'",
}


def _scope_clause(key: str) -> str:
    """A model scope also matches the table model a dated or aliased name was priced as."""
    if key == "model":
        return "? IN (c.model, c.priced_model)"
    return f"{DIMENSIONS[key]} = ?"


def evaluate_budget(con: duckdb.DuckDBPyConnection, budget: Budget) -> BudgetOutcome:
    clauses = [_scope_clause(k) for k in budget.scope]
    where = " AND ".join(["TRUE", *clauses])
    params = list(budget.scope.values())
    rows = con.execute(
        f"""SELECT {BUCKETS[budget.period]} AS bucket, sum(c.cost_usd),
               coalesce(sum(coalesce(c.request_count, 1))
                        FILTER (WHERE c.pricing_status = 'unpriced'), 0),
               coalesce(sum(coalesce(c.request_count, 1)), 0),
               -- spend priced from recounted tokens (no usage logged): an estimate
               count(*) FILTER (WHERE {ESTIMATED_SPEND}),
               coalesce(sum(c.cost_usd) FILTER (WHERE {ESTIMATED_SPEND}), 0)
        FROM request_costs c WHERE {where} GROUP BY bucket ORDER BY bucket""",
        params,
    ).fetchall()
    # A period with nothing priced has no known spend (NULL), never $0; a scope with
    # nothing priced at all has none either (None: null in JSON, "unpriced (N)" in tables).
    spend = [(str(r[0]), Decimal(r[1]).normalize()) for r in rows if r[1] is not None]
    nothing_priced = bool(rows) and not spend
    worst: tuple[str | None, Decimal | None] = max(
        spend, key=lambda s: s[1], default=(None, None if nothing_priced else Decimal(0))
    )
    unpriced = sum(int(r[2]) for r in rows)
    estimated_in_worst = next((Decimal(r[5]) for r in rows if str(r[0]) == worst[0]), Decimal(0))
    return BudgetOutcome(
        name=budget.name,
        period=budget.period,
        scope=budget.scope,
        max_cost_usd=budget.max_cost_usd,
        worst_period=worst[0],
        worst_cost_usd=worst[1],
        exceeded_periods=[(b, c) for b, c in spend if c > budget.max_cost_usd],
        unpriced_requests=unpriced,
        matched_requests=sum(int(r[3]) for r in rows),
        unpriced_models=unpriced_models(con, where, params) if unpriced else [],
        estimated_requests=sum(int(r[4]) for r in rows),
        worst_estimated_cost_usd=estimated_in_worst.normalize(),
    )


def unmatched_scope_warnings(report: BudgetReport) -> list[str]:
    """One line per budget whose scope matches no request: a typo passes silently otherwise."""
    from tokaudit.report.renderers.common import scope_text

    return [
        f"budget {o.name!r}: scope {scope_text(o.scope)} matches no request in the store "
        "(check the spelling); its spend is 0"
        if o.scope
        # an unscoped budget matches every request: none at all is an empty store (was
        # anything ingested into it?), not a spelling mistake
        else f"budget {o.name!r}: the store holds no requests, so its spend is 0 (was "
        "anything ingested into it?)"
        for o in report.outcomes
        if o.matched_requests == 0
    ]


def evaluate_budgets(con: duckdb.DuckDBPyConnection, budgets: list[Budget]) -> BudgetReport:
    return BudgetReport([evaluate_budget(con, b) for b in budgets], pricing_info(con))
