"""The envelope's ``response`` may be a logged stream: a list of chunks, or the SSE text.

Usage comes from the chunk that carries it; a stream without one is loaded with
``has_usage = false``, never as zero tokens: unpriced (``not_recounted`` until the recount
prices it from its text; ``no_usage`` where there is no text).
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import duckdb
from format_helpers import (
    anthropic_classes,
    anthropic_events,
    assert_counts_add_up,
    classes_of,
    costs,
    gemini_classes,
    install_prices,
    openai_classes,
    sse,
    sse_cassette,
    sse_chunks,
    yaml_prices,
)

from tokaudit.ingest.sqltext import install_macros

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
STREAM = "openai/otelcontrib_chat_completion_streaming.yaml"
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
FLASH = "gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml"


def test_envelope_streams_of_every_provider(kit: EnvelopeKit) -> None:
    request, text = sse_cassette(STREAM)
    chunks = sse_chunks(text)
    [snap] = kit.snapshot(SNAPSHOT)
    [flash] = kit.cassette(FLASH)
    lines = [
        kit.envelope("openai", request, text, request_id="sse"),
        kit.envelope("openai", request, chunks, request_id="list"),
        kit.envelope("anthropic", snap.request, anthropic_events(snap.response)),
        kit.envelope("google", flash.request, [flash.response], model="gemini-2.5-flash"),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert fr.format == "envelope"
    assert_counts_add_up(fr, 4, 4, 0, 0)
    assert classes_of(rows[0]) == classes_of(rows[1]) == openai_classes(chunks[-1]["usage"])
    assert classes_of(rows[2]) == anthropic_classes(snap.response["usage"])
    assert classes_of(rows[3]) == gemini_classes(flash.response["usageMetadata"])
    assert [r["finish_reason"] for r in rows] == ["stop", "stop", "end_turn", "STOP"]
    assert rows[2]["request_key"] == "anthropic:" + snap.response["id"]


# Azure OpenAI's streams open with a prompt content-filter chunk and may close with
# asynchronous-filter chunks, both with an empty object, id and model and created 0 (the
# shapes of Microsoft's "Content filtering" documentation, streaming section).
AZURE_PROMPT_FILTER = {
    "choices": [],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
    "prompt_filter_results": [
        {
            "prompt_index": 0,
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
        }
    ],
}
AZURE_ASYNC_FILTER = {
    "choices": [
        {
            "index": 0,
            "finish_reason": None,
            "content_filter_results": {"hate": {"filtered": False, "severity": "safe"}},
            "content_filter_offsets": {"check_offset": 0, "start_offset": 0, "end_offset": 40},
        }
    ],
    "created": 0,
    "id": "",
    "model": "",
    "object": "",
}


def test_an_azure_stream_with_content_filter_chunks_is_read(kit: EnvelopeKit) -> None:
    """Every Azure OpenAI stream was a reject ("element 1 is not a stream chunk"): its
    content-filter chunks have an empty ``object``. They carry no id, model or usage."""
    request, text = sse_cassette(STREAM)
    chunks = sse_chunks(text)
    azure = [AZURE_PROMPT_FILTER, *chunks[:-1], AZURE_ASYNC_FILTER, chunks[-1]]
    as_text = "".join(f"data: {json.dumps(c)}\n\n" for c in azure) + "data: [DONE]\n\n"
    lines = [
        kit.envelope("openai", request, azure, request_id="list"),
        kit.envelope("openai", request, as_text, request_id="sse"),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 2, 2, 0, 0)
    for row in rows:
        assert classes_of(row) == openai_classes(chunks[-1]["usage"])
        assert row["model"] == chunks[0]["model"] and row["finish_reason"] == "stop"
    reply = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    [text_row] = kit.query(
        "SELECT body FROM prompt_texts WHERE text_hash = ?", [rows[0]["output_hash"]]
    )
    assert json.loads(text_row["body"])["messages"] == [{"role": "assistant", "content": reply}]


def test_a_stream_of_several_choices_keeps_the_first(kit: EnvelopeKit) -> None:
    """With n = 2 each chunk carries one choice by index: the reply and finish_reason came
    from whichever choice a chunk held (index 1's "length" over index 0's "stop", the two
    texts interleaved); a non-streamed response's first choice is index 0."""
    request, text = sse_cassette(STREAM)
    chunks = sse_chunks(text)
    with_text = [c for c in chunks if c["choices"]]
    other = []
    for chunk in with_text:
        twin = copy.deepcopy(chunk)
        twin["choices"][0]["index"] = 1
        if twin["choices"][0]["delta"].get("content"):
            twin["choices"][0]["delta"]["content"] = "x"
        if twin["choices"][0].get("finish_reason"):
            twin["choices"][0]["finish_reason"] = "length"
        other.append(twin)
    interleaved = [c for pair in zip(with_text, other, strict=True) for c in pair]
    stream = interleaved + [c for c in chunks if not c["choices"]]
    fr, [row] = kit.ingest_lines([kit.envelope("openai", request, stream)])
    assert_counts_add_up(fr, 1, 1, 0, 0)
    assert row["finish_reason"] == "stop"
    reply = "".join(c["choices"][0]["delta"].get("content") or "" for c in with_text)
    [text_row] = kit.query(
        "SELECT body FROM prompt_texts WHERE text_hash = ?", [row["output_hash"]]
    )
    assert json.loads(text_row["body"])["messages"] == [{"role": "assistant", "content": reply}]


def test_envelope_stream_without_usage_is_unpriced(kit: EnvelopeKit) -> None:
    request, text = sse_cassette(STREAM)
    no_usage = [c for c in sse_chunks(text) if c["usage"] is None]
    [snap] = kit.snapshot(SNAPSHOT)
    events = anthropic_events(snap.response)
    events[0]["message"]["usage"] = {}  # no counts anywhere in the stream
    del events[5]["usage"]
    lines = [
        kit.envelope("openai", request, no_usage),
        kit.envelope("anthropic", snap.request, events),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 2, 2, 0, 0)
    assert [r["has_usage"] for r in rows] == [False, False]
    install_prices(kit.con)
    got = costs(kit.con)
    assert [(c["unpriced_reason"], c["cost_usd"]) for c in got] == [("not_recounted", None)] * 2


def test_an_anthropic_stream_cut_before_message_delta_is_unpriced(kit: EnvelopeKit) -> None:
    """message_start's output_tokens is a placeholder (1): without a message_delta the output
    count is unknown, so the call has no usage rather than a made-up one."""
    [snap] = kit.snapshot(SNAPSHOT)
    events = anthropic_events(snap.response)
    cut = [e for e in events if e["type"] not in ("message_delta", "message_stop")]
    assert cut[0]["type"] == "message_start" and cut[0]["message"]["usage"]["output_tokens"] == 1
    fr, rows = kit.ingest_lines(
        [
            kit.envelope("anthropic", snap.request, cut, request_id="cut"),
            kit.envelope("anthropic", snap.request, events, request_id="whole"),
        ]
    )
    assert_counts_add_up(fr, 2, 2, 0, 0)
    by_key = {r["request_key"]: r for r in rows}
    assert by_key["anthropic:cut"]["has_usage"] is False
    assert classes_of(by_key["anthropic:whole"]) == anthropic_classes(snap.response["usage"])
    install_prices(kit.con)
    reasons = {c["request_key"]: c["unpriced_reason"] for c in costs(kit.con)}
    assert reasons == {"anthropic:cut": "not_recounted", "anthropic:whole": None}


def test_an_anthropic_message_delta_without_an_output_count_leaves_the_call_unpriced(
    kit: EnvelopeKit,
) -> None:
    """A message_delta logged without usage (or without output_tokens) does not say how
    much was written: message_start's placeholder output count (1) must not be priced as
    the call's output, which would under-count it without a word."""
    [snap] = kit.snapshot(SNAPSHOT)
    events = anthropic_events(snap.response)
    [at] = [i for i, e in enumerate(events) if e["type"] == "message_delta"]
    no_usage = copy.deepcopy(events)
    del no_usage[at]["usage"]
    no_output = copy.deepcopy(events)
    no_output[at]["usage"] = {"input_tokens": snap.response["usage"]["input_tokens"]}
    lines = [
        kit.envelope("anthropic", snap.request, no_usage, request_id="no-usage"),
        kit.envelope("anthropic", snap.request, sse(no_output), request_id="no-output"),
        kit.envelope("anthropic", snap.request, events, request_id="whole"),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 3, 3, 0, 0)
    assert [r["has_usage"] for r in rows] == [False, False, True]
    install_prices(kit.con)
    p = yaml_prices("anthropic", "claude-sonnet-4-5")
    u = snap.response["usage"]
    want = u["input_tokens"] * p["input"] + u["output_tokens"] * p["output"]
    got = [(c["request_key"], c["cost_usd"], c["unpriced_reason"]) for c in costs(kit.con)]
    assert got == [
        ("anthropic:no-usage", None, "not_recounted"),
        ("anthropic:no-output", None, "not_recounted"),
        ("anthropic:whole", want, None),
    ]


def test_an_anthropic_stream_that_ends_in_an_error_event_is_an_error(kit: EnvelopeKit) -> None:
    """The Messages API may send an error event mid-stream (overloaded_error): the call
    failed, so it is an error row, not a success to be priced from its recount."""
    [snap] = kit.snapshot(SNAPSHOT)
    events = anthropic_events(snap.response)
    error = {"type": "overloaded_error", "message": "Overloaded"}
    failed = [e for e in events if e["type"] not in ("message_delta", "message_stop")]
    failed.append({"type": "error", "error": error})
    lines = [
        kit.envelope("anthropic", snap.request, sse(failed, named=True), request_id="failed"),
        kit.envelope("anthropic", snap.request, events, request_id="whole"),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 2, 2, 0, 0)
    got = [(r["status"], r["error_type"], r["error_message"], r["has_usage"]) for r in rows]
    assert got == [
        ("error", "overloaded_error", "Overloaded", False),
        ("ok", None, None, True),
    ]
    install_prices(kit.con)
    assert [c["unpriced_reason"] for c in costs(kit.con)] == [None, None]


def test_a_list_that_is_not_a_stream_is_still_rejected(kit: EnvelopeKit) -> None:
    request, text = sse_cassette(STREAM)
    full = copy.deepcopy(sse_chunks(text)[-1])
    full["object"] = "chat.completion"  # a whole response in a list is not a stream
    path = kit.write(
        "bad.jsonl",
        [
            kit.envelope("openai", request, [full]),
            kit.envelope("openai", request, "no events here"),
            kit.envelope("anthropic", request, sse([{"type": "ping"}])),
        ],
    )
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 3, 0, 0, 3)
    reasons = {n: r["reason"] for n, r in kit.rejects(path).items()}
    assert reasons == {
        1: "response is not an object or a readable stream: "
        "element 1 is not a stream chunk (openai)",
        2: 'response is not an object or a readable stream: a string with no SSE "data:" line',
        3: "response is not an object or a readable stream: "
        "no message_start event (the usage of the input is in it)",
    }


def test_folded_streams_keep_the_reply_text() -> None:
    _, text = sse_cassette(STREAM)
    con = duckdb.connect()
    install_macros(con)
    row = con.execute(
        "SELECT ta_stream_response('openai', to_json(?::VARCHAR)) "
        "->> '$.choices[0].message.content'",
        [text],
    ).fetchone()
    assert row is not None
    assert row[0] == "".join(
        c["choices"][0]["delta"].get("content", "") for c in sse_chunks(text) if c["choices"]
    )
    assert row[0] == '"This is a test."'


RESPONSES = "openai/otelcontrib_responses_create_aggregates_cache_tokens.yaml"


def _responses_events(response: Json) -> list[Json]:
    """A Responses API stream of one response, as its streaming events reference draws it:
    ``response.created`` (the response in progress, no usage yet), text deltas, and
    ``response.completed`` carrying the whole response."""
    started = {**copy.deepcopy(response), "status": "in_progress", "output": [], "usage": None}
    return [
        {"type": "response.created", "sequence_number": 0, "response": started},
        {"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hel"},
        {"type": "response.output_text.delta", "sequence_number": 2, "delta": "lo"},
        {"type": "response.completed", "sequence_number": 3, "response": response},
    ]


def test_a_stream_that_fails_mid_way_is_an_error_row(kit: EnvelopeKit) -> None:
    """OpenAI Chat and Gemini send ``{"error": {...}}`` as a chunk when a stream fails part
    way, and the Responses API an ``error`` event: the call failed (an error row with its
    message), it is not a line to reject, nor a success to price from its recount."""
    [resp] = kit.cassette(RESPONSES)
    events = _responses_events(resp.response)
    failed_events = [
        *events[:3],
        {"type": "error", "code": "server_error", "message": "boom", "param": None},
    ]
    request, text = sse_cassette(STREAM)
    no_usage = [c for c in sse_chunks(text) if c["usage"] is None]
    chat_error = {"message": "The server had an error", "type": "server_error", "code": None}
    [flash] = kit.cassette(FLASH)
    partial = copy.deepcopy(flash.response)
    del partial["candidates"][0]["finishReason"]
    gemini_error = {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
    lines = [
        kit.envelope("openai", resp.request, events, request_id="responses-whole"),
        kit.envelope("openai", resp.request, sse(failed_events), request_id="responses-failed"),
        kit.envelope("openai", request, [*no_usage, {"error": chat_error}], request_id="chat"),
        kit.envelope(
            "google",
            flash.request,
            [partial, {"error": gemini_error}],
            model="gemini-2.5-flash",
            request_id="gemini",
        ),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 4, 4, 0, 0)
    by_key = {r["request_id"]: r for r in rows}
    whole = by_key["responses-whole"]
    assert (whole["status"], whole["api"]) == ("ok", "responses")
    assert classes_of(whole) == openai_classes(resp.response["usage"])
    got = {
        k: (r["status"], r["error_type"], r["error_message"], r["has_usage"])
        for k, r in by_key.items()
        if k != "responses-whole"
    }
    assert by_key["gemini"]["http_status"] == 503  # google.rpc.Status: code is the HTTP one
    assert got == {
        "responses-failed": ("error", "server_error", "boom", False),
        "chat": ("error", "server_error", "The server had an error", False),
        "gemini": ("error", "UNAVAILABLE", "The model is overloaded.", False),
    }
    install_prices(kit.con)
    # a failed call is billed nothing (as an Anthropic stream's error event): not priced
    # from its recount, and not an unpriced success
    failed = costs(kit.con, "status = 'error'")
    assert [(c["cost_usd"], c["unpriced_reason"]) for c in failed] == [(0, None)] * 3


def test_an_error_chunk_alone_does_not_name_the_provider(kit: EnvelopeKit) -> None:
    """Detection of a bare stream by its first chunk: an error chunk fits more than one
    provider, so it does not decide (an Anthropic error event stays Anthropic's)."""
    con = kit.con
    install_macros(con)
    got = con.execute(
        """SELECT ta_chunk_provider('{"error": {"message": "x"}}'::JSON),
                  ta_chunk_provider('{"type": "error", "error": {"type": "x"}}'::JSON),
                  ta_chunk_provider('{"type": "error", "code": "x", "message": "y"}'::JSON)"""
    ).fetchone()
    assert got == (None, "anthropic", "anthropic")
