"""gemini-pairs: Gemini / Vertex generateContent responses, bare or with their request.

The Vertex cassette was recorded with ``$alt=json;enum-encoding=int``: ``finishReason``
and ``trafficType`` are integers there (1 = STOP, 1 = ON_DEMAND).
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any

from format_helpers import (
    assert_counts_add_up,
    classes_of,
    costs,
    gemini_classes,
    install_prices,
    sse,
    yaml_prices,
)

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
FLASH = "gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml"
VERTEX_INT = "gemini/otelcontrib_vertexai_generate_content.yaml"


def test_bare_bodies_are_detected_and_int_enums_read(kit: EnvelopeKit) -> None:
    [flash] = kit.cassette(FLASH)
    [vertex] = kit.cassette(VERTEX_INT)
    assert vertex.response["candidates"][0]["finishReason"] == 1  # as recorded
    assert vertex.response["usageMetadata"]["trafficType"] == 1
    fr, rows = kit.ingest_lines([flash.response, vertex.response])  # bare response bodies
    assert fr.format == "gemini-pairs"  # what --format auto chose
    assert_counts_add_up(fr, 2, 2, 0, 0)
    for ex, row in zip((flash, vertex), rows, strict=True):
        assert classes_of(row) == gemini_classes(ex.response["usageMetadata"])
        assert row["request_key"] == "google:" + ex.response["responseId"]
        assert row["model"] == ex.response["modelVersion"]
        assert row["ts"].isoformat().startswith(ex.response["createTime"][:19])
        assert row["finish_reason"] == "STOP"  # 1 in Candidate.FinishReason
        assert row["service_tier"] is None  # ON_DEMAND (1) is standard pricing
    # thoughts are outside candidatesTokenCount: 433 + 1477, and 5 + 294
    assert [r["output_tokens"] for r in rows] == [1910, 299]
    assert [r["reasoning_tokens"] for r in rows] == [1477, 294]


def test_pairs_take_the_model_from_the_line_or_the_url_and_price_standard(
    kit: EnvelopeKit,
) -> None:
    [flash] = kit.cassette(FLASH)
    [vertex] = kit.cassette(VERTEX_INT)
    lines = [
        {"request": flash.request, "response": flash.response, "url": flash.uri},
        {"request": vertex.request, "response": vertex.response, "model": "gemini-2.5-pro"},
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 2, 2, 0, 0)
    assert [r["model_requested"] for r in rows] == ["gemini-2.5-flash", "gemini-2.5-pro"]
    assert rows[0]["prompt_hash"] is not None and rows[0]["api"] == "generate_content"
    install_prices(kit.con)
    [cost, _] = costs(kit.con)
    p = yaml_prices("google", "gemini-2.5-flash")
    assert cost["price_context"] == "standard"
    assert cost["cost_usd"] == 8 * p["input"] + (433 + 1477) * p["output"]


def test_a_stream_uses_its_last_usage_metadata(kit: EnvelopeKit) -> None:
    [flash] = kit.cassette(FLASH)
    final = flash.response
    first = copy.deepcopy(final)  # an earlier chunk: partial counts, no finishReason yet
    del first["candidates"][0]["finishReason"]
    first["usageMetadata"] = {
        "promptTokenCount": 8,
        "candidatesTokenCount": 10,
        "totalTokenCount": 18,
    }
    lines = [
        {"request": flash.request, "response": [first, final], "url": flash.uri},
        {
            "timestamp": "2026-01-05T00:00:00Z",
            "request": flash.request,
            "response": sse([first, final]),
            "url": flash.uri,
            "request_id": "sse-copy",
        },
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 2, 2, 0, 0)
    for row in rows:
        assert classes_of(row) == gemini_classes(final["usageMetadata"])
        assert row["finish_reason"] == "STOP"


def test_a_stream_cut_before_its_finish_reason_has_no_usage(kit: EnvelopeKit) -> None:
    """Gemini's counts are cumulative: a chunk before the one with finishReason counts only
    what was streamed so far, so a stream cut there is not priced as if it were complete
    (candidatesTokenCount 10 of 1,910 output tokens)."""
    [flash] = kit.cassette(FLASH)
    [vertex] = kit.cassette(VERTEX_INT)
    first = copy.deepcopy(flash.response)
    del first["candidates"][0]["finishReason"]
    first["usageMetadata"] = {"promptTokenCount": 8, "candidatesTokenCount": 10}
    blocked = {  # a blocked prompt ends its stream with no candidate at all
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "blocked",
    }
    lines = [
        {"request": flash.request, "response": [first], "url": flash.uri, "request_id": "cut"},
        {"request": flash.request, "response": [first, flash.response], "url": flash.uri},
        {"request": vertex.request, "response": sse([vertex.response]), "model": "gemini-2.5-pro"},
        {
            "timestamp": flash.response["createTime"],
            "request": flash.request,
            "response": [blocked],
        },
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 4, 4, 0, 0)
    assert [r["has_usage"] for r in rows] == [False, True, True, True]
    assert classes_of(rows[1]) == gemini_classes(flash.response["usageMetadata"])
    assert classes_of(rows[2]) == gemini_classes(vertex.response["usageMetadata"])  # finishReason 1
    assert (rows[3]["input_tokens"], rows[3]["output_tokens"]) == (8, 0)
    install_prices(kit.con)
    [cut, whole, *_] = costs(kit.con)
    p = yaml_prices("google", "gemini-2.5-flash")
    assert (cut["cost_usd"], cut["unpriced_reason"]) == (None, "not_recounted")
    assert whole["cost_usd"] == 8 * p["input"] + (433 + 1477) * p["output"]


def _snake(value: Any) -> Any:
    """The google-genai SDK's dump of a response: its field names in snake_case."""
    if isinstance(value, dict):
        return {re.sub("([A-Z])", r"_\1", k).lower(): _snake(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake(v) for v in value]
    return value


def test_an_sdk_dump_of_a_recorded_response_is_read_as_the_api_json(kit: EnvelopeKit) -> None:
    """The google-genai SDK's model_dump() of a recorded response: usage_metadata with its
    counts in snake_case, read as usageMetadata (once it was a reject: "log it with
    model_dump(by_alias=True)"); bare, paired, streamed and in an envelope."""
    [flash] = kit.cassette(FLASH)
    dumped = _snake(flash.response)
    assert dumped["usage_metadata"]["thoughts_token_count"] == 1477
    assert "usageMetadata" not in dumped and "finish_reason" in dumped["candidates"][0]
    ts = "2026-01-05T00:00:00Z"
    lines = [
        {"timestamp": ts, "request": flash.request, "response": dumped, "url": flash.uri},
        {"timestamp": ts, "request": flash.request, "response": [dumped], "url": flash.uri},
    ]
    envelope = kit.envelope("google", flash.request, dumped, model="gemini-2.5-flash")
    sdk, env = kit.write("sdk.jsonl", lines), kit.write("env.jsonl", [envelope])
    [pairs_fr, env_fr] = kit.ingest(sdk, env).files
    assert (pairs_fr.format, env_fr.format) == ("gemini-pairs", "envelope")
    # the same call three times: one row, the others its duplicates
    assert_counts_add_up(pairs_fr, 2, 1, 1, 0)
    assert_counts_add_up(env_fr, 1, 0, 1, 0)
    [row] = kit.rows()
    assert classes_of(row) == gemini_classes(flash.response["usageMetadata"])
    assert row["output_tokens"] == 433 + 1477
    assert row["request_key"] == "google:" + flash.response["responseId"]
    assert (row["model"], row["finish_reason"]) == (flash.response["modelVersion"], "STOP")


def test_dedup_rejects_and_missing_time(kit: EnvelopeKit) -> None:
    [flash] = kit.cassette(FLASH)
    [vertex] = kit.cassette(VERTEX_INT)
    no_time = copy.deepcopy(flash.response)  # Gemini API (not Vertex) bodies have no createTime
    del no_time["createTime"]
    no_time["responseId"] = "gemini-api-style"
    bad_count = copy.deepcopy(vertex.response)
    bad_count["responseId"] = "bad-count"
    bad_count["usageMetadata"]["thoughtsTokenCount"] = "294"
    spec: list[tuple[Any, str | None]] = [
        (flash.response, None),
        (vertex.response, None),
        (flash.response, None),  # duplicate of line 1
        (no_time, "missing timestamp (no timestamp, and the response has no createTime)"),
        (no_time | {"createTime": "soon"}, "timestamp is not ISO 8601"),
        (bad_count, 'usageMetadata.thoughtsTokenCount should be a whole number, got "294"'),
        ("[]", "not a JSON object (got array)"),
        ({"timestamp": "2026-01-01T00:00:00Z", "response": no_time}, None),
    ]
    path = kit.write("g.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path).files
    assert fr.format == "gemini-pairs"
    assert_counts_add_up(fr, 8, 3, 1, 4)
    rejects = kit.rejects(path)
    assert set(rejects) == {4, 5, 6, 7}
    for n in rejects:
        why = spec[n - 1][1]
        assert why is not None and why in rejects[n]["reason"], rejects[n]["reason"]
    assert [r["source_line"] for r in kit.rows(path)] == [1, 2, 8]
