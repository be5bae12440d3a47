"""Gemini responses logged as the google-genai Python SDK dumps them are read as the API's.

``response.model_dump(mode="json")`` / ``to_json_dict()`` write the API's fields in
snake_case (the SDK's pydantic models alias them with ``to_camel``; log-formats §4):
``usage_metadata.prompt_token_count`` for ``usageMetadata.promptTokenCount``. The same
response in both spellings must give the same ``requests`` row, field for field.
"""

from __future__ import annotations

import copy
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from format_helpers import assert_counts_add_up, costs, install_prices

from tokaudit.ingest import FileResult, ingest_paths
from tokaudit.recount import recount
from tokaudit.store import open_store

Json = dict[str, Any]
TS = "2026-01-05T10:00:00Z"

# A call with a context cache, thinking, a tool-use prompt, a function call and grounding.
API_RESPONSE: Json = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "It is sunny in Paris today.", "thoughtSignature": "c2lnbmF0dXJl"},
                    {"functionCall": {"name": "get_weather", "args": {"city_name": "Paris"}}},
                ],
            },
            "finishReason": "MAX_TOKENS",
            "groundingMetadata": {"webSearchQueries": ["weather paris", "paris forecast"]},
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1200,
        "cachedContentTokenCount": 1000,
        "toolUsePromptTokenCount": 30,
        "candidatesTokenCount": 200,
        "thoughtsTokenCount": 500,
        "totalTokenCount": 1930,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1200}],
        "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
        "toolUsePromptTokensDetails": [{"modality": "TEXT", "tokenCount": 30}],
        "trafficType": "ON_DEMAND",
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "sdk-dump-1",
    "createTime": "2026-01-05T10:00:00.123456Z",
}
# Audio in the prompt and in the cache, and a priority-tier call.
AUDIO_RESPONSE: Json = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Heard you."}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {
        "promptTokenCount": 300,
        "cachedContentTokenCount": 50,
        "candidatesTokenCount": 4,
        "promptTokensDetails": [
            {"modality": "TEXT", "tokenCount": 200},
            {"modality": "AUDIO", "tokenCount": 100},
        ],
        "cacheTokensDetails": [
            {"modality": "TEXT", "tokenCount": 30},
            {"modality": "AUDIO", "tokenCount": 20},
        ],
        "trafficType": "ON_DEMAND_PRIORITY",
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "sdk-dump-2",
}
REQUEST: Json = {
    "contents": [{"role": "user", "parts": [{"text": "What is the weather in Paris?"}]}],
    "systemInstruction": {"parts": [{"text": "Answer in one sentence."}]},
}
# The rows compared: everything but where the line came from.
_WHERE = ("source_file", "source_line", "source_format")


def sdk_dump(value: Any, key: str = "") -> Any:
    """What the SDK's ``model_dump(mode="json")`` writes for an API response: every field
    name in snake_case; a function call's ``args`` (a free dict) keep their own keys."""
    if isinstance(value, dict):
        if key in ("args", "response"):
            return copy.deepcopy(value)
        return {re.sub("([A-Z])", r"_\1", k).lower(): sdk_dump(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [sdk_dump(v, key) for v in value]
    return value


def _envelope(response: Any, **fields: Any) -> Json:
    return {
        "timestamp": TS,
        "provider": "google",
        "model": "gemini-2.5-flash",
        "request": REQUEST,
        "response": response,
        **fields,
    }


def _load(
    tmp_path: Path, name: str, lines: list[Any], fmt: str = "auto"
) -> tuple[duckdb.DuckDBPyConnection, FileResult, list[Json]]:
    """Lines ingested into a store of their own (the same call twice would be a duplicate)."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    con = open_store(tmp_path / f"{name}.duckdb")
    [fr] = ingest_paths(con, [str(path)], fmt_name=fmt).files
    cur = con.execute("SELECT * FROM requests ORDER BY source_line")
    names = [d[0] for d in cur.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    return con, fr, rows


def _same(api: list[Json], sdk: list[Json]) -> None:
    assert len(api) == len(sdk) > 0
    for a, s in zip(api, sdk, strict=True):
        assert {k: v for k, v in s.items() if k not in _WHERE} == {
            k: v for k, v in a.items() if k not in _WHERE
        }


def test_the_sdk_helper_writes_snake_case() -> None:
    dumped = sdk_dump(API_RESPONSE)
    assert dumped["usage_metadata"]["cached_content_token_count"] == 1000
    assert dumped["usage_metadata"]["prompt_tokens_details"][0] == {
        "modality": "TEXT",
        "token_count": 1200,
    }
    part = dumped["candidates"][0]["content"]["parts"][1]
    assert part == {"function_call": {"name": "get_weather", "args": {"city_name": "Paris"}}}
    assert dumped["candidates"][0]["grounding_metadata"]["web_search_queries"]


def test_envelope_sdk_dumps_give_the_rows_of_the_api_json(tmp_path: Path) -> None:
    responses = [API_RESPONSE, AUDIO_RESPONSE]
    api_con, api_fr, api = _load(tmp_path, "api", [_envelope(r) for r in responses])
    sdk_con, sdk_fr, sdk = _load(tmp_path, "sdk", [_envelope(sdk_dump(r)) for r in responses])
    assert (api_fr.format, sdk_fr.format) == ("envelope", "envelope")
    assert_counts_add_up(sdk_fr, 2, 2, 0, 0)
    _same(api, sdk)
    # by hand: promptTokenCount 1200 holds the 1000 cached; + 30 tool-use prompt tokens;
    # thoughts 500 are outside candidatesTokenCount 200
    row = sdk[0]
    assert (row["input_tokens"], row["cache_read_tokens"]) == (230, 1000)
    assert (row["output_tokens"], row["reasoning_tokens"]) == (700, 500)
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (0, 0)
    assert (row["request_key"], row["model"]) == ("google:sdk-dump-1", "gemini-2.5-flash")
    assert (row["finish_reason"], row["grounding_queries"]) == ("MAX_TOKENS", 2)
    assert (row["has_usage"], row["status"], row["service_tier"]) == (True, "ok", None)
    # audio: 100 prompt AUDIO of which 20 cached; text 300 - 50 - 80 uncached
    audio = sdk[1]
    assert (audio["input_tokens"], audio["input_audio_tokens"]) == (170, 80)
    assert (audio["cache_read_tokens"], audio["cache_read_audio_tokens"]) == (30, 20)
    assert audio["service_tier"] == "priority"
    # gemini-2.5-flash per million: input 0.30, cache read 0.03, output 2.50
    # 230 * 0.30 + 1000 * 0.03 + 700 * 2.50 = 69 + 30 + 1750 = 1849 per million
    for con in (api_con, sdk_con):
        install_prices(con)
        assert costs(con)[0]["cost_usd"] == Decimal("0.001849")
    # the reply's text and function call are recounted alike
    for con in (api_con, sdk_con):
        recount(con, workers=1)
    recounted = "SELECT recounted_input_tokens, recounted_output_tokens FROM requests ORDER BY 1, 2"
    assert sdk_con.execute(recounted).fetchall() == api_con.execute(recounted).fetchall()
    assert sdk_con.execute(recounted).fetchall()[0][1] is not None


def test_gemini_pairs_sdk_dumps_give_the_rows_of_the_api_json(tmp_path: Path) -> None:
    def lines(convert: Any) -> list[Json]:
        bare = convert(AUDIO_RESPONSE)
        bare_untimed = {**bare}  # a bare body's time is its createTime (create_time)
        return [
            {
                "timestamp": TS,
                "request": REQUEST,
                "response": convert(API_RESPONSE),
                "url": "https://x/v1beta/models/gemini-2.5-flash:generateContent",
            },
            {**bare_untimed, **convert({"createTime": "2026-01-05T11:00:00Z"})},
        ]

    _, api_fr, api = _load(tmp_path, "api", lines(copy.deepcopy))
    _, sdk_fr, sdk = _load(tmp_path, "sdk", lines(sdk_dump))
    assert (api_fr.format, sdk_fr.format) == ("gemini-pairs", "gemini-pairs")  # detected
    assert_counts_add_up(sdk_fr, 2, 2, 0, 0)
    _same(api, sdk)
    assert [r["request_key"] for r in sdk] == ["google:sdk-dump-1", "google:sdk-dump-2"]
    assert sdk[1]["ts"].isoformat() == "2026-01-05T11:00:00+00:00"
    assert [r["output_tokens"] for r in sdk] == [700, 4]


def _chunks(convert: Any) -> list[Json]:
    """A streamGenerateContent stream: text deltas, then the final chunk with the counts."""
    first = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "It is "}]}}],
        "usageMetadata": {"promptTokenCount": 1200, "cachedContentTokenCount": 1000},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "sdk-stream-1",
    }
    last = copy.deepcopy(API_RESPONSE)
    last["responseId"] = "sdk-stream-1"
    last["candidates"][0]["content"]["parts"] = [{"text": "sunny."}]
    return [convert(first), convert(last)]


def test_a_stream_of_sdk_chunks_is_folded_like_the_api_stream(tmp_path: Path) -> None:
    env = [_envelope(_chunks(copy.deepcopy)), _envelope(_chunks(sdk_dump))]
    pairs = [
        {"timestamp": TS, "request": REQUEST, "response": c, "model": "gemini-2.5-flash"}
        for c in (_chunks(copy.deepcopy), _chunks(sdk_dump))
    ]
    for name, (api_line, sdk_line) in {"env": env, "pairs": pairs}.items():
        _, _, api = _load(tmp_path, name + "-api", [api_line])
        _, fr, sdk = _load(tmp_path, name + "-sdk", [sdk_line])
        assert_counts_add_up(fr, 1, 1, 0, 0)
        _same(api, sdk)
        [row] = sdk
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
            230,
            1000,
            700,
        )
        assert (row["request_key"], row["finish_reason"]) == ("google:sdk-stream-1", "MAX_TOKENS")


def test_a_response_with_both_spellings_is_read_as_the_api_json(tmp_path: Path) -> None:
    mixed = sdk_dump(API_RESPONSE)
    # the API's usage and id next to the SDK's (different counts): camelCase wins
    mixed["usageMetadata"] = {"promptTokenCount": 10, "candidatesTokenCount": 3}
    mixed["responseId"] = "api-id"
    # a file of both kinds of lines, and of other providers' lines
    openai = {
        "timestamp": TS,
        "provider": "openai",
        "response": {
            "id": "chatcmpl-1",
            "model": "gpt-4o",
            "usage": {"prompt_tokens": 7, "completion_tokens": 2},
        },
    }
    api_line = _envelope({**AUDIO_RESPONSE, "responseId": "camel"})
    _, fr, rows = _load(
        tmp_path, "mixed", [_envelope(mixed), api_line, _envelope(sdk_dump(API_RESPONSE)), openai]
    )
    assert_counts_add_up(fr, 4, 4, 0, 0)
    first = rows[0]
    assert (first["input_tokens"], first["cache_read_tokens"], first["output_tokens"]) == (10, 0, 3)
    # the API's JSON, read as it is: its snake_case names are not read (not renamed)
    assert first["request_key"] == "google:api-id"
    assert (first["finish_reason"], first["model_responded"]) == (None, None)
    assert first["model"] == "gemini-2.5-flash"  # the envelope's
    assert [r["output_tokens"] for r in rows[1:]] == [4, 700, 2]
    assert [r["request_key"] for r in rows[1:]] == [
        "google:camel",
        "google:sdk-dump-1",
        "openai:chatcmpl-1",
    ]


@pytest.mark.parametrize(
    ("count", "reason"),
    [
        ("12", 'response.usageMetadata.candidatesTokenCount should be a whole number, got "12"'),
        (-3, "response.usageMetadata.candidatesTokenCount is negative"),
        (None, "response.usageMetadata.candidatesTokenCount is null"),
    ],
)
def test_a_bad_sdk_count_is_still_a_reject(tmp_path: Path, count: Any, reason: str) -> None:
    dumped = sdk_dump(API_RESPONSE)
    dumped["usage_metadata"]["candidates_token_count"] = count
    good = sdk_dump({**AUDIO_RESPONSE})
    for fmt, line in (
        ("envelope", _envelope(dumped)),
        ("gemini-pairs", {"timestamp": TS, "response": dumped, "model": "gemini-2.5-flash"}),
    ):
        con, fr, rows = _load(
            tmp_path,
            fmt,
            [line, _envelope(good)]
            if fmt == "envelope"
            else [line, {"timestamp": TS, "response": good}],
            fmt=fmt,
        )
        assert_counts_add_up(fr, 2, 1, 0, 1)
        [(line_no, got)] = con.execute("SELECT source_line, reason FROM rejects").fetchall()
        assert (line_no, got) == (1, reason)
        assert rows[0]["output_tokens"] == 4


def test_an_sdk_request_config_is_read_once(tmp_path: Path) -> None:
    """generate_content(model, contents, config) logged as the request: the config's
    system_instruction and tools count as the REST body's, and never twice."""
    tools = [{"function_declarations": [{"name": "get_weather", "description": "Weather"}]}]
    rest = {**REQUEST, "tools": tools}
    sdk_args = {
        "model": "gemini-2.5-flash",
        "contents": "What is the weather in Paris?",
        "config": {"system_instruction": "Answer in one sentence.", "tools": tools},
    }
    both = {**rest, "config": {"system_instruction": "Answer in one sentence.", "tools": tools}}
    bare = {"contents": REQUEST["contents"]}
    records = []
    for i, req in enumerate((rest, sdk_args, both, bare)):
        response = {**AUDIO_RESPONSE, "responseId": f"r{i}"}
        records.append({**_envelope(sdk_dump(response)), "request": req})
    con, fr, rows = _load(tmp_path, "requests", records)
    assert_counts_add_up(fr, 4, 4, 0, 0)
    recount(con, workers=1)
    got = [
        r[0]
        for r in con.execute(
            "SELECT recounted_input_tokens FROM requests ORDER BY source_line"
        ).fetchall()
    ]
    assert got[0] == got[1] == got[2] > got[3] > 0
    # the system instruction is the prompt (prompt_hash), wherever it was logged
    hashes = [r["prompt_hash"] for r in rows]
    assert hashes[0] == hashes[1] == hashes[2] != hashes[3]


# LangChain's AIMessage, dumped (message.model_dump()): its ``usage_metadata`` is LangChain's
# own ({input_tokens, output_tokens, total_tokens}), not the google-genai SDK's.
LANGCHAIN_MESSAGE: Json = {
    "content": "Hello! How can I help?",
    "additional_kwargs": {},
    "response_metadata": {"model_name": "gpt-4o-mini-2024-07-18", "finish_reason": "stop"},
    "type": "ai",
    "id": "run-6b1c1f0e-1",
    "tool_calls": [],
    "usage_metadata": {"input_tokens": 1100, "output_tokens": 900, "total_tokens": 2000},
}


def test_another_librarys_usage_metadata_is_not_a_gemini_response(tmp_path: Path) -> None:
    """Only a ``usage_metadata`` with the SDK's counts makes a body Gemini's: LangChain
    messages read as Gemini responses had no usage (renamed, none of Gemini's counts) and
    were priced from a recount of their text, as google calls."""
    from tokaudit.ingest.sqltext import install_macros
    from tokaudit.ingest.streams import body_provider

    timed = {
        "timestamp": TS,
        "model": "gpt-4o-mini",
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "response": LANGCHAIN_MESSAGE,
    }
    con, fr, rows = _load(tmp_path, "langchain", [timed, {**LANGCHAIN_MESSAGE, "timestamp": TS}])
    assert fr.error is not None and "cannot detect the log format" in fr.error
    assert rows == []
    # the Python detector and the SQL one agree; an SDK dump is still Gemini's
    install_macros(con)
    sdk = sdk_dump(API_RESPONSE)
    for body, provider in ((LANGCHAIN_MESSAGE, None), (sdk, "google"), ([sdk], "google")):
        got = con.execute("SELECT ta_body_provider(?::JSON)", [json.dumps(body)]).fetchone()
        assert (body_provider(body), got) == (provider, (provider,))
