"""The recount against prompt_tokens that OpenAI (and Claude, Gemini) reported for real calls.

Every request here was really sent and its usage recorded by another project's test
suite (tests/fixtures/realworld/, provenance in its README). Two promises are checked:
a count labelled exact equals what the provider billed, and the requests we miss are
exactly the known ones (so an improvement or a regression both show up here).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import cassette_response
from tokaudit.recount import RequestCount, RequestToCount, count_request, count_requests

REAL = Path(__file__).resolve().parents[1] / "fixtures" / "realworld"
RECORDED = yaml.safe_load((REAL / "openai" / "recorded_chat_calls.yaml").read_text("utf-8"))
INPUT_KEYS = (
    "instructions",
    "messages",
    "input",
    "tools",
    "functions",
    "response_format",
    "tool_choice",
    "function_call",
)
# Our count minus the reported prompt_tokens, for the calls we miss (all labelled
# estimates): a strict schema with property descriptions (pyd_multi_agent), a cl100k tool
# round trip, a linked image of unknown size, the 20-tool MCP list with multi-line
# docstring descriptions and a `default` (pyd_mcp_*: +22 on every call, so the tool calls
# and results around it agree), and json_schema response formats other than one flat
# object next to tools (anyOf +54, alone with titles +1 and -19).
KNOWN_MISSES = {
    "ollm_chat_toolcalls_0": 1,
    "pyd_multi_agent_0": -1,
    "pyd_multi_agent_1": -1,
    "ollm_vision_0": 340,
    **{
        f"pyd_mcp_{name}": 22
        for name in (
            "none_0",
            "none_1",
            "text_resource_0",
            "text_resource_1",
            "text_resource_link_0",
            "text_resource_link_1",
            "str_0",
            "str_1",
            "stdio_0",
            "stdio_1",
            "dict_0",
            "dict_1",
            "error_0",
            "error_1",
            "error_2",
            "unstructured_dict_0",
            "unstructured_dict_1",
        )
    },
    "ollm_parsed_completion_0": 1,
    "ollm_response_format_0": -19,
    "pyd_native_multi_0": 54,
    "pyd_native_multi_1": 54,
}
# Replies we count off: three plain gpt-4o / gpt-4.5 replies are billed one token more than
# their text (recorded with n=1; other plain replies agree), and a reply after an anyOf
# response format 4 more. Still labelled as the rule says: an open question (docs/recount.md).
KNOWN_REPLY_MISSES = {
    "pyd_gpt45_hello_0": -1,
    "pyd_instructions_0": -1,
    "pyd_user_id_0": -1,
    "pyd_native_multi_1": -4,
}


def _body(request: dict[str, Any]) -> dict[str, Any]:
    return {k: request.get(k) for k in INPUT_KEYS}


def _cassette_calls() -> list[Any]:
    """The shared cassettes' chat calls: plain messages, short and long (1149 tokens)."""
    cases = []
    for name in (
        "otelcontrib_chat_completion_with_content.yaml",
        "otelcontrib_chat_completion_streaming.yaml",
        "openllmetry_openai_prompt_caching.yaml",
    ):
        document = yaml.safe_load((REAL / "openai" / name).read_text("utf-8"))
        for index, interaction in enumerate(document["interactions"]):
            request = json.loads(interaction["request"]["body"])
            usage = cassette_response(interaction["response"]["body"])["usage"]
            cases.append(pytest.param(request, usage["prompt_tokens"], id=f"{name}[{index}]"))
    return cases


@pytest.fixture(scope="module")
def counted() -> dict[str, RequestCount]:
    """Every recorded call (with its reply, where recorded) counted in one recount."""
    items = [
        RequestToCount(
            _body(c["request"]),
            c["model"],
            response={"messages": [{"role": "assistant", "content": c["reply"]}]}
            if "reply" in c
            else None,
        )
        for c in RECORDED
    ]
    return dict(zip([c["id"] for c in RECORDED], count_requests(items), strict=True))


def test_recorded_calls_are_the_documented_ones() -> None:
    assert len(RECORDED) == 49
    assert {c["id"] for c in RECORDED} >= set(KNOWN_MISSES) | set(KNOWN_REPLY_MISSES)
    assert sum(c["prompt_tokens"] for c in RECORDED) == 9562


@pytest.mark.parametrize("case", RECORDED, ids=[c["id"] for c in RECORDED])
def test_recorded_call(case: dict[str, Any], counted: dict[str, RequestCount]) -> None:
    got = counted[case["id"]]
    assert got.input_tokens is not None
    if case["id"] in KNOWN_MISSES:
        assert got.input_tokens - case["prompt_tokens"] == KNOWN_MISSES[case["id"]]
        assert not got.input_exact  # a miss must never be labelled exact
    else:
        assert got.input_tokens == case["prompt_tokens"]
    if got.input_exact:
        assert got.input_tokens == case["prompt_tokens"]


@pytest.mark.parametrize(("request_body", "prompt_tokens"), _cassette_calls())
def test_plain_cassette_calls_are_exact(request_body: dict[str, Any], prompt_tokens: int) -> None:
    got = count_request(_body(request_body), request_body["model"])
    assert (got.input_tokens, got.input_exact) == (prompt_tokens, True)


def test_batch_pairs_are_exact() -> None:
    """litellm batch input/output pair on gpt-4o-mini: 20 and 22 prompt tokens."""

    def rows(name: str) -> list[dict[str, Any]]:
        lines = (REAL / "openai" / name).read_text("utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    inputs = {
        row["custom_id"]: row["body"]
        for row in rows("litellm_batch_job_results_furniture.input.jsonl")
    }
    outputs = rows("litellm_test_batch_utils_output.jsonl")
    assert len(outputs) == 2
    for row in outputs:
        body = inputs[row["custom_id"]]
        got = count_request(_body(body), body["model"])
        assert (got.input_tokens, got.input_exact) == (
            row["response"]["body"]["usage"]["prompt_tokens"],
            True,
        )


def test_responses_api_instructions_and_input() -> None:
    """Responses API on gpt-4o-mini: instructions + input string reported 22; gpt-5.4: 44."""
    for name, expected in (
        ("otelcontrib_responses_create_aggregates_cache_tokens.yaml", 22),
        ("otelcontrib_responses_create_reports_reasoning_tokens.yaml", 44),
    ):
        document = yaml.safe_load((REAL / "openai" / name).read_text("utf-8"))
        interaction = document["interactions"][0]
        request = json.loads(interaction["request"]["body"])
        usage = cassette_response(interaction["response"]["body"])["usage"]
        assert usage["input_tokens"] == expected
        got = count_request(_body(request), request["model"])
        assert (got.input_tokens, got.input_exact) == (expected, True)


def test_agreement_rate_on_recorded_calls(counted: dict[str, RequestCount]) -> None:
    """24 of the 49 recorded calls agree to the token, and every count labelled exact does."""
    hits = sum(counted[c["id"]].input_tokens == c["prompt_tokens"] for c in RECORDED)
    assert hits == len(RECORDED) - len(KNOWN_MISSES) == 24
    exact = [c for c in RECORDED if counted[c["id"]].input_exact]
    assert len(exact) == 14  # plain messages and simple non-strict tool schemas
    assert all(counted[c["id"]].input_tokens == c["prompt_tokens"] for c in exact)


@pytest.mark.parametrize("case", [c for c in RECORDED if "reply" in c], ids=lambda c: c["id"])
def test_reply_recount(case: dict[str, Any], counted: dict[str, RequestCount]) -> None:
    """Plain replies count exactly; after tools 1 more; reasoning models hide tokens."""
    got = counted[case["id"]]
    reasoning = case["model"].startswith(("o3", "o4", "gpt-5"))
    # gpt-4o (gpt-4o-mini too) and gpt-4.5 replies are contradicted by recorded ones: estimates
    contradicted = case["model"].startswith(("gpt-4o", "gpt-4.5"))
    if case["id"] in KNOWN_REPLY_MISSES:
        assert got.output_tokens is not None
        assert got.output_tokens - case["completion_tokens"] == KNOWN_REPLY_MISSES[case["id"]]
        assert not got.output_exact  # a miss must never be labelled exact
    elif reasoning:
        assert got.output_tokens is not None and got.output_tokens < case["completion_tokens"]
        assert not got.output_exact
    else:
        assert got.output_tokens == case["completion_tokens"]
        assert got.output_exact is (not case["request"].get("tools") and not contradicted)


def _gemini(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    document = yaml.safe_load((REAL / "gemini" / name).read_text("utf-8"))
    interaction = document["interactions"][0]
    return (
        json.loads(interaction["request"]["body"]),
        cassette_response(interaction["response"]["body"]),
    )


@pytest.mark.parametrize(
    ("name", "prompt"),
    [
        ("otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml", 8),
        ("otelcontrib_vertexai_generate_content.yaml", 5),
    ],
)
def test_gemini_estimate_on_real_samples(name: str, prompt: int) -> None:
    """Gemini counts message text only; the o200k estimate matched both real prompts."""
    request, response = _gemini(name)
    assert response["usageMetadata"]["promptTokenCount"] == prompt
    body = {k: request.get(k) for k in ("systemInstruction", "contents", "tools")}
    got = count_request(body, "gemini-2.5-flash", "google")
    assert (got.input_tokens, got.input_exact, got.tokenizer) == (prompt, False, "estimate-o200k")


def test_claude_estimate_is_labelled_and_within_its_documented_error() -> None:
    """Claude's tokenizer is not public: -13 % on the real 1,167-token prompt (docs/recount.md)."""
    document = yaml.safe_load(
        (REAL / "anthropic" / "openllmetry_anthropic_prompt_caching_legacy.yaml").read_text()
    )
    interaction = document["interactions"][0]
    raw = interaction["request"]["body"]
    request = json.loads(gzip.decompress(raw) if isinstance(raw, bytes) else raw)
    usage = cassette_response(interaction["response"]["body"])["usage"]
    billed = (
        usage["input_tokens"]
        + usage.get("cache_read_input_tokens", 0)
        + usage.get("cache_creation_input_tokens", 0)
    )
    body = {k: request.get(k) for k in ("system", "messages", "tools")}
    got = count_request(body, request["model"], "anthropic")
    assert billed == 1167
    assert not got.input_exact and got.tokenizer == "estimate-o200k"
    assert got.input_tokens == 1014
