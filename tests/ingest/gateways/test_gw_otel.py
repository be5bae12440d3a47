"""otel-genai: OpenTelemetry GenAI spans as OTLP JSON (one document, or JSON Lines).

The fixture is hand-built from the spec (tests/fixtures/otel/README.md). Expected token
classes are computed here from each span's raw attributes: input_tokens includes the
cache reads and writes, output_tokens includes reasoning.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from gateway_helpers import OTLP_FIXTURE, GatewayKit, Json, classes, load

AGENT_OPS = {"invoke_agent", "create_agent", "execute_tool", "invoke_workflow"}


def attrs(span: Json) -> dict[str, Any]:
    """Attribute values unwrapped from their OTLP AnyValue."""
    return {a["key"]: next(iter(a["value"].values())) for a in span["attributes"]}


def all_spans(doc: Json) -> list[Json]:
    return [
        s for rs in doc["resourceSpans"] for ss in rs["scopeSpans"] for s in ss.get("spans", [])
    ]


def first(a: dict[str, Any], *keys: str) -> int | None:
    for k in keys:
        if k in a:
            return int(a[k])  # intValue may be a JSON string
    return None


def expected_classes(span: Json) -> tuple[Any, ...] | None:
    """Disjoint classes from the raw attributes; None when the span has no usage."""
    a = attrs(span)
    inp = first(a, "gen_ai.usage.input_tokens", "llm.token_count.prompt")
    out = first(a, "gen_ai.usage.output_tokens", "llm.token_count.completion")
    if inp is None:
        return None
    read = first(a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens")
    write = first(
        a, "gen_ai.usage.cache_creation.input_tokens", "gen_ai.usage.cache_creation_input_tokens"
    )
    reasoning = first(
        a, "gen_ai.usage.reasoning.output_tokens", "llm.token_count.completion_details.reasoning"
    )
    return (inp - (read or 0) - (write or 0), read or 0, write or 0, 0, out, reasoning)


def is_model_call(span: Json) -> bool:
    a = attrs(span)
    return (
        a.get("gen_ai.operation.name") not in AGENT_OPS
        and a.get("openinference.span.kind", "LLM") in ("LLM", "EMBEDDING")
        and any(k.startswith(("gen_ai.", "llm.")) for k in a)
    )


def span_line(text: str, span_id: str) -> int:
    """1-based line of the ``{`` opening a pretty-printed span (two lines above its spanId,
    under its traceId)."""
    lines = text.splitlines()
    [i] = [n for n, line in enumerate(lines) if f'"spanId": "{span_id}"' in line]
    assert lines[i - 2].strip() == "{" and '"traceId"' in lines[i - 1]
    return i - 1


def test_fixture_document(gw: GatewayKit) -> None:
    text = OTLP_FIXTURE.read_text("utf-8")
    doc = json.loads(text)
    calls = [s for s in all_spans(doc) if is_model_call(s)]
    got = gw.one(OTLP_FIXTURE)
    # the agent spans and the HTTP span are not model calls; one call has a bad count
    assert len(all_spans(doc)) == 8 and len(calls) == 5
    assert (got.format, got.records_read, got.loaded, got.rejected) == ("otel-genai", 5, 4, 1)
    rows = gw.by_key(OTLP_FIXTURE)
    for span in calls:
        key = f"otel:{span['traceId']}/{span['spanId']}"
        if key not in rows:
            continue
        row = rows[key]
        want = expected_classes(span)
        if want is None:
            assert row["has_usage"] is False and classes(row) == (None,) * 6
        else:
            assert classes(row) == want
        assert row["source_line"] == span_line(text, span["spanId"])
    [(line, reject)] = gw.rejects(OTLP_FIXTURE).items()
    assert line == span_line(text, "b7ad6b7169203332")
    assert reject["reason"] == (
        'span b7ad6b7169203332: gen_ai.usage.input_tokens should be a whole number, got "lots"'
    )
    assert json.loads(reject["raw"])["spanId"] == "b7ad6b7169203332"


def test_span_fields(gw: GatewayKit) -> None:
    gw.one(OTLP_FIXTURE)
    rows = gw.by_key(OTLP_FIXTURE)
    chat = rows["otel:5b8efff798038103d269b633813fc60c/eee19b7ec3c1b174"]
    assert (chat["provider"], chat["api"], chat["model_requested"], chat["model"]) == (
        "openai",
        "chat",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
    )
    assert chat["request_id"] == "chatcmpl-AZ3xq9TkqP0sMYzxd1vBmE5tGm3rL"
    assert chat["ts"] == datetime(2026, 10, 14, 9, 0, 0, 250000, tzinfo=UTC)
    assert chat["latency_ms"] == 780.0
    assert chat["finish_reason"] == "stop"
    assert (chat["user_id"], chat["feature"], chat["environment"]) == (
        "u-4821",
        "support-bot",
        "prod",
    )
    assert gw.text(chat["prompt_hash"]) == "You are a helpful assistant."
    body = json.loads(gw.text(chat["input_hash"]) or "null")
    assert body["messages"][0]["parts"][0]["content"] == "Say this is a test"
    meta = chat["metadata"]
    assert (
        meta["session_id"] == "sess-77"
        and meta["scope"] == "opentelemetry.instrumentation.openai_v2"
    )
    assert meta["attributes"]["server.address"] == "api.openai.com"
    assert "gen_ai.input.messages" not in meta["attributes"]  # content stays in prompt_texts
    assert meta["resource"]["service.name"] == "support-bot"

    error = rows["otel:5b8efff798038103d269b633813fc60c/eee19b7ec3c1b175"]
    assert (error["status"], error["error_type"], error["error_message"], error["has_usage"]) == (
        "error",
        "NotFoundError",
        "Error code: 404 - model_not_found",
        False,
    )
    claude = rows["otel:0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331"]
    assert (claude["provider"], claude["model"]) == ("anthropic", "claude-sonnet-4-5-20250929")
    gemini = rows["otel:4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7"]
    assert (gemini["provider"], gemini["model"], gemini["feature"]) == (
        "google",
        "gemini-2.5-flash",
        "search-api",
    )


def test_jsonl_export_requests(gw: GatewayKit) -> None:
    doc = load(OTLP_FIXTURE)
    requests = [{"resourceSpans": [rs]} for rs in doc["resourceSpans"]]
    broken = copy.deepcopy(requests[0])
    spans = broken["resourceSpans"][0]["scopeSpans"][0]["spans"]
    first_span, second_span = copy.deepcopy(spans[0]), copy.deepcopy(spans[0])
    first_span["spanId"], second_span["spanId"] = "1111111111111111", "2222222222222222"
    first_span["startTimeUnixNano"] = "yesterday"
    for a in second_span["attributes"]:
        if a["key"] == "gen_ai.usage.output_tokens":
            a["value"] = {"intValue": "-5"}
    broken["resourceSpans"][0]["scopeSpans"][0]["spans"] = [first_span, second_span]
    path = gw.write_jsonl(
        "otlp.jsonl", [requests[0], "", requests[1], broken, '{"resourceSpans": [', {"x": 1}]
    )
    got = gw.one(path)
    assert got.format == "otel-genai"
    # 2 calls + 3 calls (one bad) + 1 merged reject of 2 bad spans + 2 bad lines
    assert (got.records_read, got.loaded, got.rejected) == (8, 4, 4)
    rejects = {k: v["reason"] for k, v in gw.rejects(path).items()}
    assert rejects == {
        3: 'span b7ad6b7169203332: gen_ai.usage.input_tokens should be a whole number, got "lots"',
        4: 'span 1111111111111111: startTimeUnixNano is not a time in nanoseconds: "yesterday"; '
        "span 2222222222222222: gen_ai.usage.output_tokens is negative",
        5: "invalid JSON",
        6: "not an OTLP JSON trace export (no resourceSpans array)",
    }
    assert sorted({r["source_line"] for r in gw.rows(path)}) == [1, 3]
    # the same spans again (another export of one collector) are duplicates
    again = gw.write_jsonl("otlp-again.jsonl", requests)
    repeat = gw.one(again)
    assert (repeat.records_read, repeat.loaded, repeat.duplicates) == (5, 0, 4)


def test_older_otlp_and_semconv_spellings(gw: GatewayKit) -> None:
    """`instrumentationLibrarySpans` (OTLP < 0.15) and the deprecated prompt/completion
    counts with an older cache spelling; usage as numbers, a double-typed count."""
    span = {
        "traceId": "aa" * 16,
        "spanId": "bb" * 8,
        "name": "chat gpt-4o",
        "startTimeUnixNano": "1791968400000000000",
        "endTimeUnixNano": "1791968400500000000",
        "attributes": [
            {"key": "gen_ai.system", "value": {"stringValue": "openai"}},
            {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
            {"key": "gen_ai.usage.prompt_tokens", "value": {"intValue": 2000}},
            {"key": "gen_ai.usage.completion_tokens", "value": {"doubleValue": 40.0}},
            {"key": "gen_ai.usage.cache_read_input_tokens", "value": {"intValue": "1536"}},
        ],
        "status": {"code": "STATUS_CODE_OK"},
    }
    doc = {"resourceSpans": [{"instrumentationLibrarySpans": [{"spans": [span]}]}]}
    path = gw.write("legacy.json", json.dumps(doc, indent=4))
    got = gw.one(path)
    assert (got.format, got.loaded) == ("otel-genai", 1)
    [row] = gw.rows(path)
    assert classes(row) == (2000 - 1536, 1536, 0, 0, 40, None)
    assert (row["provider"], row["status"], row["latency_ms"]) == ("openai", "ok", 500.0)


def test_cloud_provider_names_are_the_labels_litellm_writes(gw: GatewayKit) -> None:
    """OTel's aws.bedrock and azure.ai.openai were kept as logged while LiteLLM's rows say
    bedrock and azure: a report by provider split one cloud in two (QA)."""
    spans = []
    for i, (system, model) in enumerate(
        [
            ("aws.bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0"),
            ("azure.ai.openai", "gpt-4o"),
            ("gcp.vertex_ai", "gemini-2.5-flash"),
        ]
    ):
        spans.append(
            {
                "traceId": "ab" * 16,
                "spanId": f"{i:016x}",
                "name": f"chat {model}",
                "startTimeUnixNano": "1791968400000000000",
                "endTimeUnixNano": "1791968400500000000",
                "attributes": [
                    {"key": "gen_ai.provider.name", "value": {"stringValue": system}},
                    {"key": "gen_ai.request.model", "value": {"stringValue": model}},
                    {"key": "gen_ai.usage.input_tokens", "value": {"intValue": 10}},
                    {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 2}},
                ],
            }
        )
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    path = gw.write("clouds.json", json.dumps(doc))
    assert gw.one(path).loaded == 3
    assert [r["provider"] for r in gw.rows(path)] == ["bedrock", "azure", "google"]


def test_a_start_time_before_2000_is_a_reject(gw: GatewayKit) -> None:
    """startTimeUnixNano is nanoseconds by name; a placeholder or a millisecond value
    written there reads as 1970, which used to load and price."""
    doc = load(OTLP_FIXTURE)
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert int(spans[0]["startTimeUnixNano"]) > 946684800 * 10**9
    spans[0]["startTimeUnixNano"] = "1790867154000"  # Date.now(), in a nanosecond field
    path = gw.write_jsonl("otlp.jsonl", [doc])
    gw.one(path)
    [reason] = [r["reason"] for r in gw.rejects(path).values()]  # the document's one line
    assert reason.split("; ")[0] == (
        f'span {spans[0]["spanId"]}: startTimeUnixNano "1790867154000" is before 2000: '
        "not a request time (read as 1970-01-01 00:29:50.867154 UTC)"
    )
    assert spans[0]["spanId"] not in {r["request_key"].split("/")[-1] for r in gw.rows(path)}


def _call_span(span_id: str, **counts: Json) -> Json:
    """A chat span whose ``gen_ai.usage.<name>`` attributes hold the AnyValues given."""
    attributes = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
        *({"key": f"gen_ai.usage.{k}", "value": v} for k, v in counts.items()),
    ]
    return {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": span_id,
        "name": "chat gpt-4o-mini",
        "startTimeUnixNano": "1791968400250000000",
        "attributes": attributes,
    }


def test_an_empty_count_is_a_reject(gw: GatewayKit) -> None:
    """``{"intValue": ""}`` used to read as absent, so the span loaded with 0 output and
    was priced. It is not a whole number; past BIGINT a count is too large. An attribute
    with no value set (an empty AnyValue) still reads as absent."""
    five = {"intValue": "5"}
    spans = [
        _call_span("s1", input_tokens={"intValue": 100}, output_tokens={"intValue": ""}),
        _call_span("s2", input_tokens={"stringValue": "  "}, output_tokens=five),
        _call_span("s3", input_tokens={"intValue": "99999999999999999999"}, output_tokens=five),
        _call_span("s4", input_tokens={"intValue": 100}, output_tokens={}),
        _call_span("s5", input_tokens={"intValue": 100}, output_tokens=five),
    ]
    docs = [{"resourceSpans": [{"scopeSpans": [{"spans": [s]}]}]} for s in spans]
    path = gw.write_jsonl("otlp.jsonl", docs)
    got = gw.one(path)
    assert (got.format, got.loaded, got.rejected) == ("otel-genai", 2, 3)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        1: 'span s1: gen_ai.usage.output_tokens should be a whole number, got ""',
        2: 'span s2: gen_ai.usage.input_tokens should be a whole number, got "  "',
        3: "span s3: gen_ai.usage.input_tokens is too large: 99999999999999999999",
    }
    assert [classes(r) for r in gw.rows(path)] == [(100, 0, 0, 0, 0, None), (100, 0, 0, 0, 5, None)]


def test_a_broken_otlp_structure_is_a_reject(gw: GatewayKit) -> None:
    """An element of resourceSpans, scopeSpans or spans that is not an object, or a list
    or attributes that are not a list, made the typed read skip that part: its spans
    vanished and the file read as fine (QA). Each break is now a reject naming its path;
    the intact span beside them still loads."""
    good = _call_span("s9", input_tokens={"intValue": 10}, output_tokens={"intValue": 5})
    broken_attributes = _call_span("s8", input_tokens={"intValue": 10})
    broken_attributes["attributes"] = "bad"
    docs = [
        {"resourceSpans": ["x"]},
        {"resourceSpans": [{"scopeSpans": "bad"}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": 5}]}]},
        {"resourceSpans": [{"scopeSpans": [7]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [True, broken_attributes]}]}]},
        {"resourceSpans": [{"scopeSpans": [{"spans": [good]}]}]},
    ]
    path = gw.write_jsonl("otlp.jsonl", docs)
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (6, 1, 5)
    reasons = {n: r["reason"] for n, r in gw.rejects(path).items()}
    at = "$.resourceSpans[0].scopeSpans[0]"
    assert reasons == {
        1: "OTLP structure: $.resourceSpans[0] is not an object (got varchar)",
        2: "OTLP structure: $.resourceSpans[0].scopeSpans is not an array",
        3: f"OTLP structure: {at}.spans is not an array",
        4: f"OTLP structure: {at} is not an object",
        5: f"OTLP structure: {at}.spans[0] is not an object; "
        f"OTLP structure: {at}.spans[1].attributes is not an array",
    }
    assert [classes(r) for r in gw.rows(path)] == [(10, 0, 0, 0, 5, None)]
