"""Compare spend per period with each budget's limit, in SQL over ``request_costs``.

A ``model`` scope matches the logged model name or the price-table model the request was
priced as (``priced_model``), so ``model: gpt-4o`` covers ``gpt-4o-2024-08-06`` too. A scope
that matches no request at all (often a typo) is flagged through ``matched_requests``.

One query per budget (and store) sums what every limit needs per period bucket; Python only
compares the few sums. A per-request or relative limit is a ratio of two sums, compared
exactly by cross-multiplying Decimals (``cost / requests > limit`` as ``cost > limit *
requests``): only the values shown are rounded.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    getcontext,
    localcontext,
)
from typing import Any

import duckdb

from tokaudit.budget.config import Budget
from tokaudit.models import BaselineSide, BudgetOutcome, BudgetReport
from tokaudit.pricing.store_tables import ESTIMATED_SPEND
from tokaudit.report.breakdown import DIMENSIONS, pricing_info, unpriced_models

BUCKETS = {
    "day": "strftime(c.ts, '%Y-%m-%d')",
    "week": "strftime(c.ts, '%G-W%V')",
    "month": "strftime(c.ts, '%Y-%m')",
    "all": "'all'",
}

_CALLS = "coalesce(c.request_count, 1)"  # an aggregated (bucket) row counts its calls
# a request whose tokens are known: logged usage, or recounted (logged without usage); a
# failed call without usage has none, and costs nothing: it is no request of a per-request
# metric, or a PR whose calls fail (429s) would show a lower cost per request
_COUNTED = "c.usage_source IS NOT NULL"
_SUMS = f"""sum(c.cost_usd),
    coalesce(sum({_CALLS}) FILTER (WHERE c.pricing_status = 'unpriced'), 0),
    coalesce(sum({_CALLS}), 0),
    -- spend priced from recounted tokens (no usage logged): an estimate
    count(*) FILTER (WHERE {ESTIMATED_SPEND}),
    coalesce(sum(c.cost_usd) FILTER (WHERE {ESTIMATED_SPEND}), 0),
    coalesce(sum({_CALLS}) FILTER (WHERE c.pricing_status = 'priced' AND {_COUNTED}), 0),
    coalesce(sum({_CALLS}) FILTER (WHERE {_COUNTED}), 0),
    -- every input class as the provider counted it: uncached, audio, cache reads, writes
    coalesce(sum(c.total_input_tokens) FILTER (WHERE {_COUNTED}), 0),
    coalesce(sum(c.output_tokens) FILTER (WHERE {_COUNTED}), 0)"""
# indexes into a bucket's row: (bucket, *_SUMS)
COST, UNPRICED, MATCHED, ESTIMATED, ESTIMATED_COST, PRICED, COUNTED, INPUT, OUTPUT = range(1, 10)

# the metric as (numerator, denominator) columns of a bucket's row: a ratio of sums
_FRACTIONS = {
    "cost": (COST, None),
    "cost_per_request": (COST, PRICED),
    "input_tokens_per_request": (INPUT, COUNTED),
    "output_tokens_per_request": (OUTPUT, COUNTED),
}
Fraction = tuple[Decimal, int]


def _scope_clause(key: str) -> str:
    """A model scope also matches the table model a dated or aliased name was priced as."""
    if key == "model":
        return "? IN (c.model, c.priced_model)"
    return f"{DIMENSIONS[key]} = ?"


def _where(budget: Budget) -> tuple[str, list[Any]]:
    clauses = [_scope_clause(k) for k in budget.scope]
    return " AND ".join(["TRUE", *clauses]), list(budget.scope.values())


def _buckets(con: duckdb.DuckDBPyConnection, budget: Budget) -> list[tuple[Any, ...]]:
    where, params = _where(budget)
    return con.execute(
        f"""SELECT {BUCKETS[budget.period]} AS bucket, {_SUMS}
        FROM request_costs c WHERE {where} GROUP BY bucket ORDER BY bucket""",
        params,
    ).fetchall()


def _fraction(row: tuple[Any, ...], metric: str) -> Fraction | None:
    """The metric of one bucket as an exact ratio; None when nothing in it gives it (no
    priced request for a cost, no request with known tokens for tokens)."""
    num, den = _FRACTIONS[metric]
    if row[num] is None or (den is not None and not row[den]):
        return None
    return Decimal(row[num]), 1 if den is None else int(row[den])


def _exact() -> AbstractContextManager[Context]:
    """A decimal context in which every product below is exact (Inexact raises): sums of
    DECIMAL(38,18) times request counts times a limit need far fewer than 1,000 digits."""
    traps = dict.fromkeys(getcontext().traps, False) | {Inexact: True, InvalidOperation: True}
    return localcontext(prec=1000, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=traps)


def _shown(f: Fraction, metric: str) -> Decimal:
    """A ratio as a Decimal to show: money to DECIMAL(38,18)'s 18 places, tokens to 4."""
    places = Decimal("1e-4") if "tokens" in metric else Decimal("1e-18")
    with localcontext() as ctx:
        ctx.prec = 60
        return (f[0] / f[1]).quantize(places, rounding=ROUND_HALF_EVEN).normalize()


def _above(f: Fraction, limit: Decimal) -> bool:
    """num / den > limit, exactly."""
    with _exact():
        return f[0] > limit * f[1]


def _larger(a: Fraction, b: Fraction) -> bool:
    with _exact():
        return a[0] * b[1] > b[0] * a[1]


def _increase(current: Fraction, base: Fraction, pct: Decimal) -> tuple[bool, Decimal | None]:
    """Whether ``current`` rose by more than ``pct`` % over ``base`` (exactly), and the
    change in % (rounded to 10 places; None from a base of 0, where any rise is infinite)."""
    (c_num, c_den), (b_num, b_den) = current, base
    with _exact():
        exceeded = c_num * b_den * 100 > b_num * c_den * (100 + pct)
        if not b_num:
            return exceeded, Decimal(0) if not c_num else None
    with localcontext() as ctx:
        ctx.prec = 60
        change = (c_num * b_den * 100) / (b_num * c_den) - 100
        return exceeded, change.quantize(Decimal("1e-10"), rounding=ROUND_HALF_EVEN).normalize()


def _spend_outcome(
    con: duckdb.DuckDBPyConnection, budget: Budget, rows: list[tuple[Any, ...]]
) -> BudgetOutcome:
    """A ``max_cost_usd`` or ``max_cost_per_request_usd`` budget: every period bucket
    against the limit; the worst bucket is the one with the highest value."""
    metric = budget.metric
    values = [(str(r[0]), f, r) for r in rows if (f := _fraction(r, metric)) is not None]
    # A period with nothing priced has no known spend (NULL), never $0; a scope with
    # nothing priced at all has none either (None: null in JSON, "unpriced (N)" in tables).
    nothing_priced = bool(rows) and all(r[COST] is None for r in rows)
    worst = None
    for item in values:
        if worst is None or _larger(item[1], worst[1]):
            worst = item
    limit = budget.max_cost_usd if metric == "cost" else budget.max_cost_per_request_usd
    assert limit is not None
    no_spend = None if nothing_priced else Decimal(0)
    unpriced = sum(int(r[UNPRICED]) for r in rows)
    where, params = _where(budget)
    return BudgetOutcome(
        name=budget.name,
        period=budget.period,
        scope=budget.scope,
        max_cost_usd=budget.max_cost_usd,
        worst_period=None if worst is None else worst[0],
        worst_cost_usd=no_spend if worst is None else Decimal(worst[2][COST]).normalize(),
        exceeded_periods=[(b, _shown(f, metric)) for b, f, _ in values if _above(f, limit)],
        unpriced_requests=unpriced,
        matched_requests=sum(int(r[MATCHED]) for r in rows),
        unpriced_models=unpriced_models(con, where, params) if unpriced else [],
        estimated_requests=sum(int(r[ESTIMATED]) for r in rows),
        worst_estimated_cost_usd=Decimal(0)
        if worst is None
        else Decimal(worst[2][ESTIMATED_COST]).normalize(),
        metric=metric,
        max_cost_per_request_usd=budget.max_cost_per_request_usd,
        # no request priced: no cost per request (but a spend of 0)
        value=(no_spend if metric == "cost" else None)
        if worst is None
        else _shown(worst[1], metric),
    )


def _side(
    con: duckdb.DuckDBPyConnection, budget: Budget, rows: list[tuple[Any, ...]]
) -> tuple[Fraction | None, BaselineSide]:
    """A relative budget's scope in one store (period all: one bucket, or none)."""
    row = rows[0] if rows else ("all", None, 0, 0, 0, 0, 0, 0, 0, 0)
    fraction = _fraction(row, budget.metric)
    if fraction is None and budget.metric == "cost" and not rows:
        fraction = (Decimal(0), 1)  # nothing in scope spent nothing
    where, params = _where(budget)
    side = BaselineSide(
        value=None if fraction is None else _shown(fraction, budget.metric),
        matched_requests=int(row[MATCHED]),
        unpriced_requests=int(row[UNPRICED]),
        unpriced_models=unpriced_models(con, where, params) if row[UNPRICED] else [],
        estimated_requests=int(row[ESTIMATED]),
        estimated_cost_usd=Decimal(row[ESTIMATED_COST]).normalize(),
    )
    return fraction, side


# a relative budget whose scope matches no request in the store (warned as any such scope)
NO_MATCH = "no request in scope in the store"


def _missing(side: str, metric: str) -> str:
    what = "has known tokens" if "tokens" in metric else "is priced"
    if metric == "cost_per_request":  # failed calls without usage only: none is a request here
        what = "is priced with usage (logged or recounted)"
    return f"no request in scope in the {side} {what}"


def _relative_outcome(
    con: duckdb.DuckDBPyConnection, base: duckdb.DuckDBPyConnection, budget: Budget
) -> BudgetOutcome:
    """A ``max_increase_pct`` budget: the whole store against the whole baseline store."""
    assert budget.max_increase_pct is not None
    rows = _buckets(con, budget)
    current, now = _side(con, budget, rows)
    spend = rows[0][COST] if rows else 0  # NULL: nothing in scope priced
    baseline, then = _side(base, budget, _buckets(base, budget))
    exceeded, change, why = False, None, None
    if not then.matched_requests:
        why = "new: no request in scope in the baseline store (an increase from nothing is "
        why += "undefined)"
    elif baseline is None:
        why = _missing("baseline store", budget.metric)
    elif current is None:
        # nothing in scope here gives the ratio: not an increase from 0 (change_pct null)
        why = _missing("store", budget.metric) if now.matched_requests else NO_MATCH
    else:
        exceeded, change = _increase(current, baseline, budget.max_increase_pct)
    return BudgetOutcome(
        name=budget.name,
        period=budget.period,
        scope=budget.scope,
        max_cost_usd=None,
        worst_period="all" if rows else None,
        worst_cost_usd=None if spend is None else Decimal(spend).normalize(),
        exceeded_periods=[("all", now.value)] if exceeded and now.value is not None else [],
        unpriced_requests=now.unpriced_requests,
        matched_requests=now.matched_requests,
        unpriced_models=now.unpriced_models,
        estimated_requests=now.estimated_requests,
        worst_estimated_cost_usd=now.estimated_cost_usd,
        metric=budget.metric,
        max_increase_pct=budget.max_increase_pct,
        value=now.value,
        baseline=then,
        change_pct=change,
        not_compared=why,
    )


def evaluate_budget(
    con: duckdb.DuckDBPyConnection,
    budget: Budget,
    baseline: duckdb.DuckDBPyConnection | None = None,
) -> BudgetOutcome:
    if budget.relative:
        if baseline is None:
            from tokaudit.errors import UsageError

            raise UsageError(
                f"budget {budget.name!r} compares with a baseline (max_increase_pct): "
                "give the baseline store with --baseline"
            )
        return _relative_outcome(con, baseline, budget)
    return _spend_outcome(con, budget, _buckets(con, budget))


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


def evaluate_budgets(
    con: duckdb.DuckDBPyConnection,
    budgets: list[Budget],
    baseline: duckdb.DuckDBPyConnection | None = None,
    baseline_path: str | None = None,
) -> BudgetReport:
    """Every budget over the store ``con``; relative budgets against ``baseline``."""
    return BudgetReport(
        [evaluate_budget(con, b, baseline) for b in budgets], pricing_info(con), baseline_path
    )
