"""Property-style checks of request_costs over seeded random requests (plain loops, no hypothesis).

* additive: a request costs the same alone, in a batch of others, or split across stores and
  files; the store total is the sum of its rows;
* independent of record order and of file order;
* monotone: one more token of any class never lowers the cost (and, every price being positive,
  raises it), tier cliffs included;
* batch and flex never cost more than standard for the same usage; priority never less.
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
    # OpenAI reports one kind of cache write (priced as 5m); Gemini reports no writes.
    return {
        "openai": ("uncached", "read", "w5", "out"),
        "anthropic": CLASSES,
        "google": ("uncached", "read", "out"),
    }[provider]


def envelope(
    provider: str, model: str, ts: datetime, u: Usage, context: str, request_id: str
) -> Envelope:
    batch = context == "batch"
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
        )
    assert u.w5 == u.w1 == 0
    return gemini_envelope(
        model, ts, u.uncached + u.read, u.out, cached=u.read, batch=batch, request_id=request_id
    )


def random_usage(rng: random.Random, provider: str) -> Usage:
    allowed = classes_for(provider)
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
        contexts = ["standard", "batch"] + (
            ["flex", "priority"] if model.provider == "openai" else []
        )
        out.append(
            envelope(
                model.provider,
                rng.choice([model.id, *model.aliases]),
                random_ts(rng),
                random_usage(rng, model.provider),
                rng.choice(contexts),
                f"p{i}",
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
    assert len(priced) > 200
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
    for i, env in enumerate(random.Random(SEED + 1).sample(requests_, 5)):
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
    for i in range(150):
        model = rng.choice(models)
        contexts = ["standard", "batch"] + (
            ["flex", "priority"] if model.provider == "openai" else []
        )
        context, ts = rng.choice(contexts), random_ts(rng)
        base = random_usage(rng, model.provider)
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
            # Only the first cached token on a model with no cache-read price may do this.
            assert (cls, bumped["unpriced_reason"], base["cache_read_tokens"]) == (
                "read",
                "missing_price_key",
                0,
            ), bumped
            continue
        assert bumped["cost_usd"] > base["cost_usd"], (cls, base, bumped)
        compared += 1
    assert compared > 400


def test_batch_and_flex_never_cost_more_than_standard(tmp_path: Path) -> None:
    rng = random.Random(SEED + 4)
    envelopes, groups = [], []
    for i in range(120):
        for model in shipped_table().models:
            if rng.random() > 0.25:
                continue
            ts, usage = random_ts(rng), random_usage(rng, model.provider)
            contexts = ["standard", "batch"] + (
                ["flex", "priority"] if model.provider == "openai" else []
            )
            keys = {}
            for context in contexts:
                key = keys[context] = f"b{i}-{model.id}-{context}"
                envelopes.append(envelope(model.provider, model.id, ts, usage, context, key))
            groups.append((model.id, ts, keys))
    con = priced_store(tmp_path, envelopes)
    rows = cost_rows(con)
    con.close()
    checked = {"batch": 0, "flex": 0, "priority": 0}
    for model_id, ts, keys in groups:
        standard = rows[keys["standard"]]["cost_usd"]
        if standard is None:
            continue  # gpt-4o-2024-05-13 with cached tokens: nothing to compare
        for context, key in keys.items():
            cost = rows[key]["cost_usd"]
            if context == "standard" or cost is None:
                continue
            checked[context] += 1
            if context == "priority":
                assert cost >= standard, (model_id, ts, rows[key])
            else:
                assert cost <= standard, (model_id, ts, context, rows[key])
    assert min(checked.values()) > 20, checked
    # Every model prices batch, except o3 before its 2025-06-10 version (no variants there).
    unpriced_batch = {
        (model_id, ts < datetime(2025, 6, 10, tzinfo=UTC))
        for model_id, ts, keys in groups
        if rows[keys["batch"]]["unpriced_reason"] == "unknown_context"
    }
    assert unpriced_batch <= {("o3", True)}, unpriced_batch
