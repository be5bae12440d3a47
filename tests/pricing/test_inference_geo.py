"""Anthropic data residency: US-only inference (``inference_geo: "us"``) at 1.1x.

"For Claude 4.6 and later models, specifying US-only inference through the inference_geo
parameter incurs a 1.1x multiplier on all token pricing categories, including input tokens,
output tokens, cache writes, and cache reads. Global routing (the default) uses standard
pricing." Older models: standard pricing. The multiplier stacks with the Batch API
discount (https://platform.claude.com/docs/en/about-claude/pricing#data-residency-pricing,
https://platform.claude.com/docs/en/manage-claude/data-residency,
https://docs.aws.amazon.com/claude-platform/latest/userguide/data-residency.html).

Each case is priced end to end (envelope -> ingest -> SQL); the expected dollars are hand
arithmetic on the published rates, typed in here, never read from our table.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pricing_testkit import (
    CLAUDE_4_6_AND_LATER,
    Envelope,
    anthropic_envelope,
    price_envelopes,
    shipped_table,
)

D = Decimal
M = 1_000_000
AFTER_GA = "2026-11-02T12:00:00Z"  # Opus/Sonnet 4.6 flat across the 1M context from 2026-03-13


def _geo(
    env: Envelope, response: str | None = None, request: str | None = None, rid: str = ""
) -> Envelope:
    """``env`` with ``usage.inference_geo`` and/or the request's ``inference_geo``."""
    if response is not None:
        env["response"]["usage"]["inference_geo"] = response
    if request is not None:
        env["request"]["inference_geo"] = request
    env["request_id"] = rid
    return env


def _cached(model: str, *, batch: bool = False, ts: str = AFTER_GA) -> Envelope:
    # 10,000 uncached input, 100,000 cache reads, 20,000 5m writes, 5,000 1h writes, 2,000 output
    return anthropic_envelope(
        model,
        ts,
        10_000,
        2_000,
        cache_read=100_000,
        cache_write_5m=20_000,
        cache_write_1h=5_000,
        batch=batch,
    )


CASES: dict[str, tuple[Envelope, str | None]] = {
    # Opus 4.6 standard ($5 in, $0.50 read, $6.25 5m write, $10 1h write, $25 out):
    # 10000 x 5 + 100000 x 0.5 + 20000 x 6.25 + 5000 x 10 + 2000 x 25 = 325,000 per 1M.
    "opus-4-6-global": (_geo(_cached("claude-opus-4-6"), "global", rid="opus-4-6-global"), "0.325"),
    "opus-4-6-absent": (_geo(_cached("claude-opus-4-6"), rid="opus-4-6-absent"), "0.325"),
    # "not_available": the API set no geo (the usage report's filter for rows without one)
    "opus-4-6-not-available": (
        _geo(_cached("claude-opus-4-6"), "not_available", rid="opus-4-6-not-available"),
        "0.325",
    ),
    # US-only: every token key x 1.1 (5.5 / 0.55 / 6.875 / 11 / 27.5):
    # 55,000 + 55,000 + 137,500 + 55,000 + 55,000 = 357,500 per 1M.
    "opus-4-6-us": (_geo(_cached("claude-opus-4-6"), "us", rid="opus-4-6-us"), "0.3575"),
    "opus-4-6-US-request-only": (
        _geo(_cached("claude-opus-4-6"), None, " US ", rid="opus-4-6-US-request-only"),
        "0.3575",
    ),
    # the response names no geo: the request's "us" decides
    "opus-4-6-not-available-request-us": (
        _geo(_cached("claude-opus-4-6"), "not_available", "us", rid="opus-4-6-na-request-us"),
        "0.3575",
    ),
    # the response's report of where inference ran wins over the request
    "opus-4-6-response-global-request-us": (
        _geo(_cached("claude-opus-4-6"), "global", "us", rid="opus-4-6-global-request-us"),
        "0.325",
    ),
    # batch halves every key; US-only multiplies that by 1.1: 162,500 x 1.1 = 178,750 per 1M
    "opus-4-6-batch": (
        _geo(_cached("claude-opus-4-6", batch=True), rid="opus-4-6-batch"),
        "0.1625",
    ),
    "opus-4-6-batch-us": (
        _geo(_cached("claude-opus-4-6", batch=True), "us", rid="opus-4-6-batch-us"),
        "0.17875",
    ),
    # Opus 4.5 has the same rates as 4.6 but predates US-only pricing: standard, batch too.
    "opus-4-5-us": (_geo(_cached("claude-opus-4-5-20251101"), "us", rid="opus-4-5-us"), "0.325"),
    "opus-4-5-batch-us": (
        _geo(_cached("claude-opus-4-5-20251101", batch=True), "us", rid="opus-4-5-batch-us"),
        "0.1625",
    ),
    # Sonnet 4.6 ($3 / $0.30 / $3.75 / $6 / $15): 30,000 + 30,000 + 75,000 + 30,000 + 30,000
    # = 195,000 standard; x 1.1 = 214,500.
    "sonnet-4-6-us": (_geo(_cached("claude-sonnet-4-6"), "us", rid="sonnet-4-6-us"), "0.2145"),
    # Sonnet 4.6 past 200k before 2026-03-13: the long-context rates ($6 / $22.50) x 1.1:
    # 250000 x 6.6 + 1000 x 24.75.
    "sonnet-4-6-us-long-context": (
        _geo(
            anthropic_envelope("claude-sonnet-4-6", "2026-03-01T12:00:00Z", 250_000, 1000),
            "us",
            rid="sonnet-4-6-us-long-context",
        ),
        "1.67475",
    ),
    # Sonnet 5.5 after its 2026-10-07 cache-read cut ($0.10 read, $10 out), US-only:
    # 1M x 0.11 + 1000 x 11.
    "sonnet-5-5-us": (
        _geo(
            anthropic_envelope("claude-sonnet-5-5", AFTER_GA, 0, 1000, cache_read=M),
            "us",
            rid="sonnet-5-5-us",
        ),
        "0.121",
    ),
    # Web search is a fee, not a token category: $10 per 1k at any geo.
    # 1000 x 5.5 + 1000 x 27.5 (tokens) + 3 x 0.01.
    "opus-4-6-us-web-search": (
        _geo(
            anthropic_envelope("claude-opus-4-6", AFTER_GA, 1000, 1000, web_searches=3),
            "us",
            rid="opus-4-6-us-web-search",
        ),
        "0.063",
    ),
    # Vertex AI has no inference_geo (its region is the endpoint's): the global price.
    "vertex-opus-4-6-us": (
        _geo(_cached("vertex_ai/claude-opus-4-6"), "us", rid="vertex-opus-4-6-us"),
        "0.325",
    ),
    # A geo tokaudit has no price for is never priced as standard.
    "opus-4-6-eu": (_geo(_cached("claude-opus-4-6"), "eu", rid="opus-4-6-eu"), None),
}


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("geo")
    return price_envelopes(directory, [env for env, _ in CASES.values()])


@pytest.mark.parametrize("case", sorted(CASES))
def test_us_only_inference_price(rows: dict[str, dict[str, Any]], case: str) -> None:
    env, expected = CASES[case]
    row = rows[env["request_id"]]
    if expected is None:
        assert (row["cost_usd"], row["unpriced_reason"]) == (None, "unknown_context"), row
        assert row["price_context"] == "eu"
    else:
        assert (row["cost_usd"], row["unpriced_reason"]) == (D(expected), None), row


def test_price_context_names_the_geo(rows: dict[str, dict[str, Any]]) -> None:
    contexts = {
        rid: (rows[env["request_id"]]["price_context"], rows[env["request_id"]]["price_region"])
        for rid, (env, _) in CASES.items()
    }
    assert contexts["opus-4-6-us"] == ("us", "us")
    assert contexts["opus-4-6-batch-us"] == ("batch+us", "us")
    assert contexts["opus-4-6-global"] == ("standard", None)
    assert contexts["opus-4-6-not-available"] == ("standard", None)
    assert contexts["vertex-opus-4-6-us"] == ("standard", None)


# Claude 4.6 and later models: the 1.1x applies (the data-residency page's scope).
COVERED = CLAUDE_4_6_AND_LATER


def _effective(version: Any, context: str) -> tuple[dict[str, Decimal], dict[int, dict]]:
    """Every token price and tier price of ``context`` (a variant replaces only its keys)."""
    base_tiers = {t.threshold: t.prices for t in version.tiers}
    if context == "standard":
        return dict(version.prices), base_tiers
    variant = next(v for v in version.variants if v.name == context)
    prices = {k: variant.prices.get(k, p) for k, p in version.prices.items()}
    tiers = {}
    for threshold, tier in base_tiers.items():
        own = {t.threshold: t.prices for t in variant.tiers}.get(threshold, {})
        tiers[threshold] = {
            k: own.get(k, p if k not in variant.prices else prices[k]) for k, p in tier.items()
        }
    return prices, tiers


@pytest.mark.parametrize("model_id", sorted(COVERED))
def test_covered_models_cost_1_1x_everywhere(model_id: str) -> None:
    """Every version of a 4.6+ model: US-only is 1.1x standard and batch+US 1.1x batch,
    every key and long-context tier."""
    model = next(m for m in shipped_table().models if m.id == model_id)
    for version in model.versions:
        for plain, us in (("standard", "us"), ("batch", "batch+us")):
            base, base_tiers = _effective(version, plain)
            geo, geo_tiers = _effective(version, us)
            assert geo == {k: p * D("1.1") for k, p in base.items()}, (model_id, us)
            assert geo_tiers == {
                t: {k: p * D("1.1") for k, p in tier.items()} for t, tier in base_tiers.items()
            }, (model_id, us)


def test_older_models_cost_the_same_with_us() -> None:
    """Every Anthropic model before 4.6 prices ``us`` and ``batch+us`` as standard and batch."""
    older = [m for m in shipped_table().models if m.provider == "anthropic" and m.id not in COVERED]
    assert len(older) == 11, [m.id for m in older]
    for model in older:
        for version in model.versions:
            for plain, us in (("standard", "us"), ("batch", "batch+us")):
                assert _effective(version, us) == _effective(version, plain), (model.id, us)
