"""Reported vs recounted tokens per group: where the bill and the auditor's count disagree.

Only requests with both numbers are compared: reported usage and an offline recount.
The difference is reported − recounted, in tokens, in percent of the recount, and in
dollars at the request's own prices (input difference at the uncached input price,
output difference at the output price). Exact recounts and estimates are kept apart:
an exact recount that disagrees is a billing question or a logging bug, an estimate
that disagrees by a few percent is expected.

Machine-readable output follows the spend report: JSON is an object with ``rows``, a separate
``totals`` and the ``pricing`` (table version, SHA-256) behind the dollar columns; CSV has
data rows only. A total row among the data rows could not be told from a group named "total".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import duckdb

from tokaudit.models import PricingInfo
from tokaudit.pricing.store_tables import ESTIMATED_SPEND
from tokaudit.report.breakdown import DIMENSIONS, pricing_info, time_filter, time_series

__all__ = [
    "COLUMNS",
    "RecountReport",
    "RecountRow",
    "data_rows",
    "recount_dict",
    "recount_report",
    "report_rows",
]


@dataclass(frozen=True)
class RecountRow:
    keys: dict[str, str | None]
    requests: int  # requests in the group
    compared: int  # with reported usage and a recount
    exact: int  # of those, recounted exactly
    reported_input: int
    recounted_input: int
    input_difference: int  # reported - recounted
    input_difference_pct: Decimal | None
    input_difference_usd: Decimal | None  # NULL when no compared request is priced
    reported_output: int
    recounted_output: int
    output_difference: int
    output_difference_pct: Decimal | None
    output_difference_usd: Decimal | None
    estimated_requests: int  # no usage logged: priced from the recount


@dataclass(frozen=True)
class RecountReport:
    group_by: list[str]
    rows: list[RecountRow]
    totals: RecountRow
    pricing: PricingInfo  # the prices behind the dollar columns
    # tokenizer plugins that failed in the recount run first (name, why): warnings
    broken_plugins: list[tuple[str, str]] = field(default_factory=list)


_SQL = f"""
    count(*) AS requests,
    count(*) FILTER (WHERE cmp_in) AS compared,
    count(*) FILTER (WHERE cmp_in AND a.exact) AS exact,
    coalesce(sum(a.reported_input_tokens) FILTER (WHERE cmp_in), 0) AS rep_in,
    coalesce(sum(a.recounted_input_tokens) FILTER (WHERE cmp_in), 0) AS rec_in,
    sum(a.input_difference * c.input_price) FILTER (WHERE cmp_in) AS usd_in,
    coalesce(sum(a.reported_output_tokens) FILTER (WHERE cmp_out), 0) AS rep_out,
    coalesce(sum(a.recounted_output_tokens) FILTER (WHERE cmp_out), 0) AS rec_out,
    sum(a.output_difference * c.output_price) FILTER (WHERE cmp_out) AS usd_out,
    count(*) FILTER (WHERE {ESTIMATED_SPEND}) AS estimated
"""
_FROM = """
    FROM (SELECT a.*, a.reported_input_tokens IS NOT NULL
                 AND a.recounted_input_tokens IS NOT NULL AS cmp_in,
                 a.reported_output_tokens IS NOT NULL
                 AND a.recounted_output_tokens IS NOT NULL AS cmp_out
          FROM token_audit a) a
    JOIN request_costs c USING (request_key)
"""


def _pct(difference: int, base: int) -> Decimal | None:
    if not base:
        return None
    return (Decimal(difference) * 100 / Decimal(base)).quantize(Decimal("0.01"))


def _usd(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value).normalize()


def _row(keys: dict[str, str | None], v: tuple[Any, ...]) -> RecountRow:
    rep_in, rec_in, rep_out, rec_out = int(v[3]), int(v[4]), int(v[6]), int(v[7])
    return RecountRow(
        keys=keys,
        requests=int(v[0]),
        compared=int(v[1]),
        exact=int(v[2]),
        reported_input=rep_in,
        recounted_input=rec_in,
        input_difference=rep_in - rec_in,
        input_difference_pct=_pct(rep_in - rec_in, rec_in),
        input_difference_usd=_usd(v[5]),
        reported_output=rep_out,
        recounted_output=rec_out,
        output_difference=rep_out - rec_out,
        output_difference_pct=_pct(rep_out - rec_out, rec_out),
        output_difference_usd=_usd(v[8]),
        estimated_requests=int(v[9]),
    )


def recount_report(
    con: duckdb.DuckDBPyConnection,
    group_by: list[str],
    since: datetime | None = None,
    until: datetime | None = None,
) -> RecountReport:
    """Per group: reported vs recounted input and output, largest input difference first
    (periods alone: in time order)."""
    where, params = time_filter(since, until)
    keys = ", ".join(f"{DIMENSIONS[d]} AS k_{d}" for d in group_by)
    names = ", ".join(f"k_{d}" for d in group_by)
    order = names if time_series(group_by) else f"abs(rep_in - rec_in) DESC, requests DESC, {names}"
    rows = con.execute(
        f"SELECT {keys}, {_SQL} {_FROM} WHERE {where} GROUP BY {names} ORDER BY {order}",
        params,
    ).fetchall()
    n = len(group_by)
    out = [
        _row({d: (None if r[i] is None else str(r[i])) for i, d in enumerate(group_by)}, r[n:])
        for r in rows
    ]
    total = con.execute(f"SELECT {_SQL} {_FROM} WHERE {where}", params).fetchone()
    return RecountReport(group_by, out, _row({}, tuple(total or ())), pricing_info(con))


COLUMNS = [
    "requests",
    "compared",
    "exact",
    "reported_input",
    "recounted_input",
    "input_difference",
    "input_difference_pct",
    "input_difference_usd",
    "reported_output",
    "recounted_output",
    "output_difference",
    "output_difference_pct",
    "output_difference_usd",
    "estimated_requests",
]


def _values(row: RecountRow) -> list[Any]:
    return [getattr(row, c) for c in COLUMNS]


def data_rows(report: RecountReport) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and one row per group, no total row: for CSV, where a total row would be data."""
    rows = [tuple([*(r.keys[d] for d in report.group_by), *_values(r)]) for r in report.rows]
    return [*report.group_by, *COLUMNS], rows


def _for_people(column: str, value: Any) -> Any:
    """A dollar difference as people read money (``+$1.02``, ``-$0.0161``: the display
    rounding of every report); other values as they are."""
    if not (column.endswith("_usd") and isinstance(value, Decimal)):
        return value
    from tokaudit.report.renderers.common import display_usd

    sign = "-" if value < 0 else "+" if value > 0 else ""
    return sign + display_usd(abs(value))


def report_rows(report: RecountReport) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Columns and rows (groups, then a total row) for the tables people read."""
    columns, rows = data_rows(report)
    label = ["total", *[None] * (len(report.group_by) - 1)]
    rows.append(tuple([*label, *_values(report.totals)]))
    shown = [tuple(_for_people(c, v) for c, v in zip(columns, row, strict=True)) for row in rows]
    return columns, shown


def recount_dict(report: RecountReport) -> dict[str, Any]:
    """JSON shape of the spend report: rows, a separate totals object, and the prices used."""
    from tokaudit.report.renderers.common import money_or_none, pricing_dict

    def item(row: RecountRow) -> dict[str, Any]:
        values = {
            c: money_or_none(v) if isinstance(v, Decimal) or v is None else v
            for c, v in zip(COLUMNS, _values(row), strict=True)
        }
        return {**row.keys, **values}

    return {
        "group_by": report.group_by,
        "currency": "USD",
        "pricing": pricing_dict(report.pricing),
        "rows": [item(r) for r in report.rows],
        "totals": item(report.totals),  # the totals row has no group keys
    }
