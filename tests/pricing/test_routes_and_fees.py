"""Regions, routes, hosted open models, audio, reasoning and non-token fees, end to end.

Expected figures are hand arithmetic on published prices (pricing-semantics §5 and §10, the
provider files' cited sources), written out per case; none is computed from the table.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pricing_testkit import (
    Envelope,
    anthropic_envelope,
    cost_rows,
    gemini_envelope,
    make_table,
    openai_envelope,
    price_cases,
    price_envelopes,
    priced_store,
)

from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table

D = Decimal
TS = "2026-11-01T12:00:00Z"
M = 1_000_000
K = 100_000  # first-party Sonnet 4.5 re-prices everything above 200k input (§6)
SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def _bedrock(name: str, **kw: Any) -> Envelope:
    env = anthropic_envelope(name, TS, kw.pop("inp", M), kw.pop("out", M), **kw)
    # Bedrock answers with the first-party id; the requested id carries route and region.
    env["response"]["model"] = "claude-sonnet-4-5-20250929"
    return env


# case -> (envelope, expected cost or None, expected unpriced reason, context)
def _int_modalities(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with each usage detail's modality written as its enum number."""
    numbers = {"TEXT": 1, "AUDIO": 4}
    usage = envelope["response"]["usageMetadata"]
    for details in ("promptTokensDetails", "cacheTokensDetails"):
        for entry in usage.get(details, []):
            entry["modality"] = numbers[entry["modality"]]
    return envelope


CASES: dict[str, tuple[Envelope, str | None, str | None, str]] = {
    # §5: "Regional Bedrock ids (us., eu., …) cost +10% over global. (Sonnet 4.5: $3.30/$16.50
    # vs $3/$15)". 1M input + 1M output.
    "bedrock-global": (_bedrock(f"global.{SONNET_45}"), "18", None, "standard"),
    "bedrock-us": (_bedrock(f"us.{SONNET_45}"), "19.8", None, "regional"),
    "bedrock-eu": (_bedrock(f"eu.{SONNET_45}"), "19.8", None, "regional"),
    "bedrock-in-region": (_bedrock(SONNET_45), "19.8", None, "regional"),
    "bedrock-arn": (
        _bedrock(f"arn:aws:bedrock:ap-northeast-1:123456789012:inference-profile/jp.{SONNET_45}"),
        "19.8",
        None,
        "regional",
    ),
    # Sonnet 4 costs the same on every Bedrock endpoint; it has no 1-hour write price there.
    "bedrock-sonnet-4-us": (
        _bedrock("us.anthropic.claude-sonnet-4-20250514-v1:0"),
        "18",
        None,
        "regional",
    ),
    "bedrock-1h-write": (
        _bedrock("us.anthropic.claude-sonnet-4-20250514-v1:0", cache_write_1h=10),
        None,
        "missing_price_key",
        "regional",
    ),
    "bedrock-batch": (
        _bedrock(f"us.{SONNET_45}", batch=True),
        None,
        "unknown_context",
        "batch+regional",
    ),
    # Claude on Vertex AI: first-party prices; a regional location adds 10% for 4.5+ models,
    # token prices and tiers, not the web-search fee.
    "vertex-global": (
        anthropic_envelope("claude-sonnet-4-5@20250929", TS, K, K, vertex_location="global"),
        "1.8",  # 100k x 3 + 100k x 15 per 1M
        None,
        "standard",
    ),
    "vertex-no-location": (
        anthropic_envelope("claude-sonnet-4-5@20250929", TS, K, K),
        "1.8",
        None,
        "standard",
    ),
    "vertex-regional": (
        anthropic_envelope(
            "claude-sonnet-4-5@20250929", TS, K, K, web_searches=2, vertex_location="us-east5"
        ),
        "2.00",  # (100k x 3 + 100k x 15) x 1.1 per 1M + 2 x $10/1k
        None,
        "regional",
    ),
    "vertex-regional-tier": (
        anthropic_envelope(
            "vertex_ai/claude-sonnet-4-5", TS, 250_000, 1000, vertex_location="europe-west1"
        ),
        "1.67475",  # (250000 x 6 + 1000 x 22.5) x 1.1 per 1M (§12 case 5, +10%)
        None,
        "regional",
    ),
    "vertex-older-model": (
        anthropic_envelope("claude-sonnet-4@20250514", TS, M, M, vertex_location="us-east5"),
        "28.5",  # no regional premium; a 1M-token prompt is past the 200k long-context cliff
        None,
        "regional",
    ),
    "vertex-regional-batch": (
        anthropic_envelope(
            "claude-sonnet-4-5@20250929", TS, M, M, batch=True, vertex_location="us-east5"
        ),
        None,
        "unknown_context",
        "batch+regional",
    ),
    # A first-party call is never regional, whatever the metadata says.
    "first-party-with-location": (
        anthropic_envelope("claude-sonnet-4-5-20250929", TS, K, K, vertex_location="us-east5"),
        "1.8",
        None,
        "standard",
    ),
    # Groq (genai-prices groq): gpt-oss-120b $0.15 / cached $0.075 / $0.60; batch halves input
    # and output, cached input at the batch input rate.
    "groq-gpt-oss": (
        openai_envelope("groq/openai/gpt-oss-120b", TS, M, M, cached=400_000),
        "0.72",  # 600k x 0.15 + 400k x 0.075 + 1M x 0.6
        None,
        "standard",
    ),
    "groq-gpt-oss-batch": (
        openai_envelope("groq/openai/gpt-oss-120b", TS, M, M, cached=400_000, batch=True),
        "0.375",  # 1M x 0.075 + 1M x 0.3
        None,
        "batch",
    ),
    "groq-llama": (openai_envelope("llama-3.3-70b-versatile", TS, M, M), "1.38", None, "standard"),
    "groq-llama-batch": (
        openai_envelope("groq/llama-3.3-70b-versatile", TS, M, M, batch=True),
        None,
        "unknown_context",
        "batch",
    ),
    # Gemini audio: 2.5 Flash prices audio input at $1.00 (batch $0.50); 2.5 Pro has no audio
    # price, so its audio tokens are billed as input ($1.25).
    "audio-pro": (
        gemini_envelope("gemini-2.5-pro", TS, 1000, 100, audio=600),
        "0.00225",  # 1000 x 1.25 + 100 x 10
        None,
        "standard",
    ),
    "audio-flash-batch": (
        gemini_envelope("gemini-2.5-flash", TS, 1000, 100, audio=600, batch=True),
        "0.000485",  # 400 x 0.15 + 600 x 0.5 + 100 x 1.25
        None,
        "batch",
    ),
    "audio-flash-cached": (
        gemini_envelope("gemini-2.5-flash", TS, 1000, 100, cached=500, audio=600, cached_audio=200),
        "0.000709",  # 100 x 0.3 + 400 x 1.0 + 300 x 0.03 + 200 x 0.10 (cached audio) + 100 x 2.5
        None,
        "standard",
    ),
    # Vertex with enum-encoding=int writes Modality as its number (TEXT 1, AUDIO 4)
    "audio-flash-cached-int-enums": (
        _int_modalities(
            gemini_envelope(
                "gemini-2.5-flash", TS, 1000, 100, cached=500, audio=600, cached_audio=200
            )
        ),
        "0.000709",  # as audio-flash-cached
        None,
        "standard",
    ),
    "audio-flash-cached-batch": (  # batch keeps the cache rates, cached audio's too
        gemini_envelope(
            "gemini-2.5-flash", TS, 1000, 100, cached=500, audio=600, cached_audio=200, batch=True
        ),
        "0.000369",  # 100 x 0.15 + 400 x 0.5 + 300 x 0.03 + 200 x 0.10 + 100 x 1.25
        None,
        "batch",
    ),
    "cached-audio-without-its-price": (  # 2.5 Pro has no cached-audio rate: cache_read's
        gemini_envelope("gemini-2.5-pro", TS, 1000, 100, cached=500, audio=600, cached_audio=200),
        "0.0016875",  # 100 x 1.25 + 400 x 1.25 + 500 x 0.125 + 100 x 10
        None,
        "standard",
    ),
    "audio-counts-toward-the-tier": (
        gemini_envelope("gemini-2.5-pro", TS, 200_001, 0, audio=100_000),
        "0.5000025",  # 200001 x 2.5: the whole prompt, audio included, crosses 200k
        None,
        "standard",
    ),
    # OpenAI Responses: each web_search_call output item costs $10 per 1k.
    "openai-web-search": (
        openai_envelope("gpt-4o", TS, 1000, 100, api="responses", web_search_calls=2),
        "0.0235",  # 1000 x 2.5 + 100 x 10 per 1M + 2 x $0.01
        None,
        "standard",
    ),
    "openai-web-search-no-fee": (
        openai_envelope("gpt-4.1-nano", TS, 1000, 100, api="responses", web_search_calls=1),
        None,
        "missing_price_key",
        "standard",
    ),
    # ... and each file_search_call $2.50 per 1k (pricing-semantics §10).
    "openai-file-search": (
        openai_envelope("gpt-4o", TS, 1000, 100, api="responses", file_search_calls=3),
        "0.011",  # 1000 x 2.5 + 100 x 10 per 1M + 3 x $0.0025
        None,
        "standard",
    ),
    "openai-both-searches": (
        openai_envelope(
            "gpt-4o", TS, 1000, 100, api="responses", web_search_calls=1, file_search_calls=2
        ),
        "0.0185",  # 0.0035 in tokens + $0.01 + 2 x $0.0025
        None,
        "standard",
    ),
    "openai-file-search-no-fee": (
        openai_envelope("gpt-4.1-nano", TS, 1000, 100, api="responses", file_search_calls=1),
        None,
        "missing_price_key",
        "standard",
    ),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    return price_cases(tmp_path_factory.mktemp("routes"), CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_route_region_and_fee(rows: dict[str, dict[str, Any]], case: str) -> None:
    _, cost, reason, context = CASES[case]
    row = rows[case]
    assert (row["cost_usd"], row["unpriced_reason"]) == (
        None if cost is None else D(cost),
        reason,
    ), row
    assert row["price_context"] == context


def test_region_and_route_are_recorded(rows: dict[str, dict[str, Any]]) -> None:
    assert (rows["bedrock-us"]["price_route"], rows["bedrock-us"]["price_region"]) == (
        "bedrock",
        "us",
    )
    assert rows["bedrock-us"]["priced_model"] == SONNET_45
    assert rows["bedrock-in-region"]["price_region"] == "in-region"
    assert (rows["vertex-regional"]["price_route"], rows["vertex-regional"]["price_region"]) == (
        "vertex",
        "us-east5",
    )
    assert rows["first-party-with-location"]["price_route"] is None
    assert rows["openai-web-search"]["web_search_requests"] == 2
    assert rows["openai-web-search"]["fees_cost"] == D("0.02")
    assert rows["openai-web-search"]["file_search_calls"] == 0
    both = rows["openai-both-searches"]
    assert (both["web_search_requests"], both["file_search_calls"]) == (1, 2)
    assert both["fees_cost"] == D("0.015")
    assert rows["openai-file-search"]["file_search_calls"] == 3
    for case in ("audio-flash-cached", "audio-flash-cached-int-enums"):
        cached = rows[case]
        assert (
            cached["input_tokens"],
            cached["input_audio_tokens"],
            cached["cache_read_tokens"],
            cached["cache_read_audio_tokens"],
        ) == (100, 400, 300, 200), case


def test_a_host_named_by_the_request_provider(tmp_path: Path) -> None:
    """A log whose provider is the host (``groq``) matches ``groq/<model as logged>``."""
    con = priced_store(tmp_path, [openai_envelope("openai/gpt-oss-120b", TS, M, M)])
    before = cost_rows(con)
    con.execute("UPDATE requests SET provider = 'groq'")
    after = cost_rows(con)
    con.close()
    ((_, unqualified),) = before.items()
    ((_, qualified),) = after.items()
    assert unqualified["unpriced_reason"] == "unknown_model"  # shared name, no host: unpriced
    assert qualified["priced_model"] == "groq/openai/gpt-oss-120b"
    assert qualified["cost_usd"] == D("0.75")


# ---------------------------------------------------------------- schema features, small tables

SMALL = """\
- id: alpha
  match: [{regex: 'alpha-v[0-9]+'}]
  versions:
  - effective_from: null
    effective_to: '2025-06-10T12:00:00Z'
    source: {url: 'https://example.com/pricing'}
    prices: {input: '2', output: '10'}
    fees: {per_request: '0.005'}
  - effective_from: '2025-06-10T12:00:00Z'
    effective_to: null
    source: {url: 'https://example.com/pricing'}
    prices: {input: '1', output: '10', reasoning: '20'}
    fees: {per_request: '0.005'}
- id: left
  match: [{regex: 'x-.*'}]
  versions:
  - {effective_from: null, effective_to: null, source: {url: 'https://example.com/pricing'},
     prices: {input: '1', output: '1'}}
- id: right
  match: [{regex: '.*-shared'}]
  versions:
  - {effective_from: null, effective_to: null, source: {url: 'https://example.com/pricing'},
     prices: {input: '1', output: '1'}}
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    table = load_price_table(make_table(tmp_path_factory.mktemp("small"), SMALL))
    cases = {
        # The exact instant 2025-06-10T12:00:00Z starts the new version (inclusive).
        "before": openai_envelope("alpha", "2025-06-10T11:59:59Z", 1000, 100),
        "at": openai_envelope("alpha", "2025-06-10T12:00:00Z", 1000, 100),
        "offset": openai_envelope("alpha", "2025-06-10T13:00:00+02:00", 1000, 100),
        # reasoning 800 of 1000 output: 200 x 10 + 800 x 20 per 1M, plus input and the fee.
        "reasoning": openai_envelope("alpha", TS, 1000, 1000, reasoning=800),
        "no-reasoning-split": openai_envelope("alpha", TS, 1000, 1000),
        "rule": openai_envelope("alpha-v2", TS, 1000, 100),
        "ambiguous": openai_envelope("x-shared", TS, 1000, 100),
        "left-only": openai_envelope("x-left", TS, 1000, 100),
    }
    error = openai_envelope("alpha", TS, 1, 1)
    del error["response"]["usage"]
    error["error"] = {"status": 500, "message": "boom"}
    cases["error"] = error
    envelopes = [{**env, "request_id": key} for key, env in cases.items()]
    return price_envelopes(tmp_path_factory.mktemp("small-store"), envelopes, table)


@pytest.mark.parametrize(
    ("case", "cost"),
    [
        ("before", "0.008"),  # 1000 x 2 + 100 x 10 per 1M + $0.005 per request
        ("at", "0.007"),  # 1000 x 1 + 100 x 10 per 1M + $0.005
        ("offset", "0.008"),  # 13:00+02:00 is 11:00Z: still the old version
        ("reasoning", "0.024"),  # 1000 x 1 + 200 x 10 + 800 x 20 per 1M + $0.005
        ("no-reasoning-split", "0.016"),  # 1000 x 1 + 1000 x 10 per 1M + $0.005
        ("rule", "0.007"),  # priced as alpha by its match rule: 1000 x 1 + 100 x 10 + fee
        ("left-only", "0.0011"),
        ("error", "0"),  # a failed call with no usage pays no per-request fee
    ],
)
def test_instants_reasoning_fees_and_rules(
    small: dict[str, dict[str, Any]], case: str, cost: str
) -> None:
    assert small[case]["cost_usd"] == D(cost), small[case]


def test_two_rules_matching_one_name_leave_it_unpriced(
    small: dict[str, dict[str, Any]],
) -> None:
    row = small["ambiguous"]
    assert (row["priced_model"], row["unpriced_reason"], row["cost_usd"]) == (
        None,
        "ambiguous_model",
        None,
    )


def test_price_at_reprices_every_request_at_one_instant(tmp_path: Path) -> None:
    """``install_price_table(price_at=...)``: what these requests cost at that day's prices."""
    table = load_price_table(make_table(tmp_path / "t", SMALL))
    con = priced_store(
        tmp_path, [openai_envelope("alpha", "2025-01-01T00:00:00Z", 1000, 100)], table=table
    )
    assert con.execute("SELECT cost_usd FROM request_costs").fetchone() == (D("0.008"),)
    from datetime import UTC, datetime

    install_price_table(con, table, price_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert con.execute("SELECT cost_usd FROM request_costs").fetchone() == (D("0.007"),)
    con.close()
