"""CSV: a header line and one line per row, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tokaudit.models import Breakdown, BudgetReport, FindingsReport
from tokaudit.report.recount import RecountReport, data_rows
from tokaudit.report.renderers.common import (
    breakdown_columns,
    breakdown_dict,
    budget_dict,
    findings_dict,
    money,
)


def _cell(value: Any) -> Any:
    """Empty for unknown, exact decimals, and true/false as JSON and DuckDB write them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, dict | list | tuple | bytes | bytearray | timedelta):
        # a STRUCT, MAP, LIST, BLOB or INTERVAL as its JSON (not Python's repr)
        from tokaudit.report.renderers.json_format import dumps_compact

        return dumps_compact(value)
    return value


def stream_rows(columns: list[str], batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[str]:
    """``render_rows`` a batch at a time: the header, then each batch's lines."""
    yield _write(columns, [])
    for batch in batches:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        for row in batch:
            writer.writerow([_cell(v) for v in row])
        yield buffer.getvalue()


def _write(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return buffer.getvalue()


def render_breakdown(b: Breakdown) -> str:
    """The header depends on --by alone: no rows, or no estimates, give the same columns."""
    header = breakdown_columns(b.group_by)
    rows = breakdown_dict(b)["rows"]
    return _write(header, [[r[h] for h in header] for r in rows])


def render_findings(f: FindingsReport) -> str:
    items = findings_dict(f)["findings"]
    header = [
        "rule_id",
        "rule",
        "kind",
        "title",
        "team",
        "model",
        "prompt",
        "requests",
        "savings_usd",
        "detail",
    ]
    return _write(header, [[i[h] for h in header] for i in items])


def render_budget(r: BudgetReport) -> str:
    header = [
        "name",
        "period",
        "scope",
        "max_cost_usd",
        "worst_period",
        "worst_cost_usd",
        "exceeded",
        "unpriced_requests",
        "matched_requests",
        "estimated_requests",
        "worst_estimated_cost_usd",
        # per-request and relative budgets (check --baseline); empty for the others
        "metric",
        "max_cost_per_request_usd",
        "max_increase_pct",
        "value",
        "baseline_value",
        "change_pct",
        "baseline_matched_requests",
        "baseline_unpriced_requests",
        "baseline_estimated_requests",
        "not_compared",
    ]
    rows = []
    for b in budget_dict(r)["budgets"]:
        base = b["baseline"] or {}
        rows.append(
            [
                b["name"],
                b["period"],
                ";".join(f"{k}={v}" for k, v in b["scope"].items()),
                b["max_cost_usd"],
                b["worst_period"],
                b["worst_cost_usd"],
                b["exceeded"],
                b["unpriced_requests"],
                b["matched_requests"],
                b["estimated_requests"],
                b["worst_estimated_cost_usd"],
                b["metric"],
                b["max_cost_per_request_usd"],
                b["max_increase_pct"],
                b["value"],
                base.get("value"),
                b["change_pct"],
                base.get("matched_requests"),
                base.get("unpriced_requests"),
                base.get("estimated_requests"),
                b["not_compared"],
            ]
        )
    return _write(header, rows)


def render_recount(report: RecountReport) -> str:
    """Data rows only, like the spend report's CSV: a total row would read as a group."""
    columns, rows = data_rows(report)
    return _write(columns, [list(r) for r in rows])


def render_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    return _write(columns, [list(r) for r in rows])
