"""litellm-spendlogs: LiteLLM SpendLogs rows and StandardLoggingPayload.

Expectations are computed from the raw fields: LiteLLM's ``prompt_tokens`` is
cache-inclusive even for Claude, so uncached input = prompt − cache read − cache write.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gateway_helpers import REALWORLD, GatewayKit, Json, classes, load, start_line

from helpers import REPO
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table

SPEND = REALWORLD / "litellm" / "spend_logs_payload.json"
PAYLOAD = REALWORLD / "litellm" / "standard_logging_payload.json"


def spend_row(request_id: str, **fields: Any) -> Json:
    """A SpendLogs row shaped like the real sample; ``meta`` entries go into its
    JSON-string ``metadata``."""
    row: Json = copy.deepcopy(load(SPEND))
    meta = json.loads(row["metadata"])
    meta.update(fields.pop("meta", {}))
    row.update(request_id=request_id, **fields)
    row["metadata"] = json.dumps(meta)
    return row


# Claude calls as LiteLLM logs them (numbers from the openllmetry Anthropic caching
# cassette: 4 uncached tokens, 1163 written, then 1163 read). prompt_tokens is 4 + 1163.
CLAUDE = {
    "custom_llm_provider": "anthropic",
    "model": "claude-sonnet-4-5-20250929",
    "model_group": "claude-sonnet",
    "startTime": "2026-10-14 09:00:00.000000",
    "endTime": "2026-10-14 09:00:02.500000",
}
WRITE_CALL = spend_row(
    "chatcmpl-claude-write",
    **CLAUDE,
    prompt_tokens=1167,
    completion_tokens=26,
    total_tokens=1193,
    spend=0.0048,
    team_id="team-7f3a",
    user="alice",
    end_user="",
    request_tags='["prod", "feature:rag"]',
    meta={
        "usage_object": {"prompt_tokens": 1167, "completion_tokens": 26, "total_tokens": 1193},
        "additional_usage_values": {
            "cache_creation_input_tokens": 1163,
            "cache_read_input_tokens": 0,
        },
        "user_api_key_project_alias": "search-platform",
    },
)
READ_CALL = spend_row(
    "chatcmpl-claude-read",
    **CLAUDE,
    prompt_tokens=1167,
    completion_tokens=31,
    total_tokens=1198,
    team_id="",
    user="",
    end_user="cust-9",
    meta={
        "usage_object": {
            "prompt_tokens": 1167,
            "completion_tokens": 31,
            "prompt_tokens_details": {"cached_tokens": 1163, "cache_creation_tokens": 0},
        },
        "user_api_key_team_alias": "search",
    },
)
HOUR_CALL = spend_row(
    "chatcmpl-claude-1h",
    **CLAUDE,
    prompt_tokens=1167,
    completion_tokens=12,
    meta={
        "usage_object": {
            "prompt_tokens": 1167,
            "completion_tokens": 12,
            "prompt_tokens_details": {
                "cached_tokens": 0,
                "cache_creation_tokens": 1163,
                "cache_creation_token_details": {
                    "ephemeral_5m_input_tokens": 0,
                    "ephemeral_1h_input_tokens": 1163,
                },
            },
        }
    },
)


def test_real_spend_log_row(gw: GatewayKit) -> None:
    raw = load(SPEND)
    got = gw.one(SPEND)
    assert (got.format, got.records_read, got.loaded) == ("litellm-spendlogs", 1, 1)
    [row] = gw.rows(SPEND)
    meta = json.loads(raw["metadata"])  # a JSON string in the sample
    details = meta["usage_object"]["prompt_tokens_details"] or {}
    uncached = raw["prompt_tokens"] - details.get("cached_tokens", 0)
    assert classes(row) == (uncached, 0, 0, 0, raw["completion_tokens"], None)
    assert row["request_key"] == "litellm:" + raw["request_id"]
    assert row["request_id"] == raw["request_id"]
    assert (row["provider"], row["model"], row["api"]) == (
        "openai",
        raw["model"],
        "chat.completions",
    )
    assert row["ts"] == datetime(2025, 1, 24, 9, 20, 46, 847371, tzinfo=UTC)
    assert row["latency_ms"] == 4.583
    assert row["status"] == "ok"
    # the JSON strings are parsed; LiteLLM's own price map copy is not kept
    assert Decimal(str(row["metadata"]["spend"])) == Decimal(str(raw["spend"]))
    assert row["metadata"]["request_tags"] == json.loads(raw["request_tags"]) == []
    assert row["metadata"]["session_id"] == raw["session_id"]
    assert row["metadata"]["usage_object"] == meta["usage_object"]
    assert "model_map_information" not in row["metadata"]
    assert row["team"] is None and row["user_id"] is None  # empty strings in the sample


def test_real_standard_logging_payload(gw: GatewayKit) -> None:
    raw = load(PAYLOAD)
    got = gw.one(PAYLOAD)
    assert (got.format, got.loaded) == ("litellm-spendlogs", 1)
    [row] = gw.rows(PAYLOAD)
    usage = raw["response"]["usage"]
    assert classes(row) == (usage["prompt_tokens"], 0, 0, 0, usage["completion_tokens"], None)
    assert row["request_key"] == "litellm:" + raw["id"]
    # no system message: the first message stands for the prompt
    assert gw.text(row["prompt_hash"]) == raw["messages"][0]["content"] == "Hello, world!"
    assert json.loads(gw.text(row["input_hash"]) or "null") == {
        "messages": raw["messages"],
        "tools": None,
    }
    assert row["finish_reason"] == raw["response"]["choices"][0]["finish_reason"]
    assert row["latency_ms"] == raw["response_time"] * 1000
    assert Decimal(str(row["metadata"]["spend"])) == Decimal(str(raw["response_cost"]))
    assert row["input_hash"] is not None and row["request_hash"] is not None


def test_claude_prompt_tokens_are_cache_inclusive(gw: GatewayKit) -> None:
    path = gw.write_jsonl("spend.jsonl", [WRITE_CALL, READ_CALL, HOUR_CALL])
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (3, 3, 0)
    rows = gw.by_key(path)

    write = rows["litellm:chatcmpl-claude-write"]
    extra = json.loads(WRITE_CALL["metadata"])["additional_usage_values"]
    assert (
        write["input_tokens"] == WRITE_CALL["prompt_tokens"] - extra["cache_creation_input_tokens"]
    )
    assert classes(write) == (4, 0, 1163, 0, 26, None)

    read = rows["litellm:chatcmpl-claude-read"]
    cached = json.loads(READ_CALL["metadata"])["usage_object"]["prompt_tokens_details"]
    assert read["input_tokens"] == READ_CALL["prompt_tokens"] - cached["cached_tokens"]
    assert classes(read) == (4, 1163, 0, 0, 31, None)

    hour = rows["litellm:chatcmpl-claude-1h"]  # the 1-hour write priced apart
    assert classes(hour) == (4, 0, 0, 1163, 12, None)

    for row in rows.values():
        assert (row["provider"], row["model"]) == ("anthropic", "claude-sonnet-4-5-20250929")
        assert row["model_requested"] == "claude-sonnet"
        assert row["ts"] == datetime(2026, 10, 14, 9, tzinfo=UTC)  # naive = UTC


def _gemini_audio_call(request_id: str, audio: int, cached: int | None) -> dict[str, Any]:
    """A LiteLLM spend row of a Gemini call with audio input: LiteLLM reports Gemini's
    AUDIO prompt tokens as prompt_tokens_details.audio_tokens (part of prompt_tokens)."""
    usage = {
        "prompt_tokens": 5000,
        "completion_tokens": 100,
        "total_tokens": 5100,
        "prompt_tokens_details": {
            "cached_tokens": cached,
            "audio_tokens": audio,
            "text_tokens": 5000 - audio,
            "image_tokens": None,
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "text_tokens": 100},
    }
    return {
        "request_id": request_id,
        "call_type": "acompletion",
        "startTime": "2026-10-16 09:20:46",
        "model": "gemini-2.5-flash",
        "custom_llm_provider": "gemini",
        "metadata": json.dumps({"usage_object": usage}),
        "spend": 0.00455,
        "prompt_tokens": 5000,
        "completion_tokens": 100,
        "total_tokens": 5100,
        "status": "success",
    }


def test_gemini_audio_input_is_priced_apart(gw: GatewayKit) -> None:
    """Gemini audio input reached LiteLLM's row as text input: 4,000 audio tokens on
    gemini-2.5-flash were priced at the text rate, 2.6 times too low (QA). By hand from
    pricing/providers/google.yaml (input 0.30, input_audio 1.00, output 2.50 per million):
    1000 x 0.30 + 4000 x 1.00 + 100 x 2.50 = 4,550 per million = $0.00455, which is what
    LiteLLM itself logged as the call's spend."""
    path = gw.write_jsonl(
        "audio.jsonl",
        [_gemini_audio_call("aud-1", 4000, None), _gemini_audio_call("aud-2", 4000, 2000)],
    )
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (2, 1, 1)
    row = gw.by_key(path)["litellm:aud-1"]
    assert (row["input_tokens"], row["input_audio_tokens"]) == (1000, 4000)
    install_price_table(gw.con, load_price_table(REPO / "pricing"))
    [(cost,)] = gw.con.execute(
        "SELECT cost_usd FROM request_costs WHERE request_key = 'litellm:aud-1'"
    ).fetchall()
    assert cost == Decimal("0.00455")
    # with 2,000 cached tokens, the 4,000 audio tokens exceed the 3,000 uncached ones:
    # LiteLLM does not say how much of the audio was cached, so the row is a reject
    [reason] = [r for (r,) in gw.con.execute("SELECT reason FROM rejects").fetchall()]
    assert "audio_tokens exceeds the uncached prompt tokens" in reason


def test_attribution_columns(gw: GatewayKit) -> None:
    path = gw.write_jsonl("spend.jsonl", [WRITE_CALL, READ_CALL])
    gw.one(path)
    rows = gw.by_key(path)
    write, read = rows["litellm:chatcmpl-claude-write"], rows["litellm:chatcmpl-claude-read"]
    assert (write["team"], write["user_id"], write["project"]) == (
        "team-7f3a",
        "alice",
        "search-platform",
    )
    assert write["metadata"]["request_tags"] == ["prod", "feature:rag"]  # was a JSON string
    assert write["metadata"]["spend"] == 0.0048
    # no team_id: the key's team alias; no user: the end user
    assert (read["team"], read["user_id"]) == ("search", "cust-9")


def test_rejects_keep_line_numbers_and_counts_add_up(gw: GatewayKit) -> None:
    no_start = copy.deepcopy(WRITE_CALL)
    del no_start["startTime"]
    negative = spend_row("neg", **CLAUDE, prompt_tokens=-3)
    too_cached = spend_row(
        "over",
        **CLAUDE,
        prompt_tokens=1167,
        meta={"usage_object": {"prompt_tokens_details": {"cached_tokens": 2000}}},
    )
    lines: list[Any] = [
        WRITE_CALL,  # 1
        '{"request_id": "cut", "call_type": ',  # 2 truncated
        {**READ_CALL, "request_id": "badmeta", "metadata": "{not json"},  # 3
        {**no_start, "request_id": "nostart"},  # 4
        negative,  # 5
        too_cached,  # 6
        "",  # 7 blank: not a record
        WRITE_CALL,  # 8 the same request again
        "[1, 2]",  # 9 two records on one line, both rejected: one reject naming both
    ]
    path = gw.write_jsonl("mixed.jsonl", lines)
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.duplicates, got.rejected) == (8, 1, 1, 6)
    rejects = gw.rejects(path)
    assert sorted(rejects) == [2, 3, 4, 5, 6, 9]
    assert rejects[2]["reason"] == "invalid JSON"
    assert rejects[2]["raw"] == lines[1]
    assert rejects[3]["reason"] == "metadata is not a JSON object: {not json"
    assert rejects[4]["reason"] == "missing startTime"
    assert rejects[5]["reason"] == "prompt_tokens is negative"
    assert rejects[6]["reason"].startswith("cached tokens exceed prompt tokens")
    assert rejects[9]["reason"] == (
        "record 1: not a JSON object (got number); record 2: not a JSON object (got number)"
    )
    assert [r["source_line"] for r in gw.rows(path)] == [1]


def test_pretty_json_array_rejects_point_at_the_element(gw: GatewayKit) -> None:
    bad = spend_row("chatcmpl-no-model", model="", model_group="")
    text = json.dumps([WRITE_CALL, bad, READ_CALL], indent=2)
    path = gw.write("spend_export.json", text)
    got = gw.one(path)
    assert (got.format, got.records_read, got.loaded, got.rejected) == (
        "litellm-spendlogs",
        3,
        2,
        1,
    )
    line = start_line(text, '    "request_id": "chatcmpl-no-model"')
    assert gw.rejects(path) == {
        line: {
            "source_line": line,
            "raw": json.dumps(bad, separators=(",", ":")),
            "reason": "record 2: no model (model and model_group empty)",
        }
    }
    rows = gw.rows(path)
    assert [r["source_line"] for r in rows] == [
        start_line(text, '    "request_id": "chatcmpl-claude-write"'),
        start_line(text, '    "request_id": "chatcmpl-claude-read"'),
    ]


def test_spend_log_and_payload_of_one_call_dedupe(gw: GatewayKit) -> None:
    payload = load(PAYLOAD)
    spend = spend_row(payload["id"])  # SpendLogs.request_id is the payload's id
    path = gw.write_jsonl("both.jsonl", [spend, payload])
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.duplicates) == (2, 1, 1)


def _csv(rows: list[Json], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in columns})
    return out.getvalue()


def test_csv_export(gw: GatewayKit) -> None:
    columns = [
        "request_id",
        "call_type",
        "spend",
        "prompt_tokens",
        "completion_tokens",
        "startTime",
        "endTime",
        "model",
        "model_group",
        "custom_llm_provider",
        "user",
        "team_id",
        "end_user",
        "metadata",
        "request_tags",
        "status",
    ]
    # A database export may keep pretty-printed JSON: a quoted field over several lines.
    pretty = copy.deepcopy(READ_CALL)
    meta = json.loads(READ_CALL["metadata"])
    pretty["metadata"] = json.dumps(
        {k: meta[k] for k in ("usage_object", "user_api_key_team_alias")}, indent=1
    )
    text = _csv([WRITE_CALL, pretty], columns)
    text += ",".join(["x"] * (len(columns) + 3)) + "\n"  # too many columns
    text += _csv([HOUR_CALL], columns).split("\n", 1)[1]
    path = gw.write("spend_logs.csv", text)
    got = gw.one(path)
    assert (got.format, got.records_read, got.loaded, got.rejected) == (
        "litellm-spendlogs",
        4,
        3,
        1,
    )
    physical = text.splitlines()
    rejects = gw.rejects(path)
    [(bad_line, bad)] = rejects.items()
    assert physical[bad_line - 1].startswith("x,x,x")
    assert bad["reason"].startswith("malformed CSV row")
    rows = gw.by_key(path)
    assert rows["litellm:chatcmpl-claude-write"]["source_line"] == 2
    assert rows["litellm:chatcmpl-claude-read"]["source_line"] == 3  # spans lines 3-5
    assert physical[rows["litellm:chatcmpl-claude-1h"]["source_line"] - 1].startswith(
        "chatcmpl-claude-1h,"
    )
    # CSV cells are strings: counts and JSON are read from them all the same
    assert classes(rows["litellm:chatcmpl-claude-write"]) == (4, 0, 1163, 0, 26, None)
    assert classes(rows["litellm:chatcmpl-claude-read"]) == (4, 1163, 0, 0, 31, None)
    assert rows["litellm:chatcmpl-claude-write"]["metadata"]["request_tags"] == [
        "prod",
        "feature:rag",
    ]
    assert rows["litellm:chatcmpl-claude-write"]["team"] == "team-7f3a"
    # the next CSV in the same run starts with no rejects of its own
    clean = gw.write("more_spend_logs.csv", _csv([spend_row("chatcmpl-next", **CLAUDE)], columns))
    assert (gw.one(clean).loaded, gw.rejects(clean)) == (1, {})


def test_failure_rows_are_errors(gw: GatewayKit) -> None:
    failed = spend_row(
        "chatcmpl-failed",
        **CLAUDE,
        status="failure",
        prompt_tokens=0,
        completion_tokens=0,
        meta={
            "error_information": {
                "error_code": "429",
                "error_class": "RateLimitError",
                "error_message": "rate limited",
            }
        },
    )
    path = gw.write_jsonl("failed.jsonl", [failed])
    gw.one(path)
    [row] = gw.rows(path)
    assert (row["status"], row["http_status"], row["error_type"], row["error_message"]) == (
        "error",
        429,
        "RateLimitError",
        "rate limited",
    )
    assert classes(row)[:5] == (0, 0, 0, 0, 0)


def test_damaged_first_line_and_truncated_document(gw: GatewayKit) -> None:
    """A JSON Lines log whose first line is cut keeps its other lines; a pretty-printed
    document cut short is one reject at its first line (nothing in it can be trusted)."""
    lines = ['{"request_id": "cut", "call_type": "acompl', WRITE_CALL, READ_CALL]
    log = gw.write_jsonl("damaged.jsonl", lines)
    got = gw.one(log, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.rejected) == (3, 2, 1)
    assert gw.rejects(log)[1]["reason"] == "invalid JSON"

    text = json.dumps([WRITE_CALL, READ_CALL], indent=2)
    cut = gw.write("cut.json", text[: len(text) // 2])
    got = gw.one(cut, fmt="litellm-spendlogs")
    assert (got.records_read, got.loaded, got.rejected) == (1, 0, 1)
    [(line, reject)] = gw.rejects(cut).items()
    assert line == 1 and reject["reason"].startswith("invalid JSON: neither JSON Lines")


def test_epoch_start_times_by_size_and_none_before_2000(gw: GatewayKit) -> None:
    """startTime as a JavaScript millisecond epoch used to load in year 58720."""
    second = 1790867154  # 2026-10-01T15:05:54Z
    lines = [
        spend_row("s", **{**CLAUDE, "startTime": second}),
        spend_row("ms", **{**CLAUDE, "startTime": second * 1000 + 250}),
        spend_row("ms-str", **{**CLAUDE, "startTime": str(second * 1000)}),
        spend_row("zero", **{**CLAUDE, "startTime": 0}),
        spend_row("iso1999", **{**CLAUDE, "startTime": "1999-12-31 23:59:59"}),
    ]
    path = gw.write_jsonl("spend.jsonl", lines)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (3, 2)
    at = datetime(2026, 10, 1, 15, 5, 54, tzinfo=UTC)
    rows = gw.by_key(path)
    assert [rows[f"litellm:{k}"]["ts"] for k in ("s", "ms", "ms-str")] == [
        at,
        at + timedelta(milliseconds=250),
        at,
    ]
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        4: "startTime 0 is before 2000: not a request time (read as 1970-01-01 00:00:00 UTC)",
        5: 'startTime "1999-12-31 23:59:59" is before 2000: not a request time '
        "(read as 1999-12-31 23:59:59 UTC)",
    }


def test_a_null_prompt_or_completion_count_is_a_reject(gw: GatewayKit) -> None:
    """LiteLLM always writes both: a null one used to load as 0 (output unpriced). A null
    breakdown is LiteLLM's own "not reported" (its usage wrappers dump None) and reads as
    absent."""
    usage = {"prompt_tokens": 1167, "completion_tokens": 26}
    null_top = spend_row("null-top", **CLAUDE, prompt_tokens=1167, completion_tokens=None)
    null_usage = spend_row(
        "null-usage",
        **CLAUDE,
        prompt_tokens=None,
        completion_tokens=None,
        meta={"usage_object": {**usage, "completion_tokens": None}},
    )
    payload = copy.deepcopy(load(PAYLOAD))
    payload["id"] = "null-payload"
    payload["response"]["usage"]["prompt_tokens"] = None
    del payload["prompt_tokens"]
    null_cached = spend_row(
        "null-cached",
        **CLAUDE,
        prompt_tokens=1167,
        completion_tokens=26,
        meta={
            "usage_object": {
                **usage,
                "prompt_tokens_details": {"cached_tokens": None, "audio_tokens": None},
                "completion_tokens_details": {"reasoning_tokens": None},
            }
        },
    )
    path = gw.write_jsonl("spend.jsonl", [null_top, null_usage, payload, null_cached])
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (1, 3)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        1: "completion_tokens is null",
        2: "prompt_tokens is null; completion_tokens is null; "
        "metadata.usage_object.completion_tokens is null",
        3: "response.usage.prompt_tokens is null",
    }
    [row] = gw.rows(path)
    assert row["request_key"] == "litellm:null-cached"
    assert classes(row) == (1167, 0, 0, 0, 26, None)  # no cache, as if the keys were absent


def test_an_empty_or_blank_count_is_a_reject(gw: GatewayKit) -> None:
    """An empty string used to read as absent: ``"completion_tokens": ""`` loaded a call
    priced without its output, and ``"prompt_tokens": ""`` a no-usage row that dropped its
    500 output tokens. It is not a whole number, as docs/formats.md says (the CSV reader
    rejects an empty cell too, as a null)."""
    blank_cached = {
        "usage_object": {
            "prompt_tokens": 1167,
            "completion_tokens": 26,
            "prompt_tokens_details": {"cached_tokens": "  "},
        }
    }
    lines = [
        spend_row("empty-prompt", **CLAUDE, prompt_tokens="", completion_tokens=500),
        spend_row("empty-completion", **CLAUDE, prompt_tokens=5000, completion_tokens=""),
        spend_row("blank", **CLAUDE, prompt_tokens=" ", completion_tokens=26),
        spend_row(
            "blank-cached", **CLAUDE, prompt_tokens=1167, completion_tokens=26, meta=blank_cached
        ),
        spend_row("ok", **CLAUDE, prompt_tokens=1167, completion_tokens=26),
    ]
    path = gw.write_jsonl("spend.jsonl", lines)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (1, 4)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        1: 'prompt_tokens should be a whole number, got ""',
        2: 'completion_tokens should be a whole number, got ""',
        3: 'prompt_tokens should be a whole number, got " "',
        4: "metadata.usage_object.prompt_tokens_details.cached_tokens should be a whole "
        'number, got "  "',
    }
    [row] = gw.rows(path)
    assert row["request_key"] == "litellm:ok"


def test_minus_zero_is_zero_not_negative(gw: GatewayKit) -> None:
    """A count written "-0" (string) or -0 is 0, as Python's int() reads it; it was
    rejected as negative when written as a string."""
    lines = [
        spend_row("str", **CLAUDE, prompt_tokens="-0", completion_tokens=26),
        spend_row("num", **CLAUDE, prompt_tokens=1167, completion_tokens="-0.0"),
        spend_row("neg", **CLAUDE, prompt_tokens="-1", completion_tokens=26),
    ]
    path = gw.write_jsonl("spend.jsonl", lines)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (2, 1)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {3: "prompt_tokens is negative"}
    rows = {r["request_key"]: r for r in gw.rows(path)}
    assert rows["litellm:str"]["input_tokens"] == int("-0") == 0
    assert rows["litellm:num"]["output_tokens"] == 0


def test_a_whole_number_beyond_int64_is_too_large(gw: GatewayKit) -> None:
    """Past BIGINT a count used to read "should be a whole number, got 1000…": it is
    one, only too large, as the envelope says of 2^63. A numeric string too."""
    lines = [
        spend_row("huge", **CLAUDE, prompt_tokens=10**30, completion_tokens=26),
        spend_row("int64+1", **CLAUDE, prompt_tokens=1167, completion_tokens=str(2**63)),
        spend_row("neg", **CLAUDE, prompt_tokens=-(10**30), completion_tokens=26),
        spend_row("int64", **CLAUDE, prompt_tokens=2**63 - 1, completion_tokens=26),
    ]
    path = gw.write_jsonl("spend.jsonl", lines)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (1, 3)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        1: "prompt_tokens is too large: 1000000000000000000000000000000",
        2: "completion_tokens is too large: 9223372036854775808",
        3: "prompt_tokens is negative",
    }
    [row] = gw.rows(path)
    assert row["input_tokens"] == 2**63 - 1
