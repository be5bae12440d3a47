"""D15 billing-discrepancy (recount check): billed tokens that the offline recount disputes.

Per (team, model), the tokens the provider reported are compared with tokaudit's own
recount (``token_audit``), input and output separately. Only requests whose recount is
exact for their shape are used by default: an exact recount that disagrees by more than
the tolerance is either a billing discrepancy to raise with the provider or a logging
bug (a truncated prompt, usage copied from another call). Estimates (Claude, Gemini,
tools) are off by several percent by nature and are left out unless ``exact_only`` is
false. The catalogue's check 3 ("compare ... allowing a few percent").

Two checks per side, both against ``tolerance_pct`` of the recount:

- **net**: the group's reported total against its recounted total (every request used);
- **per request**: on the requests whose recount is exact, the sum of the absolute
  per-request differences. Differences of opposite sign cancel in the net (two calls whose
  usage was swapped, +208 and -208), never here. Estimates stay out of this check even
  with ``exact_only: false``: their per-request noise is large by nature.

Noise within the tolerance on every request keeps the absolute sum within it too, so
only a request off by more than the tolerance can raise the per-request check. The net
check is reported when it fires (it implies the other on exact recounts).

No savings: the dollar difference, at the requests' own prices, is reported as a
dispute candidate, never added to the waste total.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from tokaudit.findings.common import usd
from tokaudit.findings.interface import WasteRule
from tokaudit.models import Finding


def _pct(difference: int, base: int) -> str:
    return f"{Decimal(difference) * 100 / Decimal(base):+.1f}%" if base else "n/a"


# One side's sums, in the query's column order (input_* then output_*). Token sums are
# HUGEINT (DuckDB's sum of BIGINT); the per-request tolerance test scales a difference by
# 100 in HUGEINT, since a count near 2^63 - 1 (which ingest accepts) overflows BIGINT there.
_SIDE = """
    coalesce(sum(reported_{s}_tokens) FILTER (WHERE {used}), 0),
    coalesce(sum(recounted_{s}_tokens) FILTER (WHERE {used}), 0),
    sum({s}_difference * {s}_price) FILTER (WHERE {used}),
    coalesce(sum(abs({s}_difference)) FILTER (WHERE {exact}), 0),
    coalesce(sum({s}_difference) FILTER (WHERE {exact}), 0),
    coalesce(sum(recounted_{s}_tokens) FILTER (WHERE {exact}), 0),
    sum(abs({s}_difference) * {s}_price) FILTER (WHERE {exact}),
    count(*) FILTER (WHERE {exact}
        AND abs({s}_difference)::HUGEINT * 100 > $tolerance_pct * recounted_{s}_tokens),
    count(*) FILTER (WHERE {exact})"""
_INPUT = _SIDE.format(s="input", used="true", exact="exact")
# a reply with no recount (no text logged) is left out of the net on both sides: its
# reported output alone read as a discrepancy with exact_only false (+1,000 of 6 tokens)
_OUTPUT = _SIDE.format(
    s="output",
    used="(output_exact OR NOT $exact_only) AND recounted_output_tokens IS NOT NULL",
    exact="output_exact AND output_difference IS NOT NULL",
)
_WIDTH = 9  # columns per side


_PER_REQUEST = "off request by request"
_OFFSET = "; the differences offset in the total: usage swapped or copied between calls?"


def _dollars(value: Any, signed: bool = False) -> str:
    """A difference in dollars, or that it is unknown: an unpriced request's difference has
    no price (it read "+0 USD", as if priced at $0)."""
    if value is None:
        return "USD unknown: unpriced"
    return f"{usd(value):+f} USD" if signed else f"{usd(value):f} USD"


def _judge(side: str, values: tuple[Any, ...], tolerance: Decimal) -> str | None:
    """The text of one side's discrepancy (net, else per request), or None within tolerance.

    A recounted output of 0 (no reply text counted) is never a net discrepancy."""
    reported, recounted, net_usd, gross, exact_net, exact_recounted, gross_usd, off, n = values
    difference = reported - recounted
    based = recounted or side == "input"
    if based and difference and abs(difference) > tolerance * recounted:
        return (
            f"{side} reported {reported:,} vs recounted {recounted:,} tokens "
            f"({difference:+,}, {_pct(difference, recounted)}, {_dollars(net_usd, True)}) "
            "in the group's total"
        )
    if exact_recounted and gross and gross > tolerance * exact_recounted:
        share = Decimal(gross) * 100 / Decimal(exact_recounted)
        return (
            f"{side} {_PER_REQUEST}: {gross:,} tokens in all ({share:.1f}% of "
            f"{exact_recounted:,} recounted, {_dollars(gross_usd)}), {off} of {n} exact "
            f"request(s) beyond the tolerance, net {exact_net:+,} "
            f"({_pct(exact_net, exact_recounted)})"
        )
    return None


class BillingDiscrepancy(WasteRule):
    rule_id = "D15"
    name = "billing-discrepancy"
    summary = "reported tokens differ from an exact offline recount beyond the tolerance"

    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        tolerance_pct = Decimal(str(settings.get("tolerance_pct", 2)))
        tolerance = tolerance_pct / 100
        exact_only = bool(settings.get("exact_only", True))
        rows = con.execute(
            f"""WITH a AS (
                SELECT a.*, c.input_price, c.output_price
                FROM token_audit a JOIN request_costs c USING (request_key)
                WHERE a.reported_input_tokens IS NOT NULL
                  AND c.granularity = 'request'  -- never aggregated usage-export rows
                  AND a.recounted_input_tokens IS NOT NULL
                  AND (a.exact OR NOT $exact_only)
            )
            SELECT team, model, count(*), {_INPUT}, {_OUTPUT}
            FROM a GROUP BY team, model HAVING count(*) >= $min_requests
            ORDER BY team NULLS FIRST, model""",
            {
                "exact_only": exact_only,
                "tolerance_pct": tolerance_pct,
                "min_requests": int(settings.get("min_requests", 1)),
            },
        ).fetchall()
        found = []
        for team, model, n, *sums in rows:
            parts = [
                text
                for side, values in (("input", sums[:_WIDTH]), ("output", sums[_WIDTH:]))
                if (text := _judge(side, tuple(values), tolerance)) is not None
            ]
            if not parts:
                continue
            found.append(
                Finding(
                    rule_id=self.rule_id,
                    rule=self.name,
                    title="Billed tokens differ from the recount (billing or logging check)",
                    team=team,
                    model=model,
                    prompt=None,
                    requests=int(n),
                    savings_usd=Decimal(0),
                    detail="; ".join(parts)
                    + f" over {n} request(s) with {'exact' if exact_only else 'any'} recounts, "
                    f"tolerance {tolerance * 100:f}%"
                    + (_OFFSET if any(_PER_REQUEST in p for p in parts) else ""),
                    kind="discrepancy",
                )
            )
        return found
