"""The envelope's typed fast path gives, for every line, exactly what its reference SQL gives.

``envelope._STAGE`` reads each field with ``json_extract`` (the reference); the staging
path reads plain lines through one typed parse and sends the rest to ``_STAGE``. Both are
run here over real-shaped logs and over odd lines written to hit every branch, and every
column of every line must agree (``line`` aside: the fast path keeps it only for rejects
and for lines without a request id).
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tokaudit.ingest import envelope
from tokaudit.ingest.sqltext import install_macros
from tokaudit.ingest.staging import SPLIT_VARIABLE, create_staged, stage_lines

ROOT = Path(__file__).resolve().parents[2]
LOGS = [
    ROOT / "sample_logs" / "openai-2026-10.jsonl",
    ROOT / "sample_logs" / "anthropic-2026-10.jsonl.gz",
    ROOT / "sample_logs" / "gemini-2026-10.jsonl",
    ROOT / "tests" / "fixtures" / "envelope" / "mixed.jsonl",
]

_TS = "2026-10-01T00:00:00Z"
_OK = {"id": "r", "model": "gpt-4o", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


_GENAI_DUMP = {
    "candidates": [{"content": {"parts": [{"text": "a"}]}, "finish_reason": "STOP"}],
    "model_version": "gemini-2.5-flash",
    "response_id": "sdk",
    "usage_metadata": {
        "prompt_token_count": 9,
        "cached_content_token_count": 2,
        "candidates_token_count": 3,
        "thoughts_token_count": 1,
        "prompt_tokens_details": [{"modality": "AUDIO", "token_count": 5}],
    },
}


def _line(**fields: object) -> str:
    return json.dumps({"timestamp": _TS, "provider": "openai", **fields})


# Lines that take the less common branches of either path.
ODD_LINES = [
    # api: Responses by the response object, by the request's keys, and chat by default
    _line(request={"input": "hi"}, response={**_OK, "object": "response"}),
    _line(request={"input": "hi"}, response=_OK),
    _line(request={"input": None}, response=_OK),
    _line(request={"input": "hi", "messages": None}, response=_OK),
    _line(request={"messages": [{"role": "user", "content": "hi"}]}, response=_OK),
    _line(request={"messages": None}, response=_OK),
    _line(request={}, response=_OK),
    # texts: content as parts, as an object with parts, odd part types, developer role
    _line(
        request={
            "instructions": "be brief",
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "dev"}, "raw", 3]},
                {"role": "system", "content": {"parts": [{"text": "a"}, {"x": 1}]}},
                {"role": "user", "content": [{"type": "input_text", "input_text": "q"}, None]},
            ],
        },
        response=_OK,
    ),
    _line(request={"input": [{"role": "user", "content": [{"text": "x"}]}]}, response=_OK),
    _line(request={"input": [{"role": "user", "content": 5}]}, response=_OK),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "anthropic",
            "request": {
                "model": "claude-sonnet-4-5",
                "system": [{"type": "text", "text": "sys"}],
                "messages": [{"role": "user", "content": '\u00e9\\n "q"'}],
            },
            "response": {
                "id": "m",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": "a"}],
                "usage": {"input_tokens": 1, "output_tokens": 2},
            },
        }
    ),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "google",
            "request": {
                "systemInstruction": {"parts": [{"text": "s"}]},
                "contents": [{"role": "user", "parts": [{"text": "p"}]}],
            },
            "response": {
                "modelVersion": "gemini-2.5-flash",
                "candidates": [{"content": {"parts": [{"text": "c"}]}, "finishReason": 1}],
                "usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2},
            },
        }
    ),
    # metadata: every field, nulls, nested values, a metadata that is not an object
    _line(
        metadata={
            "team": "t",
            "user": None,
            "user_id": "u",
            "feature": {"x": 1},
            "prompt_id": 7,
            "prompt_version": "v",
            "environment": "prod",
        },
        request={"user": "ru", "metadata": {"user_id": "mu"}},
        response=_OK,
    ),
    _line(metadata={"user": "a"}, response=_OK),
    # lists and objects: a list of one value is it, any other names nobody
    _line(
        metadata={
            "team": ["a", "b"],
            "user": ["u1"],
            "user_id": [None],
            "feature": [7],
            "prompt_id": [],
            "prompt_version": [["v"]],
            "environment": {},
        },
        response=_OK,
    ),
    '{"timestamp": "2026-10-01T00:00:00Z", "provider": "openai", "response": {"id": "d", '
    '"model": "m", "usage": {"prompt_tokens": 1}}, "metadata": {"team": "a", "team": "b"}}',
    '{"timestamp": "2026-10-01T00:00:00Z", "provider": "openai", "response": {"id": "n", '
    '"model": "m", "usage": {"prompt_tokens": NaN}}, "metadata": {"team": "x",}}',
    _line(metadata=[1], response=_OK),
    _line(metadata=None, response=_OK),
    # outputs: messages, Responses output, none
    _line(response={**_OK, "choices": [{"message": {"role": "assistant", "content": "a"}}]}),
    _line(response={**_OK, "choices": [{"finish_reason": "stop"}]}),
    _line(response={**_OK, "output": [{"type": "web_search_call"}, {"type": "message"}]}),
    # errors, odd values, rejects
    _line(error={"status": 429, "type": "rate_limit", "message": "slow down"}),
    _line(response=_OK, latency_ms=12.5, batch=True),
    _line(response={**_OK, "service_tier": "flex"}),
    _line(response={**_OK, "usage": {"prompt_tokens": -1, "completion_tokens": 1}}),
    _line(response={**_OK, "usage": {"prompt_tokens": "3", "completion_tokens": 1}}),
    _line(response=_OK, unknown=1),
    json.dumps({"timestamp": 1790000000, "provider": "OpenAI", "response": _OK}),
    # epoch numbers: the unit by size (s, ms, us, ns), and times before 2000 (rejects)
    *(
        json.dumps({"timestamp": ts, "provider": "openai", "response": _OK})
        for ts in (
            1790000000.25,
            1790000000123,
            1790000000123456,
            1790000000123456789,
            1.790000000123456e18,
            946684800,
            -1,
            0,
            946684799999,
            "1999-12-31T23:59:59Z",
            1e20,
            -1e20,
        )
    ),
    # time 0 on an error-only line: before 2000 in both paths, whatever the error type
    json.dumps(
        {
            "timestamp": 0,
            "provider": "openai",
            "request": {"model": "m"},
            "error": {"type": "batch_input"},
        }
    ),
    # null counts: input/output reject, a breakdown reads as absent; reasoning without output
    _line(response={**_OK, "usage": {"prompt_tokens": 3, "completion_tokens": None}}),
    _line(response={**_OK, "usage": {"prompt_tokens": None, "completion_tokens": 1}}),
    _line(response={**_OK, "usage": {"input_tokens": 3, "output_tokens": None}}),
    _line(
        response={
            **_OK,
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 1,
                "prompt_tokens_details": {"cached_tokens": None},
            },
        }
    ),
    _line(
        response={
            **_OK,
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 1,
                "metadata": {"completion_tokens": None},
            },
        }
    ),
    _line(
        response={
            **_OK,
            "usage": {"prompt_tokens": 3, "completion_tokens_details": {"reasoning_tokens": 2}},
        }
    ),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "anthropic",
            "response": {
                "id": "a",
                "model": "claude-sonnet-4-5",
                "usage": {
                    "input_tokens": None,
                    "output_tokens": 2,
                    "cache_read_input_tokens": None,
                },
            },
        }
    ),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "anthropic",
            "response": {
                "id": "b",
                "model": "claude-sonnet-4-5",
                "usage": {"input_tokens": 1, "output_tokens_details": {"thinking_tokens": 4}},
            },
        }
    ),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "google",
            "response": {
                "modelVersion": "gemini-2.5-flash",
                "usageMetadata": {
                    "promptTokenCount": 4,
                    "candidatesTokenCount": None,
                    "thoughtsTokenCount": None,
                },
            },
        }
    ),
    # Modality as Vertex's enum number (AUDIO 4) and as its name
    *(
        json.dumps(
            {
                "timestamp": _TS,
                "provider": "google",
                "response": {
                    "modelVersion": "gemini-2.5-flash",
                    "usageMetadata": {
                        "promptTokenCount": 50,
                        "cachedContentTokenCount": 20,
                        "candidatesTokenCount": 3,
                        "promptTokensDetails": [
                            {"modality": text, "tokenCount": 40},
                            {"modality": audio, "tokenCount": 10},
                        ],
                        "cacheTokensDetails": [{"modality": audio, "tokenCount": 2}],
                    },
                },
            }
        )
        for text, audio in ((1, 4), ("TEXT", "AUDIO"), ("1", "4"))
    ),
    # a usage that is not an object: a reject, not a call without usage (null still is)
    *(_line(response={**_OK, "usage": usage}) for usage in ("lots", [1], 5, True, None, {})),
    json.dumps(
        {
            "timestamp": _TS,
            "provider": "google",
            "response": {"modelVersion": "gemini-2.5-flash", "usageMetadata": "lots"},
        }
    ),
    # google-genai SDK dumps (snake_case names): renamed by the reference, sent to it by the
    # fast path; also with the API's usage beside them, a null usage, a bad count, a stream,
    # and the SDK's request arguments (config.system_instruction, contents as a text)
    *(
        json.dumps(
            {
                "timestamp": _TS,
                "provider": "google",
                "request": request,
                "response": response,
            }
        )
        for request, response in (
            (
                {"contents": "hi", "config": {"system_instruction": "be brief", "tools": [1]}},
                _GENAI_DUMP,
            ),
            (
                {"contents": [{"parts": [{"text": "hi"}]}], "systemInstruction": "sys"},
                {**_GENAI_DUMP, "usageMetadata": {"promptTokenCount": 4}},
            ),
            ({"contents": {"parts": [{"text": "one"}]}}, {**_GENAI_DUMP, "usage_metadata": None}),
            (
                None,
                {**_GENAI_DUMP, "usage_metadata": {"prompt_token_count": 4, "token_count": "x"}},
            ),
            (None, {**_GENAI_DUMP, "usage_metadata": {"prompt_token_count": "4"}}),
            (None, [_GENAI_DUMP, _GENAI_DUMP]),
        )
    ),
    json.dumps({"timestamp": "yesterday", "provider": "openai", "response": _OK}),
    json.dumps({"provider": "openai", "response": _OK}),
    "[1, 2]",
    '{"timestamp": "2026-10-01T00:00:00Z", "provider": "openai", "response": {',
    "   ",
]


def _both(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[list[tuple[object, ...]], ...]:
    stage_lines(con, path)
    create_staged(con, envelope._STAGE)
    con.execute("CREATE OR REPLACE TEMP TABLE _reference AS SELECT * FROM _staged")
    envelope.EnvelopeFormat().stage(con, path)
    query = "SELECT * EXCLUDE (line) REPLACE (ts::VARCHAR AS ts) FROM {} ORDER BY line_no"
    return (
        con.execute(query.format("_reference")).fetchall(),
        con.execute(query.format("_staged")).fetchall(),
    )


@pytest.fixture(params=[True, False], ids=["lines stored", "lines streamed"])
def con(request: pytest.FixtureRequest) -> duckdb.DuckDBPyConnection:
    """A connection that may split statements (the file's lines are stored first), or one
    that may not (a staging worker: the lines stream from the file)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(f"SET VARIABLE {SPLIT_VARIABLE} = {request.param}")
    install_macros(connection)
    return connection


@pytest.mark.parametrize("path", LOGS, ids=[p.name for p in LOGS])
def test_the_fast_path_stages_real_logs_as_the_reference_does(
    con: duckdb.DuckDBPyConnection, path: Path
) -> None:
    reference, staged = _both(con, path)
    assert len(reference) > 5
    assert staged == reference


def test_the_fast_path_stages_odd_lines_as_the_reference_does(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "odd.jsonl"
    path.write_text("\n".join(ODD_LINES) + "\n", encoding="utf-8")
    reference, staged = _both(con, path)
    assert len(reference) == len(ODD_LINES) - 1  # the blank line is not a record
    rejected = [row for row in reference if row[1] is not None]  # reject_reason
    assert 6 <= len(rejected) < len(reference)
    reasons = {row[1] for row in rejected}
    assert {  # the new rules are exercised, not only agreed on
        "timestamp -1 is before 2000: not a request time (read as 1969-12-31 23:59:59 UTC)",
        "response.usage.completion_tokens is null",
        "response.usage.input_tokens is null",
        "response.usageMetadata.candidatesTokenCount is null",
        'response.usageMetadata.promptTokenCount should be a whole number, got "4"',
        "thinking tokens without an output count (output_tokens is missing)",
    } <= reasons
    # the SDK dumps are read (request_id: their response_id), the bad count aside; the one
    # with the API's usageMetadata is read as the API's JSON (no id)
    read = "SELECT reject_reason IS NULL FROM _staged WHERE request_id = 'sdk' ORDER BY line_no"
    assert [r[0] for r in con.execute(read).fetchall()] == [True] * 3 + [False, True]
    for ours, theirs in zip(staged, reference, strict=True):
        assert ours == theirs
