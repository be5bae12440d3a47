"""D04 exact-duplicate-request: the same request body sent again by the same team.

Every successful copy after the first within the window could have been served from a
response cache, so its whole cost is the saving. Errors are excluded (a retry after a
429 is not a duplicate), and grouping is per team: never suggest a cross-tenant cache.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tokaudit.findings.common import (
    CLAIMED,
    PROMPT_KEY,
    UNCLAIMED,
    claimed_table,
    estimate_note,
    usd,
)
from tokaudit.findings.interface import WasteRule
from tokaudit.models import Finding
from tokaudit.pricing.store_tables import ESTIMATED_SPEND


class DuplicateRequests(WasteRule):
    rule_id = "D04"
    name = "exact-duplicate-request"
    summary = "identical requests re-sent within the window (response-cache opportunity)"

    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        hours = float(settings.get("window_hours", 24))  # may be a fraction: 0.5 h
        claimed_table(con)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _d04_repeats AS WITH ok AS (
                SELECT c.*, {PROMPT_KEY} AS prompt_key, {ESTIMATED_SPEND} AS estimated,
                    lag(c.ts) OVER (PARTITION BY c.team, c.request_hash
                                    ORDER BY c.ts, c.request_key) AS prev_ts
                FROM request_costs c
                -- bucket rows (aggregated usage exports) stand for many calls: no evidence
                WHERE c.granularity = 'request' AND c.status = 'ok'
                  AND c.request_hash IS NOT NULL
                  AND c.pricing_status = 'priced'
            )
            SELECT request_key, team, model, prompt_key, request_hash, cost_usd, estimated
            FROM ok
            WHERE prev_ts IS NOT NULL AND ts - prev_ts <= to_microseconds(?::BIGINT)
              AND {UNCLAIMED}""",
            [round(hours * 3_600_000_000)],
        )
        rows = con.execute(
            """SELECT team, model, prompt_key, count(*), count(DISTINCT request_hash),
                sum(cost_usd), count(*) FILTER (WHERE estimated),
                sum(cost_usd) FILTER (WHERE estimated)
            FROM _d04_repeats GROUP BY team, model, prompt_key ORDER BY sum(cost_usd) DESC"""
        ).fetchall()
        # a response cache would serve these whole: no later rule counts them again
        con.execute(f"INSERT INTO {CLAIMED} SELECT request_key FROM _d04_repeats")
        con.execute("DROP TABLE _d04_repeats")
        return [
            Finding(
                rule_id=self.rule_id,
                rule=self.name,
                title="Exact duplicate requests",
                team=team,
                model=model,
                prompt=prompt,
                requests=int(n),
                savings_usd=usd(cost),
                detail=(
                    f"{n} repeat(s) of {bodies} identical request bod"
                    f"{'y' if bodies == 1 else 'ies'} within {hours:g} h; "
                    "a response cache would have served them" + estimate_note(guessed, guess_usd)
                ),
            )
            for team, model, prompt, n, bodies, cost, guessed, guess_usd in rows
        ]
