"""Token-class mapping per provider, checked against real recorded provider bodies.

Expectations are computed here from the raw ``usage`` fields with the conventions of
pricing-semantics §2 (not by calling tokaudit), and the headline numbers are pinned so a
changed fixture cannot silently change what is being tested.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tokaudit.ingest import FileResult
from usage_conventions import (
    CLASSES,
    anthropic_classes,
    classes_of,
    gemini_classes,
    openai_classes,
)

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]


OPENAI_CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
OPENAI_CACHE = "openai/openllmetry_openai_prompt_caching.yaml"
OPENAI_REASONING = "openai/otelcontrib_responses_create_reports_reasoning_tokens.yaml"
OPENAI_RESP_CACHE = "openai/otelcontrib_responses_create_aggregates_cache_tokens.yaml"
OPENAI_404 = "openai/otelcontrib_chat_completion_404.yaml"
OPENAPI_CHAT = "openai/openapi_examples/chat_completion_response_default.json"
OPENAPI_RESPONSES = "openai/openapi_examples/responses_response_text_input.json"
ANTHROPIC_SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
ANTHROPIC_CACHE = "anthropic/openllmetry_anthropic_prompt_caching_legacy.yaml"
GEMINI_FLASH = "gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml"
VERTEX = "gemini/otelcontrib_vertexai_generate_content.yaml"


@dataclass
class Case:
    line: Json
    expected: Json | None  # token classes computed from the raw usage; None = no usage


def build_cases(kit: EnvelopeKit) -> dict[str, Case]:
    """Every sample as one envelope line; modified copies get their own request_id."""
    cases: dict[str, Case] = {}

    def add(name: str, line: Json, convention: Callable[[Json], Json] | None) -> None:
        resp = line["response"]
        usage = None
        if convention is not None and resp is not None:
            usage = convention(resp.get("usage") or resp.get("usageMetadata"))
        cases[name] = Case(line, usage)

    [chat] = kit.cassette(OPENAI_CHAT)
    add("openai_chat", kit.from_exchange(chat, "openai"), openai_classes)
    for i, ex in enumerate(kit.cassette(OPENAI_CACHE)):
        add(f"openai_cache_{i}", kit.from_exchange(ex, "openai"), openai_classes)
    [reasoning] = kit.cassette(OPENAI_REASONING)
    add("openai_responses_reasoning", kit.from_exchange(reasoning, "openai"), openai_classes)
    [resp_cache] = kit.cassette(OPENAI_RESP_CACHE)
    add("openai_responses_cache", kit.from_exchange(resp_cache, "openai"), openai_classes)

    body = copy.deepcopy(resp_cache.response)
    body["usage"].update(
        input_tokens=2000, input_tokens_details={"cached_tokens": 1500, "cache_write_tokens": 300}
    )
    add(
        "openai_responses_cache_nonzero",
        kit.envelope("openai", resp_cache.request, body, request_id="case-resp-cache"),
        openai_classes,
    )

    chat_req = {"model": "gpt-5.4", "messages": [{"role": "user", "content": "Hello!"}]}
    openapi_chat = kit.sample_json(OPENAPI_CHAT)
    add("openapi_chat", kit.envelope("openai", chat_req, openapi_chat), openai_classes)
    body = copy.deepcopy(openapi_chat)
    body["usage"]["prompt_tokens"] = 1000
    body["usage"]["prompt_tokens_details"].update(cached_tokens=600, cache_write_tokens=250)
    add(
        "openapi_chat_cache_write",
        kit.envelope("openai", chat_req, body, request_id="case-chat-cache-write"),
        openai_classes,
    )
    req = {"model": "gpt-5.4", "input": "Tell me a three sentence bedtime story about a unicorn."}
    add(
        "openapi_responses",
        kit.envelope("openai", req, kit.sample_json(OPENAPI_RESPONSES)),
        openai_classes,
    )
    for tier in ("flex", "priority"):
        body = copy.deepcopy(openapi_chat)
        body["service_tier"] = tier
        add(
            f"openai_tier_{tier}",
            kit.envelope("openai", chat_req, body, request_id=f"case-tier-{tier}"),
            openai_classes,
        )
    add(
        "openai_batch",
        kit.envelope("openai", chat_req, openapi_chat, request_id="case-batch", batch=True),
        openai_classes,
    )
    [err] = kit.cassette(OPENAI_404)
    add("openai_404", kit.from_exchange(err, "openai", request_id="req_404"), None)

    [snap] = kit.snapshot(ANTHROPIC_SNAPSHOT)
    add("anthropic_snapshot", kit.from_exchange(snap, "anthropic"), anthropic_classes)
    an_calls = kit.cassette(ANTHROPIC_CACHE)
    for i, ex in enumerate(an_calls):
        add(f"anthropic_cache_{i}", kit.from_exchange(ex, "anthropic"), anthropic_classes)
    for w5, w1 in [(163, 1000), (0, 1163), (1163, 0)]:
        body = copy.deepcopy(an_calls[0].response)
        body["usage"]["cache_creation"] = {
            "ephemeral_5m_input_tokens": w5,
            "ephemeral_1h_input_tokens": w1,
        }
        add(
            f"anthropic_split_{w5}_{w1}",
            kit.envelope("anthropic", an_calls[0].request, body, request_id=f"case-{w5}-{w1}"),
            anthropic_classes,
        )
    body = copy.deepcopy(snap.response)
    body["usage"]["output_tokens_details"] = {"thinking_tokens": 20}
    body["usage"]["server_tool_use"] = {"web_search_requests": 3}
    add(
        "anthropic_thinking",
        kit.envelope("anthropic", snap.request, body, request_id="case-thinking"),
        anthropic_classes,
    )

    [flash] = kit.cassette(GEMINI_FLASH)
    add("gemini_flash", kit.from_exchange(flash, "google"), gemini_classes)
    body = copy.deepcopy(flash.response)
    body["usageMetadata"].update(
        promptTokenCount=5000, cachedContentTokenCount=4096, toolUsePromptTokenCount=100
    )
    line = kit.from_exchange(flash, "google", request_id="case-gemini-cache")
    add("gemini_cached", line | {"response": body}, gemini_classes)
    [vertex] = kit.cassette(VERTEX)
    add("vertex_int_enums", kit.from_exchange(vertex, "google"), gemini_classes)
    return cases


@dataclass
class Loaded:
    result: FileResult
    cases: dict[str, Case]
    rows: dict[str, Json]


@pytest.fixture(scope="module")
def loaded(module_kit: EnvelopeKit) -> Loaded:
    """All cases in one file, ingested once; rows keyed by case name (= line order)."""
    cases = build_cases(module_kit)
    result, rows = module_kit.ingest_lines([c.line for c in cases.values()], "samples.jsonl")
    by_line = {r["source_line"]: r for r in rows}
    return Loaded(result, cases, {n: by_line.get(i) for i, n in enumerate(cases, 1)})


def test_every_sample_loads(loaded: Loaded) -> None:
    fr = loaded.result
    assert (fr.error, fr.format) == (None, "envelope")
    n = len(loaded.cases)
    assert (fr.records_read, fr.loaded, fr.rejected, fr.duplicates) == (n, n, 0, 0)
    missing = [n for n, row in loaded.rows.items() if row is None]
    assert missing == []


@pytest.mark.parametrize(
    "name",
    [
        "openai_chat",
        "openai_cache_0",
        "openai_cache_1",
        "openai_cache_2",
        "openai_cache_3",
        "openai_responses_reasoning",
        "openai_responses_cache",
        "openai_responses_cache_nonzero",
        "openapi_chat",
        "openapi_chat_cache_write",
        "openapi_responses",
        "anthropic_snapshot",
        "anthropic_cache_0",
        "anthropic_cache_1",
        "anthropic_split_163_1000",
        "anthropic_split_0_1163",
        "anthropic_split_1163_0",
        "anthropic_thinking",
        "gemini_flash",
        "gemini_cached",
        "vertex_int_enums",
    ],
)
def test_token_classes_follow_the_provider_convention(loaded: Loaded, name: str) -> None:
    row, case = loaded.rows[name], loaded.cases[name]
    assert case.expected is not None
    assert classes_of(row) == case.expected
    assert row["has_usage"] is True and row["status"] == "ok"


# --- OpenAI ------------------------------------------------------------------------
def test_openai_chat_completion_real_body(loaded: Loaded) -> None:
    row = loaded.rows["openai_chat"]
    usage = loaded.cases["openai_chat"].line["response"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (12, 5)
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"]) == (12, 5, 0)
    assert row["provider"] == "openai" and row["api"] == "chat.completions"
    assert row["model_requested"] == "gpt-4o-mini"
    assert row["model_responded"] == row["model"] == "gpt-4o-mini-2024-07-18"
    assert row["request_id"] == "chatcmpl-ASYMQRl3A3DXL9FWCK9tnGRcKIO7q"
    assert row["finish_reason"] == "stop"


def test_openai_prompt_caching_cached_tokens_are_inside_prompt_tokens(loaded: Loaded) -> None:
    usage = loaded.cases["openai_cache_1"].line["response"]["usage"]
    assert usage["prompt_tokens"] == 1149
    assert usage["prompt_tokens_details"]["cached_tokens"] == 1024
    cached = loaded.rows["openai_cache_1"]
    assert (cached["input_tokens"], cached["cache_read_tokens"]) == (125, 1024)
    # total input is preserved: uncached + cached = prompt_tokens, never 1149 + 1024
    assert cached["input_tokens"] + cached["cache_read_tokens"] == 1149
    first = loaded.rows["openai_cache_0"]
    assert (first["input_tokens"], first["cache_read_tokens"]) == (1149, 0)


def test_openai_responses_api_reasoning_is_inside_output(loaded: Loaded) -> None:
    row = loaded.rows["openai_responses_reasoning"]
    usage = loaded.cases["openai_responses_reasoning"].line["response"]["usage"]
    assert usage["output_tokens"] == 288
    assert usage["output_tokens_details"]["reasoning_tokens"] == 9
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (44, 288, 9)
    assert row["api"] == "responses"
    assert row["model_requested"] == "gpt-5.4"
    assert row["model"] == "gpt-5.4-2026-03-05"


def test_openai_responses_api_cache_tokens(loaded: Loaded) -> None:
    usage = loaded.cases["openai_responses_cache"].line["response"]["usage"]
    assert "cached_tokens" in usage["input_tokens_details"]
    assert loaded.rows["openai_responses_cache"]["api"] == "responses"
    row = loaded.rows["openai_responses_cache_nonzero"]
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == (
        200,
        1500,
        300,
    )


def test_openai_openapi_examples(loaded: Loaded) -> None:
    chat = loaded.rows["openapi_chat"]
    assert (chat["input_tokens"], chat["output_tokens"], chat["reasoning_tokens"]) == (19, 10, 0)
    resp_usage = loaded.cases["openapi_responses"].line["response"]["usage"]
    assert "cache_write_tokens" in resp_usage["input_tokens_details"]
    responses = loaded.rows["openapi_responses"]
    assert (responses["input_tokens"], responses["output_tokens"]) == (36, 87)
    assert responses["api"] == "responses"
    assert responses["finish_reason"] == "completed"


def test_openai_cache_write_tokens_are_subtracted_from_prompt(loaded: Loaded) -> None:
    """P − C − W: the openapi chat example with cache_write_tokens filled in."""
    row = loaded.rows["openapi_chat_cache_write"]
    assert (row["input_tokens"], row["cache_read_tokens"], row["cache_write_5m_tokens"]) == (
        150,
        600,
        250,
    )
    assert row["cache_write_1h_tokens"] == 0


def test_openai_404_error_record(loaded: Loaded) -> None:
    row = loaded.rows["openai_404"]
    assert row["status"] == "error"
    assert row["http_status"] == 404
    assert row["has_usage"] is False
    assert all(row[k] is None for k in CLASSES)
    assert row["error_type"] == "invalid_request_error"
    assert "does not exist" in row["error_message"]
    assert row["model"] == row["model_requested"] == "this-model-does-not-exist"
    assert row["model_responded"] is None
    assert row["request_id"] == "req_404"


@pytest.mark.parametrize(
    ("name", "tier", "is_batch"),
    [
        ("openapi_chat", None, False),  # "default" is the standard tier
        ("openai_tier_flex", "flex", False),
        ("openai_tier_priority", "priority", False),
        ("openai_batch", None, True),
    ],
)
def test_openai_service_tier_and_batch(
    loaded: Loaded, name: str, tier: str | None, is_batch: bool
) -> None:
    row = loaded.rows[name]
    assert (row["service_tier"], row["is_batch"]) == (tier, is_batch)


# --- Anthropic ---------------------------------------------------------------------
def test_anthropic_sdk_snapshot_request_and_response(loaded: Loaded) -> None:
    row = loaded.rows["anthropic_snapshot"]
    assert (row["input_tokens"], row["output_tokens"]) == (249, 26)
    assert row["model_requested"] == "claude-sonnet-4-5"
    assert row["model_responded"] == row["model"] == "claude-sonnet-4-5-20250929"
    assert row["api"] == "messages"
    assert row["finish_reason"] == "end_turn"
    assert row["request_id"] == "msg_01Egs18hRzhru3uGon3qesbA"
    assert row["service_tier"] is None  # usage.service_tier "standard"


def test_anthropic_prompt_caching_input_excludes_cache(loaded: Loaded) -> None:
    u1 = loaded.cases["anthropic_cache_0"].line["response"]["usage"]
    u2 = loaded.cases["anthropic_cache_1"].line["response"]["usage"]
    assert (u1["input_tokens"], u1["cache_creation_input_tokens"]) == (4, 1163)
    assert (u2["input_tokens"], u2["cache_read_input_tokens"]) == (4, 1163)
    assert "cache_creation" not in u1  # no split: every write is a 5-minute write
    first, second = loaded.rows["anthropic_cache_0"], loaded.rows["anthropic_cache_1"]
    assert (first["input_tokens"], first["cache_write_5m_tokens"]) == (4, 1163)
    assert (first["cache_write_1h_tokens"], first["cache_read_tokens"]) == (0, 0)
    assert (second["input_tokens"], second["cache_read_tokens"]) == (4, 1163)
    assert (second["cache_write_5m_tokens"], second["cache_write_1h_tokens"]) == (0, 0)
    assert first["model"] == "claude-3-5-sonnet-20240620"


@pytest.mark.parametrize(("w5", "w1"), [(163, 1000), (0, 1163), (1163, 0)])
def test_anthropic_5m_1h_cache_write_split(loaded: Loaded, w5: int, w1: int) -> None:
    row = loaded.rows[f"anthropic_split_{w5}_{w1}"]
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (w5, w1)
    assert (row["input_tokens"], row["cache_read_tokens"]) == (4, 0)


def test_anthropic_thinking_and_web_search(loaded: Loaded) -> None:
    row = loaded.rows["anthropic_thinking"]
    assert (row["output_tokens"], row["reasoning_tokens"]) == (26, 20)  # thinking inside
    assert row["web_search_requests"] == 3


# --- Gemini ------------------------------------------------------------------------
def test_gemini_thoughts_are_added_to_candidates(loaded: Loaded) -> None:
    um = loaded.cases["gemini_flash"].line["response"]["usageMetadata"]
    assert (um["promptTokenCount"], um["candidatesTokenCount"]) == (8, 433)
    assert um["thoughtsTokenCount"] == 1477
    row = loaded.rows["gemini_flash"]
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (8, 1910, 1477)
    assert row["input_tokens"] + row["output_tokens"] == um["totalTokenCount"]
    assert row["api"] == "generate_content"
    assert row["model"] == "gemini-2.5-flash"
    assert row["request_id"] == "hizpaKmcH9qs698P85HHgAU"
    assert row["service_tier"] is None  # trafficType ON_DEMAND


def test_gemini_cached_content_is_inside_prompt(loaded: Loaded) -> None:
    row = loaded.rows["gemini_cached"]
    assert (row["input_tokens"], row["cache_read_tokens"]) == (1004, 4096)


def test_vertex_integer_enums_do_not_break_ingest(loaded: Loaded) -> None:
    resp = loaded.cases["vertex_int_enums"].line["response"]
    assert resp["candidates"][0]["finishReason"] == 1
    assert resp["usageMetadata"]["trafficType"] == 1
    row = loaded.rows["vertex_int_enums"]
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (5, 299, 294)
    assert row["finish_reason"] == "1"
    assert row["model_requested"] == "gemini-2.5-pro"
    assert row["service_tier"] is None


def test_gemini_traffic_type_sets_service_tier(kit: EnvelopeKit) -> None:
    """Real bodies carry trafficType inside usageMetadata (it was read from the top)."""
    [ex] = kit.cassette(GEMINI_FLASH)
    lines = []
    # TRAFFIC_TYPE_UNSPECIFIED was unpriced while its number, 0, was standard (QA)
    kinds = ("ON_DEMAND_FLEX", "ON_DEMAND_PRIORITY", "TRAFFIC_TYPE_UNSPECIFIED", 0)
    for traffic in kinds:
        resp = copy.deepcopy(ex.response)
        assert resp["usageMetadata"]["trafficType"] == "ON_DEMAND"  # where real bodies put it
        resp["usageMetadata"]["trafficType"] = traffic
        line = kit.from_exchange(ex, "google", request_id=str(traffic)) | {"response": resp}
        lines.append(line)
    _, rows = kit.ingest_lines(lines)
    assert [r["service_tier"] for r in rows] == ["flex", "priority", None, None]


# --- a null count --------------------------------------------------------------------
def _with(line: Json, where: str, path: str, value: Any, request_id: str) -> Json:
    """A copy of ``line`` whose usage object (``where``) has ``path`` (dotted) set to
    ``value``, or deleted when ``value`` is ``...``."""
    out = copy.deepcopy(line) | {"request_id": request_id}
    node = out["response"][where]
    *parents, leaf = path.split(".")
    for p in parents:
        node = node[p]
    if value is ...:
        del node[leaf]
    else:
        node[leaf] = value
    return out


# (provider, sample, usage key, count path): every input and output count of each convention
NULLED = [
    ("openai", OPENAI_CHAT, "usage", "completion_tokens"),
    ("openai", OPENAI_CHAT, "usage", "prompt_tokens"),
    ("openai", OPENAI_REASONING, "usage", "output_tokens"),
    ("openai", OPENAI_REASONING, "usage", "input_tokens"),
    ("anthropic", ANTHROPIC_SNAPSHOT, "usage", "output_tokens"),
    ("anthropic", ANTHROPIC_SNAPSHOT, "usage", "input_tokens"),
    ("google", GEMINI_FLASH, "usageMetadata", "candidatesTokenCount"),
    ("google", GEMINI_FLASH, "usageMetadata", "promptTokenCount"),
]


def _sample(kit: EnvelopeKit, provider: str, rel: str, index: int = 0) -> Json:
    exchanges = kit.snapshot(rel) if rel.endswith(".json") else kit.cassette(rel)
    return kit.from_exchange(exchanges[index], provider)


@pytest.mark.parametrize(("provider", "rel", "where", "path"), NULLED)
def test_a_null_input_or_output_count_rejects_the_line(
    kit: EnvelopeKit, provider: str, rel: str, where: str, path: str
) -> None:
    """Read as 0, a null output priced the call without its output (and has_usage true)."""
    good = _sample(kit, provider, rel)
    assert isinstance(good["response"][where][path], int) and good["response"][where][path] > 0
    nulled = _with(good, where, path, None, "nulled")
    path_ = kit.write("log.jsonl", [good, nulled])
    [fr] = kit.ingest(path_).files
    assert (fr.loaded, fr.rejected) == (1, 1)
    assert kit.rejects(path_)[2]["reason"] == f"response.{where}.{path} is null"
    [row] = kit.rows(path_)
    assert row["request_id"] != "nulled"


def test_an_absent_count_and_a_null_breakdown_keep_their_meaning(kit: EnvelopeKit) -> None:
    """Absent output is 0 (as ever); a null breakdown (LiteLLM writes ``cached_tokens: null``
    for "not reported") reads as absent, so the line loads as if it had no such key."""
    chat = _sample(kit, "openai", OPENAI_CACHE, 1)
    assert chat["response"]["usage"]["prompt_tokens_details"]["cached_tokens"] == 1024
    snap = _sample(kit, "anthropic", ANTHROPIC_SNAPSHOT)
    lines = [
        _with(chat, "usage", "completion_tokens", ..., "no-output"),
        _with(chat, "usage", "prompt_tokens_details.cached_tokens", None, "null-cached"),
        _with(chat, "usage", "completion_tokens_details.reasoning_tokens", None, "null-reason"),
        _with(snap, "usage", "cache_read_input_tokens", None, "null-read"),
        _with(snap, "usage", "cache_creation_input_tokens", None, "null-write"),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert (fr.loaded, fr.rejected) == (len(lines), 0)
    absent = [
        _with(ln, "usage", p, ..., "x")
        for ln, p in zip(
            lines[1:],
            [
                "prompt_tokens_details.cached_tokens",
                "completion_tokens_details.reasoning_tokens",
                "cache_read_input_tokens",
                "cache_creation_input_tokens",
            ],
            strict=True,
        )
    ]
    expected = [
        openai_classes(lines[0]["response"]["usage"] | {"completion_tokens": 0}),
        *(
            (openai_classes if ln["provider"] == "openai" else anthropic_classes)(
                ln["response"]["usage"]
            )
            for ln in absent
        ),
    ]
    assert [classes_of(r) for r in rows] == expected
    assert rows[0]["output_tokens"] == 0 and rows[0]["has_usage"] is True
    assert rows[1]["cache_read_tokens"] == 0  # 1024 were cached in the original body


def test_reasoning_without_an_output_count_says_the_output_is_missing(kit: EnvelopeKit) -> None:
    reasoning = _sample(kit, "openai", OPENAI_REASONING)
    snap = _sample(kit, "anthropic", ANTHROPIC_SNAPSHOT)
    thinking = copy.deepcopy(snap)
    thinking["response"]["usage"]["output_tokens_details"] = {"thinking_tokens": 20}
    over = _with(reasoning, "usage", "output_tokens", 5, "over")
    lines = [
        _with(reasoning, "usage", "output_tokens", ..., "no-output"),
        _with(thinking, "usage", "output_tokens", ..., "no-output-thinking"),
        over,
    ]
    assert over["response"]["usage"]["output_tokens_details"]["reasoning_tokens"] > 5
    path = kit.write("log.jsonl", lines)
    [fr] = kit.ingest(path).files
    assert (fr.loaded, fr.rejected) == (0, 3)
    assert {n: r["reason"] for n, r in kit.rejects(path).items()} == {
        1: "reasoning tokens without an output count (completion_tokens / output_tokens is "
        "missing)",
        2: "thinking tokens without an output count (output_tokens is missing)",
        3: "reasoning tokens exceed output tokens",
    }
