"""Cross-check request_costs against pydantic genai-prices 0.2.3, used as a test-only oracle.

About 3,000 seeded random requests cover every model in the shipped table and its aliases
(OpenAI, Anthropic, Google, Claude on Bedrock with every geo prefix, Claude on Vertex, Groq),
dates from 2025-01-01 to 2026-11-25 (with UTC offsets and the version/variant boundary instants),
every token class, Gemini audio input, long-context tiers, both OpenAI body shapes with web
search calls, batch, flex, priority and regional endpoints. Each request is priced twice:

* tokaudit: envelope JSONL -> ``ingest_paths`` -> ``request_costs.cost_usd``;
* genai-prices: its own usage extractor run on the *same provider response body* (so our usage
  conventions are checked too), then ``calc_price(usage, model, provider_id=...,
  genai_request_timestamp=..., price_context=...)`` with provider ``aws`` for Bedrock ids and
  ``groq`` for Groq.

The totals must be equal as Decimals. genai-prices and tokaudit differ legitimately in a few
documented places; each is handled by one named rule in ``_expect`` below, with its source:

``variant-before-checked``
    genai-prices dates every OpenAI flex/priority variant from 2026-10-12 and every batch variant
    from 2026-10-14 (the day the rate was verified; "Tier history before this verification is not
    modeled"), so earlier requests get standard prices there. tokaudit applies a variant whatever
    its ``checked`` date (pricing-semantics §5 "Variant history", §12 case A; pricing/README.md
    "Variants": a product decision for the resolver). Adjustment: when genai-prices' standard price
    at the request date equals its standard price on the variant's start date (same price version),
    the oracle prices the request at the variant's start date.
``anthropic-batch-50pct``
    genai-prices has no batch variant for retired Claude models (3.5 Sonnet/Haiku, Sonnet 4, Opus 4,
    Opus 4.1) and none for the Sonnet/Opus 4.6 versions before 2026-03-13. tokaudit derives their
    batch prices from Anthropic's rule "batch is 50% of every token key, tiers included; web search
    stays standard" (pricing-semantics §5 provider facts; pricing/README.md "Anthropic";
    providers/anthropic.yaml header). Adjustment: oracle = half of genai-prices' standard token
    price + genai-prices' web-search fee.
``no-variant-price``
    A context the request's price version has no price for (flex on gpt-4o / gpt-4.1* /
    gpt-4o-mini, any variant on o3 before its 2025-06-10 cut, batch on Bedrock and on Groq models
    other than gpt-oss, batch on a regional endpoint). genai-prices silently prices it as standard
    (§12 case B); tokaudit reports it unpriced with ``unknown_context`` (§5, §8;
    providers/openai.yaml: "Variants exist on the new version only"; providers/bedrock.yaml,
    providers/groq.yaml headers). Expected: unpriced.
``no-cache-read-price``
    gpt-4o-2024-05-13 (and the other models without ``cache_read``: GPT-3.5, GPT-4 before 4o, the
    -pro models, Gemini 1.5 Pro, 2.0 Flash-Lite) has no published cached-input rate. genai-prices
    bills its cached tokens at the input rate; tokaudit refuses to guess and reports
    ``missing_price_key`` (pricing/README.md "Price keys"; providers/openai.yaml comment on
    gpt-4o-2024-05-13). Expected: unpriced.
``no-1h-write-price``
    genai-prices' aws rows for Sonnet 4, Opus 4 / 4.1 and the Claude 3.x models have no 1-hour
    cache-write price, and genai-prices then bills 1h writes at the 5-minute rate (the bug class
    of genai-prices #295, pricing-semantics §14). tokaudit reports ``missing_price_key``
    (providers/bedrock.yaml header). Expected: unpriced.
``no-output-price``
    Embedding models (``kind: embedding``: text-embedding-3-small/-large, ada-002) price input
    only. genai-prices bills any output tokens reported on them at 0; tokaudit reports
    ``missing_price_key`` (pricing/README.md "Model entry"). The generator logs no cache and,
    on one request in five, some output tokens. Expected: unpriced.
``gp-name-fallback``
    genai-prices cannot resolve some name forms tokaudit normalises (§7): routing prefixes
    (``openai/``, ``anthropic/``, ``models/``, ``vertex_ai/``, ``bedrock/``, ``groq/``; §7 table:
    they raise LookupError), a Bedrock foundation-model ARN, and the Vertex form
    ``claude-opus-4@20250514`` (its opus-4 match rule has no ``@`` branch). The oracle then looks
    the model up by the bare / ``-``-dated name. Prices are not adjusted.
``openai-web-search-calls``
    OpenAI bills each Responses ``web_search_call`` at $10 per 1k (pricing-semantics §10), but
    its usage object has no count and genai-prices' OpenAI extractor reads none, so genai-prices
    prices such a request without the fee. tokaudit counts the output items
    (docs/envelope.md). Adjustment: oracle + calls x genai-prices' own ``web_searches`` price.
``openai-embedding-batch``
    genai-prices has no batch rate for text-embedding-3-small/-large; OpenAI's pricing page has
    half the standard one ($0.01 and $0.065 per million: providers/openai.yaml comment on the
    embedding models). Adjustment: oracle = half of genai-prices' standard price; a request that
    logs output tokens is unpriced (``missing_price_key``: embeddings have no output price).
``vertex-regional-uplift``
    A Claude Sonnet/Haiku/Opus 4.5+ request on a regional Vertex AI endpoint (the envelope's
    ``metadata.vertex_location`` is not ``global``) costs 10% more than the global one
    (providers/anthropic.yaml header; the same +10% genai-prices records for Bedrock). genai-prices
    has no Vertex location. Adjustment: oracle token price x 1.1, fees unchanged.

``o3-cached-before-cut``
    o3's cached input was $2.50 until the 2025-06-10 cut (to $0.50, with input and output:
    Langfuse's price table, langfuse/langfuse#7223); genai-prices has $0.50 before the cut too.
    Adjustment: oracle + cached tokens x $2.00 per million before 2025-06-10.
``o1-mini-launch-price``
    o1-mini cost $3 / $1.50 cached / $12 until o3-mini's release on 2025-01-31, when it was cut to
    $1.10 / $0.55 / $4.40 (Roo-Code#711, langfuse/langfuse#5335); genai-prices has the cut price
    at every date. Every old rate is the new one x 30/11. Adjustment: oracle x 30/11 before then.
``sonnet-5-5-cache-read-cut``
    Claude Sonnet 5.5's cache reads were $0.20 ($0.10 batch) until Anthropic's cut of 2026-10-07
    (claudit v1.9.2, PromptFuel v1.0.23); genai-prices has the cut rate at every date.
    Adjustment: oracle + cache reads x $0.10 ($0.05 batch) per million before then, x 1.1 on a
    regional endpoint.
``mythos-as-fable``
    genai-prices 0.2.3 has no Claude Mythos 5 / 5.1 entry (its Anthropic importer skips
    limited-availability rows); Anthropic documents that Mythos "shares Claude Fable 5's
    specifications and pricing", and the pricing page gives Mythos 5.1 Fable 5.1's rates
    (providers/anthropic.yaml, Fable/Mythos comment). Adjustment: the request is priced by
    genai-prices as claude-fable-5 / claude-fable-5-1, with the other rules applied as for Fable.
``flash-8b-entry``
    genai-prices' google provider resolves ``gemini-1.5-flash-8b`` through 1.5 Flash's substring
    rule (the §7 pitfall), at 1.5 Flash's price; its own Flash-8B rates sit in the same provider's
    ``gemini-flash-1.5-8b`` entry (providers/google.yaml). Adjustment: the request is priced by
    genai-prices as ``gemini-flash-1.5-8b``.
``sonnet-4-long-context``
    Claude Sonnet 4 bills a prompt over 200,000 tokens at the long-context rates (its 1M-token
    context, beta from 2025-08-12), the card Sonnet 4.5 has; genai-prices' Sonnet 4 has no tier.
    Adjustment: such a request is priced by genai-prices as claude-sonnet-4-5 (the same base
    prices; no regional uplift on Sonnet 4).

Anything else that differs is a failure and is listed in the assertion message.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from copy import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot
from pricing_testkit import (
    CLAUDE_4_6_AND_LATER,
    Envelope,
    anthropic_envelope,
    gemini_envelope,
    openai_envelope,
    price_envelopes,
    shipped_table,
)

# The draws shift whenever the model list changes; reseeded when the GPT-6, Fable/Mythos,
# Flash-8B and Bedrock Claude 3 Haiku rows were added, so that every rule in RULES is still hit.
SEED = 20261128
N_REQUESTS = 3000
START = datetime(2025, 1, 1, tzinfo=UTC)
END = datetime(2026, 11, 26, tzinfo=UTC)  # exclusive: the last request day is 2026-11-25
# Instants where a price version or a genai-prices variant starts (§11, §5); hit them exactly and
# one second early so the inclusive/exclusive edges are exercised.
EDGES = [
    datetime(2025, 6, 10, tzinfo=UTC),  # o3 cut
    datetime(2026, 3, 13, tzinfo=UTC),  # Sonnet/Opus 4.6 long-context tier removed
    datetime(2026, 10, 12, tzinfo=UTC),  # genai-prices: OpenAI flex/priority verified
    datetime(2026, 10, 14, tzinfo=UTC),  # genai-prices: batch verified
]
VERIFIED = EDGES[-1]
OFFSETS = [timedelta(0), timedelta(hours=2), timedelta(hours=-5), timedelta(hours=9, minutes=30)]
PREFIXES = {
    "openai": "openai/",
    "anthropic": "anthropic/",
    "google": "models/",
    "bedrock": "bedrock/",
    "groq": "groq/",
}
GP_PROVIDER = {"bedrock": "aws"}
GP_FLAVOR = {"bedrock": "anthropic"}
GP_CONTEXT = {
    "standard": None,
    "default": {"service_tier": "default"},
    "batch": {"processing": "batch"},
    "flex": {"service_tier": "flex"},
    "priority": {"service_tier": "priority"},
}
GEO = ["us", "eu", "apac", "au", "jp"]
VERTEX_REGIONS = ["us-east5", "europe-west1", "asia-southeast1", "global"]
# First-party Claude models whose regional endpoints cost +10% (providers/anthropic.yaml).
REGIONAL_PREMIUM = {
    "claude-sonnet-4-5",
    "claude-haiku-4-5",
    "claude-opus-4-5",
} | CLAUDE_4_6_AND_LATER
# Models genai-prices lacks, or resolves to another model's price: priced there as a stand-in
# with the same published rates (rules mythos-as-fable, flash-8b-entry).
STAND_INS = {
    "claude-mythos-5": ("mythos-as-fable", "claude-fable-5"),
    "claude-mythos-5-1": ("mythos-as-fable", "claude-fable-5-1"),
    "gemini-1.5-flash-8b": ("flash-8b-entry", "gemini-flash-1.5-8b"),
}
# Embedding models with a Batch API rate genai-prices lacks (rule openai-embedding-batch).
EMBEDDING_BATCH = {"text-embedding-3-small", "text-embedding-3-large"}

# Models with a long-context tier in any version: their sizes straddle the 200k cliff.
TIERED = {m.id for m in shipped_table().models if any(v.tiers for v in m.versions)}
MODELS = {m.id: m for m in shipped_table().models}


@dataclass
class Case:
    request_id: str
    provider: str  # the table provider: openai | anthropic | google | bedrock | groq
    model_id: str  # our canonical id, for coverage counts only
    name: str  # the name as logged
    ts: datetime
    context: str  # standard | default | batch | flex | priority
    envelope: Envelope
    api_flavor: str  # genai-prices extractor flavour
    cached: int
    region: str | None = None  # Bedrock geo prefix or Vertex location
    web_search_calls: int = 0
    cached_audio: int = 0
    one_hour_writes: int = 0
    output: int | None = None  # logged output tokens (OpenAI cases)


@dataclass
class Expectation:
    rules: list[str]
    cost: Decimal | None
    reason: str | None = None
    adjustments: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- generator


def _timestamp(rng: random.Random) -> datetime:
    roll = rng.random()
    if roll < 0.08:
        instant = rng.choice(EDGES) - timedelta(seconds=rng.choice([0, 1]))
    else:
        # A quarter after every genai-prices variant start, so most variant requests are
        # compared with no adjustment at all.
        start = VERIFIED if roll < 0.33 else START
        instant = start + timedelta(seconds=rng.randrange(int((END - start).total_seconds())))
    # Same instant, written with a local offset: the UTC date must pick the version.
    return instant.astimezone(timezone(rng.choice(OFFSETS)))


def _size(rng: random.Random, tiered: bool) -> int:
    roll = rng.random()
    if tiered and roll < 0.08:
        return 200_000 + rng.randint(-3, 3)  # the strict `>` cliff
    if tiered and roll < 0.25:
        return rng.randint(150_000, 320_000)
    if roll < 0.55:
        return rng.randint(0, 4_000)
    return rng.randint(0, 120_000)


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """``parts`` non-negative ints summing to ``total``; often with zeros."""
    cuts = sorted(rng.randint(0, total) for _ in range(parts - 1))
    values = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    return [0 if rng.random() < 0.25 else v for v in values[:-1]] + [values[-1]]


def _name(rng: random.Random, provider: str, names: list[str]) -> str:
    name = rng.choice(names)
    roll = rng.random()
    if roll < 0.08:
        return name.upper()
    if roll < 0.14:
        return PREFIXES[provider] + name.removeprefix("groq/")
    dated = re.fullmatch(r"(claude-.*)-(\d{8})", name)
    if dated and roll < 0.30:
        return f"{dated.group(1)}@{dated.group(2)}"  # Vertex form
    return name


def _prices(model_id: str, key: str) -> bool:
    return all(key in v.prices for v in MODELS[model_id].versions)


def _openai_case(rng: random.Random, i: int, model_id: str, name: str, ts: datetime) -> Case:
    groq = model_id.startswith("groq/")
    contexts = ["standard", "batch"] if groq else ["standard", "default", "batch", "flex"]
    context = rng.choice([*contexts, "priority"] if not groq else contexts)
    prompt = _size(rng, tiered=False)
    uncached, cached, written = _split(rng, prompt, 3)
    if not groq and not _prices(model_id, "cache_read") and rng.random() < 0.7:
        cached = 0  # keep most of these models comparable; the rest hit no-cache-read-price
    if groq:  # Groq reports no cache writes, and caches only where it prices cached input
        written = 0
        cached = cached if _prices(model_id, "cache_read") else 0
    embedding = not _prices(model_id, "output")
    if embedding:  # an embeddings call: no cache, and output only to hit no-output-price
        cached = written = 0
    prompt = uncached + cached + written
    completion = _size(rng, tiered=False) // 4
    if embedding and rng.random() < 0.8:
        completion = 0
    reasoning = rng.randint(0, completion) if rng.random() < 0.5 and not embedding else None
    api = "chat" if groq or embedding else rng.choice(["chat", "responses"])
    searches = 0
    fee = any("web_search_per_1k" in v.fees for v in MODELS[model_id].versions)
    if api == "responses" and fee and rng.random() < 0.25:
        searches = rng.randint(1, 3)
    env = openai_envelope(
        name,
        ts,
        prompt,
        completion,
        cached=cached,
        cache_write=written if rng.random() < 0.8 and not groq else None,
        reasoning=reasoning,
        batch=context == "batch",
        service_tier=context if context in ("default", "flex", "priority") else None,
        api=api,
        request_id=f"r{i}",
        web_search_calls=searches,
    )
    flavor = "default" if groq else api
    provider = "groq" if groq else "openai"
    return Case(
        f"r{i}",
        provider,
        model_id,
        name,
        ts,
        context,
        env,
        flavor,
        cached,
        web_search_calls=searches,
        output=completion,
    )


def _anthropic_case(rng: random.Random, i: int, model_id: str, name: str, ts: datetime) -> Case:
    bedrock = MODELS[model_id].provider == "bedrock"
    searchable = any("web_search_per_1k" in v.fees for v in MODELS[model_id].versions)
    context = "batch" if rng.random() < (0.15 if bedrock else 0.4) else "standard"
    total = _size(rng, tiered=model_id in TIERED)
    uncached, read, w5, w1 = _split(rng, total, 4)
    if bedrock and not _prices(model_id, "cache_write_1h") and rng.random() < 0.8:
        w1 = 0  # keep most comparable; the rest hit no-1h-write-price
    if bedrock and not _prices(model_id, "cache_read"):
        # Claude 3 Haiku on Bedrock has no cache price (here or in genai-prices, which would bill
        # writes at the input rate); its unpriced cache tokens are tested in test_new_models.
        read = w5 = w1 = 0
    split = rng.random() < 0.8
    if not split:
        w5, w1 = w5 + w1, 0
    region = None
    if bedrock:
        gp_global = _gp_find("aws", f"global.{model_id}") is not None
        region = rng.choice([*GEO, *(["global"] * 3 if gp_global else []), "in-region"])
        prefix = "" if region == "in-region" else f"{region}."
        name = prefix + name.removeprefix("bedrock/")
        if rng.random() < 0.1:  # as LiteLLM logs it: a routing prefix (gp-name-fallback)
            name = "bedrock/" + name
        elif rng.random() < 0.05:  # an inference-profile ARN
            kind = "foundation-model" if region == "in-region" else "inference-profile"
            name = f"arn:aws:bedrock:us-east-1:123456789012:{kind}/{name}"
    elif rng.random() < 0.2:  # Claude on Vertex AI, with the endpoint location logged
        region = rng.choice(VERTEX_REGIONS)
        if "@" not in name:
            name = "vertex_ai/" + name.split("/")[-1]
    env = anthropic_envelope(
        name,
        ts,
        uncached,
        _size(rng, tiered=False) // 4,
        cache_read=read,
        cache_write_5m=w5,
        cache_write_1h=w1,
        split=split,
        # Only where a search has a price: genai-prices bills searches on a model without one
        # (Claude 3 Haiku / Opus) at 0, tokaudit reports them unpriced.
        web_searches=0 if bedrock or not searchable else rng.choice([0, 0, 0, 1, 3]),
        batch=context == "batch",
        request_id=f"r{i}",
        vertex_location=None if bedrock else region,
    )
    if bedrock:  # Bedrock's response names the first-party model; the request names the route
        first_party = re.sub(r"-v\d+(:\d+)?$", "", model_id.removeprefix("anthropic."))
        env["response"]["model"] = first_party
    provider = "bedrock" if bedrock else "anthropic"
    return Case(
        f"r{i}",
        provider,
        model_id,
        name,
        ts,
        context,
        env,
        GP_FLAVOR.get(provider, "default"),
        read,
        region=region,
        one_hour_writes=w1,
    )


def _gemini_case(rng: random.Random, i: int, model_id: str, name: str, ts: datetime) -> Case:
    context = "batch" if rng.random() < 0.4 else "standard"
    total = _size(rng, tiered=model_id in TIERED)
    tool_use = rng.randint(0, min(total, 5_000)) if rng.random() < 0.2 else 0
    prompt = total - tool_use
    cached = rng.randint(0, prompt) if rng.random() < 0.6 else 0
    if not _prices(model_id, "cache_read") and rng.random() < 0.7:
        cached = 0  # keep most comparable; the rest hit no-cache-read-price
    # AUDIO counts cover the whole prompt, cached part included (cacheTokensDetails).
    audio, cached_audio = 0, 0
    if rng.random() < 0.5:
        cached_audio = rng.randint(0, cached) if rng.random() < 0.5 else 0
        audio = rng.randint(0, prompt - cached) + cached_audio
    env = gemini_envelope(
        name,
        ts,
        prompt,
        _size(rng, tiered=False) // 4,
        cached=cached,
        thoughts=rng.randint(0, 20_000) if rng.random() < 0.5 else 0,
        tool_use=tool_use,
        batch=context == "batch",
        request_id=f"r{i}",
        audio=audio,
        cached_audio=cached_audio,
    )
    return Case(
        f"r{i}",
        "google",
        model_id,
        name,
        ts,
        context,
        env,
        "default",
        cached,
        cached_audio=cached_audio,
    )


BUILDERS = {
    "openai": _openai_case,
    "groq": _openai_case,
    "anthropic": _anthropic_case,
    "bedrock": _anthropic_case,
    "google": _gemini_case,
}


def generate(seed: int = SEED, n: int = N_REQUESTS) -> list[Case]:
    rng = random.Random(seed)
    models = shipped_table().models
    cases = []
    for i in range(n):
        model = models[i % len(models)] if i < 4 * len(models) else rng.choice(models)
        name = _name(rng, model.provider, [model.id, *model.aliases])
        cases.append(BUILDERS[model.provider](rng, i, model.id, name, _timestamp(rng)))
    return cases


# ---------------------------------------------------------------- oracle


def _gp_find(provider: str, ref: str) -> Any | None:
    try:
        return get_snapshot().find_provider_model(ref, None, provider, None)[1]
    except LookupError:
        return None


def _gp_provider(case: Case) -> str:
    return GP_PROVIDER.get(case.provider, case.provider)


def _gp_model(case: Case) -> tuple[Any, str, bool]:
    """genai-prices' model for the logged name, the ref used, and whether a fallback was needed."""
    provider = _gp_provider(case)
    found = _gp_find(provider, case.name)
    if found is not None:
        return found, case.name, False
    ref = case.name.lower()
    for prefix in (*PREFIXES.values(), "vertex_ai/"):
        ref = ref.removeprefix(prefix)
    ref = re.sub(r"@(\d{8})$", r"-\1", re.sub(r"^arn:[^/]*/", "", ref))
    found = _gp_find(provider, ref)
    assert found is not None, (case.name, ref, provider)
    return found, ref, True


def _gp_usage(case: Case) -> Usage:
    provider = get_snapshot().find_provider(None, _gp_provider(case), None)
    _, usage = provider.extract_usage(case.envelope["response"], api_flavor=case.api_flavor)
    if (
        not case.cached_audio
        and vars(usage).get("input_audio_tokens")
        and vars(usage).get("cache_read_tokens")
    ):
        # With no cacheTokensDetails genai-prices refuses to guess ("Missing usage for
        # cache_audio_read_tokens"); tokaudit reads it as no cached audio, and so does the oracle.
        usage = copy(usage)
        usage.cache_audio_read_tokens = 0
    return usage


def _variant_start(model: Any, context: str, day: date) -> tuple[bool, date | None]:
    """Whether genai-prices has a variant for ``context``, and the start of the one in force on
    ``day`` (the earliest when none is yet). A model may list several dated variants for one
    context (Gemini 3.6 Flash: the introductory batch rate from 2026-10-14, the list one from
    2027-01-01)."""
    wanted = GP_CONTEXT[context]
    starts = [
        getattr(v.constraint, "start_date", None)
        for v in model.price_variants or ()
        if v.when == wanted
    ]
    if not starts:
        return False, None
    if None in starts:
        return True, None
    begun = [s for s in starts if s <= day]
    return True, max(begun) if begun else min(starts)


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def _standard(model: Any, when: datetime | date) -> Any:
    return model.get_prices(when if isinstance(when, datetime) else _at(when))


def _regional(case: Case) -> bool:
    """Regional Vertex endpoint on a first-party entry (Bedrock regions are gp's own ids)."""
    return case.provider == "anthropic" and case.region not in (None, "global")


def _prompt_tokens(case: Case) -> int:
    """Total input of an Anthropic case (uncached + cache read + cache writes)."""
    usage = case.envelope["response"]["usage"]
    return sum(
        int(usage.get(k) or 0)
        for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )


def _expect(case: Case) -> Expectation:
    expected = _expect_gp(case)
    if expected.cost is None:
        return expected
    day = case.ts.astimezone(UTC).date()
    if case.model_id == "o3" and day < date(2025, 6, 10) and case.cached:
        expected.rules.append("o3-cached-before-cut")
        expected.cost += case.cached * Decimal(2) / 1_000_000
    if case.model_id == "o1-mini" and day < date(2025, 1, 31):
        expected.rules.append("o1-mini-launch-price")
        expected.cost = expected.cost * 30 / 11
    if case.model_id == "claude-sonnet-5-5" and day < date(2026, 10, 7) and case.cached:
        expected.rules.append("sonnet-5-5-cache-read-cut")
        per_million = Decimal("0.05") if case.context == "batch" else Decimal("0.1")
        uplift = Decimal("1.1") if _regional(case) else Decimal(1)
        expected.cost += case.cached * per_million * uplift / 1_000_000
    return expected


def _expect_gp(case: Case) -> Expectation:
    stand_in = STAND_INS.get(case.model_id)
    if stand_in is not None:
        ref = stand_in[1]
        model, fallback = _gp_find(_gp_provider(case), ref), False
        assert model is not None, ref
    else:
        model, ref, fallback = _gp_model(case)
    usage = _gp_usage(case)
    rules = ["gp-name-fallback"] if fallback else []
    if stand_in is not None:
        rules.append(stand_in[0])
    if case.model_id == "claude-sonnet-4" and _prompt_tokens(case) > 200_000:
        rules.append("sonnet-4-long-context")
        model, ref = _gp_find(_gp_provider(case), "claude-sonnet-4-5"), "claude-sonnet-4-5"

    def gp(ts: datetime, context: str | None, u: Usage = usage) -> Any:
        return calc_price(
            u,
            ref,
            provider_id=_gp_provider(case),
            genai_request_timestamp=ts,
            price_context=GP_CONTEXT[context] if context else None,
        )

    def tokens_only(ts: datetime, context: str | None) -> Decimal:
        without_fees = copy(usage)
        without_fees.web_searches = None
        return Decimal(gp(ts, context, without_fees).total_price)

    if _regional(case) and case.context != "standard":
        return Expectation([*rules, "no-variant-price"], None, "unknown_context")
    at, context = case.ts, None
    if case.context in ("standard", "default"):
        context = case.context
    else:
        utc_day = case.ts.astimezone(UTC).date()
        has_variant, start = _variant_start(model, case.context, utc_day)
        # Same genai-prices standard prices on the request day and the variant's start day.
        same_version = start is not None and _standard(model, case.ts) == _standard(model, start)
        if has_variant and (start is None or utc_day >= start):
            context = case.context
        elif has_variant and same_version:
            assert start is not None
            rules.append("variant-before-checked")
            at, context = _at(start), case.context
        elif case.context == "batch" and case.model_id in EMBEDDING_BATCH:
            if case.output:
                return Expectation([*rules, "openai-embedding-batch"], None, "missing_price_key")
            half = Decimal(gp(case.ts, None).total_price) / 2
            return Expectation([*rules, "openai-embedding-batch"], half)
        elif case.provider == "anthropic" and case.context == "batch":
            full = Decimal(gp(case.ts, None).total_price)
            tokens = tokens_only(case.ts, None)
            return Expectation([*rules, "anthropic-batch-50pct"], tokens / 2 + (full - tokens))
        else:
            return Expectation([*rules, "no-variant-price"], None, "unknown_context")
    result = gp(at, context)
    if case.cached and result.model_price.cache_read_mtok is None:
        return Expectation([*rules, "no-cache-read-price"], None, "missing_price_key")
    if case.output and result.model_price.output_mtok is None:
        return Expectation([*rules, "no-output-price"], None, "missing_price_key")
    if case.one_hour_writes and result.model_price.cache_write_1h_mtok is None:
        return Expectation([*rules, "no-1h-write-price"], None, "missing_price_key")
    cost = Decimal(result.total_price)
    if _regional(case) and case.model_id in REGIONAL_PREMIUM:
        rules.append("vertex-regional-uplift")
        tokens = tokens_only(at, context)
        cost = tokens * Decimal("1.1") + (cost - tokens)
    if case.web_search_calls:
        rules.append("openai-web-search-calls")
        fee = result.model_price.web_searches_kcount
        assert fee is not None, case.model_id
        cost += case.web_search_calls * Decimal(fee) / 1000
    return Expectation(rules or ["gp"], cost)


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return generate()


@pytest.fixture(scope="module")
def ours(cases: list[Case], tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    directory: Path = tmp_path_factory.mktemp("oracle")
    return price_envelopes(directory, [c.envelope for c in cases])


RULES = (
    "variant-before-checked",
    "anthropic-batch-50pct",
    "no-variant-price",
    "no-cache-read-price",
    "no-1h-write-price",
    "gp-name-fallback",
    "openai-web-search-calls",
    "vertex-regional-uplift",
    "o3-cached-before-cut",
    "sonnet-5-5-cache-read-cut",
    "sonnet-4-long-context",
    "mythos-as-fable",
    "flash-8b-entry",
    "openai-embedding-batch",
)


def test_request_costs_match_genai_prices(
    cases: list[Case], ours: dict[str, dict[str, Any]]
) -> None:
    rules: Counter[str] = Counter()
    mismatches = []
    unadjusted = 0  # compared with genai-prices' own price, only the name looked up differently
    for case in cases:
        expected = _expect(case)
        rules.update(expected.rules)
        unadjusted += set(expected.rules) <= {"gp", "gp-name-fallback"}
        row = ours[case.request_id]
        got = (row["cost_usd"], row["unpriced_reason"])
        want = (expected.cost, expected.reason)
        if got != want:
            mismatches.append(
                f"{case.request_id} {case.name!r} {case.ts.isoformat()} {case.context} "
                f"{case.region} {expected.rules} tokaudit={got} oracle={want} "
                f"usage={case.envelope['response'].get('usage') or case.envelope['response']}"
            )
    summary = ", ".join(f"{k}={v}" for k, v in sorted(rules.items()))
    assert not mismatches, f"{len(mismatches)} of {len(cases)} differ ({summary}):\n" + "\n".join(
        mismatches[:40]
    )
    # Each documented rule must actually be exercised, and most requests compared unadjusted.
    for rule in RULES:
        assert rules[rule] > 0, f"generator never hit {rule}: {summary}"
    assert unadjusted > len(cases) // 2, summary


def test_generator_covers_the_table(cases: list[Case], ours: dict[str, dict[str, Any]]) -> None:
    """The comparison is only as good as its spread: every model, context, class and cliff."""
    table_ids = {m.id for m in shipped_table().models}
    assert {c.model_id for c in cases} == table_ids
    assert {ours[c.request_id]["priced_model"] for c in cases} == table_ids
    assert {c.context for c in cases} == set(GP_CONTEXT)
    rows = list(ours.values())
    for column in (
        "input_tokens",
        "input_audio_tokens",
        "cache_read_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "web_search_requests",
    ):
        assert sum(1 for r in rows if r[column]) > 50, column
    tiered = [r for r in rows if r["priced_model"] in TIERED]
    assert sum(1 for r in tiered if r["total_input_tokens"] > 200_000) > 20
    assert sum(1 for r in tiered if 199_997 <= r["total_input_tokens"] <= 200_003) > 5
    days = {c.ts.astimezone(UTC).date() for c in cases}
    assert min(days) < date(2025, 2, 1) and max(days) > date(2026, 11, 1)
    for edge in EDGES:
        assert edge.date() in days and (edge - timedelta(seconds=1)).date() in days
    # Every Bedrock endpoint kind and both Vertex location kinds, priced in their context.
    regions = Counter((r["price_route"], r["price_region"], r["price_context"]) for r in rows)
    for geo in [*GEO, "global", "in-region"]:
        context = "standard" if geo == "global" else "regional"
        assert regions["bedrock", geo, context] > 3, (geo, regions)
    assert regions["vertex", "global", "standard"] > 3, regions
    assert (
        sum(
            n
            for (route, region, _), n in regions.items()
            if route == "vertex" and region not in (None, "global")
        )
        > 20
    ), regions


# ---------------------------------------------------------------- audio input

AUDIO_BODY = {
    "modelVersion": "gemini-2.5-flash",
    "usageMetadata": {
        "promptTokenCount": 1000,
        "candidatesTokenCount": 100,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 400},
            {"modality": "AUDIO", "tokenCount": 600},
        ],
    },
}
# 400 x 0.30 (text) + 600 x 1.00 (audio, §10 "audio in 1.00") + 100 x 2.50 per 1M.
AUDIO_EXPECTED = Decimal("0.00097")


def test_genai_prices_splits_gemini_audio_input() -> None:
    extracted = get_snapshot().find_provider(None, "google", None).extract_usage(AUDIO_BODY)[1]
    when = datetime(2026, 11, 1, 12, tzinfo=UTC)
    price = calc_price(
        extracted, "gemini-2.5-flash", provider_id="google", genai_request_timestamp=when
    )
    assert price.total_price == AUDIO_EXPECTED


def test_gemini_audio_input_uses_the_audio_price(tmp_path: Path) -> None:
    env = gemini_envelope("gemini-2.5-flash", "2026-11-01T12:00:00Z", 1000, 100)
    env["response"] = AUDIO_BODY
    (row,) = price_envelopes(tmp_path, [env]).values()
    assert (row["input_tokens"], row["input_audio_tokens"]) == (400, 600)
    assert row["cost_usd"] == AUDIO_EXPECTED
