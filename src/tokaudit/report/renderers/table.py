"""Rich tables for people at a terminal; the only renderer that imports rich."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from tokaudit.models import Breakdown, BudgetReport, FindingsReport, PricingInfo
from tokaudit.report.recount import RecountReport, report_rows
from tokaudit.report.renderers.common import (
    budget_baseline_text,
    budget_change_text,
    budget_estimate_note,
    budget_limit_text,
    budget_spend_text,
    budget_value_header,
    cost_text,
    display_usd,
    grounding_note,
    has_relative,
    money,
    overlay_text,
    scope_text,
)

# a column title for every --by dimension (breakdown.DIMENSIONS)
TITLES = {
    "team": "team",
    "model": "model",
    "prompt": "prompt",
    "user": "user",
    "feature": "feature",
    "project": "project",
    "environment": "environment",
    "day": "day",
    "week": "week",
    "month": "month",
    "provider": "provider",
    "priced_model": "priced model",
}


def _render(*items: Any, color: bool = False, width: int = 120) -> str:
    """Cells are data (team names, SQL values, file names), never rich markup or emoji
    codes: ``a [/] b`` or ``:x:`` print as they are. Styles come from ``Text`` objects."""
    buffer = io.StringIO()
    console = Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        width=width,
        highlight=False,
        markup=False,
        emoji=False,
    )
    for item in items:
        console.print(item)
    return buffer.getvalue()


def _caption(p: PricingInfo) -> str:
    return f"prices: table {p.table_version} (sha256 {p.sha256[:12]}){overlay_text(p)}, USD"


def _n(value: int) -> str:
    return f"{value:,}"


def breakdown_table(b: Breakdown) -> Table:
    caption = _caption(b.pricing)
    if note := grounding_note(b):
        caption += f"; not priced: {note}"
    if b.totals.estimated_requests:
        caption += (
            f"; ≈ marks estimates: {display_usd(b.totals.estimated_cost_usd)} "
            f"({b.totals.estimated_requests} requests logged without usage) is priced "
            "from recounted tokens"
        )
    table = Table(title=f"Spend by {', '.join(b.group_by)}", caption=caption, show_footer=True)
    for i, d in enumerate(b.group_by):
        table.add_column(TITLES[d], footer="total" if i == 0 else "", overflow="fold")
    t = b.totals
    # numbers never cut ("951,…", "$0.6…" with many --by columns): the names fold instead
    counts = [
        ("requests", t.requests, [r.totals.requests for r in b.rows]),
        ("input", t.input_tokens, [r.totals.input_tokens for r in b.rows]),
        ("cache read", t.cache_read_tokens, [r.totals.cache_read_tokens for r in b.rows]),
        ("cache write", t.cache_write_tokens, [r.totals.cache_write_tokens for r in b.rows]),
        ("output", t.output_tokens, [r.totals.output_tokens for r in b.rows]),
    ]
    for name, footer, values in counts:
        widest = max((len(_n(v)) for v in [footer, *values]), default=0)
        table.add_column(name, footer=_n(footer), justify="right", no_wrap=True, min_width=widest)
    total = display_usd(t.cost_usd)
    costs = [len(cost_text(r.totals)) for r in b.rows]
    table.add_column(
        "cost",
        footer=total,
        justify="right",
        style="bold",
        no_wrap=True,
        min_width=max([len(total), *costs]),
    )
    for r in b.rows:
        keys = [r.keys[d] or "(none)" for d in b.group_by]
        if (
            "prompt" in b.group_by
            and r.preview
            and keys[b.group_by.index("prompt")].startswith("fp:")
        ):
            keys[b.group_by.index("prompt")] += f" “{r.preview[:40]}”"
        cost = cost_text(r.totals)
        table.add_row(
            *keys,
            _n(r.totals.requests),
            _n(r.totals.input_tokens),
            _n(r.totals.cache_read_tokens),
            _n(r.totals.cache_write_tokens),
            _n(r.totals.output_tokens),
            cost,
        )
    if b.omitted_rows:
        table.add_row(f"… {b.omitted_rows} more", *[""] * (len(b.group_by) + 5))
    return table


def unpriced_table(b: Breakdown | FindingsReport) -> Table | None:
    if not b.unpriced:
        return None
    table = Table(title="Unpriced requests (cost unknown, not in any total)")
    for col in ("model", "provider", "requests", "reason"):
        table.add_column(col, justify="right" if col == "requests" else "left")
    for u in b.unpriced:
        table.add_row(u.model, u.provider, _n(u.requests), u.reason)
    return table


def findings_table(f: FindingsReport) -> Table:
    table = Table(title="Waste findings", caption=_caption(f.pricing), show_footer=True)
    table.add_column("rule", footer="total")
    table.add_column("finding", overflow="fold")
    # ids fold rather than end in "…": a user greps for them
    table.add_column("team", overflow="fold")
    table.add_column("model", overflow="fold")
    table.add_column("requests", justify="right", no_wrap=True)
    total = display_usd(f.total_savings_usd)
    money = max((len(display_usd(x.savings_usd)) for x in f.findings), default=0)
    table.add_column(  # never cut: the finding's text wraps instead
        "could save",
        justify="right",
        style="bold",
        footer=total,
        no_wrap=True,
        min_width=max(money, len(total), len("could save")),
    )
    for x in f.findings:
        table.add_row(
            x.rule_id,
            # the prompt a finding is about on its own line (a column would fold the ids
            # in 120 characters)
            Text.assemble(
                f"{x.title}\n", (x.detail, "dim"), *([f"\nprompt: {x.prompt}"] if x.prompt else [])
            ),
            # every rule groups by team and model: a missing one is requests without it
            x.team or "(none)",
            x.model or "(none)",
            _n(x.requests),
            display_usd(x.savings_usd),
        )
    return table


def budget_table(r: BudgetReport) -> Table:
    note = budget_estimate_note(r)
    caption = _caption(r.pricing) + (f"; {note}" if note else "")
    if r.baseline is not None:
        caption += f"; baseline: {r.baseline}"
    table = Table(title="Budget check", caption=caption)
    relative = has_relative(r)
    value = budget_value_header(r)
    columns = ["budget", "scope", "period", "limit", "worst period", value]
    columns += ["baseline", "change"] if relative else []
    for col in [*columns, "status"]:
        table.add_column(col, justify="right" if col in ("limit", value, *columns[6:]) else "left")
    for o in r.outcomes:
        status = Text("EXCEEDED", style="red") if o.exceeded else Text("ok", style="green")
        if o.unpriced_requests:
            status.append(f" ({o.unpriced_requests} unpriced)")
        table.add_row(
            o.name,
            scope_text(o.scope),
            o.period,
            budget_limit_text(o),
            o.worst_period or "—",
            budget_spend_text(o),
            *([budget_baseline_text(o), budget_change_text(o)] if relative else []),
            status,
        )
    return table


def render_breakdown(b: Breakdown, color: bool = False) -> str:
    items: list[Any] = [breakdown_table(b)]
    extra = unpriced_table(b)
    if extra is not None:
        items.append(extra)
    return _render(*items, color=color)


def no_findings_line(f: FindingsReport) -> str:
    """With no table there is no caption: the prices still get named (every output does)."""
    return f"No waste findings ({_caption(f.pricing)})."


def render_findings(f: FindingsReport, color: bool = False) -> str:
    items: list[Any] = [findings_table(f) if f.findings else no_findings_line(f)]
    extra = unpriced_table(f)
    if extra is not None:
        items.append(extra)
    return _render(*items, color=color)


def render_budget(r: BudgetReport, color: bool = False) -> str:
    return _render(budget_table(r), color=color)


def _rows_table(
    columns: list[str], rows: list[tuple[Any, ...]], caption: str | None = None
) -> Table:
    table = Table(caption=caption)
    for c in columns:
        # wrap, never cut: two models both shown as `gemini-2.5…` could not be told apart
        table.add_column(c, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(v) for v in row])
    return table


def _cell(value: Any) -> str:
    """A value as text; a decimal as its exact digits, as CSV and JSON write it (a zero
    DECIMAL(38,18) printed as 0E-18)."""
    if value is None:
        return "NULL"
    return money(value) if isinstance(value, Decimal) else str(value)


def render_rows(columns: list[str], rows: list[tuple[Any, ...]], color: bool = False) -> str:
    return _render(_rows_table(columns, rows), color=color, width=200)


def render_recount(report: RecountReport, color: bool = False) -> str:
    """``report --show recount``: the groups, a total row, and the prices behind the dollars."""
    columns, rows = report_rows(report)
    # a human table says what a None stands for (SQL's NULL is for `tokaudit sql`): the
    # total row has no group, a group of unpriced requests no dollars
    keys = len(report.group_by)
    rows = [
        tuple(
            ("" if i < keys else "unpriced" if columns[i].endswith("_usd") else "—")
            if v is None
            else v
            for i, v in enumerate(row)
        )
        for row in rows
    ]
    # headers in words, which wrap between words (snake_case wrapped mid-word: `reported_in`
    # over `put`); CSV and JSON keep the column names
    labels = [_label(c) for c in columns]
    table = _rows_table(labels, rows, caption=_caption(report.pricing))
    for number in table.columns[keys:]:
        number.justify = "right"
    for i, key in enumerate(table.columns[:keys]):  # group names whole where they fit
        key.min_width = min(32, max((len(str(r[i] or "")) for r in rows), default=0))
    return _render(table, color=color, width=200)


def _label(column: str) -> str:
    """``input_difference_pct`` -> ``input diff %``, ``reported_input`` -> ``reported input``."""
    return (
        column.replace("_difference", " diff")
        .replace("_pct", " %")
        .replace("_usd", " $")
        .replace("_", " ")
    )


def render_audit(parts: list[Any], color: bool = False) -> str:
    return _render(*parts, color=color)
