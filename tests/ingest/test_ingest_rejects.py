"""Nothing lost: every non-blank line is either a ``requests`` row or a ``rejects`` row.

The bad lines are real provider bodies with one thing broken each, so each line has
exactly one reason to be rejected.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]

OPENAI_CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
OPENAI_CACHE = "openai/openllmetry_openai_prompt_caching.yaml"
OPENAI_RESPONSES = "openai/otelcontrib_responses_create_reports_reasoning_tokens.yaml"
ANTHROPIC_SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
ANTHROPIC_CACHE = "anthropic/openllmetry_anthropic_prompt_caching_legacy.yaml"
GEMINI = "gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml"


def mixed_file(kit: EnvelopeKit) -> list[tuple[str | Json, str | None]]:
    """(line, expected reject reason substring); None = loads; '' for a blank line."""
    [chat] = kit.cassette(OPENAI_CHAT)
    cache_calls = kit.cassette(OPENAI_CACHE)
    [responses] = kit.cassette(OPENAI_RESPONSES)
    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    an_cache = kit.cassette(ANTHROPIC_CACHE)
    [gem] = kit.cassette(GEMINI)

    good_chat = kit.from_exchange(chat, "openai")
    good_snap = kit.from_exchange(snap, "anthropic")
    good_gem = kit.from_exchange(gem, "google")
    good_resp = kit.from_exchange(responses, "openai")
    good_cache = kit.from_exchange(cache_calls[1], "openai")
    good_epoch = kit.from_exchange(cache_calls[2], "openai", timestamp=1762000000)

    unknown_key = kit.from_exchange(cache_calls[3], "openai") | {"cost_usd": 0.01}
    no_ts = kit.from_exchange(cache_calls[3], "openai")
    del no_ts["timestamp"]
    bad_ts = kit.from_exchange(cache_calls[3], "openai", timestamp="yesterday at noon")
    bad_date = kit.from_exchange(cache_calls[3], "openai", timestamp="2026-13-45T00:00:00Z")
    azure = kit.from_exchange(chat, "openai") | {"provider": "azure"}
    no_provider = kit.from_exchange(chat, "openai")
    del no_provider["provider"]

    str_count = copy.deepcopy(good_chat)
    str_count["response"]["usage"]["prompt_tokens"] = "12"
    float_count = copy.deepcopy(good_chat)
    float_count["response"]["usage"]["completion_tokens"] = 5.5
    usage_text = copy.deepcopy(good_chat)
    usage_text["response"]["usage"] = "lots"
    integral_float = copy.deepcopy(good_chat)
    integral_float["response"]["usage"]["prompt_tokens"] = 10.0
    negative = copy.deepcopy(good_chat)
    negative["response"]["usage"]["completion_tokens"] = -5
    neg_anthropic = copy.deepcopy(good_snap)
    neg_anthropic["response"]["usage"]["cache_read_input_tokens"] = -1
    neg_gemini = copy.deepcopy(good_gem)
    neg_gemini["response"]["usageMetadata"]["thoughtsTokenCount"] = -1477

    over_cached = copy.deepcopy(good_cache)
    over_cached["response"]["usage"]["prompt_tokens_details"]["cached_tokens"] = 2000
    over_gem = copy.deepcopy(good_gem)
    over_gem["response"]["usageMetadata"]["cachedContentTokenCount"] = 9
    over_audio = copy.deepcopy(good_gem)  # more cached audio than cached tokens
    over_audio["response"]["usageMetadata"]["cachedContentTokenCount"] = 2
    over_audio["response"]["usageMetadata"]["cacheTokensDetails"] = [
        {"modality": "AUDIO", "tokenCount": 5}
    ]
    over_reasoning = copy.deepcopy(good_resp)
    over_reasoning["response"]["usage"]["output_tokens_details"]["reasoning_tokens"] = 289

    over_thinking = copy.deepcopy(good_snap)
    over_thinking["response"]["usage"]["output_tokens_details"] = {"thinking_tokens": 27}

    bad_split = kit.from_exchange(an_cache[0], "anthropic")
    bad_split["response"]["usage"]["cache_creation"] = {
        "ephemeral_5m_input_tokens": 100,
        "ephemeral_1h_input_tokens": 100,
    }  # 200 != cache_creation_input_tokens 1163

    neither = kit.envelope("openai", chat.request, None)
    no_model = kit.envelope("google", gem.request, copy.deepcopy(gem.response))
    del no_model["response"]["modelVersion"]
    bad_meta = good_chat | {"metadata": ["team", "search"]}
    bad_batch = good_chat | {"batch": "yes"}
    bad_latency = good_chat | {"latency_ms": "120ms"}
    resp_list = good_chat | {"response": [chat.response]}

    text = json.dumps(good_chat)
    return [
        (good_chat, None),  # 1
        (good_snap, None),  # 2
        (good_gem, None),  # 3
        ("", ""),  # 4 blank
        (text[: len(text) // 2], "invalid JSON"),  # 5 a line cut in half
        (json.dumps([good_chat]), "not a JSON object (got array)"),  # 6
        (unknown_key, "unknown envelope field(s): cost_usd"),  # 7
        (no_ts, "missing timestamp"),  # 8
        (bad_ts, "timestamp is not ISO 8601 or epoch seconds"),  # 9
        ("   ", ""),  # 10 blank (spaces)
        (bad_date, "timestamp is not ISO 8601 or epoch seconds"),  # 11
        (azure, 'unknown provider "azure"'),  # 12
        (str_count, 'response.usage.prompt_tokens should be a whole number, got "12"'),  # 13
        (float_count, "response.usage.completion_tokens should be a whole number, got 5.5"),
        (negative, "response.usage.completion_tokens is negative"),  # 15
        (neg_anthropic, "response.usage.cache_read_input_tokens is negative"),  # 16
        (neg_gemini, "response.usageMetadata.thoughtsTokenCount is negative"),  # 17
        (over_cached, "cached tokens exceed prompt tokens"),  # 18
        (over_gem, "cachedContentTokenCount exceeds promptTokenCount"),  # 19
        (over_reasoning, "reasoning tokens exceed output tokens"),  # 20
        (bad_split, "5m + 1h split does not add up"),  # 21
        (neither, "neither a response nor an error"),  # 22
        ("", ""),  # 23 blank
        (no_model, "no model"),  # 24
        (bad_meta, "metadata is not an object"),  # 25
        (bad_batch, "batch is not true/false"),  # 26
        (bad_latency, "latency_ms is not a number"),  # 27
        (resp_list, "response is not an object"),  # 28
        ("null", "not a JSON object (got null)"),  # 29
        (no_provider, "missing provider"),  # 30
        (over_thinking, "thinking tokens exceed output tokens"),  # 31
        (good_resp, None),  # 32
        (good_cache, None),  # 33
        (good_epoch, None),  # 34
        (over_audio, "cacheTokensDetails AUDIO exceeds cachedContentTokenCount"),  # 35
        ("18446744073709551615", "not a JSON object (got number)"),  # 36: JSON names, not
        ('"a string"', "not a JSON object (got string)"),  # 37: DuckDB's ubigint, varchar
        # 38: provider bodies hold integer counts; 10.0 is for the gateway formats only
        (integral_float, "response.usage.prompt_tokens should be a whole number, got 10.0"),
        (usage_text, "response.usage is not an object (got string)"),  # 39
    ]


@pytest.mark.parametrize("fmt", ["auto", "envelope"])
def test_every_line_is_loaded_or_rejected_with_its_reason(kit: EnvelopeKit, fmt: str) -> None:
    spec = mixed_file(kit)
    path = kit.write("mixed.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt=fmt).files

    blank = {n for n, (_, why) in enumerate(spec, 1) if why == ""}
    good = {n for n, (_, why) in enumerate(spec, 1) if why is None}
    bad = {n: why for n, (_, why) in enumerate(spec, 1) if why}

    assert fr.error is None
    assert fr.format == "envelope"
    assert fr.records_read == len(spec) - len(blank)  # blank lines are not records
    assert (fr.loaded, fr.rejected, fr.duplicates) == (len(good), len(bad), 0)
    assert fr.records_read == fr.loaded + fr.duplicates + fr.rejected

    rejects = kit.rejects(path)
    assert set(rejects) == set(bad), "rejected line numbers"
    for n, why in bad.items():
        assert why in rejects[n]["reason"], f"line {n}: {rejects[n]['reason']!r}"
        raw = spec[n - 1][0]
        assert rejects[n]["raw"] == (raw if isinstance(raw, str) else json.dumps(raw))

    rows = kit.rows(path)
    assert [r["source_line"] for r in rows] == sorted(good)
    assert not blank & (set(rejects) | {r["source_line"] for r in rows})
    assert kit.count("requests") == len(good)
    assert {r["source_format"] for r in rows} == {"envelope"}


def test_unknown_provider_reason_lists_the_known_ones(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(OPENAI_CHAT)
    good = kit.from_exchange(chat, "openai")
    path = kit.write("p.jsonl", [good, good | {"provider": "mistral"}])
    kit.ingest(path)
    reason = kit.rejects(path)[2]["reason"]
    for name in ("openai", "anthropic", "google"):
        assert name in reason


def test_provider_name_is_case_insensitive(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(OPENAI_CHAT)
    fr, rows = kit.ingest_lines([kit.from_exchange(chat, "OpenAI")])
    assert (fr.loaded, fr.rejected) == (1, 0)
    assert rows[0]["provider"] == "openai"


def test_timestamps_iso_and_epoch_are_stored_in_utc(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(OPENAI_CHAT)
    cases: list[tuple[str | float, datetime]] = [
        ("2026-11-01T12:00:00Z", datetime(2026, 11, 1, 12, tzinfo=UTC)),
        ("2026-11-01T14:00:00+02:00", datetime(2026, 11, 1, 12, tzinfo=UTC)),
        (1761998400, datetime(2025, 11, 1, 12, tzinfo=UTC)),
        (1761998400.5, datetime(2025, 11, 1, 12, 0, 0, 500000, tzinfo=UTC)),
    ]
    lines = [
        kit.from_exchange(chat, "openai", timestamp=ts, request_id=f"ts-{i}")
        for i, (ts, _) in enumerate(cases)
    ]
    fr, rows = kit.ingest_lines(lines)
    assert (fr.loaded, fr.rejected) == (len(cases), 0)
    assert [r["ts"] for r in rows] == [want for _, want in cases]


# --- found while testing: one bad line must never sink the whole file ---------------
def test_out_of_range_values_reject_only_their_line(kit: EnvelopeKit) -> None:
    """Epochs beyond TIMESTAMPTZ and counts beyond int64 used to fail the file."""
    [chat] = kit.cassette(OPENAI_CHAT)
    calls = kit.cassette(OPENAI_CACHE)
    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    huge_epoch = kit.from_exchange(calls[0], "openai", timestamp=1e20)
    tiny_epoch = kit.from_exchange(calls[1], "openai", timestamp=-1e20)
    uint64 = kit.from_exchange(calls[2], "openai")
    uint64["response"]["usage"]["prompt_tokens"] = 2**64 - 1
    int64_plus_1 = kit.from_exchange(snap, "anthropic")
    int64_plus_1["response"]["usage"]["input_tokens"] = 2**63
    int64_max = kit.from_exchange(calls[3], "openai")  # the largest count that fits
    int64_max["response"]["usage"]["prompt_tokens"] = 2**63 - 1
    lines = [kit.from_exchange(chat, "openai"), huge_epoch, tiny_epoch, uint64, int64_plus_1]
    fr, rows = kit.ingest_lines([*lines, int64_max])
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (6, 2, 4)
    reasons = {n: r["reason"] for n, r in kit.rejects(kit.tmp_path / "log.jsonl").items()}
    assert set(reasons) == {2, 3, 4, 5}
    assert reasons[2].startswith("timestamp is not ISO 8601 or epoch seconds")
    assert reasons[3].startswith("timestamp is not ISO 8601 or epoch seconds")
    assert "response.usage.prompt_tokens is too large" in reasons[4]
    assert "response.usage.input_tokens is too large" in reasons[5]
    assert [r["source_line"] for r in rows] == [1, 6]
    assert rows[1]["input_tokens"] == 2**63 - 1


def test_one_malformed_early_record_does_not_make_the_file_undetectable(
    kit: EnvelopeKit,
) -> None:
    """Detection looks at the first records; one bad one must become a line reject."""
    [chat] = kit.cassette(OPENAI_CHAT)
    calls = kit.cassette(OPENAI_CACHE)
    no_provider = kit.from_exchange(chat, "openai")
    del no_provider["provider"]
    lines = [no_provider, *(kit.from_exchange(c, "openai") for c in calls)]
    fr, _ = kit.ingest_lines(lines)
    assert (fr.error, fr.format) == (None, "envelope")
    assert (fr.loaded, fr.rejected) == (4, 1)
    assert "missing provider" in kit.rejects(kit.tmp_path / "log.jsonl")[1]["reason"]


def test_mixed_line_endings_keep_line_numbers(kit: EnvelopeKit) -> None:
    calls = kit.cassette(OPENAI_CACHE)
    lines = [json.dumps(kit.from_exchange(c, "openai")).encode() for c in calls]
    data = lines[0] + b"\n" + lines[1] + b"\r\n" + b"{oops\n" + lines[2] + b"\n"
    path = kit.tmp_path / "crlf.jsonl"
    path.write_bytes(data)
    [fr] = kit.ingest(path).files
    assert (fr.loaded, fr.rejected) == (3, 1)
    assert set(kit.rejects(path)) == {3}
    assert [r["source_line"] for r in kit.rows(path)] == [1, 2, 4]


def test_whitespace_only_lines_are_blank(kit: EnvelopeKit) -> None:
    """Tabs, form feeds, vertical tabs and stray CRs are blank, not invalid JSON."""
    [chat] = kit.cassette(OPENAI_CHAT)
    lines = [kit.from_exchange(chat, "openai"), "\t", " \t ", "\f", "\v", " \r"]
    fr, _ = kit.ingest_lines(lines)
    assert (fr.records_read, fr.loaded, fr.rejected) == (1, 1, 0)


def test_a_whole_number_beyond_int64_is_too_large_at_any_size(kit: EnvelopeKit) -> None:
    """2^63 (a UBIGINT to DuckDB) was "too large" but 2^64 and 10^30 (DOUBLEs to it)
    "should be a whole number, got 1000…": one reason for every size, the same as the
    gateway formats, Claude Code and --map give. Exponent forms stay not whole numbers."""
    calls = kit.cassette(OPENAI_CACHE)
    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    [gem] = kit.cassette(GEMINI)
    lines = []
    for i, value in enumerate([2**63, 2**64, 10**30, -(10**30)]):
        line = kit.from_exchange(calls[i], "openai", request_id=f"big-{i}")
        line["response"]["usage"]["prompt_tokens"] = value
        lines.append(line)
    anthropic = kit.from_exchange(snap, "anthropic")
    anthropic["response"]["usage"]["output_tokens"] = 10**30
    gemini = kit.from_exchange(gem, "google")
    gemini["response"]["usageMetadata"]["candidatesTokenCount"] = 2**64
    exponent = kit.from_exchange(calls[0], "openai", request_id="exp")
    prompt = exponent["response"]["usage"]["prompt_tokens"]
    exponent_text = json.dumps(exponent).replace(
        f'"prompt_tokens": {prompt},', '"prompt_tokens": 1e400,'
    )
    assert "1e400" in exponent_text
    fr, _ = kit.ingest_lines([*lines, anthropic, gemini, exponent_text])
    reasons = {n: r["reason"] for n, r in kit.rejects(kit.tmp_path / "log.jsonl").items()}
    assert reasons == {
        1: "response.usage.prompt_tokens is too large: 9223372036854775808",
        2: "response.usage.prompt_tokens is too large: 18446744073709551616",
        3: "response.usage.prompt_tokens is too large: 1000000000000000000000000000000",
        4: "response.usage.prompt_tokens is negative",
        5: "response.usage.output_tokens is too large: 1000000000000000000000000000000",
        6: "response.usageMetadata.candidatesTokenCount is too large: 18446744073709551616",
        7: "response.usage.prompt_tokens should be a whole number, got 1e400",
    }
    assert fr.loaded == 0


def test_counts_that_add_up_beyond_int64_reject_only_their_line(kit: EnvelopeKit) -> None:
    """Each count fits int64, their sum does not: the usage macros' BIGINT additions failed
    the whole file, and input classes adding up past it loaded a row every priced report
    then crashed on (the pricing view adds them up)."""
    big = 2**63 - 1
    calls = kit.cassette(OPENAI_CACHE)
    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    [gem] = kit.cassette(GEMINI)
    cached = kit.from_exchange(calls[0], "openai")
    cached["response"]["usage"].update(
        prompt_tokens=big, prompt_tokens_details={"cached_tokens": big, "cache_write_tokens": big}
    )
    split = kit.from_exchange(snap, "anthropic", request_id="split")
    split["response"]["usage"].update(
        cache_creation_input_tokens=5,
        cache_creation={"ephemeral_5m_input_tokens": big, "ephemeral_1h_input_tokens": big},
    )
    gemini = kit.from_exchange(gem, "google")
    gemini["response"]["usageMetadata"].update(promptTokenCount=big, toolUsePromptTokenCount=big)
    classes = kit.from_exchange(snap, "anthropic", request_id="classes")
    classes["response"]["usage"].update(input_tokens=big, cache_read_input_tokens=big)
    good = kit.from_exchange(calls[1], "openai")
    fr, _ = kit.ingest_lines([cached, split, gemini, classes, good])
    assert fr.error is None
    assert (fr.records_read, fr.loaded, fr.rejected) == (5, 1, 4)
    assert {n: r["reason"] for n, r in kit.rejects(kit.tmp_path / "log.jsonl").items()} == {
        1: "cached tokens exceed prompt tokens: not OpenAI usage semantics",
        2: "cache_creation 5m + 1h split does not add up to cache_creation_input_tokens",
        3: "promptTokenCount + toolUsePromptTokenCount is too large",
        4: "input token counts add up to more than 9223372036854775807: too large",
    }


def test_an_object_of_counts_of_another_type_is_rejected(kit: EnvelopeKit) -> None:
    """``"prompt_tokens_details": "abc"`` read as no details at all (QA): its cached tokens
    priced as uncached input, no word. A JSON null there still means "not reported"."""
    calls = kit.cassette(OPENAI_CACHE)
    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    [responses] = kit.cassette(OPENAI_RESPONSES)
    broken: list[Json] = []
    for i, (key, value) in enumerate(
        [("prompt_tokens_details", "abc"), ("prompt_tokens_details", [5])]
    ):
        line = kit.from_exchange(calls[i], "openai", request_id=f"details-{i}")
        line["response"]["usage"][key] = value
        broken.append(line)
    reasoning = kit.from_exchange(responses, "openai", request_id="reasoning")
    reasoning["response"]["usage"]["output_tokens_details"] = 7
    anthropic = kit.from_exchange(snap, "anthropic", request_id="split")
    anthropic["response"]["usage"]["cache_creation"] = "5m"
    null_details = kit.from_exchange(calls[2], "openai", request_id="null")
    null_details["response"]["usage"]["prompt_tokens_details"] = None
    fr, _ = kit.ingest_lines([*broken, reasoning, anthropic, null_details])
    assert (fr.records_read, fr.loaded, fr.rejected) == (5, 1, 4)
    reasons = {n: r["reason"] for n, r in kit.rejects(kit.tmp_path / "log.jsonl").items()}
    assert reasons == {
        1: 'response.usage.prompt_tokens_details should be an object, got "abc"',
        2: "response.usage.prompt_tokens_details should be an object, got [5]",
        3: "response.usage.output_tokens_details should be an object, got 7",
        4: 'response.usage.cache_creation should be an object, got "5m"',
    }
    [row] = kit.rows(kit.tmp_path / "log.jsonl")
    prompt = null_details["response"]["usage"]["prompt_tokens"]
    assert (row["source_line"], row["input_tokens"], row["cache_read_tokens"]) == (5, prompt, 0)


@pytest.mark.parametrize("fmt", ["envelope", "gemini-pairs"])
def test_a_gemini_audio_count_of_another_type_is_rejected(kit: EnvelopeKit, fmt: str) -> None:
    """An AUDIO ``tokenCount`` of ``"400"`` or ``400.0``, or a details list logged as an
    object, read as no audio: the audio billed at the text rate, no word. A negative one made
    a negative token class (cached audio -50, priced below zero). Each is a reject naming
    the field; a non-audio entry's count is not read, so it stays the line's business."""

    def line(rid: str, **details: Any) -> Json:
        usage: Json = {"promptTokenCount": 1000, "candidatesTokenCount": 10}
        usage.update(details)
        if "cacheTokensDetails" in details:
            usage["cachedContentTokenCount"] = 400
        body = {"timestamp": "2026-11-01T00:00:00Z", "response": {"responseId": rid}}
        body["response"] |= {"modelVersion": "gemini-2.5-flash", "usageMetadata": usage}
        return body | ({"provider": "google"} if fmt == "envelope" else {})

    def audio(count: Any) -> list[Json]:
        return [{"modality": "TEXT", "tokenCount": 600}, {"modality": "AUDIO", "tokenCount": count}]

    lines = [
        line("text", promptTokensDetails=audio("400")),
        line("float", promptTokensDetails=audio(400.0)),
        line("object", promptTokensDetails={"modality": "AUDIO", "tokenCount": 400}),
        line("negative", cacheTokensDetails=[{"modality": 4, "tokenCount": -50}]),
        line("tool", toolUsePromptTokensDetails=[{"modality": "AUDIO", "tokenCount": 1.5}]),
        # loads: the AUDIO count is fine, a TEXT entry's count is not read; null is absent
        line("ok", promptTokensDetails=[{"modality": "TEXT", "tokenCount": "x"}, *audio(400)[1:]]),
        line("null", promptTokensDetails=None),
    ]
    fr, rows = kit.ingest_lines(lines, fmt=fmt)
    assert (fr.records_read, fr.loaded, fr.rejected) == (7, 2, 5)
    reasons = {n: r["reason"] for n, r in kit.rejects(kit.tmp_path / "log.jsonl").items()}
    um = "response.usageMetadata"
    assert reasons == {
        1: f'{um}.promptTokensDetails AUDIO tokenCount should be a whole number, got "400"',
        2: f"{um}.promptTokensDetails AUDIO tokenCount should be a whole number, got 400.0",
        3: f"{um}.promptTokensDetails should be a list, got "
        '{"modality":"AUDIO","tokenCount":400}',
        4: f"{um}.cacheTokensDetails AUDIO tokenCount is negative",
        5: f"{um}.toolUsePromptTokensDetails AUDIO tokenCount should be a whole number, got 1.5",
    }
    # 1000 prompt tokens of which 400 audio; no audio details at all: 1000 text tokens
    assert [(r["request_id"], r["input_tokens"], r["input_audio_tokens"]) for r in rows] == [
        ("ok", 600, 400),
        ("null", 1000, 0),
    ]
