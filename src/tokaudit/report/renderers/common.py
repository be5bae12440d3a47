"""Plain-data views of results, shared by the machine-readable renderers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from tokaudit.models import (
    Breakdown,
    BudgetOutcome,
    BudgetReport,
    FindingsReport,
    PricingInfo,
    Totals,
    UnpricedModel,
)

TOTAL_FIELDS = (
    "requests",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost_usd",
    "unpriced_requests",
)


def money(value: Decimal) -> str:
    """Exact decimal string, no exponent, no trailing zeros: '0.0079552', '12', '0'."""
    with localcontext() as ctx:  # normalize() rounds to the context's 28 digits otherwise
        ctx.prec = max(ctx.prec, len(value.as_tuple().digits))
        text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E-18") else text


def money_or_none(value: Decimal | None) -> str | None:
    """``money``, or None (JSON null) for a cost that is unknown: nothing in it was priced."""
    return None if value is None else money(value)


UNPRICED_COST = "unpriced"  # how people see a cost that is unknown, never as $0


def display_usd(value: Decimal | None) -> str:
    """For people: cents above a dollar, four decimals below (small calls stay visible).

    Halves round up, as invoices do ($2.345 shows as $2.35); only the display rounds.
    """
    if value is None:
        return UNPRICED_COST
    if value and abs(value) < Decimal("0.0001"):
        return "<$0.0001" if value > 0 else ">-$0.0001"
    with localcontext() as ctx:
        # room for every digit: a budget limit of 1e30 (a "no limit" placeholder) has more
        # than the default 28, and quantize raised InvalidOperation (a traceback, QA)
        ctx.prec = max(ctx.prec, value.adjusted() + 6)
        shown = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
        if abs(shown) >= 1 or value == 0:  # after rounding: $0.99995 is $1.00, not $1.0000
            shown = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${shown:,}"


def cost_text(t: Totals) -> str:
    """A group's cost for people: '≈' marks estimates, unpriced requests are counted apart."""
    if t.cost_usd is None:
        return f"{UNPRICED_COST} ({t.unpriced_requests})"
    text = ("≈" if t.estimated_requests else "") + display_usd(t.cost_usd)
    if t.unpriced_requests:
        text += f" (+{t.unpriced_requests} unpriced)"
    return text


def totals_dict(t: Totals) -> dict[str, Any]:
    """A group's totals, with the spend priced from recounted tokens (logs without usage):
    always, zero or not, so a consumer's keys never depend on the data (QA)."""
    extra: dict[str, Any] = {
        "estimated_requests": t.estimated_requests,
        "estimated_cost_usd": money(t.estimated_cost_usd),
    }
    return {
        "requests": t.requests,
        "input_tokens": t.input_tokens,
        "cache_read_tokens": t.cache_read_tokens,
        "cache_write_tokens": t.cache_write_tokens,
        "output_tokens": t.output_tokens,
        "reasoning_tokens": t.reasoning_tokens,
        "cost_usd": money_or_none(t.cost_usd),
        "unpriced_requests": t.unpriced_requests,
    } | extra


def pricing_dict(p: PricingInfo) -> dict[str, Any]:
    out: dict[str, Any] = {"table_version": p.table_version, "sha256": p.sha256}
    if p.overlay is not None:  # only when a pricing overlay was applied
        o = p.overlay
        out["overlay"] = {"path": o.path, "sha256": o.sha256, "name": o.name}
        if o.credits:
            out["overlay"]["credits"] = [
                {
                    "name": c.name,
                    "amount_usd": money(c.amount_usd),
                    "applied_usd": money(c.applied_usd),
                    "remaining_usd": money(c.remaining_usd),
                }
                for c in o.credits
            ]
    return out


def overlay_text(p: PricingInfo, full: bool = False) -> str:
    """' + overlay NAME (sha256 abc…)' for captions, or '' without an overlay; with
    ``full``, the whole SHA-256, as beside the table's own in CSV's stderr line."""
    if p.overlay is None:
        return ""
    o = p.overlay
    credits = "".join(
        f"; credit {c.name}: {money(c.applied_usd)} of {money(c.amount_usd)} USD applied"
        for c in o.credits
    )
    sha = o.sha256 if full else o.sha256[:12]
    return f" + overlay {o.name or o.path} (sha256 {sha}){credits}"


ESTIMATE_FIELDS = ("estimated_requests", "estimated_cost_usd")


def breakdown_columns(group_by: list[str]) -> list[str]:
    """Every key of a breakdown row, estimates included: the CSV header for ``--by``."""
    preview = ["prompt_preview"] if "prompt" in group_by else []
    return [*group_by, *preview, *TOTAL_FIELDS, *ESTIMATE_FIELDS]


def breakdown_dict(b: Breakdown) -> dict[str, Any]:
    rows = []
    for row in b.rows:
        item: dict[str, Any] = dict(row.keys)
        if "prompt" in b.group_by:
            item["prompt_preview"] = row.preview
        item.update(totals_dict(row.totals))
        rows.append(item)
    return {
        "group_by": b.group_by,
        "currency": "USD",
        "pricing": pricing_dict(b.pricing),
        "rows": rows,
        "omitted_rows": b.omitted_rows,
        "totals": totals_dict(b.totals),
        "unpriced": unpriced_list(b.unpriced),
        # grounding with Google Search: billed apart, in no cost above
        "grounded_requests": b.grounded_requests,
        "grounding_queries": b.grounding_queries,
    }


def grounding_note(b: Breakdown) -> str | None:
    """Why Gemini's grounding fee is in no cost, when the breakdown's requests used it."""
    if not b.grounded_requests:
        return None
    return (
        f"{b.grounded_requests} Gemini request(s) grounded with Google Search "
        f"({b.grounding_queries} search queries): that fee ($35 per 1,000 grounded prompts on "
        "Gemini 2.x, $14 per 1,000 queries on 3.x, after Google's free allowance) is not in "
        "these costs"
    )


def unpriced_text(u: UnpricedModel) -> str:
    """One unpriced model for people: ``acme-llm-7b (openai) x6: unknown_model``."""
    return f"{u.model} ({u.provider}) x{u.requests}: {u.reason}"


def unpriced_list(unpriced: list[UnpricedModel]) -> list[dict[str, Any]]:
    return [
        {"model": u.model, "provider": u.provider, "requests": u.requests, "reason": u.reason}
        for u in unpriced
    ]


def findings_dict(f: FindingsReport) -> dict[str, Any]:
    return {
        "currency": "USD",
        "pricing": pricing_dict(f.pricing),
        "total_savings_usd": money(f.total_savings_usd),
        "findings": [
            {
                "rule_id": x.rule_id,
                "rule": x.rule,
                "kind": x.kind,
                "title": x.title,
                "team": x.team,
                "model": x.model,
                "prompt": x.prompt,
                "requests": x.requests,
                "savings_usd": money(x.savings_usd),
                "detail": x.detail,
            }
            for x in f.findings
        ],
        # requests no rule could price, so no finding could weigh them
        "unpriced": unpriced_list(f.unpriced),
    }


def budget_dict(r: BudgetReport) -> dict[str, Any]:
    return {
        "currency": "USD",
        "pricing": pricing_dict(r.pricing),
        "violated": r.violated,
        "budgets": [
            {
                "name": o.name,
                "period": o.period,
                "scope": o.scope,
                "max_cost_usd": money(o.max_cost_usd),
                "worst_period": o.worst_period,
                "worst_cost_usd": money_or_none(o.worst_cost_usd),
                "exceeded": o.exceeded,
                "exceeded_periods": [
                    {"period": p, "cost_usd": money(c)} for p, c in o.exceeded_periods
                ],
                "unpriced_requests": o.unpriced_requests,
                # requests in the scope: 0 flags a scope matching nothing (a typo?)
                "matched_requests": o.matched_requests,
                # priced from recounted tokens (no usage logged): estimates
                "estimated_requests": o.estimated_requests,
                "worst_estimated_cost_usd": money(o.worst_estimated_cost_usd),
            }
            for o in r.outcomes
        ],
    }


def _budget_amounts_exact(o: BudgetOutcome) -> bool:
    """Whether a budget's limit and spend differ but would display alike ($1.00 and $1.00
    for a limit of 1.001 and a spend of 1.004: an EXCEEDED between equal figures, QA)."""
    spend, limit = o.worst_cost_usd, o.max_cost_usd
    return spend is not None and spend != limit and display_usd(spend) == display_usd(limit)


def budget_limit_text(o: BudgetOutcome) -> str:
    """A budget's limit for people: rounded as other amounts, exact where the spend beside
    it would look the same."""
    if _budget_amounts_exact(o):
        return f"${money(o.max_cost_usd)}"
    return display_usd(o.max_cost_usd)


def budget_spend_text(o: BudgetOutcome) -> str:
    """A budget's worst spend for people: 'unpriced (N)' when nothing in scope was priced,
    '≈' when part of it was priced from recounted tokens (an estimate); exact where the
    limit beside it would look the same."""
    if o.worst_cost_usd is None:
        return f"{UNPRICED_COST} ({o.unpriced_requests})"
    shown = f"${money(o.worst_cost_usd)}" if _budget_amounts_exact(o) else None
    return ("≈" if o.worst_estimated_cost_usd else "") + (shown or display_usd(o.worst_cost_usd))


def budget_estimate_note(r: BudgetReport) -> str | None:
    """What '≈' means in a budget check, when any budget's worst period holds estimates."""
    marked = [o for o in r.outcomes if o.worst_estimated_cost_usd]
    if not marked:
        return None
    parts = ", ".join(f"{o.name} {display_usd(o.worst_estimated_cost_usd)}" for o in marked)
    return (
        "≈ marks spend partly priced from recounted tokens (requests logged without usage): "
        + parts
    )


def scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "all spend"
