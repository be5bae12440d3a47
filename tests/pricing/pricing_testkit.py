"""Shared helpers for the pricing tests: build envelope lines, ingest them, read request_costs.

Every test prices requests through the real pipeline (envelope JSONL -> ``ingest_paths`` ->
``install_price_table`` -> the ``request_costs`` view), never by calling the band compiler
directly, so the figures checked are the figures a report would show.
"""

from __future__ import annotations

import itertools
import json
import textwrap
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from tokaudit.ingest import ingest_paths
from tokaudit.pricing.manifest import write_manifest
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import PriceTable, load_price_table
from tokaudit.store import open_store

Envelope = dict[str, Any]
_ids = itertools.count(1)
# The envelope provider (usage convention) that logs each table provider's requests: Claude on
# Bedrock returns Anthropic Messages bodies; Groq is OpenAI-compatible.
ENVELOPE_PROVIDER = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "bedrock": "anthropic",
    "groq": "openai",
}

COST_COLUMNS = (
    "request_id",
    "model",
    "priced_model",
    "price_context",
    "pricing_status",
    "unpriced_reason",
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "total_input_tokens",
    "cost_usd",
    "input_audio_tokens",
    "cache_read_audio_tokens",
    "web_search_requests",
    "file_search_calls",
    "price_route",
    "price_region",
    "fees_cost",
)


def _stamp(ts: str | datetime) -> str:
    if isinstance(ts, datetime):
        return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()
    return ts


def _envelope(
    provider: str,
    model: str,
    ts: str | datetime,
    response: dict[str, Any],
    batch: bool,
    request_id: str | None,
    metadata: dict[str, Any] | None = None,
) -> Envelope:
    return {
        "timestamp": _stamp(ts),
        "provider": provider,
        "request_id": request_id or f"req-{next(_ids)}",
        "metadata": {"team": "pricing-tests", **(metadata or {})},
        "request": {"model": model},
        "response": response,
        "error": None,
        "batch": batch,
    }


def openai_envelope(
    model: str,
    ts: str | datetime,
    prompt: int,
    completion: int,
    *,
    cached: int = 0,
    cache_write: int | None = None,
    reasoning: int | None = None,
    batch: bool = False,
    service_tier: str | None = None,
    api: str = "chat",
    request_id: str | None = None,
    web_search_calls: int = 0,
    file_search_calls: int = 0,
) -> Envelope:
    """Chat Completions (``api="chat"``) or Responses (``api="responses"``) usage: the prompt
    count includes cached and cache-write tokens; reasoning is inside the completion count.
    ``web_search_calls`` and ``file_search_calls`` add Responses ``web_search_call`` and
    ``file_search_call`` output items (each billed per call)."""
    prefix = "prompt" if api == "chat" else "input"
    out = "completion" if api == "chat" else "output"
    details: dict[str, int] = {"cached_tokens": cached}
    if cache_write is not None:
        details["cache_write_tokens"] = cache_write
    usage: dict[str, Any] = {
        f"{prefix}_tokens": prompt,
        f"{out}_tokens": completion,
        "total_tokens": prompt + completion,
        f"{prefix}_tokens_details": details,
    }
    if reasoning is not None:
        usage[f"{out}_tokens_details"] = {"reasoning_tokens": reasoning}
    kind = "chat.completion" if api == "chat" else "response"
    response: dict[str, Any] = {"object": kind, "model": model, "usage": usage}
    if service_tier is not None:
        response["service_tier"] = service_tier
    if web_search_calls or file_search_calls:
        assert api == "responses", "tool call items are a Responses API shape"
        response["output"] = (
            [
                {"type": "web_search_call", "id": f"ws_{i}", "status": "completed"}
                for i in range(web_search_calls)
            ]
            + [
                {
                    "type": "file_search_call",
                    "id": f"fs_{i}",
                    "status": "completed",
                    "queries": ["refund policy"],
                    "results": None,
                }
                for i in range(file_search_calls)
            ]
            + [{"type": "message", "role": "assistant", "content": []}]
        )
    return _envelope("openai", model, ts, response, batch, request_id)


def anthropic_envelope(
    model: str,
    ts: str | datetime,
    input_tokens: int,
    output: int,
    *,
    cache_read: int = 0,
    cache_write_5m: int = 0,
    cache_write_1h: int = 0,
    split: bool = True,
    web_searches: int = 0,
    batch: bool = False,
    request_id: str | None = None,
    vertex_location: str | None = None,
) -> Envelope:
    """Messages usage: ``input_tokens`` is uncached only; reads and writes are reported apart.
    ``vertex_location`` is the Vertex AI endpoint location, logged in the metadata."""
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "cache_read_input_tokens": cache_read,
        "cache_creation_input_tokens": cache_write_5m + cache_write_1h,
        "output_tokens": output,
    }
    if split:
        usage["cache_creation"] = {
            "ephemeral_5m_input_tokens": cache_write_5m,
            "ephemeral_1h_input_tokens": cache_write_1h,
        }
    elif cache_write_1h:
        raise ValueError("without the TTL split every write counts as 5m")
    if web_searches:
        usage["server_tool_use"] = {"web_search_requests": web_searches}
    response = {"type": "message", "model": model, "usage": usage}
    metadata = None if vertex_location is None else {"vertex_location": vertex_location}
    return _envelope("anthropic", model, ts, response, batch, request_id, metadata)


def gemini_envelope(
    model: str,
    ts: str | datetime,
    prompt: int,
    candidates: int,
    *,
    cached: int = 0,
    thoughts: int = 0,
    tool_use: int = 0,
    batch: bool = False,
    request_id: str | None = None,
    audio: int = 0,
    cached_audio: int = 0,
) -> Envelope:
    """usageMetadata: ``promptTokenCount`` includes cached; thoughts sit outside candidates;
    ``toolUsePromptTokenCount`` is input on top of the prompt. ``audio`` of the prompt tokens
    are AUDIO (``promptTokensDetails``), ``cached_audio`` of the cached ones."""
    meta: dict[str, int] = {"promptTokenCount": prompt, "candidatesTokenCount": candidates}
    if cached:
        meta["cachedContentTokenCount"] = cached
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    if tool_use:
        meta["toolUsePromptTokenCount"] = tool_use
    body: dict[str, Any] = dict(meta)
    if audio:
        body["promptTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": prompt - audio},
            {"modality": "AUDIO", "tokenCount": audio},
        ]
    if cached_audio:
        body["cacheTokensDetails"] = [
            {"modality": "TEXT", "tokenCount": cached - cached_audio},
            {"modality": "AUDIO", "tokenCount": cached_audio},
        ]
    response = {"modelVersion": model, "usageMetadata": body}
    return _envelope("google", model, ts, response, batch, request_id)


def write_jsonl(path: Path, envelopes: list[Envelope]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in envelopes), "utf-8")
    return path


_TABLE: PriceTable | None = None


def shipped_table() -> PriceTable:
    """The repository's ``pricing/`` table, loaded (and hash-verified) once per session."""
    global _TABLE
    if _TABLE is None:
        _TABLE = load_price_table()
    return _TABLE


def priced_store(
    directory: Path,
    envelopes: list[Envelope],
    name: str = "requests.jsonl",
    table: PriceTable | None = None,
) -> Any:
    """A fresh in-memory store holding ``envelopes`` with the shipped (or given) table."""
    con = open_store(":memory:")
    outcome = ingest_paths(con, [str(write_jsonl(directory / name, envelopes))])
    assert not outcome.errors, [f.error for f in outcome.errors]
    rejected = con.execute("SELECT source_line, reason FROM rejects").fetchall()
    assert not rejected, rejected
    loaded = outcome.total("loaded")
    assert loaded == len(envelopes), (loaded, len(envelopes))
    install_price_table(con, table or shipped_table())
    return con


def cost_rows(con: Any) -> dict[str, dict[str, Any]]:
    """``request_costs`` keyed by request_id."""
    rows = con.execute(f"SELECT {', '.join(COST_COLUMNS)} FROM request_costs").fetchall()
    return {r[0]: dict(zip(COST_COLUMNS, r, strict=True)) for r in rows}


def price_envelopes(
    directory: Path, envelopes: list[Envelope], table: PriceTable | None = None
) -> dict[str, dict[str, Any]]:
    con = priced_store(directory, envelopes, table=table)
    try:
        return cost_rows(con)
    finally:
        con.close()


def price_cases(
    directory: Path, cases: Mapping[str, tuple[Any, ...]], *more: Mapping[str, Envelope]
) -> dict[str, dict[str, Any]]:
    """``price_envelopes`` for case tables (case id -> (envelope, expectations ...)) and
    plain id -> envelope maps, each envelope's request id set to its case id."""
    envelopes = [{**case[0], "request_id": name} for name, case in cases.items()]
    envelopes += [{**env, "request_id": name} for extra in more for name, env in extra.items()]
    return price_envelopes(directory, envelopes)


def total_cost(con: Any) -> Decimal:
    value = con.execute("SELECT coalesce(sum(cost_usd), 0) FROM request_costs").fetchone()[0]
    return Decimal(value)


HEADER = """\
schema_version: 1
provider: {provider}
currency: USD
unit: USD per 1,000,000 tokens
usage_convention: {convention}
source_urls: [https://example.com/pricing]
models:
"""


def make_table(
    directory: Path, models: str, *, provider: str = "openai", extra: dict[str, str] | None = None
) -> Path:
    """A pricing dir with one provider file (plus ``extra`` files) and a fresh manifest."""
    files = {provider: models, **(extra or {})}
    (directory / "providers").mkdir(parents=True, exist_ok=True)
    conventions = {
        "openai": "openai",
        "anthropic": "anthropic",
        "google": "gemini",
        "bedrock": "anthropic",
        "groq": "openai",
    }
    for name, body in files.items():
        text = HEADER.format(provider=name, convention=conventions[name]) + textwrap.dedent(body)
        (directory / "providers" / f"{name}.yaml").write_text(text, "utf-8")
    write_manifest(directory)
    return directory


# First-party Claude models from 4.6 on (written out, not read from the price table, so the
# tests that use it are no echo of it): the data-residency page's scope for ``us`` (1.1x),
# and with the 4.5 models the regional endpoints' +10 %.
CLAUDE_4_6_AND_LATER = frozenset(
    {
        "claude-opus-4-6",
        "claude-sonnet-4-6",
        "claude-opus-4-7",
        "claude-opus-4-8",
        "claude-opus-5",
        "claude-sonnet-5",
        "claude-opus-5-5",
        "claude-sonnet-5-5",
        "claude-haiku-5-5",
        "claude-fable-5",
        "claude-fable-5-1",
        "claude-mythos-5",
        "claude-mythos-5-1",
    }
)
