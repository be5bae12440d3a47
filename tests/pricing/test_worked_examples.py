"""pricing-semantics.md §12 worked examples, priced end to end (envelope -> ingest -> SQL).

The expected totals are the reference's Decimal figures (genai-prices 0.2.3 results that agree
with hand arithmetic on the §10 prices). They are typed in here, never computed from our table.
All cases share one store (built once per module); each case is its own request and test.
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
TS = "2026-11-01T12:00:00Z"
BEFORE_VARIANTS = "2025-01-01T12:00:00Z"
M = 1_000_000

# case id -> (envelope, expected cost_usd as in §12)
CASES: dict[str, tuple[Envelope, str]] = {
    # 1: gpt-4o-2024-08-06, 1M input incl. 400k cached + 100k output: $2.00 + $1.00.
    "1": (openai_envelope("gpt-4o-2024-08-06", TS, M, 100_000, cached=400_000), "3.00"),
    # 2: o3 1M + 1M before / after the 2025-06-10 cut ($10/$40 -> $2/$8), plus the boundary.
    "2-before": (openai_envelope("o3", "2025-05-01T12:00:00Z", M, M), "50.00"),
    "2-after": (openai_envelope("o3", "2025-07-01T12:00:00Z", M, M), "10.00"),
    "2-last-old-instant": (openai_envelope("o3", "2025-06-09T23:59:59Z", M, M), "50.00"),
    "2-first-new-instant": (openai_envelope("o3", "2025-06-10T00:00:00Z", M, M), "10.00"),
    # 2025-06-10 01:00 +02:00 is 2025-06-09 23:00 UTC: the UTC date picks the version.
    "2-offset-is-utc": (openai_envelope("o3", "2025-06-10T01:00:00+02:00", M, M), "50.00"),
    # A naive timestamp counts as UTC (§4); epoch seconds are UTC by definition.
    "2-naive-is-utc": (openai_envelope("o3", "2025-06-09T23:59:59", M, M), "50.00"),
    "2-epoch-before": ({**openai_envelope("o3", "", M, M), "timestamp": 1749513599}, "50.00"),
    "2-epoch-after": ({**openai_envelope("o3", "", M, M), "timestamp": 1749513600}, "10.00"),
    # 3: o4-mini, prompt 2000 (cached 1024), completion 1500 (reasoning 1200):
    #    976 x 1.10 + 1024 x 0.275 + 1500 x 4.40 per 1M.
    "3": (openai_envelope("o4-mini", TS, 2000, 1500, cached=1024, reasoning=1200), "0.0079552"),
    # 4: Sonnet 4.5, input 50 + 5m write 2000 + read 10000 ($0.01065) + output 500 ($0.0075).
    "4": (
        anthropic_envelope(
            "claude-sonnet-4-5", TS, 50, 500, cache_read=10_000, cache_write_5m=2000, split=False
        ),
        "0.01815",
    ),
    # 5: Sonnet 4.5 250k + 1k is past the 200k tier (250000 x 6 + 1000 x 22.5); 200k is not.
    "5-250k": (anthropic_envelope("claude-sonnet-4-5", TS, 250_000, 1000), "1.5225"),
    "5-200k": (anthropic_envelope("claude-sonnet-4-5", TS, 200_000, 1000), "0.615"),
    # 6: gemini-2.5-pro 300k + 10k: 300000 x 2.5 + 10000 x 15 (tier); batch halves both.
    "6-standard": (gemini_envelope("gemini-2.5-pro", TS, 300_000, 10_000), "0.90"),
    "6-batch": (gemini_envelope("gemini-2.5-pro", TS, 300_000, 10_000, batch=True), "0.45"),
    # 7: Sonnet 4.5 2000 x 3.75 (5m) + 1000 x 6 (1h) per 1M; 1h is not priced as 5m.
    "7": (
        anthropic_envelope("claude-sonnet-4-5", TS, 0, 0, cache_write_5m=2000, cache_write_1h=1000),
        "0.0135",
    ),
    # F: gemini-2.5-pro total input 200,000 (150k cached): 50000 x 1.25 + 150000 x 0.125;
    #    200,001: every token re-priced, 50001 x 2.5 + 150000 x 0.25 (cliff, strict >).
    "F-200000": (gemini_envelope("gemini-2.5-pro", TS, 200_000, 0, cached=150_000), "0.08125"),
    "F-200001": (gemini_envelope("gemini-2.5-pro", TS, 200_001, 0, cached=150_000), "0.1625025"),
    # 9: o3 1000 output incl. 800 reasoning at $8: reasoning is not added on top.
    "9": (openai_envelope("o3", TS, 0, 1000, reasoning=800), "0.008"),
    # D: Sonnet 4.5 input_tokens 5000 + cache_read 2000 = $0.0156 (misread: $0.0096).
    "D": (anthropic_envelope("claude-sonnet-4-5", TS, 5000, 0, cache_read=2000), "0.0156"),
    # A: gpt-4o 1M + 1M on 2026-11-01: batch $6.25, priority $21.25; default tier is standard.
    "A-batch": (openai_envelope("gpt-4o", TS, M, M, batch=True), "6.25"),
    "A-priority": (openai_envelope("gpt-4o", TS, M, M, service_tier="priority"), "21.25"),
    "A-default": (openai_envelope("gpt-4o", TS, M, M, service_tier="default"), "12.50"),
    # `fast` is priority's name since 2026-07-30 (OpenAI's Fast mode guide; genai-prices' tier
    # conditions test `service_tier in [fast, priority]`, pricing-semantics §13).
    "A-fast": (openai_envelope("gpt-4o", TS, M, M, service_tier="fast"), "21.25"),
    # A on 2025-01-01: genai-prices gives $12.50 / $12.50 because its variants start at their
    # verification date (2026-10-12 / -14; §5 "Variant history"). Whether tokaudit applies a
    # variant before its `checked` date is a product decision (§5, pricing/README.md
    # "Variants"); the resolver applies it whatever the date, and these two rows pin that.
    "A-batch-2025": (openai_envelope("gpt-4o", BEFORE_VARIANTS, M, M, batch=True), "6.25"),
    "A-priority-2025": (
        openai_envelope("gpt-4o", BEFORE_VARIANTS, M, M, service_tier="priority"),
        "21.25",
    ),
}

# B: gpt-4o 1M + 1M with an unknown context value. genai-prices: $12.50 (silently standard);
# tokaudit: unpriced, unknown_context. `flex` is a known tier but gpt-4o has no flex price.
UNKNOWN_CONTEXT: dict[str, Envelope] = {
    f"B-{tier}": openai_envelope("gpt-4o", TS, M, M, service_tier=tier)
    for tier in ("turbo", "scale", "ultrafast", "flex")
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return price_cases(tmp_path_factory.mktemp("worked"), CASES, UNKNOWN_CONTEXT)


@pytest.mark.parametrize("case", list(CASES))
def test_worked_example(rows: dict[str, dict[str, Any]], case: str) -> None:
    row = rows[case]
    assert row["pricing_status"] == "priced", row
    assert row["unpriced_reason"] is None, row
    assert row["cost_usd"] == D(CASES[case][1]), row


def test_token_classes_behind_the_examples(rows: dict[str, dict[str, Any]]) -> None:
    assert rows["1"]["priced_model"] == "gpt-4o"
    assert (rows["1"]["input_tokens"], rows["1"]["cache_read_tokens"]) == (600_000, 400_000)
    assert rows["3"]["output_tokens"] == 1500  # reasoning stays inside output
    assert (rows["7"]["cache_write_5m_tokens"], rows["7"]["cache_write_1h_tokens"]) == (2000, 1000)
    assert rows["4"]["cache_write_5m_tokens"] == 2000  # no TTL split: every write is 5m
    assert rows["D"]["total_input_tokens"] == 7000
    assert rows["D"]["cost_usd"] != D("0.0096")
    assert rows["F-200001"]["total_input_tokens"] == 200_001
    assert rows["A-batch"]["price_context"] == "batch"
    assert rows["A-priority"]["price_context"] == "priority"
    assert rows["A-default"]["price_context"] == "standard"


@pytest.mark.parametrize("case", list(UNKNOWN_CONTEXT))
def test_case_b_unknown_context_is_unpriced(rows: dict[str, dict[str, Any]], case: str) -> None:
    row = rows[case]
    assert row["pricing_status"] == "unpriced", row
    assert row["unpriced_reason"] == "unknown_context", row
    assert row["cost_usd"] is None, row
