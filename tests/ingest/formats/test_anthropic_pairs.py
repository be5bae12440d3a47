"""anthropic-pairs: Anthropic Messages request/response pairs, streamed events included.

Bodies are real recordings (tests/fixtures/realworld/anthropic). The streamed case is
the real snapshot Message replayed as the SSE events the Messages API sends for it
(message_start with the input-side usage, message_delta with the cumulative output).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from format_helpers import (
    anthropic_classes,
    anthropic_events,
    assert_counts_add_up,
    classes_of,
    costs,
    install_prices,
    sse,
    yaml_prices,
)

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
CACHE = "anthropic/openllmetry_anthropic_prompt_caching_legacy.yaml"
OPENAI_CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
TS = "2026-11-02T09:30:00Z"


def test_auto_detects_pairs_and_maps_token_classes(kit: EnvelopeKit) -> None:
    [snap] = kit.snapshot(SNAPSHOT)
    calls = kit.cassette(CACHE)
    exchanges = [snap, *calls]
    lines = [{"timestamp": TS, "request": ex.request, "response": ex.response} for ex in exchanges]
    fr, rows = kit.ingest_lines(lines)
    assert fr.format == "anthropic-pairs"  # what --format auto chose
    assert_counts_add_up(fr, 3, 3, 0, 0)
    for ex, row in zip(exchanges, rows, strict=True):
        assert classes_of(row) == anthropic_classes(ex.response["usage"])
        assert row["request_key"] == "anthropic:" + ex.response["id"]
        assert row["api"] == "messages" and row["finish_reason"] == ex.response["stop_reason"]
    # pinned: input_tokens excludes the cache, which is billed on top
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (249, 26)
    assert (rows[1]["input_tokens"], rows[1]["cache_write_5m_tokens"]) == (4, 1163)
    assert (rows[2]["input_tokens"], rows[2]["cache_read_tokens"]) == (4, 1163)
    assert (rows[0]["model_requested"], rows[0]["model"]) == (
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
    )


def test_streamed_events_fold_to_the_same_usage_and_price(kit: EnvelopeKit) -> None:
    [snap] = kit.snapshot(SNAPSHOT)
    events = anthropic_events(snap.response)
    lines = [
        {"timestamp": TS, "request": snap.request, "response": snap.response},
        {
            "timestamp": TS,
            "request": snap.request,
            "response": sse(events, named=True),
            "request_id": "sse",
        },
        {"timestamp": TS, "request": snap.request, "chunks": events, "request_id": "list"},
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 3, 3, 0, 0)
    expected = anthropic_classes(snap.response["usage"])
    for row in rows:
        assert classes_of(row) == expected
        assert (row["model"], row["finish_reason"]) == ("claude-sonnet-4-5-20250929", "end_turn")
    install_prices(kit.con)
    p = yaml_prices("anthropic", "claude-sonnet-4-5")
    want = 249 * p["input"] + 26 * p["output"]
    assert [c["cost_usd"] for c in costs(kit.con)] == [want] * 3


def test_a_timestamp_is_required_because_messages_carry_none(kit: EnvelopeKit) -> None:
    [snap] = kit.snapshot(SNAPSHOT)
    path = kit.write(
        "a.jsonl",
        [
            {"request": snap.request, "response": snap.response},
            snap.response,  # a bare Message body
            {"timestamp": 1767225600, "request": snap.request, "response": snap.response},
        ],
    )
    [fr] = kit.ingest(path).files
    assert fr.format == "anthropic-pairs"
    assert_counts_add_up(fr, 3, 1, 0, 2)
    rejects = kit.rejects(path)
    assert set(rejects) == {1, 2}
    assert all(
        "missing timestamp (Anthropic message bodies carry no time" in r["reason"]
        for r in rejects.values()
    )
    [row] = kit.rows(path)
    assert row["ts"].isoformat() == "2026-01-01T00:00:00+00:00"


def test_dedup_on_message_id_and_rejects(kit: EnvelopeKit) -> None:
    [snap] = kit.snapshot(SNAPSHOT)
    [chat] = kit.cassette(OPENAI_CHAT)
    good = {"timestamp": TS, "request": snap.request, "response": snap.response}
    split_wrong = copy.deepcopy(snap.response)
    split_wrong["id"] = "msg_split"
    split_wrong["usage"].update(cache_creation_input_tokens=10)  # 5m + 1h = 0 ≠ 10
    spec: list[tuple[Any, str | None]] = [
        (good, None),
        (good, None),  # duplicate
        (
            {"timestamp": TS, "request": chat.request, "response": chat.response},
            "looks like openai, not anthropic (use --format openai-pairs",
        ),
        ({"timestamp": TS, "response": split_wrong}, "5m + 1h split does not add up"),
        (
            {"timestamp": TS, "response": anthropic_events(snap.response)[1:]},
            "response is not an object or a readable stream: no message_start event",
        ),
        ({"timestamp": "yesterday", "response": snap.response}, "timestamp is not ISO 8601"),
        ("", None),  # blank: not a record
    ]
    path = kit.write("d.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt="anthropic-pairs").files
    assert_counts_add_up(fr, 6, 1, 1, 4)
    rejects = kit.rejects(path)
    assert set(rejects) == {3, 4, 5, 6}
    for n in rejects:
        why = spec[n - 1][1]
        assert why is not None and why in rejects[n]["reason"], rejects[n]["reason"]
    assert rejects[6]["raw"] == json.dumps(spec[5][0])


def test_fast_mode_is_not_priced_as_standard(kit: EnvelopeKit) -> None:
    """A Claude call that ran in fast mode (``usage.speed: "fast"``, 6x on Opus 4.6) is the
    ``fast`` tier, unpriced while the table has no rate for it: never the standard price.
    The response's ``usage.speed`` says what ran (a fall back to standard is billed
    standard); the request's ``speed`` stands in when the response names none."""

    def message(msg_id: str, speed: str | None) -> Json:
        usage: Json = {"input_tokens": 1000, "output_tokens": 1000}
        if speed is not None:
            usage["speed"] = speed
        return {
            "id": msg_id,
            "type": "message",
            "role": "assistant",
            "model": "claude-opus-4-6",
            "content": [{"type": "text", "text": "Done."}],
            "stop_reason": "end_turn",
            "usage": usage,
        }

    def request(speed: str | None) -> Json:
        body: Json = {"model": "claude-opus-4-6", "max_tokens": 64}
        body["messages"] = [{"role": "user", "content": "Hi"}]
        if speed is not None:
            body["speed"] = speed
        return body

    lines = [
        {"timestamp": TS, "request": request("fast"), "response": message("m_fast", "fast")},
        {"timestamp": TS, "request": request("fast"), "response": message("m_req", None)},
        {"timestamp": TS, "request": request("fast"), "response": message("m_fell", "standard")},
        {"timestamp": TS, "request": request(None), "response": message("m_std", None)},
        {"timestamp": TS, "chunks": anthropic_events(message("m_sse", "fast"))},
    ]
    _, rows = kit.ingest_lines(lines)
    assert [r["service_tier"] for r in rows] == ["fast", "fast", None, None, "fast"]
    # envelope lines read the same bodies
    ids = ["env-m_fast", "env-m_req", "env-m_fell", "env-m_std", "env-sse"]
    pairs = zip(ids, lines, strict=True)
    env = [{"provider": "anthropic", "request_id": i, **line} for i, line in pairs]
    env[-1]["response"] = env[-1].pop("chunks")
    _, env_rows = kit.ingest_lines(env, name="envelope.jsonl")
    assert [r["service_tier"] for r in env_rows] == ["fast", "fast", None, None, "fast"]
    install_prices(kit.con)
    got = {c["request_id"]: (c["unpriced_reason"], c["cost_usd"]) for c in costs(kit.con)}
    # 1000 x $5 + 1000 x $25 per 1M (Opus 4.6 standard)
    standard = (None, Decimal("0.03"))
    fast = ("unknown_context", None)
    assert got == {
        "m_fast": fast,
        "m_req": fast,
        "m_fell": standard,
        "m_std": standard,
        "m_sse": fast,
        "env-m_fast": fast,
        "env-m_req": fast,
        "env-m_fell": standard,
        "env-m_std": standard,
        "env-sse": fast,
    }
