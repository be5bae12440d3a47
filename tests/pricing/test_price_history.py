"""Dated price changes that genai-prices (the oracle of test_oracle_genai_prices) lacks.

Each change is priced end to end on both sides of its date (envelope -> ingest -> SQL); the
expected dollars are hand arithmetic on the published rates named in the price tables'
comments, typed in here, never read from our table.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pricing_testkit import (
    Envelope,
    anthropic_envelope,
    gemini_envelope,
    openai_envelope,
    price_cases,
)

D = Decimal
M = 1_000_000

CASES: dict[str, tuple[Envelope, str]] = {
    # o3 before its 2025-06-10 cut: 1M input of which 200k cached, 1M output:
    # 800000 x 10 + 200000 x 2.50 + 1M x 40 per 1M (cached input was $2.50, not $0.50).
    "o3-cached-before": (
        openai_envelope("o3", "2025-06-09T12:00:00Z", M, M, cached=200_000),
        "48.50",
    ),
    # after: 800000 x 2 + 200000 x 0.50 + 1M x 8
    "o3-cached-after": (
        openai_envelope("o3", "2025-06-10T12:00:00Z", M, M, cached=200_000),
        "9.70",
    ),
    # o1-mini at launch, $3 / $1.50 cached / $12, until o3-mini's release on 2025-01-31:
    # 900000 x 3 + 100000 x 1.5 + 1M x 12; then 900000 x 1.1 + 100000 x 0.55 + 1M x 4.4.
    "o1-mini-before": (
        openai_envelope("o1-mini", "2025-01-30T23:59:59Z", M, M, cached=100_000),
        "14.85",
    ),
    "o1-mini-after": (
        openai_envelope("o1-mini", "2025-01-31T00:00:00Z", M, M, cached=100_000),
        "5.445",
    ),
    # Sonnet 5.5 cache reads: $0.20 until 2026-10-07, $0.10 from then (batch: half of each).
    # 1M cache reads + 1000 output ($0.01).
    "sonnet-5-5-read-before": (
        anthropic_envelope("claude-sonnet-5-5", "2026-10-06T12:00:00Z", 0, 1000, cache_read=M),
        "0.21",
    ),
    "sonnet-5-5-read-after": (
        anthropic_envelope("claude-sonnet-5-5", "2026-10-07T12:00:00Z", 0, 1000, cache_read=M),
        "0.11",
    ),
    "sonnet-5-5-read-before-batch": (
        anthropic_envelope(
            "claude-sonnet-5-5", "2026-10-06T12:00:00Z", 0, 1000, cache_read=M, batch=True
        ),
        "0.105",
    ),
    # Sonnet 4 past 200k prompt tokens: long-context rates on every token,
    # 250000 x 6 + 1000 x 22.5 (as Sonnet 4.5); 200k is not past the cliff.
    "sonnet-4-250k": (
        anthropic_envelope("claude-sonnet-4-20250514", "2025-09-01T12:00:00Z", 250_000, 1000),
        "1.5225",
    ),
    "sonnet-4-200k": (
        anthropic_envelope("claude-sonnet-4-20250514", "2025-09-01T12:00:00Z", 200_000, 1000),
        "0.615",
    ),
    # Gemini 1.5 Flash before the 2024-08-12 cut: $0.35 / $1.05 (x2 above 128k), then 0.075 / 0.3.
    "gemini-1.5-flash-before": (
        gemini_envelope("gemini-1.5-flash", "2024-08-11T12:00:00Z", 100_000, 10_000),
        "0.0455",
    ),
    "gemini-1.5-flash-before-long": (
        gemini_envelope("gemini-1.5-flash", "2024-08-11T12:00:00Z", 200_000, 10_000),
        "0.161",
    ),
    "gemini-1.5-flash-after": (
        gemini_envelope("gemini-1.5-flash", "2024-08-12T12:00:00Z", 100_000, 10_000),
        "0.0105",
    ),
    # Gemini 1.5 Pro before the 2024-10-01 cut: $3.50 / $10.50, then $1.25 / $5.
    "gemini-1.5-pro-before": (
        gemini_envelope("gemini-1.5-pro", "2024-09-30T12:00:00Z", 100_000, 10_000),
        "0.455",
    ),
    "gemini-1.5-pro-after": (
        gemini_envelope("gemini-1.5-pro", "2024-10-01T12:00:00Z", 100_000, 10_000),
        "0.175",
    ),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return price_cases(tmp_path_factory.mktemp("history"), CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_price_on_each_side_of_a_change(rows: dict[str, dict[str, Any]], case: str) -> None:
    row = rows[case]
    assert (row["cost_usd"], row["unpriced_reason"]) == (D(CASES[case][1]), None), row
