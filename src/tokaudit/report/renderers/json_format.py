"""JSON: one object per command, money as exact decimal strings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tokaudit.models import Breakdown, BudgetReport, FindingsReport, JsonText
from tokaudit.report.recount import RecountReport, recount_dict
from tokaudit.report.renderers.common import (
    breakdown_dict,
    budget_dict,
    findings_dict,
    money,
)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):  # an INTERVAL, as an ISO 8601 duration
        seconds = value - timedelta(days=value.days)
        return f"P{value.days}DT{seconds.total_seconds():g}S"
    if isinstance(value, bytes | bytearray):  # a BLOB as DuckDB writes it: \xNN escapes
        return blob_text(bytes(value))
    return str(value)


def blob_text(value: bytes) -> str:
    """A BLOB as DuckDB casts it to text: printable ASCII as is, other bytes as \\xNN."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in value)


def _finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (DuckDB's 0.0/0.0, 1.0/0) as None: JSON
    has no NaN or Infinity, and most parsers refuse them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(data: Any) -> str:
    return (
        json.dumps(_finite(data), indent=2, default=_default, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def dumps_compact(data: Any) -> str:
    """One value as compact JSON (a CSV cell); a lone string or blob without quotes."""
    if isinstance(data, bytes | bytearray | timedelta):
        return str(_default(data))
    return json.dumps(_finite(data), default=_default, ensure_ascii=False, allow_nan=False)


def render_breakdown(b: Breakdown) -> str:
    return dumps(breakdown_dict(b))


def render_findings(f: FindingsReport) -> str:
    return dumps(findings_dict(f))


def render_budget(r: BudgetReport) -> str:
    return dumps(budget_dict(r))


def render_recount(report: RecountReport) -> str:
    """An object like the spend report's (rows, totals, pricing), not a bare list of rows."""
    return dumps(recount_dict(report))


def render_rows(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    return dumps([dict(zip(columns, map(_as_json, row), strict=True)) for row in rows])


def stream_rows(columns: list[str], batches: Iterable[list[tuple[Any, ...]]]) -> Iterator[str]:
    """``render_rows`` a batch at a time, the same text: ``[``, each row's object indented
    as ``dumps`` indents it, ``]``."""
    first = True
    for batch in batches:
        parts = []
        for row in batch:
            item = dumps(dict(zip(columns, map(_as_json, row), strict=True))).rstrip("\n")
            parts.append(("[\n" if first else ",\n") + "  " + item.replace("\n", "\n  "))
            first = False
        yield "".join(parts)
    yield "[]\n" if first else "\n]\n"


def _as_json(value: Any) -> Any:
    """A JSON column's value as the JSON it holds; anything else as it is. A number a
    float would change (``0.123456789012345678901``, ``1e400``) keeps the whole value as
    its text: a JSON value passes through unchanged or as a string, never altered."""
    if not isinstance(value, JsonText):
        return value
    try:
        return _as_floats(json.loads(value, parse_float=Decimal))
    except (ValueError, _FloatWouldChange):
        return str(value)


class _FloatWouldChange(Exception):
    """A JSON number that a float would not hold exactly."""


def _as_floats(value: Any) -> Any:
    """``value`` (parsed with numbers as Decimal) with each number as the float that holds
    it exactly, as ``json.loads`` alone would give it; one parse, not two."""
    if isinstance(value, Decimal):
        as_float = float(value)
        if not math.isfinite(as_float) or Decimal(repr(as_float)) != value:
            raise _FloatWouldChange
        return as_float
    if isinstance(value, dict):
        return {k: _as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_floats(v) for v in value]
    return value
