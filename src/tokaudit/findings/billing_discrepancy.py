"""D15 billing-discrepancy (recount check): billed tokens that the offline recount disputes.

Per (team, model), the tokens the provider reported are compared with tokaudit's own
recount (``token_audit``), input and output separately. Only requests whose recount is
exact for their shape are used by default: an exact recount that disagrees by more than
the tolerance is either a billing discrepancy to raise with the provider or a logging
bug (a truncated prompt, usage copied from another call). Estimates (Claude, Gemini,
tools) are off by several percent by nature and are left out unless ``exact_only`` is
false. The catalogue's check 3 ("compare ... allowing a few percent").

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


class BillingDiscrepancy(WasteRule):
    rule_id = "D15"
    name = "billing-discrepancy"
    summary = "reported tokens differ from an exact offline recount beyond the tolerance"

    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        tolerance = Decimal(str(settings.get("tolerance_pct", 2))) / 100
        exact_only = bool(settings.get("exact_only", True))
        rows = con.execute(
            """WITH a AS (
                SELECT a.*, c.input_price, c.output_price
                FROM token_audit a JOIN request_costs c USING (request_key)
                WHERE a.reported_input_tokens IS NOT NULL
                  AND c.granularity = 'request'  -- never aggregated usage-export rows
                  AND a.recounted_input_tokens IS NOT NULL
                  AND (a.exact OR NOT ?)
            )
            SELECT team, model, count(*),
                sum(reported_input_tokens), sum(recounted_input_tokens),
                sum(input_difference * input_price),
                coalesce(sum(reported_output_tokens) FILTER (WHERE output_exact OR NOT ?), 0),
                coalesce(sum(recounted_output_tokens) FILTER (WHERE output_exact OR NOT ?), 0),
                sum(output_difference * output_price) FILTER (WHERE output_exact OR NOT ?)
            FROM a GROUP BY team, model HAVING count(*) >= ?
            ORDER BY team NULLS FIRST, model""",
            [exact_only, exact_only, exact_only, exact_only, int(settings.get("min_requests", 1))],
        ).fetchall()
        found = []
        for team, model, n, rep_in, rec_in, usd_in, rep_out, rec_out, usd_out in rows:
            parts = []
            if abs(rep_in - rec_in) > tolerance * rec_in and rep_in != rec_in:
                parts.append(
                    f"input reported {rep_in:,} vs recounted {rec_in:,} tokens "
                    f"({rep_in - rec_in:+,}, {_pct(rep_in - rec_in, rec_in)}, "
                    f"{usd(usd_in):+f} USD)"
                )
            if rec_out and abs(rep_out - rec_out) > tolerance * rec_out:
                parts.append(
                    f"output reported {rep_out:,} vs recounted {rec_out:,} tokens "
                    f"({rep_out - rec_out:+,}, {_pct(rep_out - rec_out, rec_out)}, "
                    f"{usd(usd_out):+f} USD)"
                )
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
                    f"tolerance {tolerance * 100:f}%",
                    kind="discrepancy",
                )
            )
        return found
