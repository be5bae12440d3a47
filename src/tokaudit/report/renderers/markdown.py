"""Markdown: for pull-request comments and wiki pages."""

from __future__ import annotations

import re
from typing import Any

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
    overlay_text,
    scope_text,
)

_MARKUP = re.compile(r"([\\`*_\[\]~])")
_EMOJI = re.compile(r":(?=[\w+-]+:)")  # the colon that opens a :shortcode:
# ``@name`` (a mention: it notifies the user or team) and ``#123`` (a link to an issue).
# GitHub reads neither through a backslash; an empty HTML comment after the sign splits
# the text node GitHub scans, and renders as nothing (github/markup issue 1168).
_REFERENCE = re.compile(r"([@#])(?=\w)")


def _data(value: Any) -> Any:
    """A value from the logs (a team, model or prompt name, a SQL cell) as text, never as
    markup: emphasis, links, HTML and :emoji: codes in it printed as formatting in a pull
    request comment (QA: `*bold*`, `<b>`, `:smile:`), and a team named ``@platform``
    would notify that team on every CI comment. Numbers and None stay as they are."""
    if not isinstance(value, str):
        return value
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKUP.sub(r"\\\1", _REFERENCE.sub(r"\1<!-- -->", text))
    return _EMOJI.sub("&#58;", text)  # last: its entity holds a '#' before a digit


def _cell(value: Any) -> str:
    text = "—" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _pricing_line(p: PricingInfo) -> str:
    return f"_Prices: table {p.table_version} (sha256 `{p.sha256[:12]}`){overlay_text(p)}, USD._\n"


def render_breakdown(b: Breakdown) -> str:
    header = [*b.group_by, "requests", "input", "cache read", "cache write", "output", "cost"]
    rows = [
        [
            *(_data(r.keys[d]) for d in b.group_by),
            r.totals.requests,
            r.totals.input_tokens,
            r.totals.cache_read_tokens,
            r.totals.cache_write_tokens,
            r.totals.output_tokens,
            cost_text(r.totals),
        ]
        for r in b.rows
    ]
    if b.omitted_rows:  # --top: the total still covers them, so say they exist
        rows.append([f"… {b.omitted_rows} more", *[""] * (len(b.group_by) + 5)])
    t = b.totals
    rows.append(
        [
            "**total**",
            *[""] * (len(b.group_by) - 1),
            t.requests,
            t.input_tokens,
            t.cache_read_tokens,
            t.cache_write_tokens,
            t.output_tokens,
            f"**{display_usd(t.cost_usd)}**",
        ]
    )
    out = f"### Spend by {', '.join(b.group_by)}\n\n" + _table(header, rows) + "\n"
    if t.estimated_requests:
        out += (
            f"**Estimated**: {display_usd(t.estimated_cost_usd)} of the total "
            f"({t.estimated_requests} requests logged without usage) is priced from "
            "recounted tokens.\n\n"
        )
    if note := grounding_note(b):
        out += f"**Not priced**: {note}.\n\n"
    if b.unpriced:
        out += (
            "**Unpriced** (not in the totals): "
            + "; ".join(f"{_data(u.model)} ×{u.requests} ({u.reason})" for u in b.unpriced)
            + "\n\n"
        )
    return out + _pricing_line(b.pricing)


def render_findings(f: FindingsReport) -> str:
    unpriced = (
        "Unpriced, so no rule could weigh them: "
        + "; ".join(
            f"{_data(u.model)} ({_data(u.provider)}) x{u.requests}: {u.reason}" for u in f.unpriced
        )
        + "\n\n"
        if f.unpriced
        else ""
    )
    if not f.findings:
        return "### Waste findings\n\nNo findings.\n\n" + unpriced + _pricing_line(f.pricing)
    # as the table: a missing team, model or prompt is requests without one, "(none)"
    with_prompt = any(x.prompt for x in f.findings)
    rows = [
        [
            x.rule_id,
            f"{x.title}: {x.detail}" if x.detail else x.title,
            _data(x.team) or "(none)",
            _data(x.model) or "(none)",
            *([_data(x.prompt) or "(none)"] if with_prompt else []),
            x.requests,
            display_usd(x.savings_usd),
            x.kind,
        ]
        for x in f.findings
    ]
    header = ["rule", "finding", "team", "model", *(["prompt"] if with_prompt else [])]
    return (
        "### Waste findings\n\n"
        + _table([*header, "requests", "could save", "kind"], rows)
        + f"\nEstimated total: **{display_usd(f.total_savings_usd)}**\n\n"
        + unpriced
        + _pricing_line(f.pricing)
    )


def render_budget(r: BudgetReport) -> str:
    relative = has_relative(r)
    rows = [
        [
            ("❌ " if o.exceeded else "✅ ") + _data(o.name),
            _data(scope_text(o.scope)),
            o.period,
            budget_limit_text(o),
            o.worst_period or "—",
            budget_spend_text(o),
            *([budget_baseline_text(o), budget_change_text(o)] if relative else []),
            o.unpriced_requests,
        ]
        for o in r.outcomes
    ]
    header = ["budget", "scope", "period", "limit", "worst period", budget_value_header(r)]
    header += ["baseline", "change"] if relative else []
    verdict = "**Budget exceeded.**" if r.violated else "All budgets within limits."
    # the path as text: a file name is data (an underscore would start emphasis)
    baseline = f"Baseline: {_data(r.baseline)}.\n\n" if r.baseline is not None else ""
    return (
        "### Token budget check\n\n"
        + verdict
        + "\n\n"
        + _table([*header, "unpriced"], rows)
        + "\n"
        + (f"{note}\n\n" if (note := budget_estimate_note(r)) else "")
        + baseline
        + _pricing_line(r.pricing)
    )


def render_recount(report: RecountReport) -> str:
    """``report --show recount``: the groups, a total row, and the prices behind the dollars."""
    columns, rows = report_rows(report)
    n = len(report.group_by)  # the group keys are data; the rest is numbers and money
    shown = [[*(_data(v) for v in r[:n]), *r[n:]] for r in rows]
    return _table(columns, shown) + "\n" + _pricing_line(report.pricing)


def render_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """SQL results and other plain rows: every cell is data."""
    return _table([_data(c) for c in columns], [[_data(v) for v in r] for r in rows])
