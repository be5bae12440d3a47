"""The GPT-6, Claude Fable / Mythos 5 and 5.1, Bedrock Claude 3 Haiku, Gemini 1.5 Flash-8B and 2.5
Pro preview rows, priced end to end (envelope -> ingest -> SQL).

Expected dollars are hand arithmetic on the published rates named in the price tables' comments
(OpenAI's model pages, Anthropic's pricing page, Google's pricing page), typed in here, never read
from our table. Each case states its arithmetic in USD per 1M tokens.
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
DAY = "2026-11-20T12:00:00Z"

HAIKU_3 = "anthropic.claude-3-haiku-20240307-v1:0"


def _bedrock(name: str, **kw: Any) -> Envelope:
    env = anthropic_envelope(name, DAY, M, M, **kw)
    # Bedrock answers with the first-party id; the requested id carries route and region.
    env["response"]["model"] = "claude-3-haiku-20240307"
    return env


# (envelope, expected cost or None, expected unpriced reason)
CASES: dict[str, tuple[Envelope, str | None, str | None]] = {
    # GPT-6 Astra: $10 in / $1 cached / $12.50 cache write / $50 out.
    # 70000 x 10 + 20000 x 1 + 10000 x 12.5 + 5000 x 50
    "astra": (
        openai_envelope("gpt-6-astra", DAY, 100_000, 5000, cached=20_000, cache_write=10_000),
        "1.095",
        None,
    ),
    # Long context: more than 272,000 prompt tokens bill the whole request at 2x input and cache,
    # 1.5x output ($20 / $2 / $75): 200000 x 20 + 100000 x 2 + 1000 x 75.
    "astra-long": (
        openai_envelope("gpt-6-astra", DAY, 300_000, 1000, cached=100_000),
        "4.275",
        None,
    ),
    # The cliff is strict: exactly 272,000 is the base rate (272000 x 10 + 1000 x 50) ...
    "astra-272000": (openai_envelope("gpt-6-astra", DAY, 272_000, 1000), "2.77", None),
    # ... and 272,001 re-prices every token (272001 x 20 + 1000 x 75).
    "astra-272001": (openai_envelope("gpt-6-astra", DAY, 272_001, 1000), "5.51502", None),
    # Batch and Flex are 50% of Standard: 100000 x 5 + 100000 x 25.
    "astra-batch": (openai_envelope("gpt-6-astra", DAY, 100_000, 100_000, batch=True), "3", None),
    "astra-flex": (
        openai_envelope("gpt-6-astra", DAY, 100_000, 100_000, service_tier="flex"),
        "3",
        None,
    ),
    # Batch above 272k: half of the long-context rates ($10 / $1 / $37.50):
    # 200000 x 10 + 100000 x 1 + 1000 x 37.5.
    "astra-batch-long": (
        openai_envelope("gpt-6-astra", DAY, 300_000, 1000, cached=100_000, batch=True),
        "2.1375",
        None,
    ),
    # Priority (Fast) is 2x: 100000 x 20 + 100000 x 100; above 272k every rate is 2x the
    # long-context one ($40 / $150): 1M x 40 + 1M x 150.
    "astra-priority": (
        openai_envelope("gpt-6-astra", DAY, 100_000, 100_000, service_tier="priority"),
        "12",
        None,
    ),
    "astra-priority-long": (
        openai_envelope("gpt-6-astra", DAY, M, M, service_tier="priority"),
        "190",
        None,
    ),
    # Web search $10 per 1k calls: 1000 x 10 + 100 x 50 per 1M, + 2 x 10 / 1000.
    "astra-web-search": (
        openai_envelope("gpt-6-astra", DAY, 1000, 100, api="responses", web_search_calls=2),
        "0.035",
        None,
    ),
    # GPT-6 Sol: $2 / $0.20 / $10: 100000 x 2 + 100000 x 0.2 + 10000 x 10.
    "sol": (openai_envelope("gpt-6-sol", DAY, 200_000, 10_000, cached=100_000), "0.32", None),
    # Batch: 100000 x 1 + 100000 x 0.1 + 10000 x 5.
    "sol-batch": (
        openai_envelope("gpt-6-sol", DAY, 200_000, 10_000, cached=100_000, batch=True),
        "0.16",
        None,
    ),
    # `service_tier: "fast"` is priority under its name since 2026-07-30 (OpenAI's Fast mode
    # guide): 2x, 1000 x 4 + 100 x 20.
    "sol-fast": (
        openai_envelope("gpt-6-sol", DAY, 1000, 100, service_tier="fast"),
        "0.006",
        None,
    ),
    # GPT-6 Luna: $0.10 / $0.50: 100000 x 0.1 + 100000 x 0.5; long: 300000 x 0.2 + 10000 x 0.75.
    "luna": (openai_envelope("gpt-6-luna", DAY, 100_000, 100_000), "0.06", None),
    "luna-long": (openai_envelope("gpt-6-luna", DAY, 300_000, 10_000), "0.0675", None),
    # GPT-6.1 Sol: cached input is 5% ($0.10): 100000 x 2 + 100000 x 0.1 + 10000 x 10.
    "sol-6-1": (
        openai_envelope("gpt-6.1-sol", DAY, 200_000, 10_000, cached=100_000),
        "0.31",
        None,
    ),
    # GPT-6.1 Terra: $1 / $0.05 / $5: 100000 x 1 + 100000 x 0.05 + 10000 x 5.
    "terra-6-1": (
        openai_envelope("gpt-6.1-terra", DAY, 200_000, 10_000, cached=100_000),
        "0.155",
        None,
    ),
    # Batch above 272k: $1 / $0.05 / $3.75: 200000 x 1 + 200000 x 0.05 + 10000 x 3.75.
    "terra-6-1-batch-long": (
        openai_envelope("gpt-6.1-terra", DAY, 400_000, 10_000, cached=200_000, batch=True),
        "0.2475",
        None,
    ),
    # Priority above 272k: $4 / $0.20 / $15: 200000 x 4 + 200000 x 0.2 + 10000 x 15.
    "terra-6-1-priority-long": (
        openai_envelope(
            "gpt-6.1-terra", DAY, 400_000, 10_000, cached=200_000, service_tier="priority"
        ),
        "0.99",
        None,
    ),
    # Claude Fable 5: $10 in, $1 reads, $12.50 / $20 writes (5m / 1h), $50 out:
    # 1000 x 10 + 100000 x 1 + 10000 x 12.5 + 5000 x 20 + 2000 x 50.
    "fable-5": (
        anthropic_envelope(
            "claude-fable-5",
            DAY,
            1000,
            2000,
            cache_read=100_000,
            cache_write_5m=10_000,
            cache_write_1h=5000,
        ),
        "0.435",
        None,
    ),
    # Fable 5.1: cache reads are 0.025x input ($0.25): the same usage with 100000 x 0.25.
    "fable-5-1": (
        anthropic_envelope(
            "claude-fable-5-1",
            DAY,
            1000,
            2000,
            cache_read=100_000,
            cache_write_5m=10_000,
            cache_write_1h=5000,
        ),
        "0.36",
        None,
    ),
    # Mythos shares Fable's pricing.
    "mythos-5": (
        anthropic_envelope(
            "claude-mythos-5",
            DAY,
            1000,
            2000,
            cache_read=100_000,
            cache_write_5m=10_000,
            cache_write_1h=5000,
        ),
        "0.435",
        None,
    ),
    "mythos-5-1": (
        anthropic_envelope(
            "claude-mythos-5-1",
            DAY,
            1000,
            2000,
            cache_read=100_000,
            cache_write_5m=10_000,
            cache_write_1h=5000,
        ),
        "0.36",
        None,
    ),
    # Batch is 50% of every key: 0.36 / 2.
    "mythos-5-1-batch": (
        anthropic_envelope(
            "claude-mythos-5-1",
            DAY,
            1000,
            2000,
            cache_read=100_000,
            cache_write_5m=10_000,
            cache_write_1h=5000,
            batch=True,
        ),
        "0.18",
        None,
    ),
    # Flat across the 1M context, no long-context tier: 500000 x 10 + 1000 x 50.
    "fable-5-500k": (anthropic_envelope("claude-fable-5", DAY, 500_000, 1000), "5.05", None),
    # A regional Vertex AI endpoint adds 10%: (100000 x 10 + 10000 x 50) x 1.1.
    "fable-5-1-vertex-regional": (
        anthropic_envelope(
            "vertex_ai/claude-fable-5-1", DAY, 100_000, 10_000, vertex_location="us-east5"
        ),
        "1.65",
        None,
    ),
    # Claude 3 Haiku on Bedrock: $0.25 / $1.25 on every endpoint: 1M x 0.25 + 1M x 1.25.
    "bedrock-3-haiku": (_bedrock(HAIKU_3), "1.5", None),
    "bedrock-3-haiku-us": (_bedrock(f"us.{HAIKU_3}"), "1.5", None),
    # No cache rate is listed for it: cached tokens leave the request unpriced, never at $0.
    "bedrock-3-haiku-cached": (
        _bedrock(HAIKU_3, cache_read=1000),
        None,
        "missing_price_key",
    ),
    # Gemini 1.5 Flash-8B: $0.0375 in / $0.01 cached / $0.15 out up to 128k prompt tokens:
    # 80000 x 0.0375 + 20000 x 0.01 + 10000 x 0.15 ...
    "flash-8b": (
        gemini_envelope(
            "gemini-1.5-flash-8b", "2025-03-01T12:00:00Z", 100_000, 10_000, cached=20_000
        ),
        "0.0047",
        None,
    ),
    # ... doubled above 128k: 200000 x 0.075 + 10000 x 0.3 (not 1.5 Flash's 0.15 / 0.6).
    "flash-8b-long": (
        gemini_envelope("gemini-1.5-flash-8b", "2025-03-01T12:00:00Z", 200_000, 10_000),
        "0.018",
        None,
    ),
    # No batch rate is published for it.
    "flash-8b-batch": (
        gemini_envelope("gemini-1.5-flash-8b", "2025-03-01T12:00:00Z", 1000, 100, batch=True),
        None,
        "unknown_context",
    ),
    # The 2.5 Pro preview snapshots bill as 2.5 Pro: 100000 x 1.25 + 10000 x 10; above 200k
    # 250000 x 2.5 + 10000 x 15.
    "gemini-2.5-pro-preview": (
        gemini_envelope("gemini-2.5-pro-preview-06-05", "2025-06-20T12:00:00Z", 100_000, 10_000),
        "0.225",
        None,
    ),
    "gemini-2.5-pro-preview-long": (
        gemini_envelope("gemini-2.5-pro-preview-05-06", "2025-05-20T12:00:00Z", 250_000, 10_000),
        "0.775",
        None,
    ),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return price_cases(tmp_path_factory.mktemp("new-models"), CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_new_model_prices(rows: dict[str, dict[str, Any]], case: str) -> None:
    _, cost, reason = CASES[case]
    row = rows[case]
    want = (None if cost is None else D(cost), reason)
    assert (row["cost_usd"], row["unpriced_reason"]) == want, row
