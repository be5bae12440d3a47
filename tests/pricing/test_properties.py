"""Property-style checks of request_costs over seeded random requests (plain loops, no hypothesis).

* additive: a request costs the same alone, in a batch of others, or split across stores and
  files; the store total is the sum of its rows;
* independent of record order and of file order;
* monotone: one more token of any class never lowers the cost (and, every price being positive,
  raises it), tier cliffs included;
* batch and flex never cost more than standard for the same usage; priority never less;
* a regional endpoint (Bedrock geo prefix, Vertex location) never costs less than the global one.

Requests cover every table provider: OpenAI, Anthropic, Google, Claude on Bedrock (Anthropic
bodies, geo-prefixed ids) and Groq (OpenAI-compatible bodies, ``groq/`` ids).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pricing_testkit import (
    ENVELOPE_PROVIDER,
    Envelope,
    anthropic_envelope,
    cost_rows,
    gemini_envelope,
    openai_envelope,
    priced_store,
    shipped_table,
    total_cost,
    write_jsonl,
)

from tokaudit.ingest import ingest_paths
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import ModelEntry
from tokaudit.store import open_store

SEED = 7_2026
START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = int((datetime(2026, 11, 26, tzinfo=UTC) - START).total_seconds())
CLASSES = ("uncached", "read", "w5", "w1", "out")


@dataclass(frozen=True)
class Usage:
    """Disjoint token classes; turned into each provider's own usage convention."""

    uncached: int
    read: int
    w5: int
    w1: int
    out: int

    def bump(self, cls: str, delta: int) -> Usage:
        values = {c: getattr(self, c) for c in CLASSES}
        values[cls] += delta
        return Usage(**values)


def classes_for(provider: str) -> tuple[str, ...]:
    # OpenAI reports one kind of cache write (priced as 5m); Gemini reports no writes; Groq
    # publishes no cache-write price.
    return {
        "openai": ("uncached", "read", "w5", "out"),
        "anthropic": CLASSES,
        "bedrock": CLASSES,
        "google": ("uncached", "read", "out"),
        "groq": ("uncached", "read", "out"),
    }[provider]


def contexts_for(provider: str) -> list[str]:
    extra = {
        "openai": ["flex", "priority"],
        "anthropic": ["regional"],
        "bedrock": ["regional"],
    }
    return ["standard", "batch", *extra.get(provider, [])]


def logged_name(provider: str, name: str, context: str, rng: random.Random) -> str:
    """Bedrock: a geo prefix says the endpoint (global. is the base price); Claude on Vertex:
    a vertex_ai/ route (its location is logged in the metadata)."""
    if provider == "bedrock":
        geo = rng.choice(["us", "eu", "apac", "au", "jp"]) if context == "regional" else "global"
        return f"{geo}.{name}"
    if provider == "anthropic" and context == "regional":
        return f"vertex_ai/{name}"
    return name


def envelope(
    table_provider: str,
    model: str,
    ts: datetime,
    u: Usage,
    context: str,
    request_id: str,
    rng: random.Random | None = None,
) -> Envelope:
    batch = context == "batch"
    model = logged_name(table_provider, model, context, rng or random.Random(request_id))
    provider = ENVELOPE_PROVIDER[table_provider]
    if provider == "openai":
        assert u.w1 == 0
        tier = context if context in ("flex", "priority") else None
        return openai_envelope(
            model,
            ts,
            u.uncached + u.read + u.w5,
            u.out,
            cached=u.read,
            cache_write=u.w5,
            batch=batch,
            service_tier=tier,
            request_id=request_id,
        )
    if provider == "anthropic":
        return anthropic_envelope(
            model,
            ts,
            u.uncached,
            u.out,
            cache_read=u.read,
            cache_write_5m=u.w5,
            cache_write_1h=u.w1,
            batch=batch,
            request_id=request_id,
            vertex_location="us-east5" if context == "regional" else None,
        )
    assert u.w5 == u.w1 == 0
    return gemini_envelope(
        model, ts, u.uncached + u.read, u.out, cached=u.read, batch=batch, request_id=request_id
    )


KEY_OF = {
    "uncached": "input",
    "read": "cache_read",
    "w5": "cache_write_5m",
    "w1": "cache_write_1h",
    "out": "output",
}


def random_usage(rng: random.Random, model: ModelEntry) -> Usage:
    """Tokens only in classes the model prices (a host without caching reports no cache)."""
    allowed = [
        c for c in classes_for(model.provider) if all(KEY_OF[c] in v.prices for v in model.versions)
    ]
    big = rng.random() < 0.3
    values = {
        c: (rng.randint(0, 150_000 if big else 5_000) if c in allowed and rng.random() < 0.8 else 0)
        for c in CLASSES
    }
    if rng.random() < 0.15:  # park the total input just under the 200k cliff
        values["uncached"] = max(
            0, 200_000 - rng.randint(0, 3) - values["read"] - values["w5"] - values["w1"]
        )
    return Usage(**values)


def random_ts(rng: random.Random) -> datetime:
    return START + timedelta(seconds=rng.randrange(SPAN))


def random_requests(rng: random.Random, n: int) -> list[Envelope]:
    models = shipped_table().models
    out = []
    for i in range(n):
        model = rng.choice(models)
        out.append(
            envelope(
                model.provider,
                rng.choice([model.id, *model.aliases]),
                random_ts(rng),
                random_usage(rng, model),
                rng.choice(contexts_for(model.provider)),
                f"p{i}",
                rng,
            )
        )
    return out


def ingest_into_one_store(files: list[Path]) -> Any:
    con = open_store(":memory:")
    outcome = ingest_paths(con, [str(f) for f in files])
    assert not outcome.errors
    install_price_table(con, shipped_table())
    return con


@pytest.fixture(scope="module")
def requests_() -> list[Envelope]:
    return random_requests(random.Random(SEED), 240)


@pytest.fixture(scope="module")
def whole(requests_: list[Envelope], tmp_path_factory: pytest.TempPathFactory) -> Any:
    con = priced_store(tmp_path_factory.mktemp("whole"), requests_)
    yield con
    con.close()


def test_store_total_is_the_sum_of_its_rows(whole: Any) -> None:
    rows = cost_rows(whole)
    priced = [r["cost_usd"] for r in rows.values() if r["cost_usd"] is not None]
    assert len(priced) > len(rows) // 2  # batch on Bedrock and most Groq models is unpriced
    assert total_cost(whole) == sum(priced, Decimal(0))


def test_cost_is_additive_across_stores(
    requests_: list[Envelope], whole: Any, tmp_path: Path
) -> None:
    together = cost_rows(whole)
    parts = [requests_[0:70], requests_[70:71], requests_[71:]]
    totals = Decimal(0)
    for i, part in enumerate(parts):
        con = priced_store(tmp_path, part, name=f"part{i}.jsonl")
        rows = cost_rows(con)
        totals += total_cost(con)
        con.close()
        for key, row in rows.items():
            assert row["cost_usd"] == together[key]["cost_usd"], key
            assert row["unpriced_reason"] == together[key]["unpriced_reason"], key
    assert totals == total_cost(whole)


def test_a_request_costs_the_same_alone(
    requests_: list[Envelope], whole: Any, tmp_path: Path
) -> None:
    together = cost_rows(whole)
    for i, env in enumerate(random.Random(SEED + 1).sample(requests_, 3)):
        con = priced_store(tmp_path, [env], name=f"alone{i}.jsonl")
        (row,) = cost_rows(con).values()
        con.close()
        assert row["cost_usd"] == together[env["request_id"]]["cost_usd"]


def test_cost_is_independent_of_record_and_file_order(
    requests_: list[Envelope], whole: Any, tmp_path: Path
) -> None:
    expected = cost_rows(whole)
    shuffled = list(requests_)
    random.Random(SEED + 2).shuffle(shuffled)
    con = priced_store(tmp_path, shuffled, name="shuffled.jsonl")
    assert cost_rows(con) == expected
    assert total_cost(con) == total_cost(whole)
    con.close()

    first = write_jsonl(tmp_path / "a.jsonl", shuffled[:100])
    second = write_jsonl(tmp_path / "b.jsonl", shuffled[100:])
    con = ingest_into_one_store([second, first])
    assert cost_rows(con) == expected
    con.close()


def test_cost_is_monotone_in_every_token_class(tmp_path: Path) -> None:
    rng = random.Random(SEED + 3)
    models = shipped_table().models
    envelopes, pairs = [], []
    models_by_id: dict[str, ModelEntry] = {}
    for i in range(150):
        model = rng.choice(models)
        models_by_id[f"m{i}"] = model
        context, ts = rng.choice(contexts_for(model.provider)), random_ts(rng)
        base = random_usage(rng, model)
        envelopes.append(envelope(model.provider, model.id, ts, base, context, f"m{i}"))
        for cls in classes_for(model.provider):
            delta = rng.choice([1, rng.randint(1, 60_000)])
            key = f"m{i}+{cls}"
            envelopes.append(
                envelope(model.provider, model.id, ts, base.bump(cls, delta), context, key)
            )
            pairs.append((f"m{i}", key, cls))
    con = priced_store(tmp_path, envelopes)
    rows = cost_rows(con)
    con.close()
    compared = 0
    for base_key, bumped_key, cls in pairs:
        base, bumped = rows[base_key], rows[bumped_key]
        if base["cost_usd"] is None:
            # Unpriced stays unpriced for the same reason (unknown context, missing key).
            assert bumped["cost_usd"] is None, (base, bumped)
            continue
        if bumped["cost_usd"] is None:
            # Only the first token of a class the model has no price for may do this: cached
            # input on gpt-4o-2024-05-13, 1-hour writes on the older Bedrock Claude models,
            # cache writes and output on the embedding models (input-only, `kind: embedding`).
            column = f"{KEY_OF[cls]}_tokens" if cls != "uncached" else None
            versions = models_by_id[base_key].versions
            unpriced_key = any(KEY_OF[cls] not in v.prices for v in versions)
            assert column is not None and unpriced_key, bumped
            assert (bumped["unpriced_reason"], base[column]) == ("missing_price_key", 0), bumped
            continue
        assert bumped["cost_usd"] > base["cost_usd"], (cls, base, bumped)
        compared += 1
    # Most pairs must be compared (the rest are unpriced contexts or missing keys); a share,
    # not a count, since the seeded draw shifts whenever the table gains a model.
    assert compared > len(pairs) // 2, (compared, len(pairs))


# First-party models with no batch rate in the source (genai-prices 0.2.3), and models whose
# batch variant exists only from a dated price version on (UTC instant).
NO_BATCH_RATE = {
    "gemini-1.5-flash-8b",  # no batch rate published
    "text-embedding-ada-002",  # OpenAI lists Batch rates for text-embedding-3-* only
    "gpt-3.5-turbo-0301",
    "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-16k",
    "gpt-3.5-turbo-instruct",
    "gpt-4-32k",
    "gpt-4-vision-preview",
    "chatgpt-4o-latest",
    "gpt-4.5-preview",
    "o1-mini",
    "o1-preview",
    "gpt-5.1-codex-mini",
    "gpt-5.3",
    "gpt-5.3-codex",
    "gemini-1.5-pro",
    "gemini-1.5-flash",
    "gemini-2.0-flash",
    "gemini-2.0-flash-lite",
    "gemini-3-pro-preview",
    "gemini-3.5-flash",
    "gemini-3.7-flash",
}
BATCH_FROM = {
    "o3": "2025-06-10T00:00:00+00:00",
    "gpt-5.6-luna": "2026-07-30T00:00:00+00:00",
    "gpt-5.6-terra": "2026-07-30T00:00:00+00:00",
    "gpt-5.6-sol": "2026-08-21T00:00:00+00:00",
    "gemini-3-flash-preview": "2026-01-05T00:00:00+00:00",
}


def test_batch_and_flex_never_cost_more_than_standard(tmp_path: Path) -> None:
    rng = random.Random(SEED + 4)
    envelopes, groups = [], []
    for i in range(120):
        for model in shipped_table().models:
            if rng.random() > 0.25:
                continue
            ts, usage = random_ts(rng), random_usage(rng, model)
            keys = {}
            for context in contexts_for(model.provider):
                key = keys[context] = f"b{i}-{model.id}-{context}"
                envelopes.append(envelope(model.provider, model.id, ts, usage, context, key, rng))
            groups.append((model.id, ts, keys))
    con = priced_store(tmp_path, envelopes)
    rows = cost_rows(con)
    con.close()
    checked = {"batch": 0, "flex": 0, "priority": 0, "regional": 0}
    for model_id, ts, keys in groups:
        standard = rows[keys["standard"]]["cost_usd"]
        if standard is None:
            continue  # gpt-4o-2024-05-13 with cached tokens: nothing to compare
        for context, key in keys.items():
            cost = rows[key]["cost_usd"]
            if context == "standard" or cost is None:
                continue
            checked[context] += 1
            if context in ("priority", "regional"):
                assert cost >= standard, (model_id, ts, rows[key])
            else:
                assert cost <= standard, (model_id, ts, context, rows[key])
    assert min(checked.values()) > 20, checked
    # Every first-party model prices batch, except the models whose source publishes no batch
    # rate and the versions before a dated price change (no variants there: o3 before its
    # 2025-06-10 cut, GPT-5.6 before its cuts, Gemini 3 Flash Preview before 2026-01-05).
    # Bedrock has no batch rate in the table, Groq only for gpt-oss.
    table = {m.id: m for m in shipped_table().models}
    unpriced_batch = {
        (model_id, ts)
        for model_id, ts, keys in groups
        if rows[keys["batch"]]["unpriced_reason"] == "unknown_context"
        and table[model_id].provider not in ("bedrock", "groq")
    }
    expected = {
        (model_id, ts)
        for model_id, ts, _ in groups
        if model_id in NO_BATCH_RATE
        or (model_id in BATCH_FROM and ts < datetime.fromisoformat(BATCH_FROM[model_id]))
    }
    assert unpriced_batch == expected, unpriced_batch ^ expected
    groq_batch = {
        model_id
        for model_id, _, keys in groups
        if table[model_id].provider == "groq" and rows[keys["batch"]]["cost_usd"] is not None
    }
    assert groq_batch <= {"groq/openai/gpt-oss-120b", "groq/openai/gpt-oss-20b"}, groq_batch
    # Regional Claude 4.5+ costs exactly 10% more than the global endpoint, token for token.
    premium = [
        (rows[keys["standard"]]["cost_usd"], rows[keys["regional"]]["cost_usd"])
        for model_id, _, keys in groups
        if model_id in ("claude-sonnet-4-5", "anthropic.claude-haiku-4-5-20251001-v1:0")
        and rows[keys["standard"]]["cost_usd"] is not None
    ]
    assert premium and all(r == s * Decimal("1.1") for s, r in premium), premium
