"""Unknown means unpriced, never zero (pricing-semantics §8), and model names match exactly (§7).

Most cases share one store priced with the shipped table; the ``no_active_version`` cases use a
small table built in tmp_path, because the shipped table has no dated first version.
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
    price_envelopes,
    priced_store,
    write_jsonl,
)

from tokaudit.ingest import ingest_paths
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.report.breakdown import breakdown
from tokaudit.store import open_store

TS = "2026-11-01T12:00:00Z"
M = 1_000_000


def _env(kind: str, name: str, **kw: Any) -> Envelope:
    if kind == "openai":
        return openai_envelope(name, TS, kw.pop("prompt", 1000), kw.pop("out", 100), **kw)
    if kind == "anthropic":
        return anthropic_envelope(name, TS, kw.pop("prompt", 1000), kw.pop("out", 100), **kw)
    return gemini_envelope(name, TS, kw.pop("prompt", 1000), kw.pop("out", 100), **kw)


# Logged names that must resolve after normalisation (lowercase, trim, routing prefix, Vertex @).
RESOLVES = {
    "openai/gpt-4o": ("openai", "gpt-4o"),
    "GPT-4O": ("openai", "gpt-4o"),
    " gpt-4o ": ("openai", "gpt-4o"),
    "OpenAI/GPT-4o-2024-08-06": ("openai", "gpt-4o"),
    "models/gemini-2.5-flash": ("google", "gemini-2.5-flash"),
    "google/gemini-2.5-pro": ("google", "gemini-2.5-pro"),
    "claude-sonnet-4-5@20250929": ("anthropic", "claude-sonnet-4-5"),
    "Claude-Sonnet-4-5@20250929": ("anthropic", "claude-sonnet-4-5"),
    "anthropic/claude-sonnet-4-5-20250929": ("anthropic", "claude-sonnet-4-5"),
    "claude-opus-4@20250514": ("anthropic", "claude-opus-4"),
    # Claude on Bedrock: the geo prefix is a region, not part of the id (§7).
    "us.anthropic.claude-sonnet-4-5-20250929-v1:0": (
        "anthropic",
        "anthropic.claude-sonnet-4-5-20250929-v1:0",
    ),
    "global.anthropic.claude-haiku-4-5-20251001-v1:0": (
        "anthropic",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
    ),
    "bedrock/eu.anthropic.claude-opus-4-5-20251101-v1:0": (
        "anthropic",
        "anthropic.claude-opus-4-5-20251101-v1:0",
    ),
    "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-sonnet-4-6": (
        "anthropic",
        "anthropic.claude-sonnet-4-6",
    ),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (
        "anthropic",
        "anthropic.claude-3-5-sonnet-20241022-v2:0",
    ),
    # Claude on Vertex AI: a LiteLLM route or a publisher path; first-party prices.
    "vertex_ai/claude-sonnet-4-6": ("anthropic", "claude-sonnet-4-6"),
    "publishers/anthropic/models/claude-sonnet-4-5@20250929": ("anthropic", "claude-sonnet-4-5"),
    # Groq: host-qualified, or a Groq-only id.
    "groq/llama-3.3-70b-versatile": ("openai", "groq/llama-3.3-70b-versatile"),
    "llama-3.1-8b-instant": ("openai", "groq/llama-3.1-8b-instant"),
    "groq/openai/gpt-oss-120b": ("openai", "groq/openai/gpt-oss-120b"),
    # A compact date is the same snapshot (genai-prices rewrites it the same way).
    "gpt-4o-20240806": ("openai", "gpt-4o"),
    # Each dated snapshot with its own price is its own entry; aliases resolve exactly.
    "gpt-3.5-turbo-0125": ("openai", "gpt-3.5-turbo"),
    "gpt-3.5-turbo-1106": ("openai", "gpt-3.5-turbo-1106"),
    "gpt-4-0613": ("openai", "gpt-4"),
    "o3-mini-high": ("openai", "o3-mini"),
    "o3-pro-2025-06-10": ("openai", "o3-pro"),
    "openai/gpt-5.4-2026-03-05": ("openai", "gpt-5.4"),
    "gpt-5.6": ("openai", "gpt-5.6-sol"),
    "claude-3-7-sonnet@20250219": ("anthropic", "claude-3-7-sonnet"),
    # Vertex's own id for Claude 3.5 Sonnet v2 (it was unknown_model: QA)
    "vertex_ai/claude-3-5-sonnet-v2@20241022": ("anthropic", "claude-3-5-sonnet"),
    "models/gemini-2.0-flash-001": ("google", "gemini-2.0-flash"),
    # Flash-8B has its own, cheaper entry: never 1.5 Flash by substring.
    "gemini-1.5-flash-8b": ("google", "gemini-1.5-flash-8b"),
    "gemini-2.5-pro-preview-06-05": ("google", "gemini-2.5-pro"),
}

# Names that must NOT resolve: no alias fallback from a dated snapshot, no substring or prefix
# match, no fine-tune or regional id priced as the first-party base model.
UNKNOWN = {
    "no-such-model": "openai",
    "gpt-4o-2099-01-01": "openai",  # a future snapshot is not gpt-4o
    "gpt-4o-audio-preview": "openai",  # substring of gpt-4o
    "o3-deep-research": "openai",  # o3 + suffix: not o3
    "o3-mini-2099-01-31": "openai",  # a future snapshot is not o3-mini
    "gpt-3.5-turbo-0125-preview": "openai",  # not a prefix match on gpt-3.5-turbo-0125
    "gemini-1.5-flash-8b-exp-0924": "google",  # the free experimental Flash-8B, not a paid id
    "gpt-6": "openai",  # no bare GPT-6 alias is published
    "gpt-6-astra-2099-01-01": "openai",  # no dated GPT-6 snapshot is published
    "gpt-35-turbo": "openai",  # the Azure deployment name: Azure is not this price list
    "ft:gpt-4o-mini-2024-07-18:org::abc": "openai",  # fine-tunes need explicit entries
    "azure/gpt-4o": "openai",  # Azure regional prices differ
    "claude-sonnet-4-5-20991231": "anthropic",
    "us.anthropic.claude-sonnet-4-5-20991231-v1:0": "anthropic",  # no such Bedrock snapshot
    "eu.meta.llama3-3-70b-instruct-v1:0": "openai",  # a Bedrock model not in the table
    "gpt-4o-20990101": "openai",  # a compact future date is still not gpt-4o
    "openai/gpt-oss-120b": "openai",  # served by many hosts at different prices: name one
    "meta-llama/llama-4-scout-17b-16e-instruct": "openai",
    "gemini-2.5-flash-preview-05-20": "google",  # a different, cheaper entry (0.15 / 0.60)
    "gemini-2.5-pro-preview-tts": "google",
    "gemini-2.5-flash-001": "google",
}


def _cases() -> dict[str, Envelope]:
    cases: dict[str, Envelope] = {}
    for name, (kind, _) in RESOLVES.items():
        cases[f"resolves:{name}"] = _env(kind, name)
    for name, kind in UNKNOWN.items():
        cases[f"unknown:{name}"] = _env(kind, name)
    cases["unknown:zero-usage"] = _env("openai", "no-such-model", prompt=0, out=0)
    cases["snapshot:2024-05-13"] = openai_envelope("gpt-4o-2024-05-13", TS, M, M)
    cases["snapshot:gpt-4o"] = openai_envelope("gpt-4o", TS, M, M)
    cases["snapshot:2024-05-13-batch"] = openai_envelope("gpt-4o-2024-05-13", TS, M, M, batch=True)
    cases["missing:cached"] = openai_envelope("gpt-4o-2024-05-13", TS, 2000, 10, cached=1000)
    cases["missing:cached-batch"] = openai_envelope(
        "gpt-4o-2024-05-13", TS, 2000, 10, cached=1000, batch=True
    )
    cases["missing:cache-write-ok"] = openai_envelope(
        "gpt-4o-2024-05-13", TS, 2000, 10, cache_write=1000
    )
    no_usage = openai_envelope("gpt-4o", TS, 1, 1)
    del no_usage["response"]["usage"]
    cases["no-usage"] = no_usage
    textless = openai_envelope("gpt-4o", TS, 1, 1)
    del textless["response"]["usage"], textless["request"]  # nothing to recount either
    cases["no-usage-no-text"] = textless
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    envelopes = [{**env, "request_id": key} for key, env in CASES.items()]
    con = priced_store(tmp_path_factory.mktemp("unpriced"), envelopes)
    yield con
    con.close()


@pytest.fixture(scope="module")
def rows(store: Any) -> dict[str, dict[str, Any]]:
    return cost_rows(store)


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_unknown_model_is_unpriced_not_zero(rows: dict[str, dict[str, Any]], name: str) -> None:
    row = rows[f"unknown:{name}"]
    assert row["priced_model"] is None
    assert row["pricing_status"] == "unpriced"
    assert row["unpriced_reason"] == "unknown_model"
    assert row["cost_usd"] is None


def test_unknown_model_with_zero_tokens_is_still_null(rows: dict[str, dict[str, Any]]) -> None:
    row = rows["unknown:zero-usage"]
    assert (row["unpriced_reason"], row["cost_usd"]) == ("unknown_model", None)


def test_unpriced_rows_are_excluded_from_totals_and_listed(
    store: Any, rows: dict[str, dict[str, Any]]
) -> None:
    priced = [r["cost_usd"] for r in rows.values() if r["pricing_status"] == "priced"]
    unpriced = [r for r in rows.values() if r["pricing_status"] == "unpriced"]
    assert all(c is not None for c in priced)
    assert all(r["cost_usd"] is None for r in unpriced)
    report = breakdown(store, ["model"])
    assert report.totals.requests == len(rows)
    assert report.totals.cost_usd == sum(priced, Decimal(0))
    assert report.totals.unpriced_requests == len(unpriced)
    listed = {(u.model, u.reason): u.requests for u in report.unpriced}
    assert listed[("no-such-model", "unknown_model")] == 2
    assert listed[("gpt-4o-2024-05-13", "missing_price_key")] == 2
    assert listed[("gpt-4o", "not_recounted")] == 1  # its text is not counted here
    # Per model, a group where nothing is priced has no cost (never $0), and says how many
    # were unpriced; a group with some priced requests sums those.
    by_model = {r.keys["model"]: r.totals for r in report.rows}
    assert by_model["o3-deep-research"].unpriced_requests == 1
    all_unpriced = {m for m in by_model if {r["model"] for r in unpriced} >= {m}}
    for model, totals in by_model.items():
        group = [r for r in rows.values() if r["model"] == model]
        costs = [r["cost_usd"] for r in group if r["cost_usd"] is not None]
        expected = sum(costs, Decimal(0)) if costs else None
        assert totals.cost_usd == expected, model
        assert (totals.cost_usd is None) == (model in all_unpriced and not costs), model
    assert by_model["no-such-model"].cost_usd is None


@pytest.mark.parametrize("key", ["missing:cached", "missing:cached-batch"])
def test_cached_tokens_without_a_cache_read_price_are_missing_price_key(
    rows: dict[str, dict[str, Any]], key: str
) -> None:
    row = rows[key]
    assert row["priced_model"] == "gpt-4o-2024-05-13"
    assert row["cache_read_tokens"] == 1000
    assert (row["pricing_status"], row["unpriced_reason"]) == ("unpriced", "missing_price_key")
    assert row["cost_usd"] is None


def test_cache_writes_on_the_old_snapshot_are_priced_as_input(
    rows: dict[str, dict[str, Any]],
) -> None:
    """OpenAI writes cost the input rate before GPT-5.6 (providers/openai.yaml header)."""
    row = rows["missing:cache-write-ok"]
    assert row["pricing_status"] == "priced"
    assert row["cost_usd"] == Decimal(2000 * 5 + 10 * 15) / M


def test_response_without_usage_waits_for_its_recount(rows: dict[str, dict[str, Any]]) -> None:
    """No recount ran on this store: the text is not counted yet, so the request is unpriced
    ``not_recounted`` (the recount would price it as an estimate), never $0."""
    row = rows["no-usage"]
    assert (row["pricing_status"], row["unpriced_reason"], row["cost_usd"]) == (
        "unpriced",
        "not_recounted",
        None,
    )


def test_response_without_usage_or_text_is_no_usage(rows: dict[str, dict[str, Any]]) -> None:
    row = rows["no-usage-no-text"]
    assert (row["pricing_status"], row["unpriced_reason"], row["cost_usd"]) == (
        "unpriced",
        "no_usage",
        None,
    )


@pytest.mark.parametrize("name", list(RESOLVES))
def test_model_name_normalisation(rows: dict[str, dict[str, Any]], name: str) -> None:
    row = rows[f"resolves:{name}"]
    assert row["priced_model"] == RESOLVES[name][1]
    assert row["pricing_status"] == "priced"
    assert row["cost_usd"] is not None and row["cost_usd"] > 0


def test_dated_snapshot_never_falls_back_to_its_alias(rows: dict[str, dict[str, Any]]) -> None:
    """gpt-4o-2024-05-13 costs $5 / $15, twice gpt-4o's $2.50 / $10 (§7 pitfalls)."""
    old, alias = rows["snapshot:2024-05-13"], rows["snapshot:gpt-4o"]
    assert old["priced_model"] == "gpt-4o-2024-05-13"
    assert old["cost_usd"] == Decimal("20.00")
    assert alias["cost_usd"] == Decimal("12.50")
    assert rows["snapshot:2024-05-13-batch"]["cost_usd"] == Decimal("10.00")  # $2.50 / $7.50


# ---------------------------------------------------------------- a table with a dated start

DATED = """\
- id: alpha
  versions:
  - effective_from: '2025-01-01'
    effective_to: '2025-07-01'
    source: {url: 'https://example.com/pricing'}
    prices: {input: '1', output: '2'}
  - effective_from: '2025-07-01'
    effective_to: null
    source: {url: 'https://example.com/pricing'}
    prices: {input: '1', output: '2'}
"""


def test_reasons_from_a_custom_table(tmp_path: Path) -> None:
    table = load_price_table(make_table(tmp_path / "pricing", DATED))
    envelopes = {
        "before-first-version": openai_envelope("alpha", "2024-12-31T23:59:59Z", 10, 10),
        "first-instant": openai_envelope("alpha", "2025-01-01T00:00:00Z", 10, 10),
        "no-cache-read-price": openai_envelope("alpha", "2025-08-01T00:00:00Z", 10, 10, cached=4),
        "uncached": openai_envelope("alpha", "2025-08-01T00:00:00Z", 10, 0),
        "batch-without-variant": openai_envelope(
            "alpha", "2025-03-01T00:00:00Z", 10, 10, batch=True
        ),
    }
    con = open_store(":memory:")
    path = write_jsonl(tmp_path / "r.jsonl", [{**e, "request_id": k} for k, e in envelopes.items()])
    ingest_paths(con, [str(path)])
    install_price_table(con, table)
    rows = cost_rows(con)
    con.close()

    def outcome(key: str) -> tuple[str | None, Decimal | None]:
        return rows[key]["unpriced_reason"], rows[key]["cost_usd"]

    assert outcome("before-first-version") == ("no_active_version", None)
    assert outcome("first-instant") == (None, Decimal("0.00003"))
    assert outcome("no-cache-read-price") == ("missing_price_key", None)
    assert outcome("uncached") == (None, Decimal("0.00001"))
    assert outcome("batch-without-variant") == ("unknown_context", None)


def test_embeddings_bill_input_only_and_output_leaves_them_unpriced(tmp_path: Path) -> None:
    """text-embedding-3-small: $0.02 per million input tokens (OpenAI pricing page)."""
    rows = price_envelopes(
        tmp_path,
        [
            openai_envelope(
                "text-embedding-3-small", "2026-10-01T00:00:00Z", 5000, 0, request_id="emb-1"
            ),
            openai_envelope(
                "text-embedding-3-small", "2026-10-01T00:00:00Z", 5000, 7, request_id="emb-2"
            ),
        ],
    )
    assert rows["emb-1"]["cost_usd"] == Decimal("5000") * Decimal("0.02") / 1_000_000
    assert rows["emb-2"]["cost_usd"] is None
    assert rows["emb-2"]["unpriced_reason"] == "missing_price_key"
