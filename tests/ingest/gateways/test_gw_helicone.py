"""helicone: Helicone request exports (``HeliconeRequest`` rows, docs/formats.md).

Rows are shaped like ``HeliconeRequest`` (Helicone/helicone ``packages/llm-mapper/types.ts``)
as ``POST /v1/request/query-clickhouse`` returns them and ``examples/export/typescript``
writes them. Helicone stores the counts split by class (its body processors take cached
tokens out of OpenAI's ``prompt_tokens`` and keep Anthropic's ``input_tokens`` as they
are), so the expectations read each count as its own class. Dollars are computed by hand
from pricing/providers/*.yaml.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from typing import Any

from gateway_helpers import GatewayKit, Json, classes, start_line

from helpers import REPO, sniffed_fixtures
from tokaudit.findings import run_rules
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.attribution import parse_attribution
from tokaudit.ingest.helicone import HeliconeFormat
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.recount import recount

PLACEHOLDER = {
    "helicone_message": "fetching body from signed_url... contact engineering@helicone.ai "
    "for more information"
}


def row(request_id: str, **fields: Any) -> Json:
    """A HeliconeRequest row as the export writes it without --include-body."""
    base: Json = {
        "response_id": f"resp-{request_id}",
        "response_created_at": "2026-10-14T09:00:01.200Z",
        "response_body": PLACEHOLDER,
        "response_status": 200,
        "response_model": None,
        "request_id": request_id,
        "request_created_at": "2026-10-14T09:00:00.000Z",
        "request_body": PLACEHOLDER,
        "request_path": "/v1/chat/completions",
        "request_user_id": None,
        "request_properties": {},
        "request_model": "gpt-4o-mini",
        "model_override": None,
        "helicone_user": None,
        "provider": "OPENAI",
        "delay_ms": 1200,
        "time_to_first_token": None,
        "total_tokens": 0,
        "prompt_tokens": 0,
        "prompt_cache_write_tokens": 0,
        "prompt_cache_read_tokens": 0,
        "completion_tokens": 0,
        "prompt_audio_tokens": 0,
        "completion_audio_tokens": 0,
        "cost": 0,
        "prompt_id": None,
        "prompt_version": None,
        "country_code": "US",
    }
    base.update(fields)
    return base


# gpt-4o-mini: 800 uncached + 1,200 cached prompt tokens (Helicone stored prompt_tokens
# with the cached ones taken out), 50 completion tokens.
OPENAI_CACHED = row(
    "req-openai-1",
    request_model="gpt-4o-mini",
    response_model="gpt-4o-mini-2024-07-18",
    request_user_id="alice",
    request_properties={"Team": "search", "Feature": "rag"},
    prompt_tokens=800,
    prompt_cache_read_tokens=1200,
    completion_tokens=50,
    total_tokens=850,
    cost=0.00024,
    delay_ms=900,
    prompt_id="support-answer",
    prompt_version="3",
)
# claude-sonnet-4-5: 4 uncached input tokens, 1,163 written to the cache, 26 output
# (Anthropic's input_tokens as Helicone stores them: cache writes excluded).
ANTHROPIC_WRITE = row(
    "req-claude-1",
    provider="ANTHROPIC",
    request_path="/v1/messages",
    request_model="claude-sonnet-4-5-20250929",
    response_model="claude-sonnet-4-5-20250929",
    prompt_tokens=4,
    prompt_cache_write_tokens=1163,
    completion_tokens=26,
    total_tokens=30,
    cost=0.00476325,
)


def _costs(gw: GatewayKit) -> dict[str, Decimal]:
    install_price_table(gw.con, load_price_table(REPO / "pricing"))
    return {
        k: c
        for k, c in gw.con.execute("SELECT request_key, cost_usd FROM request_costs").fetchall()
    }


def test_openai_row_with_cache_reads(gw: GatewayKit) -> None:
    path = gw.write_jsonl("export.jsonl", [OPENAI_CACHED])
    got = gw.one(path)
    assert (got.format, got.loaded, got.rejected) == ("helicone", 1, 0)
    r = gw.by_key(path)["helicone:req-openai-1"]
    # input, cache read, write 5m, write 1h, output, reasoning
    assert classes(r) == (800, 1200, 0, 0, 50, None)
    assert (r["provider"], r["api"], r["model_requested"], r["model"]) == (
        "openai",
        "chat.completions",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert (r["user_id"], r["prompt_id"], r["prompt_version"]) == ("alice", "support-answer", "3")
    assert (r["status"], r["http_status"], r["latency_ms"]) == ("ok", 200, 900.0)
    assert r["ts"].isoformat().startswith("2026-10-14T09:00:00")
    assert r["metadata"]["properties"] == {"Team": "search", "Feature": "rag"}
    # Helicone's own cost, for comparison
    assert Decimal(str(r["metadata"]["cost"])) == Decimal("0.00024")
    # 800 x 0.15 + 1,200 x 0.075 + 50 x 0.60 = 240 per million
    assert _costs(gw)["helicone:req-openai-1"] == Decimal("0.00024")


def test_anthropic_row_with_cache_writes(gw: GatewayKit) -> None:
    path = gw.write_jsonl("export.jsonl", [ANTHROPIC_WRITE])
    gw.one(path)
    r = gw.by_key(path)["helicone:req-claude-1"]
    # the export does not split writes by TTL: read as 5-minute writes (the default TTL)
    assert classes(r) == (4, 0, 1163, 0, 26, None)
    assert (r["provider"], r["api"]) == ("anthropic", "messages")
    # 4 x 3 + 1,163 x 3.75 + 26 x 15 = 4,763.25 per million
    assert _costs(gw)["helicone:req-claude-1"] == Decimal("0.00476325")


def _claude_reply(**usage: Any) -> Json:
    """An Anthropic Messages reply as --include-body exports it."""
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Done."}],
        "stop_reason": "end_turn",
        "usage": usage,
    }


def test_an_anthropic_body_splits_the_cache_writes_by_ttl(gw: GatewayKit) -> None:
    """The row has one write count; the exported reply's usage.cache_creation says how
    much of it was written for an hour (twice the input price, not 1.25x)."""
    split = _claude_reply(
        input_tokens=10,
        cache_creation_input_tokens=2000,
        cache_read_input_tokens=0,
        cache_creation={"ephemeral_5m_input_tokens": 500, "ephemeral_1h_input_tokens": 1500},
        output_tokens=50,
    )
    # a body whose split does not add up to the row's count settles nothing
    odd = dict(split, usage=dict(split["usage"], cache_creation={"ephemeral_1h_input_tokens": 7}))
    claude = {
        "provider": "ANTHROPIC",
        "request_path": "/v1/messages",
        "request_model": "claude-sonnet-4-5-20250929",
        "prompt_tokens": 10,
        "prompt_cache_write_tokens": 2000,
        "completion_tokens": 50,
    }
    recs = [
        row("req-1h", response_body=split, **claude),
        row("req-odd", response_body=odd, **claude),
    ]
    path = gw.write_jsonl("export.jsonl", recs)
    assert gw.one(path).loaded == 2
    rows = gw.by_key(path)
    assert classes(rows["helicone:req-1h"]) == (10, 0, 500, 1500, 50, None)
    assert classes(rows["helicone:req-odd"]) == (10, 0, 2000, 0, 50, None)
    costs = _costs(gw)
    # 10 x 3 + 500 x 3.75 + 1,500 x 6 + 50 x 15 = 11,655 per million
    assert costs["helicone:req-1h"] == Decimal("0.011655")
    # 10 x 3 + 2,000 x 3.75 + 50 x 15 = 8,280 per million
    assert costs["helicone:req-odd"] == Decimal("0.00828")


def test_reasoning_tokens_are_added_to_the_output(gw: GatewayKit) -> None:
    """Helicone takes OpenAI's reasoning tokens out of completion_tokens into
    reasoning_tokens (its query's total_tokens is prompt + completion + reasoning)."""
    rec = row("req-r", prompt_tokens=10, completion_tokens=100, reasoning_tokens=300)
    path = gw.write_jsonl("export.jsonl", [rec])
    gw.one(path)
    r = gw.by_key(path)["helicone:req-r"]
    assert classes(r) == (10, 0, 0, 0, 400, 300)
    # 10 x 0.15 + 400 x 0.60 = 241.5 per million
    assert _costs(gw)["helicone:req-r"] == Decimal("0.0002415")


def test_cache_reads_beyond_prompt_tokens_are_their_own_class(gw: GatewayKit) -> None:
    """The safe reading: prompt_tokens never has the cache reads taken out again (an
    older Helicone that stored OpenAI's inclusive count cannot be told from the row; the
    reading chosen never goes negative nor prices a call below its tokens)."""
    rec = row("req-c", prompt_tokens=100, prompt_cache_read_tokens=1000, completion_tokens=5)
    path = gw.write_jsonl("export.jsonl", [rec])
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (1, 0)
    assert classes(gw.by_key(path)["helicone:req-c"]) == (100, 1000, 0, 0, 5, None)


def test_a_reply_body_shows_an_old_row_counted_cached_and_reasoning_tokens_inside(
    gw: GatewayKit,
) -> None:
    """An older Helicone copied OpenAI's inclusive prompt_tokens (and completion_tokens):
    when the exported reply's usage has the very same counts, the cached (reasoning)
    tokens are inside them and are not counted a second time."""

    def reply(**usage: Any) -> Json:
        return {"id": "chatcmpl-1", "choices": [], "usage": usage}

    cached = {"prompt_tokens_details": {"cached_tokens": 1500}}
    recs = [
        # old: prompt_tokens 2,000 is the reply's, 1,500 of them cached
        row(
            "old",
            prompt_tokens=2000,
            prompt_cache_read_tokens=1500,
            completion_tokens=10,
            response_body=reply(prompt_tokens=2000, completion_tokens=10, **cached),
        ),
        # current: Helicone took the cached ones out (2,000 - 1,500)
        row(
            "new",
            prompt_tokens=500,
            prompt_cache_read_tokens=1500,
            completion_tokens=10,
            response_body=reply(prompt_tokens=2000, completion_tokens=10, **cached),
        ),
        # a Responses reply names them input_tokens / input_tokens_details
        row(
            "responses",
            request_path="/v1/responses",
            prompt_tokens=2000,
            prompt_cache_read_tokens=1500,
            completion_tokens=10,
            response_body={
                "object": "response",
                "output": [],
                "usage": {
                    "input_tokens": 2000,
                    "input_tokens_details": {"cached_tokens": 1500},
                    "output_tokens": 10,
                },
            },
        ),
        # completion_tokens 400 is the reply's, its 300 reasoning tokens inside
        row(
            "reasoning",
            prompt_tokens=10,
            completion_tokens=400,
            reasoning_tokens=300,
            response_body=reply(
                prompt_tokens=10,
                completion_tokens=400,
                completion_tokens_details={"reasoning_tokens": 300},
            ),
        ),
    ]
    path = gw.write_jsonl("export.jsonl", recs)
    assert gw.one(path).loaded == 4
    rows = gw.by_key(path)
    for key in ("old", "new", "responses"):
        assert classes(rows["helicone:" + key]) == (500, 1500, 0, 0, 10, None), key
    assert classes(rows["helicone:reasoning"]) == (10, 0, 0, 0, 400, 300)
    costs = _costs(gw)
    # gpt-4o-mini: 500 x 0.15 + 1,500 x 0.075 + 10 x 0.60 = 193.5 per million
    assert costs["helicone:old"] == costs["helicone:new"] == Decimal("0.0001935")
    # 10 x 0.15 + 400 x 0.60 = 241.5 per million
    assert costs["helicone:reasoning"] == Decimal("0.0002415")


def test_row_with_bodies_keeps_texts_for_the_recount(gw: GatewayKit) -> None:
    openai = row(
        "req-body-1",
        prompt_tokens=12,
        completion_tokens=3,
        request_body={
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You answer in one word."},
                {"role": "user", "content": "Capital of France?"},
            ],
        },
        response_body={
            "choices": [
                {"message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}
            ]
        },
    )
    claude = row(
        "req-body-2",
        provider="ANTHROPIC",
        request_path="/v1/messages",
        request_model="claude-sonnet-4-5-20250929",
        prompt_tokens=20,
        completion_tokens=4,
        request_body={
            "model": "claude-sonnet-4-5-20250929",
            "max_tokens": 64,
            "system": "Be terse.",
            "messages": [{"role": "user", "content": "Hello"}],
        },
        response_body={"content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn"},
    )
    no_body = row("req-body-3", prompt_tokens=1, completion_tokens=1)
    path = gw.write_jsonl("bodies.jsonl", [openai, claude, no_body])
    assert gw.one(path).loaded == 3
    rows = gw.by_key(path)
    o, c, n = rows["helicone:req-body-1"], rows["helicone:req-body-2"], rows["helicone:req-body-3"]
    assert gw.text(o["prompt_hash"]) == "You answer in one word."
    assert json.loads(gw.text(o["input_hash"]) or "") == {
        "messages": openai["request_body"]["messages"]
    }
    assert json.loads(gw.text(o["output_hash"]) or "") == {
        "messages": [{"role": "assistant", "content": "Paris"}]
    }
    assert o["finish_reason"] == "stop" and o["request_hash"] is not None
    # Anthropic's top-level system is the system prompt, and is part of the input body
    assert gw.text(c["prompt_hash"]) == "Be terse."
    assert json.loads(gw.text(c["input_hash"]) or "") == {
        "messages": [{"role": "user", "content": "Hello"}],
        "system": "Be terse.",
    }
    assert c["finish_reason"] == "end_turn"
    # the export's placeholder body (no --include-body) is no text at all
    assert (n["prompt_hash"], n["input_hash"], n["request_hash"]) == (None, None, None)


def test_replies_of_other_apis_keep_their_text_for_the_output_recount(gw: GatewayKit) -> None:
    """Not only Chat Completions: an Anthropic reply's content blocks, a Responses reply's
    output items (and its request's input) and Gemini's candidates are kept as texts."""
    blocks = [{"type": "text", "text": "Hi there"}]
    items = [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Knock knock"}],
        }
    ]
    parts = {"role": "model", "parts": [{"text": "Blue"}]}
    recs = [
        row(
            "claude",
            provider="ANTHROPIC",
            request_path="/v1/messages",
            request_model="claude-sonnet-4-5-20250929",
            prompt_tokens=8,
            completion_tokens=5,
            request_body={
                "model": "claude-sonnet-4-5",
                "messages": [{"role": "user", "content": "Hello"}],
            },
            response_body={"type": "message", "content": blocks, "stop_reason": "end_turn"},
        ),
        row(
            "responses",
            request_path="/v1/responses",
            prompt_tokens=12,
            completion_tokens=4,
            request_body={"model": "gpt-4o-mini", "instructions": "Be funny", "input": "A joke"},
            response_body={"object": "response", "status": "completed", "output": items},
        ),
        row(
            "gemini",
            provider="GOOGLE",
            request_path="/v1beta/models/gemini-2.5-flash:generateContent",
            request_model="gemini-2.5-flash",
            prompt_tokens=6,
            completion_tokens=1,
            response_body={"candidates": [{"content": parts, "finishReason": "STOP"}]},
        ),
    ]
    path = gw.write_jsonl("bodies.jsonl", recs)
    assert gw.one(path).loaded == 3
    rows = gw.by_key(path)
    out = {
        k.split(":")[1]: json.loads(gw.text(r["output_hash"]) or "null") for k, r in rows.items()
    }
    assert out == {
        "claude": {"content": blocks},
        "responses": {"output": items},
        "gemini": {"candidates": [parts]},
    }
    assert json.loads(gw.text(rows["helicone:responses"]["input_hash"]) or "") == {
        "input": "A joke",
        "instructions": "Be funny",
    }


def test_error_rows(gw: GatewayKit) -> None:
    limited = row(
        "req-err-1",
        provider="ANTHROPIC",
        request_model="claude-sonnet-4-5-20250929",
        response_status=429,
        response_body={
            "type": "error",
            "error": {"type": "rate_limit_error", "message": "Number of requests exceeded"},
        },
    )
    timeout = row("req-err-2", response_status=-1)
    body_error = row(
        "req-err-3",
        response_status=200,
        response_body={"error": {"message": "bad gateway upstream", "code": "upstream"}},
    )
    ok = row("req-ok", response_status=201, prompt_tokens=1, completion_tokens=1)
    path = gw.write_jsonl("errors.jsonl", [limited, timeout, body_error, ok])
    assert gw.one(path).loaded == 4
    rows = gw.by_key(path)
    got = {
        k: (r["status"], r["http_status"], r["error_type"], r["error_message"])
        for k, r in rows.items()
    }
    assert got == {
        "helicone:req-err-1": ("error", 429, "rate_limit_error", "Number of requests exceeded"),
        "helicone:req-err-2": ("error", None, None, None),
        "helicone:req-err-3": ("error", 200, "upstream", "bad gateway upstream"),
        "helicone:req-ok": ("ok", 201, None, None),
    }


def test_rows_whose_counts_are_null_load_without_usage(gw: GatewayKit) -> None:
    """HeliconeRequest declares the counts ``number | null``: a call whose response logged
    no usage (a 500, a timeout) is exported with null counts, and is a call all the same."""
    nulls = {k: None for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    recs = [
        row("failed", response_status=500, **nulls),
        row("timeout", response_status=-1, **nulls),
        row("unreported", **nulls),
    ]
    path = gw.write_jsonl("export.jsonl", recs)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (3, 0)
    rows = gw.by_key(path)
    got_rows = {
        k.split(":")[1]: (r["status"], r["has_usage"], r["input_tokens"]) for k, r in rows.items()
    }
    assert got_rows == {
        "failed": ("error", False, None),
        "timeout": ("error", False, None),
        "unreported": ("ok", False, None),
    }


def test_a_stream_helicone_could_not_count_is_recounted_not_rejected(gw: GatewayKit) -> None:
    """Helicone's OpenAI stream processor stores -1 prompt and completion tokens when the
    stream carried no usage ("counting tokens not supported"): no usage, not a bad row;
    with the bodies exported the recount prices it."""
    unknown = {"prompt_tokens": -1, "completion_tokens": -1, "total_tokens": -2}
    streamed = row(
        "stream",
        request_body={
            "model": "gpt-4o-mini",
            "stream": True,
            "messages": [{"role": "user", "content": "Say this is a test"}],
        },
        response_body={
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "message": {"role": "assistant", "content": "This is a test."},
                    "finish_reason": "stop",
                }
            ],
            "streamed_data": [],
        },
        **unknown,
    )
    path = gw.write_jsonl(
        "export.jsonl",
        [streamed, row("no-body", **unknown), row("half", prompt_tokens=-1, completion_tokens=5)],
    )
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (2, 1)
    assert gw.rejects(path)[3]["reason"] == "prompt_tokens is negative"
    install_price_table(gw.con, load_price_table(REPO / "pricing"))
    recount(gw.con, workers=1)
    costs = {
        r["request_id"]: (r["has_usage"], r["usage_source"], r["cost_usd"], r["unpriced_reason"])
        for r in gw.query(
            "SELECT request_id, has_usage, usage_source, cost_usd, unpriced_reason "
            "FROM request_costs"
        )
    }
    # "Say this is a test" is 12 prompt tokens on gpt-4o-mini (log-formats.md, section 12);
    # "This is a test." 5 output tokens: 12 x 0.15 + 5 x 0.60 = 4.8 per million
    assert costs["stream"] == (False, "recounted", Decimal("0.0000048"), None)
    # without text it is unpriced, never $0
    assert costs["no-body"][:3] == (False, None, None) and costs["no-body"][3] == "no_usage"


def test_reingest_and_a_json_array_copy_are_duplicates(gw: GatewayKit) -> None:
    path = gw.write_jsonl("export.jsonl", [OPENAI_CACHED, ANTHROPIC_WRITE])
    assert gw.one(path).loaded == 2
    # the same rows exported again (an overlapping date range) into another file
    again = gw.one(gw.write_jsonl("export-2.jsonl", [ANTHROPIC_WRITE, OPENAI_CACHED]))
    assert (again.loaded, again.duplicates) == (0, 2)
    # the exporter's --format json (a pretty-printed array), gzip-compressed
    array = gw.tmp_path / "output.json.gz"
    array.write_bytes(
        gzip.compress(json.dumps([OPENAI_CACHED, ANTHROPIC_WRITE], indent=2).encode())
    )
    copy = gw.one(array)
    assert (copy.format, copy.loaded, copy.duplicates) == ("helicone", 0, 2)
    assert gw.query("SELECT count(*) AS n FROM requests") == [{"n": 2}]


def test_rejects_name_the_record_and_the_reason(gw: GatewayKit) -> None:
    lines: list[Any] = [
        OPENAI_CACHED,
        "{not json",
        42,
        {k: v for k, v in row("x").items() if k != "request_id"},
        row("bad-ts", request_created_at="yesterday"),
        row("old-ts", request_created_at=0),
        row("neg", prompt_tokens=-5),
        row("frac", completion_tokens="1.5"),
        row("null-prompt", prompt_tokens=None, completion_tokens=3),
        row("no-model", request_model=None),
        row("status", response_status="OK"),
        row("audio-out", prompt_tokens=5, completion_audio_tokens=40),
    ]
    path = gw.write_jsonl("bad.jsonl", lines)
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (12, 1, 11)
    reasons = {line: r["reason"] for line, r in gw.rejects(path).items()}
    assert reasons[2] == "invalid JSON"
    assert reasons[3] == "not a JSON object (got number)"
    assert reasons[4] == "missing request_id"
    assert reasons[5] == 'request_created_at is not a timestamp: "yesterday"'
    assert "is before 2000" in reasons[6]
    assert reasons[7] == "prompt_tokens is negative"
    assert reasons[8].startswith("completion_tokens should be a whole number")
    assert reasons[9] == "prompt_tokens is null"
    assert reasons[10].startswith("no model")
    assert reasons[11].startswith("response_status should be a whole number")
    assert reasons[12].startswith("completion_audio_tokens")
    # the raw line is kept
    assert json.loads(gw.rejects(path)[7]["raw"])["request_id"] == "neg"


def test_a_bad_record_in_an_array_points_at_its_line(gw: GatewayKit) -> None:
    bad = row("bad", request_created_at="never")
    text = json.dumps([OPENAI_CACHED, bad], indent=2)
    path = gw.write("output.json", text)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (1, 1)
    [(line, r)] = gw.rejects(path).items()
    assert line == start_line(text, '    "response_id": "resp-bad"')
    assert r["reason"] == 'record 2: request_created_at is not a timestamp: "never"'


def test_providers_are_normalised(gw: GatewayKit) -> None:
    recs = [
        row("p1", provider="AZURE"),
        row("p2", provider="GOOGLE", request_model="gemini-2.5-flash"),
        row("p3", provider="AWS", request_model="anthropic.claude-3-haiku-20240307-v1:0"),
        row("p4", provider="CUSTOM", request_model="claude-sonnet-4-5"),
        row("p5", provider="openai"),
        # the AI Gateway's slugs: vertex serves Gemini and Claude, the model decides
        row("p6", provider="vertex", request_model="gemini-2.5-flash"),
        row("p7", provider="vertex", request_model="claude-sonnet-4-5-20250929"),
        row("p8", provider="google-ai-studio", request_model="gemini-2.5-flash"),
    ]
    path = gw.write_jsonl("p.jsonl", recs)
    gw.one(path)
    got = {k.split(":")[1]: r["provider"] for k, r in gw.by_key(path).items()}
    assert got == {
        "p1": "azure",
        "p2": "google",
        "p3": "bedrock",
        "p4": "anthropic",
        "p5": "openai",
        "p6": "google",
        "p7": "anthropic",
        "p8": "google",
    }


def test_properties_feed_attribution_rules(gw: GatewayKit) -> None:
    """docs/attribution.md's Helicone example: Helicone-Property-* headers become
    ``request_properties`` (prefix stripped), kept as ``metadata.properties``."""
    rules = parse_attribution(
        {
            "attribution": {
                "team": ["metadata.properties.Team"],
                "feature": ["metadata.properties.Feature"],
            }
        },
        "tokaudit.yaml",
    )
    path = gw.write_jsonl("export.jsonl", [OPENAI_CACHED])
    got = ingest_paths(gw.con, [str(path)], attribution=rules)
    assert not got.errors
    r = gw.by_key(path)["helicone:req-openai-1"]
    assert (r["team"], r["feature"]) == ("search", "rag")


def test_no_existing_fixture_is_taken_for_a_helicone_export() -> None:
    assert sniffed_fixtures(HeliconeFormat()) == []


def test_a_pretty_array_with_bodies_is_detected_from_its_first_keys(gw: GatewayKit) -> None:
    """``--format json --include-body``: each row pretty-printed in the query's column
    order, so a long response body comes before request_id and request_created_at."""
    reply = {
        "choices": [{"message": {"role": "assistant", "content": f"line {i}"}} for i in range(30)]
    }
    rec = row("req-pretty", prompt_tokens=3, completion_tokens=30, response_body=reply)
    text = json.dumps([rec], indent=2)
    assert '"request_created_at"' not in "\n".join(text.splitlines()[:20])
    got = gw.one(gw.write("output.json", text))
    assert (got.format, got.loaded) == ("helicone", 1)


# "Say this is a test" is 12 prompt tokens on gpt-4o-mini and "This is a test." 5 output
# tokens (log-formats.md, section 12): 12 x 0.15 + 5 x 0.60 = 4.8 per million
_TEST_CALL = {
    "request_body": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Say this is a test"}],
    },
    "response_body": {
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "message": {"role": "assistant", "content": "This is a test."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    },
    "response_model": "gpt-4o-mini-2024-07-18",
}
ZERO_UUID = "00000000-0000-0000-0000-000000000000"
ORIGINAL_ID = "6f1c0a52-8d1e-4f0e-9a53-2f1b7c0e1a01"


def test_a_helicone_cache_hit_is_a_free_call_not_a_provider_call(gw: GatewayKit) -> None:
    """Helicone-Cache-Enabled: a hit is served from Helicone's cache, no provider call. Its
    row names the cached request in cache_reference_id (LoggingHandler.ts: a hit is
    ``cacheReferenceId != DEFAULT_UUID``, the zero UUID), and the export gives it the
    original's bodies (fetched by cache_reference_id). Today's Helicone stores its counts
    as 0 ("We don't track tokens on cache hits, since cost is 0"); an older row may carry
    the original's counts and cost. Either way the hit costs $0, and it is neither a
    duplicate call to save (D04) nor a billing discrepancy (D15)."""
    counted = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    recs = [
        row(ORIGINAL_ID, cache_reference_id=ZERO_UUID, cost=0.0000048, **counted, **_TEST_CALL),
        row(
            "hit-today",
            request_created_at="2026-10-14T09:05:00.000Z",
            cache_reference_id=ORIGINAL_ID,
            **_TEST_CALL,
        ),
        row(
            "hit-older",
            request_created_at="2026-10-14T09:10:00.000Z",
            cache_reference_id=ORIGINAL_ID.upper(),
            cost=0.0000048,
            **counted,
            **_TEST_CALL,
        ),
        # audio output has no price class, but a hit is not priced: no reject
        row(
            "hit-audio",
            request_created_at="2026-10-14T09:15:00.000Z",
            cache_reference_id=ORIGINAL_ID,
            completion_audio_tokens=40,
            **_TEST_CALL,
        ),
        # the same request sent again to the provider (no hit): a real duplicate
        row(
            "repeat",
            request_created_at="2026-10-14T09:20:00.000Z",
            cache_reference_id=ZERO_UUID,
            **counted,
            **_TEST_CALL,
        ),
    ]
    path = gw.write_jsonl("export.jsonl", recs)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (5, 0)
    rows = {k.split(":")[1]: r for k, r in gw.by_key(path).items()}
    assert classes(rows[ORIGINAL_ID]) == (12, 0, 0, 0, 5, None)
    assert classes(rows["repeat"]) == (12, 0, 0, 0, 5, None)
    for hit in ("hit-older", "hit-today", "hit-audio"):
        r = rows[hit]
        assert classes(r) == (0, 0, 0, 0, 0, None) and r["has_usage"] is True, hit
        assert r["metadata"]["cache_hit"] is True
        # nothing sent to a provider: no request hash, no texts to recount
        assert (r["request_hash"], r["input_hash"], r["output_hash"]) == (None, None, None)
        # the request is still grouped by its prompt
        assert r["prompt_hash"] == rows[ORIGINAL_ID]["prompt_hash"] is not None
    # the counts the older row logged are kept, none priced
    assert rows["hit-older"]["metadata"]["cache_hit_usage"] == {
        "prompt_tokens": 12,
        "completion_tokens": 5,
        "prompt_cache_read_tokens": 0,
        "prompt_cache_write_tokens": 0,
        "prompt_audio_tokens": 0,
        "completion_audio_tokens": 0,
    }
    # the zero UUID is no hit
    assert "cache_hit" not in rows[ORIGINAL_ID]["metadata"]
    assert rows[ORIGINAL_ID]["request_hash"] == rows["repeat"]["request_hash"] is not None

    install_price_table(gw.con, load_price_table(REPO / "pricing"))
    recount(gw.con, workers=1)
    costs = {
        r["request_id"]: (r["pricing_status"], r["cost_usd"])
        for r in gw.query("SELECT request_id, pricing_status, cost_usd FROM request_costs")
    }
    assert costs == {
        ORIGINAL_ID: ("priced", Decimal("0.0000048")),
        "hit-today": ("priced", Decimal(0)),
        "hit-older": ("priced", Decimal(0)),
        "hit-audio": ("priced", Decimal(0)),
        "repeat": ("priced", Decimal("0.0000048")),
    }
    found = run_rules(gw.con)
    # D04: the one repeat a provider served, its whole cost; no D15 (a hit's 0 is not
    # disputed by a recount of the original's texts)
    assert [(f.rule_id, f.requests, f.savings_usd) for f in found] == [
        ("D04", 1, Decimal("0.0000048"))
    ]


def test_a_gemini_request_body_is_kept_as_the_envelope_keeps_it(gw: GatewayKit) -> None:
    """A generateContent request (contents, systemInstruction in either spelling, tools) is
    the input text for the recount, its system instruction the prompt: the same call logged
    in the envelope recounts to the same number of tokens."""
    contents = [{"role": "user", "parts": [{"text": "Name one primary colour."}]}]
    system = {"parts": [{"text": "Answer in one word."}]}
    tools = [{"functionDeclarations": [{"name": "lookup", "description": "Look a word up"}]}]
    request = {"contents": contents, "systemInstruction": system, "tools": tools}
    reply = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": "Blue"}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 1},
        "modelVersion": "gemini-2.5-flash",
    }
    gemini = {
        "provider": "GOOGLE",
        "request_path": "/v1beta/models/gemini-2.5-flash:generateContent",
        "request_model": "gemini-2.5-flash",
        "prompt_tokens": 20,
        "completion_tokens": 1,
        "response_body": reply,
    }
    snake = {"contents": contents, "system_instruction": system}
    recs = [
        row("gemini", request_body=request, **gemini),
        row("snake", request_body=snake, **gemini),
    ]
    path = gw.write_jsonl("export.jsonl", recs)
    assert gw.one(path).loaded == 2
    rows = gw.by_key(path)
    g, s = rows["helicone:gemini"], rows["helicone:snake"]
    assert json.loads(gw.text(g["input_hash"]) or "") == request
    assert json.loads(gw.text(s["input_hash"]) or "") == {
        "contents": contents,
        "systemInstruction": system,
    }
    assert gw.text(g["prompt_hash"]) == gw.text(s["prompt_hash"]) == "Answer in one word."
    assert g["request_hash"] is not None and g["request_hash"] != s["request_hash"]

    envelope = {
        "timestamp": "2026-10-14T09:00:00Z",
        "provider": "google",
        "model": "gemini-2.5-flash",
        "request_id": "env-gemini",
        "request": request,
        "response": reply,
    }
    env = gw.write_jsonl("envelope.jsonl", [envelope])
    assert gw.one(env).format == "envelope"
    recount(gw.con, workers=1)
    counted = {
        r["request_key"]: r["recounted_input_tokens"]
        for r in gw.query("SELECT request_key, recounted_input_tokens FROM requests")
    }
    assert counted["helicone:gemini"] is not None
    assert counted["helicone:gemini"] == counted["google:env-gemini"]


def test_bedrock_gemini_and_vertex_paths_name_their_api(gw: GatewayKit) -> None:
    """The API named as the other formats name it: bedrock-invocation's ``messages`` (a
    Claude InvokeModel), ``converse`` and ``invoke_model``; the envelope's
    ``generate_content``; Claude on Vertex (rawPredict) ``messages``."""
    claude = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
    nova = "amazon.nova-pro-v1:0"
    paths = {
        "invoke": (f"/model/{claude}/invoke", claude, "messages"),
        "invoke-stream": (f"/model/{claude}/invoke-with-response-stream", claude, "messages"),
        "converse": (f"/model/{claude}/converse", claude, "converse"),
        "converse-stream": (f"/model/{claude}/converse-stream", claude, "converse"),
        "nova": (f"/model/{nova}/invoke", nova, "invoke_model"),
        "gemini": (
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "gemini-2.5-flash",
            "generate_content",
        ),
        "gemini-stream": (
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
            "gemini-2.5-flash",
            "generate_content",
        ),
        "vertex-claude": (
            "/v1/projects/p/locations/us-east5/publishers/anthropic/models/"
            "claude-sonnet-4-5@20250929:rawPredict",
            "claude-sonnet-4-5@20250929",
            "messages",
        ),
        "unknown": ("/v1/something/else", "gpt-4o-mini", None),
    }
    recs = [
        row(name, request_path=p, request_model=model, prompt_tokens=1, completion_tokens=1)
        for name, (p, model, _) in paths.items()
    ]
    # no request_path: the target URL names it
    recs.append(
        row(
            "by-url",
            request_path=None,
            target_url=f"https://bedrock-runtime.us-east-1.amazonaws.com/model/{claude}/converse",
            request_model=claude,
            prompt_tokens=1,
            completion_tokens=1,
        )
    )
    path = gw.write_jsonl("export.jsonl", recs)
    assert gw.one(path).loaded == len(recs)
    got = {k.split(":")[1]: r["api"] for k, r in gw.by_key(path).items()}
    assert got == {name: api for name, (_, _, api) in paths.items()} | {"by-url": "converse"}
