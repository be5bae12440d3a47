"""Shared by the provider-native format tests: expectations computed from raw data.

Token classes are derived here from the raw usage objects with the conventions of
pricing-semantics §2, and prices are read straight from the YAML price tables, so
nothing below calls tokaudit to decide what tokaudit should have produced.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from tokaudit.ingest import FileResult
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from usage_conventions import (  # re-exported for the format tests
    CLASSES,
    anthropic_classes,
    classes_of,
    gemini_classes,
    openai_classes,
)

__all__ = ["CLASSES", "anthropic_classes", "classes_of", "gemini_classes", "openai_classes"]

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
REALWORLD = REPO / "tests" / "fixtures" / "realworld"
MILLION = Decimal(1_000_000)


def assert_counts_add_up(fr: FileResult, read: int, loaded: int, dups: int, rejected: int) -> None:
    assert fr.error is None, fr.error
    assert (fr.records_read, fr.loaded, fr.duplicates, fr.rejected) == (
        read,
        loaded,
        dups,
        rejected,
    )
    assert fr.records_read == fr.loaded + fr.duplicates + fr.rejected


def sse(events: list[Json], named: bool = False) -> str:
    """Server-sent-events text as an HTTP client receives it (``event:`` lines optional)."""
    out = []
    for e in events:
        if named:
            out.append(f"event: {e.get('type')}")
        out.append("data: " + json.dumps(e))
        out.append("")
    return "\n".join(out) + "\n"


def anthropic_events(message: Json) -> list[Json]:
    """The Messages API stream of one Message: input-side usage in message_start, the
    cumulative output count in message_delta."""
    start = copy.deepcopy(message)
    start.update(content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = {**message["usage"], "output_tokens": 1}
    return [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": message["content"][0]["text"]},
        },
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"]},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
        {"type": "message_stop"},
    ]


def sse_chunks(text: str) -> list[Json]:
    """The JSON payloads of an SSE body (``[DONE]`` dropped)."""
    return [
        json.loads(line[5:])
        for line in text.splitlines()
        if line.startswith("data:") and line[5:].strip() != "[DONE]"
    ]


def sse_cassette(rel: str) -> tuple[Json, str]:
    """Request body and raw SSE response text of a one-call streaming VCR cassette."""
    doc = yaml.safe_load((REALWORLD / rel).read_text("utf-8"))
    interaction = doc["interactions"][0]
    request: Json = json.loads(interaction["request"]["body"])
    return request, str(interaction["response"]["body"]["string"])


def yaml_prices(provider: str, model_id: str, variant: str | None = None) -> dict[str, Decimal]:
    """USD per token from pricing/providers/<provider>.yaml (first version, base tier)."""
    doc = yaml.safe_load((REPO / "pricing" / "providers" / f"{provider}.yaml").read_text())
    models = doc["models"] if isinstance(doc, dict) else doc
    [model] = [m for m in models if m["id"] == model_id]
    version = model["versions"][0]
    prices = dict(version["prices"])
    if variant is not None:
        # the variant of exactly that one context ("batch", not "batch+us")
        [var] = [v for v in version.get("variants", []) if list(v["when"].values()) == [variant]]
        prices.update(var["prices"])
    return {k: Decimal(str(v)) / MILLION for k, v in prices.items()}


def install_prices(con: duckdb.DuckDBPyConnection) -> None:
    install_price_table(con, load_price_table(REPO / "pricing"))


def costs(con: duckdb.DuckDBPyConnection, where: str = "true") -> list[Json]:
    cur = con.execute(f"SELECT * FROM request_costs WHERE {where} ORDER BY source_line")
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
