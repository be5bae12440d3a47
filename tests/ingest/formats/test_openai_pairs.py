"""openai-pairs: bare Chat Completions / Responses request-response pairs, streams included.

Lines are built from real recordings (tests/fixtures/realworld/openai); expected token
classes come from the raw usage objects (format_helpers), never from tokaudit.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING

from format_helpers import (
    assert_counts_add_up,
    classes_of,
    costs,
    install_prices,
    openai_classes,
    sse_cassette,
    sse_chunks,
)

if TYPE_CHECKING:
    from conftest import EnvelopeKit

CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
CACHE = "openai/openllmetry_openai_prompt_caching.yaml"
STREAM = "openai/otelcontrib_chat_completion_streaming.yaml"
RESP_CACHE = "openai/otelcontrib_responses_create_aggregates_cache_tokens.yaml"
REASONING = "openai/otelcontrib_responses_create_reports_reasoning_tokens.yaml"
NOT_FOUND = "openai/otelcontrib_chat_completion_404.yaml"
ANTHROPIC = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"


def test_auto_detects_pairs_and_maps_token_classes(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    cache_calls = kit.cassette(CACHE)
    [resp_cache] = kit.cassette(RESP_CACHE)
    [reasoning] = kit.cassette(REASONING)
    exchanges = [chat, *cache_calls, resp_cache, reasoning]
    lines = [{"request": ex.request, "response": ex.response} for ex in exchanges]

    fr, rows = kit.ingest_lines(lines, "pairs.jsonl")

    assert fr.format == "openai-pairs"  # what --format auto chose
    assert_counts_add_up(fr, len(lines), len(lines), 0, 0)
    for ex, row in zip(exchanges, rows, strict=True):
        assert classes_of(row) == openai_classes(ex.response["usage"])
        assert row["request_key"] == "openai:" + ex.response["id"]
        assert row["provider"] == "openai" and row["has_usage"] and not row["is_batch"]
    # headline numbers pinned, so a changed fixture cannot change what is tested
    assert (rows[0]["input_tokens"], rows[0]["output_tokens"]) == (12, 5)
    assert (rows[2]["input_tokens"], rows[2]["cache_read_tokens"]) == (1149 - 1024, 1024)
    assert (rows[-1]["output_tokens"], rows[-1]["reasoning_tokens"]) == (288, 9)
    assert [r["api"] for r in rows[-2:]] == ["responses", "responses"]
    assert rows[0]["api"] == "chat.completions"


def test_time_is_the_line_timestamp_else_created_or_created_at(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    [resp] = kit.cassette(RESP_CACHE)
    lines = [
        {"request": chat.request, "response": chat.response},
        {"request": resp.request, "response": resp.response},
        {
            "timestamp": "2026-03-01T10:00:00+02:00",
            "request_id": "explicit",
            "request": chat.request,
            "response": chat.response,
        },
    ]
    _, rows = kit.ingest_lines(lines)
    epochs = [int(r["ts"].timestamp()) for r in rows]
    assert epochs[0] == chat.response["created"] == 1731368630
    assert epochs[1] == int(resp.response["created_at"])
    assert rows[2]["ts"].isoformat() == "2026-03-01T08:00:00+00:00"


def test_streams_as_sse_text_chunk_lists_or_chunks_key(kit: EnvelopeKit) -> None:
    request, text = sse_cassette(STREAM)
    chunks = sse_chunks(text)
    usage = chunks[-1]["usage"]  # stream_options.include_usage: only the last chunk has it
    assert all(c["usage"] is None for c in chunks[:-1]) and usage["prompt_tokens"] == 12
    lines = [
        {"request": request, "response": text, "request_id": "sse"},
        {"request": request, "response": chunks, "request_id": "list"},
        {"request": request, "chunks": chunks, "request_id": "chunks-key"},
    ]
    fr, rows = kit.ingest_lines(lines)
    assert fr.format == "openai-pairs"
    assert_counts_add_up(fr, 3, 3, 0, 0)
    for row in rows:
        assert classes_of(row) == openai_classes(usage)
        assert (row["model"], row["model_requested"]) == ("gpt-4-0613", "gpt-4")
        assert row["finish_reason"] == "stop"
        assert int(row["ts"].timestamp()) == chunks[0]["created"]


def test_stream_without_usage_chunk_is_unpriced_not_free(kit: EnvelopeKit) -> None:
    request, text = sse_cassette(STREAM)
    chunks = [c for c in sse_chunks(text) if c["usage"] is None]  # no include_usage
    lines = [{"request": request, "response": chunks}]
    fr, [row] = kit.ingest_lines(lines)
    assert_counts_add_up(fr, 1, 1, 0, 0)
    assert row["has_usage"] is False and row["status"] == "ok"
    assert row["input_tokens"] is None and row["output_tokens"] is None
    install_prices(kit.con)
    [cost] = costs(kit.con)
    # its text waits for the recount (none ran here), which would price it as an estimate
    assert (cost["pricing_status"], cost["unpriced_reason"]) == ("unpriced", "not_recounted")
    assert cost["cost_usd"] is None  # never 0


def test_same_call_dedups_within_across_files_and_with_the_envelope(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    pair = {"request": chat.request, "response": chat.response}
    fr, rows = kit.ingest_lines([pair, pair, chat.response], "a.jsonl")  # bare body: same id
    assert_counts_add_up(fr, 3, 1, 2, 0)
    assert [r["source_line"] for r in rows] == [1]

    [again] = kit.ingest(kit.write("b.jsonl", [pair])).files
    assert_counts_add_up(again, 1, 0, 1, 0)
    envelope = kit.from_exchange(chat, "openai")
    [env] = kit.ingest(kit.write("c.jsonl", [envelope])).files
    assert env.format == "envelope"
    assert_counts_add_up(env, 1, 0, 1, 0)  # same provider:id key, whatever the wrapper
    assert kit.count("requests") == 1


def test_request_texts_and_hashes_match_the_envelope(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    _, [pair_row] = kit.ingest_lines([{"request": chat.request, "response": chat.response}])
    other = copy.deepcopy(chat.response)
    other["id"] = "chatcmpl-envelope-copy"
    _, [env_row] = kit.ingest_lines([kit.envelope("openai", chat.request, other)], "envelope.jsonl")
    for col in ("request_hash", "prompt_hash", "input_hash", "api", "model_requested"):
        assert pair_row[col] == env_row[col] and pair_row[col] is not None
    [text] = kit.query(
        "SELECT body FROM prompt_texts WHERE text_hash = ?", [pair_row["prompt_hash"]]
    )
    assert text["body"] == "Say this is a test"


def test_error_pair_is_an_error_row(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    [nf] = kit.cassette(NOT_FOUND)
    error = {"status": nf.status, **nf.response["error"]}
    line = {"timestamp": "2026-02-01T00:00:00Z", "request": nf.request, "error": error}
    fr, [_, row] = kit.ingest_lines([{"request": chat.request, "response": chat.response}, line])
    assert fr.format == "openai-pairs"
    assert (row["status"], row["http_status"], row["error_type"]) == (
        "error",
        404,
        "invalid_request_error",
    )
    assert row["has_usage"] is False and row["model"] == nf.request["model"]


def test_an_error_body_logged_as_the_response_is_an_error_row(kit: EnvelopeKit) -> None:
    """The 404 body exactly as received, in ``response``: a failed call, which costs
    nothing, not a success without usage that the recount would price from its text."""
    [chat] = kit.cassette(CHAT)
    [nf] = kit.cassette(NOT_FOUND)
    [resp] = kit.cassette(RESP_CACHE)
    failed = copy.deepcopy(resp.response)  # a Responses API response that failed
    failed.update(
        id="resp_failed",
        status="failed",
        usage=None,
        error={"code": "server_error", "message": "The server had an error"},
    )
    ts = "2026-02-01T00:00:00Z"
    lines = [
        {"request": chat.request, "response": chat.response},
        {"timestamp": ts, "request": nf.request, "response": nf.response, "request_id": "nf"},
        {"request": resp.request, "response": failed},
    ]
    fr, rows = kit.ingest_lines(lines)
    assert fr.format == "openai-pairs"
    assert_counts_add_up(fr, 3, 3, 0, 0)
    got = [(r["status"], r["error_type"], r["has_usage"]) for r in rows]
    assert got == [
        ("ok", None, True),
        ("error", nf.response["error"]["type"], False),
        ("error", "server_error", False),
    ]
    _, env_rows = kit.ingest_lines(
        [kit.envelope("openai", nf.request, nf.response, request_id="env")], "envelope.jsonl"
    )
    assert [(r["status"], r["error_message"]) for r in env_rows] == [
        ("error", nf.response["error"]["message"])
    ]
    install_prices(kit.con)
    reasons = [(c["status"], c["unpriced_reason"]) for c in costs(kit.con)]
    assert ("ok", "not_recounted") not in reasons  # no failed call waits for an estimate


def test_rejects_keep_line_numbers_and_reasons(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    [resp] = kit.cassette(RESP_CACHE)
    anthropic = kit.snapshot(ANTHROPIC)[0].response
    no_time = copy.deepcopy(chat.response)
    del no_time["created"]
    good = {"request": chat.request, "response": chat.response}
    spec = [
        (good, None),
        ("{not json", "invalid JSON"),
        (good | {"respose": {}}, "unknown field(s): respose"),
        (
            {"request": chat.request, "response": anthropic, "timestamp": "2026-01-01T00:00:00Z"},
            "looks like anthropic, not openai (use --format anthropic-pairs",
        ),
        ({"request": chat.request, "response": no_time}, "missing timestamp"),
        (
            {"request": chat.request, "response": [chat.response]},
            "response is not an object or a readable stream: element 1 is not a stream chunk",
        ),
        (
            {"request": chat.request, "response": "data: {oops\n\n"},
            "stream event 1 is not valid JSON",
        ),
        (good | {"chunks": []}, "both response and chunks"),
        (
            {"request": chat.request, "response": 42, "timestamp": 1700000000},
            "response is not an object",
        ),
        ({"request": resp.request, "response": resp.response}, None),
        ([1, 2], "not a JSON object (got array)"),
        ({"hello": "world"}, "neither a request/response pair nor a response body from openai"),
    ]
    path = kit.write("mixed.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt="openai-pairs").files
    bad = {n: why for n, (_, why) in enumerate(spec, 1) if why}
    assert_counts_add_up(fr, len(spec), len(spec) - len(bad), 0, len(bad))
    rejects = kit.rejects(path)
    assert set(rejects) == set(bad)
    for n, why in bad.items():
        assert why in rejects[n]["reason"], (n, rejects[n]["reason"])
        raw = spec[n - 1][0]
        assert rejects[n]["raw"] == (raw if isinstance(raw, str) else json.dumps(raw))
    assert [r["source_line"] for r in kit.rows(path)] == [1, 10]


def test_detection_tolerates_a_bad_early_line_and_leaves_envelopes_alone(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    [resp] = kit.cassette(RESP_CACHE)
    pairs = [{"request": ex.request, "response": ex.response} for ex in (chat, resp)]
    [fr] = kit.ingest(kit.write("p.jsonl", ["{cut", *pairs])).files
    assert (fr.format, fr.loaded, fr.rejected) == ("openai-pairs", 2, 1)
    envelopes = [kit.from_exchange(ex, "openai") for ex in (chat, resp)]
    [fr] = kit.ingest(kit.write("e.jsonl", envelopes)).files
    assert fr.format == "envelope"  # a provider key makes it an envelope, not a pair
