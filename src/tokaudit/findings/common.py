"""Helpers shared by rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

PROMPT_KEY = "coalesce(c.prompt_id, 'fp:' || left(c.prompt_hash, 8))"

# Requests whose dollars a rule earlier in the catalogue's precedence already counted
# (D04 > D01 > D09: the catalogue's "Counting dollars once"): a later rule leaves them out
# of its savings, so the total never counts a request twice. ``run_rules`` empties it.
CLAIMED = "_claimed_requests"
UNCLAIMED = f"request_key NOT IN (SELECT request_key FROM {CLAIMED})"


def claimed_table(con: duckdb.DuckDBPyConnection) -> None:
    """The (temp) table of claimed request keys, created empty if it is not there."""
    con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {CLAIMED} (request_key VARCHAR)")


def usd(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value).normalize()


def estimate_note(requests: Any, dollars: Any) -> str:
    """The part of a finding's saving priced from recounted tokens (requests logged
    without usage), as every report marks that spend: an estimate, never shown as billed."""
    if not requests:
        return ""
    return (
        f"; {requests} of them ({usd(dollars):f} USD) priced from recounted tokens "
        "(logged without usage): an estimate"
    )
