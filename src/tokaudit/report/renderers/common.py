"""Plain-data views of results, shared by the machine-readable renderers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from tokaudit.models import (
    BaselineSide,
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


def half_up(value: Decimal, places: Decimal, normalize: bool = False) -> Decimal:
    """``value`` rounded to ``places`` with halves up, as invoices round, with room for every
    digit: a budget limit of 1e30 (a "no limit" placeholder) has more than the default 28,
    and quantize raised InvalidOperation (a traceback, QA). Only displays round."""
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, value.adjusted() + 6)
        shown = value.quantize(places, rounding=ROUND_HALF_UP)
        return shown.normalize() if normalize else shown


def display_usd(value: Decimal | None) -> str:
    """For people: cents above a dollar, four decimals below (small calls stay visible).

    Halves round up, as invoices do ($2.345 shows as $2.35); only the display rounds.
    """
    if value is None:
        return UNPRICED_COST
    if value and abs(value) < Decimal("0.0001"):
        return "<$0.0001" if value > 0 else ">-$0.0001"
    shown = half_up(value, Decimal("0.0001"))
    if abs(shown) >= 1 or value == 0:  # after rounding: $0.99995 is $1.00, not $1.0000
        shown = half_up(value, Decimal("0.01"))
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


def _baseline_dict(b: BaselineSide | None) -> dict[str, Any] | None:
    if b is None:
        return None
    return {
        "value": money_or_none(b.value),
        "matched_requests": b.matched_requests,
        "unpriced_requests": b.unpriced_requests,
        "unpriced": unpriced_list(b.unpriced_models),
        "estimated_requests": b.estimated_requests,
        "estimated_cost_usd": money(b.estimated_cost_usd),
    }


def budget_dict(r: BudgetReport) -> dict[str, Any]:
    # exceeded_periods: the period's spend (cost_usd) for a spend budget, the compared
    # value (value) for a per-request or relative one
    return {
        "currency": "USD",
        "pricing": pricing_dict(r.pricing),
        "baseline": r.baseline,  # the baseline store's path (check --baseline), or null
        "violated": r.violated,
        "budgets": [
            {
                "name": o.name,
                "period": o.period,
                "scope": o.scope,
                "max_cost_usd": money_or_none(o.max_cost_usd),
                "worst_period": o.worst_period,
                "worst_cost_usd": money_or_none(o.worst_cost_usd),
                "exceeded": o.exceeded,
                "exceeded_periods": [
                    {"period": p, "cost_usd" if o.metric == "cost" else "value": money(c)}
                    for p, c in o.exceeded_periods
                ],
                "unpriced_requests": o.unpriced_requests,
                # requests in the scope: 0 flags a scope matching nothing (a typo?)
                "matched_requests": o.matched_requests,
                # priced from recounted tokens (no usage logged): estimates
                "estimated_requests": o.estimated_requests,
                "worst_estimated_cost_usd": money(o.worst_estimated_cost_usd),
                # what is limited, the limit, and the value compared with it
                "metric": o.metric,
                "max_cost_per_request_usd": money_or_none(o.max_cost_per_request_usd),
                "max_increase_pct": money_or_none(o.max_increase_pct),
                # a spend budget's value is its worst spend
                "value": money_or_none(
                    o.worst_cost_usd if o.metric == "cost" and not o.relative else o.value
                ),
                # a relative budget: the baseline store's side, the change in %
                "baseline": _baseline_dict(o.baseline),
                "change_pct": money_or_none(o.change_pct),
                "not_compared": o.not_compared,
            }
            for o in r.outcomes
        ],
    }


METRIC_LABELS = {
    "cost": "cost",
    "cost_per_request": "cost per request",
    "input_tokens_per_request": "input tokens per request",
    "output_tokens_per_request": "output tokens per request",
}


def small_usd(value: Decimal) -> str:
    """A cost per request (or a relative budget's spend) for people: as ``display_usd``
    from a cent, else four significant digits at most ($0.00001523): most requests cost
    less than the $0.0001 other amounts show, and a change must be visible."""
    if value == 0 or abs(value) >= Decimal("0.01"):
        return display_usd(value)
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, 40)
        shown = value.quantize(Decimal(1).scaleb(value.adjusted() - 3), rounding=ROUND_HALF_UP)
    return f"${shown.normalize():f}"


def _tokens(value: Decimal) -> str:
    """Tokens per request: two decimals at most, thousands separated."""
    return f"{half_up(value, Decimal('0.01'), normalize=True):,f}"


def metric_text(metric: str, value: Decimal, unit: bool = False) -> str:
    """A budget metric's value for people; with ``unit``, 'per request' after it (the limit
    column says it once; the values beside it go without)."""
    if metric == "cost":
        return small_usd(value)
    if metric == "cost_per_request":
        return small_usd(value) + (" per request" if unit else "")
    return _tokens(value) + (" tokens per request" if unit else "")


def _looks_equal(metric: str, a: Decimal | None, b: Decimal | None) -> bool:
    """Two different values that would display alike (EXCEEDED between equal figures)."""
    return (
        a is not None
        and b is not None
        and a != b
        and metric_text(metric, a) == (metric_text(metric, b))
    )


def _budget_amounts_exact(o: BudgetOutcome) -> bool:
    """Whether a budget's limit and spend differ but would display alike ($1.00 and $1.00
    for a limit of 1.001 and a spend of 1.004: an EXCEEDED between equal figures, QA)."""
    if o.relative:
        return False
    if o.metric == "cost_per_request":
        return _looks_equal(o.metric, o.value, o.max_cost_per_request_usd)
    spend, limit = o.worst_cost_usd, o.max_cost_usd
    return spend is not None and spend != limit and display_usd(spend) == display_usd(limit)


def _exact_metric(metric: str, value: Decimal, unit: bool = False) -> str:
    return f"${money(value)}" + (" per request" if unit and metric == "cost_per_request" else "")


def _pct(value: Decimal) -> str:
    """A change in % for people: two decimals, signed."""
    shown = half_up(value, Decimal("0.01"))
    return f"{'+' if shown >= 0 else ''}{shown:,f}%"


def budget_limit_text(o: BudgetOutcome) -> str:
    """A budget's limit for people: rounded as other amounts, exact where the spend beside
    it would look the same; a relative budget's as ``+10% cost per request``."""
    if o.max_increase_pct is not None:
        return f"+{money(o.max_increase_pct)}% {METRIC_LABELS[o.metric]}"
    if o.max_cost_per_request_usd is not None:
        if _budget_amounts_exact(o):
            return _exact_metric(o.metric, o.max_cost_per_request_usd, unit=True)
        return metric_text(o.metric, o.max_cost_per_request_usd, unit=True)
    assert o.max_cost_usd is not None
    if _budget_amounts_exact(o):
        return f"${money(o.max_cost_usd)}"
    return display_usd(o.max_cost_usd)


def _side_text(metric: str, value: Decimal | None, unpriced: int, estimated: bool) -> str:
    """One store's value: 'unpriced (N)' when nothing in scope gave it but unpriced
    requests, '—' when nothing did at all."""
    if value is None:
        return f"{UNPRICED_COST} ({unpriced})" if unpriced else "—"
    return ("≈" if estimated else "") + metric_text(metric, value)


def budget_spend_text(o: BudgetOutcome) -> str:
    """A budget's worst spend (or the value its limit is on) for people: 'unpriced (N)'
    when nothing in scope was priced, '≈' when part of it was priced from recounted tokens
    (an estimate); exact where the limit beside it would look the same."""
    if o.metric == "cost" and not o.relative:
        if o.worst_cost_usd is None:
            return f"{UNPRICED_COST} ({o.unpriced_requests})"
        shown = f"${money(o.worst_cost_usd)}" if _budget_amounts_exact(o) else None
        return ("≈" if o.worst_estimated_cost_usd else "") + (
            shown or display_usd(o.worst_cost_usd)
        )
    estimated = bool(o.worst_estimated_cost_usd or (o.relative and o.estimated_requests))
    if o.value is not None and _budget_amounts_exact(o):
        return ("≈" if estimated else "") + _exact_metric(o.metric, o.value)
    return _side_text(o.metric, o.value, o.unpriced_requests, estimated)


def budget_baseline_text(o: BudgetOutcome) -> str:
    """A relative budget's value in the baseline store ('—' for other budgets)."""
    b = o.baseline
    if b is None:
        return "—"
    if not b.matched_requests:
        return "none"
    text = _side_text(o.metric, b.value, b.unpriced_requests, b.estimated_requests > 0)
    # an unpriced request's tokens are known (in a token metric); its cost is not
    if b.value is not None and b.unpriced_requests and o.metric.startswith("cost"):
        text += f" (+{b.unpriced_requests} unpriced)"
    return text


def budget_change_text(o: BudgetOutcome) -> str:
    """A relative budget's change in %: rounded to 0.01, exact where it would look like the
    limit; '+∞ (from 0)' from nothing; 'new' for a scope the baseline lacks."""
    if o.baseline is None:
        return "—"
    if o.not_compared:
        return "new" if not o.baseline.matched_requests else "not compared"
    if o.change_pct is None:
        return "+∞ (from 0)"
    limit = o.max_increase_pct
    if limit is not None and o.change_pct != limit and _pct(o.change_pct) == _pct(limit):
        return f"{'+' if o.change_pct >= 0 else ''}{money(o.change_pct)}%"
    return _pct(o.change_pct)


def budget_value_header(r: BudgetReport) -> str:
    """'spend' while every budget limits spend; 'value' once one limits another metric."""
    return "spend" if all(o.metric == "cost" and not o.relative for o in r.outcomes) else "value"


def has_relative(r: BudgetReport) -> bool:
    return any(o.relative for o in r.outcomes)


def budget_estimate_note(r: BudgetReport) -> str | None:
    """What '≈' means in a budget check, when any budget's worst period holds estimates."""
    parts = [
        f"{o.name} {display_usd(o.worst_estimated_cost_usd)}"
        for o in r.outcomes
        if o.worst_estimated_cost_usd
    ] + [
        f"{o.name} (baseline) {display_usd(o.baseline.estimated_cost_usd)}"
        for o in r.outcomes
        if o.baseline is not None and o.baseline.estimated_requests
    ]
    if not parts:
        return None
    return (
        "≈ marks spend partly priced from recounted tokens (requests logged without usage): "
        + ", ".join(parts)
    )


def exceeded_lines(r: BudgetReport) -> list[str]:
    """One line per broken budget for stderr: the period, the value and the limit, exact."""
    lines = []
    for o in r.outcomes:
        if not o.exceeded:
            continue
        worst = max(o.exceeded_periods, key=lambda p: p[1])
        estimated = (
            f" ({money(o.worst_estimated_cost_usd)} USD of "
            f"{'it' if o.metric == 'cost' else 'its spend'} priced from recounted tokens: "
            "an estimate)"
            if o.worst_estimated_cost_usd and (o.relative or worst[0] == o.worst_period)
            else ""
        )
        if o.max_increase_pct is not None and o.baseline is not None:
            unit = ("USD" if o.metric.startswith("cost") else "tokens") + (
                "" if o.metric == "cost" else " per request"
            )
            now = money(worst[1])
            rise = (
                f"rose from 0 to {now} {unit}"
                if o.change_pct is None
                else f"rose {money(o.change_pct)}% from "
                f"{money_or_none(o.baseline.value)} to {now} {unit}"
            )
            lines.append(
                f"{o.name!r} {METRIC_LABELS[o.metric]} {rise} over the baseline "
                f"{r.baseline}, limit +{money(o.max_increase_pct)}%{estimated}"
            )
        elif o.max_cost_per_request_usd is not None:
            lines.append(
                f"{o.name!r} ({o.period}) cost {money(worst[1])} USD per request in "
                f"{worst[0]}, limit {money(o.max_cost_per_request_usd)} USD per "
                f"request{estimated}"
            )
        else:
            assert o.max_cost_usd is not None
            lines.append(
                f"{o.name!r} ({o.period}) spent {worst[1]:f} USD in "
                f"{worst[0]}, limit {o.max_cost_usd:f} USD{estimated}"
            )
    return lines


def scope_text(scope: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in scope.items()) or "all spend"
