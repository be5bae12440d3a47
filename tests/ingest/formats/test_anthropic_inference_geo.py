"""Anthropic data residency: every path that reads a Messages body records the inference geo.

Where inference ran is the response's ``usage.inference_geo`` ("us", "global", or
"not_available" when the API set none, as the real SDK snapshot reports for Sonnet 4.5);
the request's ``inference_geo`` stands in when the response names none. Either lands in
``metadata.inference_geo`` (nothing when no geo was set), which the pricing reads
(docs/pricing.md, "Data residency").
Expected costs are hand arithmetic on Opus 4.6's published rates ($5 in, $25 out; US-only
inference 1.1x: $5.50 / $27.50).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from format_helpers import anthropic_events, costs, install_prices, sse

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
TS = "2026-11-02T09:30:00Z"
OPUS = "claude-opus-4-6"


def _message(msg_id: str, geo: str | None, model: str = OPUS) -> Json:
    usage: Json = {"input_tokens": 1000, "output_tokens": 1000}
    if geo is not None:
        usage["inference_geo"] = geo
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "usage": usage,
    }


def _request(geo: str | None = None) -> Json:
    body: Json = {"model": OPUS, "max_tokens": 64, "messages": [{"role": "user", "content": "Hi"}]}
    if geo is not None:
        body["inference_geo"] = geo
    return body


def _geos(rows: list[Json]) -> list[str | None]:
    return [json.loads(r["metadata"] or "{}").get("inference_geo") for r in rows]


# 1000 x 5 + 1000 x 25 per 1M; US-only 1000 x 5.5 + 1000 x 27.5
STANDARD, US = Decimal("0.03"), Decimal("0.033")


def test_pairs_record_the_response_geo_else_the_request_geo(kit: EnvelopeKit) -> None:
    lines = [
        {"timestamp": TS, "request": _request(), "response": _message("msg_us", "us")},
        {"timestamp": TS, "request": _request("us"), "response": _message("msg_req", None)},
        {
            "timestamp": TS,
            "request": _request("us"),
            "response": _message("msg_na", "not_available"),
        },
        {"timestamp": TS, "request": _request(), "response": _message("msg_global", "global")},
        {"timestamp": TS, "request": _request(), "response": _message("msg_none", None)},
        # streamed: message_start carries the usage, inference_geo included
        {
            "timestamp": TS,
            "request": _request(),
            "chunks": anthropic_events(_message("msg_sse", "us")),
        },
    ]
    fr, rows = kit.ingest_lines(lines)
    assert fr.format == "anthropic-pairs"
    assert _geos(rows) == ["us", "us", "us", "global", None, "us"]
    install_prices(kit.con)
    got = {c["request_id"]: c["cost_usd"] for c in costs(kit.con)}
    assert got == {
        "msg_us": US,
        "msg_req": US,
        "msg_na": US,
        "msg_global": STANDARD,
        "msg_none": STANDARD,
        "msg_sse": US,
    }


def test_sse_text_keeps_the_geo(kit: EnvelopeKit) -> None:
    events = anthropic_events(_message("msg_text", "us"))
    fr, rows = kit.ingest_lines([{"timestamp": TS, "request": _request(), "response": sse(events)}])
    assert fr.loaded == 1, fr
    assert _geos(rows) == ["us"]


def test_real_snapshot_not_available_is_no_geo_and_standard(kit: EnvelopeKit) -> None:
    """The SDK's recorded Sonnet 4.5 response says ``"inference_geo": "not_available"``."""
    [snap] = kit.snapshot(SNAPSHOT)
    assert snap.response["usage"]["inference_geo"] == "not_available"
    _, rows = kit.ingest_lines(
        [{"timestamp": TS, "request": snap.request, "response": snap.response}]
    )
    assert _geos(rows) == [None]  # no geo set: the metadata is left as logged
    install_prices(kit.con)
    [row] = costs(kit.con)
    assert row["price_context"] == "standard" and row["pricing_status"] == "priced"


def test_envelope_keeps_its_metadata_and_adds_the_geo(kit: EnvelopeKit) -> None:
    def env(rid: str, geo: str | None, metadata: Json | None) -> Json:
        return {
            "timestamp": TS,
            "provider": "anthropic",
            "request_id": rid,
            "metadata": metadata,
            "request": _request(),
            "response": _message(rid, geo),
        }

    lines = [
        env("e1", "US", {"team": "search"}),
        env("e2", None, {"team": "search"}),
        # a geo logged in the metadata by the caller counts when the bodies name none
        env("e3", None, {"team": "search", "inference_geo": "us"}),
        # ... and the response's report wins over it
        env("e4", "global", {"inference_geo": "us"}),
    ]
    _, rows = kit.ingest_lines(lines)
    assert [json.loads(r["metadata"]) for r in rows] == [
        {"team": "search", "inference_geo": "us"},
        {"team": "search"},
        {"team": "search", "inference_geo": "us"},
        {"inference_geo": "global"},
    ]
    install_prices(kit.con)
    got = {c["request_id"]: c["cost_usd"] for c in costs(kit.con)}
    assert got == {"e1": US, "e2": STANDARD, "e3": US, "e4": STANDARD}


def test_openai_metadata_geo_is_not_an_anthropic_geo(kit: EnvelopeKit) -> None:
    line = {
        "timestamp": TS,
        "provider": "openai",
        "request_id": "o1",
        "metadata": {"inference_geo": "us"},
        "request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]},
        "response": {
            "id": "o1",
            "object": "chat.completion",
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 1000},
        },
    }
    kit.ingest_lines([line])
    install_prices(kit.con)
    [row] = costs(kit.con)
    # 1000 x 2.50 + 1000 x 10 per 1M, standard
    assert (row["price_context"], row["cost_usd"]) == ("standard", Decimal("0.0125"))


def test_batch_results_record_the_geo_and_stack_with_batch(kit: EnvelopeKit) -> None:
    us = _message("msg_b1", "us")
    us["usage"]["service_tier"] = "batch"
    na = copy.deepcopy(us)
    na["id"] = "msg_b2"
    na["usage"]["inference_geo"] = "not_available"
    lines = [
        {"custom_id": "r-1", "timestamp": TS, "result": {"type": "succeeded", "message": us}},
        {"custom_id": "r-2", "timestamp": TS, "result": {"type": "succeeded", "message": na}},
    ]
    path = kit.write("results.jsonl", lines)
    [fr] = kit.ingest(path).files
    assert fr.format == "anthropic-batch"
    rows = kit.rows(path)
    assert _geos(rows) == ["us", None]
    assert [json.loads(r["metadata"])["custom_id"] for r in rows] == ["r-1", "r-2"]
    install_prices(kit.con)
    got = {c["request_id"]: (c["price_context"], c["cost_usd"]) for c in costs(kit.con)}
    # batch 1000 x 2.50 + 1000 x 12.50; US-only 1.1x of that: 1000 x 2.75 + 1000 x 13.75
    assert got == {
        "msg_b1": ("batch+us", Decimal("0.0165")),
        "msg_b2": ("batch", Decimal("0.015")),
    }


def test_admin_usage_report_groups_by_geo(kit: EnvelopeKit) -> None:
    """The usage report, grouped by inference_geo, keeps it in metadata (as it did)."""

    def result(geo: str | None) -> Json:
        return {
            "uncached_input_tokens": 1000,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 1000,
            "server_tool_use": {"web_search_requests": 0},
            "model": OPUS,
            "service_tier": "standard",
            "context_window": "0-200k",
            "inference_geo": geo,
        }

    page = {
        "data": [
            {
                "starting_at": "2026-11-02T00:00:00Z",
                "ending_at": "2026-11-03T00:00:00Z",
                "results": [result("us"), result("global"), result(None)],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
    path = kit.write("usage.json", [json.dumps(page)])
    [fr] = kit.ingest(path).files
    assert fr.format == "anthropic-usage", fr
    install_prices(kit.con)
    got = sorted((c["price_context"], c["cost_usd"]) for c in costs(kit.con))
    assert got == [("standard", STANDARD), ("standard", STANDARD), ("us", US)]


def test_batch_input_loaded_after_its_results_brings_the_request_geo(kit: EnvelopeKit) -> None:
    """The input file filled the late rows' prompts but not the request's inference_geo, so a
    US-only batch call cost 1.1x less when its results were ingested first."""
    na = _message("msg_l1", "not_available")
    na["usage"]["service_tier"] = "batch"
    glob = copy.deepcopy(na)
    glob["id"] = "msg_l2"
    glob["usage"]["inference_geo"] = "global"  # where inference ran: the request's geo is moot
    results = kit.write(
        "results.jsonl",
        [
            {"custom_id": "r-1", "timestamp": TS, "result": {"type": "succeeded", "message": na}},
            {"custom_id": "r-2", "timestamp": TS, "result": {"type": "succeeded", "message": glob}},
        ],
    )
    inputs = kit.write(
        "requests.jsonl",
        [{"custom_id": c, "params": _request("us")} for c in ("r-1", "r-2")],
    )
    kit.ingest(results)
    kit.ingest(inputs)
    rows = kit.rows(results)
    assert [json.loads(r["metadata"])["batch_input"] for r in rows] == [str(inputs.resolve())] * 2
    assert _geos(rows) == ["us", "global"]
    install_prices(kit.con)
    got = {c["request_id"]: (c["price_context"], c["cost_usd"]) for c in costs(kit.con)}
    # batch 1000 x 2.50 + 1000 x 12.50; US-only 1.1x of that: 1000 x 2.75 + 1000 x 13.75
    assert got == {
        "msg_l1": ("batch+us", Decimal("0.0165")),
        "msg_l2": ("batch", Decimal("0.015")),
    }
