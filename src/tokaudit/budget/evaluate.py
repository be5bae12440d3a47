"""Compare spend per period with each budget's limit, in SQL over ``request_costs``."""

from __future__ import annotations

from decimal import Decimal

import duckdb

from tokaudit.budget.config import Budget
from tokaudit.models import BudgetOutcome, BudgetReport
from tokaudit.report.breakdown import DIMENSIONS, pricing_info

BUCKETS = {
    "day": "strftime(c.ts, '%Y-%m-%d')",
    "week": "strftime(c.ts, '%G-W%V')",
    "month": "strftime(c.ts, '%Y-%m')",
    "all": "'all'",
}


def evaluate_budget(con: duckdb.DuckDBPyConnection, budget: Budget) -> BudgetOutcome:
    clauses = [f"{DIMENSIONS[k]} = ?" for k in budget.scope]
    where = " AND ".join(["TRUE", *clauses])
    params = list(budget.scope.values())
    rows = con.execute(
        f"""SELECT {BUCKETS[budget.period]} AS bucket, coalesce(sum(c.cost_usd), 0),
               coalesce(sum(coalesce(c.request_count, 1))
                        FILTER (WHERE c.pricing_status = 'unpriced'), 0)
        FROM request_costs c WHERE {where} GROUP BY bucket ORDER BY bucket""",
        params,
    ).fetchall()
    spend = [(str(b), Decimal(cost).normalize()) for b, cost, _ in rows]
    worst = max(spend, key=lambda s: s[1], default=(None, Decimal(0)))
    return BudgetOutcome(
        name=budget.name,
        period=budget.period,
        scope=budget.scope,
        max_cost_usd=budget.max_cost_usd,
        worst_period=worst[0],
        worst_cost_usd=worst[1],
        exceeded_periods=[(b, c) for b, c in spend if c > budget.max_cost_usd],
        unpriced_requests=sum(int(u) for _, _, u in rows),
    )


def evaluate_budgets(con: duckdb.DuckDBPyConnection, budgets: list[Budget]) -> BudgetReport:
    return BudgetReport([evaluate_budget(con, b) for b in budgets], pricing_info(con))
