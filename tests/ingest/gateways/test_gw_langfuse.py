"""langfuse: trace exports, ingestion batches and observation exports.

Token classes are checked against the raw ``usageDetails`` (and, for the Gemini trace,
against the provider's own usage kept in the observation metadata).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from gateway_helpers import REALWORLD, GatewayKit, Json, classes, load, start_line

LANGFUSE = REALWORLD / "langfuse"
PYDANTIC = LANGFUSE / "pydantic-ai-2025-06-06.trace.json"
AGENTS = LANGFUSE / "openai-agents-2025-09-30.trace.json"
GEMINI = LANGFUSE / "google-gemini-2025-08-01.trace.json"
LITELLM_BATCH = LANGFUSE / "litellm_langfuse_ingestion_completion_with_tags.json"


def generations(export: Json) -> list[Json]:
    return [o for o in export["observations"] if o["type"] == "GENERATION"]


def test_pydantic_ai_trace_export(gw: GatewayKit) -> None:
    text = PYDANTIC.read_text("utf-8")
    export = json.loads(text)
    [gen] = generations(export)
    got = gw.one(PYDANTIC)
    # only the GENERATION is a model call; the two SPANs are not records
    assert (got.format, got.records_read, got.loaded) == ("langfuse", 1, 1)
    [row] = gw.rows(PYDANTIC)
    usage = gen["usageDetails"]
    assert usage["total"] == usage["input"] + usage["output"]
    assert classes(row) == (usage["input"], 0, 0, 0, usage["output"], None)
    attrs = json.loads(gen["metadata"])["attributes"]  # a JSON string in the export
    assert row["model_requested"] == gen["model"] == "gpt-4o"
    assert row["model"] == attrs["gen_ai.response.model"] == "gpt-4o-2024-08-06"
    assert row["provider"] == attrs["gen_ai.system"] == "openai"
    trace = export["trace"]
    assert (row["user_id"], row["feature"], row["environment"]) == (
        trace["userId"],
        trace["name"],
        gen["environment"],
    )
    assert row["project"] == gen["projectId"]
    assert row["metadata"]["session_id"] == trace["sessionId"] == "session_abc"
    assert row["metadata"]["tags"] == trace["tags"]
    assert row["metadata"]["total_cost"] == gen["totalCost"]
    assert row["metadata"]["metadata"]["attributes"]["gen_ai.system"] == "openai"  # parsed
    assert row["team"] is None  # no team: tag or metadata key
    assert row["request_key"] == "langfuse:" + gen["id"]
    assert row["ts"] == datetime(2025, 6, 6, 14, 40, 28, 562000, tzinfo=UTC)
    assert row["latency_ms"] == 4794.0
    assert row["source_line"] == start_line(text, f'      "id": "{gen["id"]}"')
    system = json.loads(gen["input"])[0]
    assert system["role"] == "system"
    assert gw.text(row["prompt_hash"]) == system["content"]


def test_openai_agents_openinference_keys(gw: GatewayKit) -> None:
    gens = generations(load(AGENTS))
    got = gw.one(AGENTS)
    assert (got.records_read, got.loaded) == (2, 2)
    rows = gw.by_key(AGENTS)
    for gen in gens:
        u = gen["usageDetails"]
        # OpenInference's prompt/completion details sit inside input/output
        assert u["total"] == u["input"] + u["output"]
        expected = (
            u["input"] - u["prompt_details.cache_read"],
            u["prompt_details.cache_read"],
            0,
            0,
            u["output"],
            u["completion_details.reasoning"],
        )
        assert classes(rows["langfuse:" + gen["id"]]) == expected


def test_gemini_output_includes_reasoning(gw: GatewayKit) -> None:
    [gen] = generations(load(GEMINI))
    gw.one(GEMINI)
    [row] = gw.rows(GEMINI)
    # The provider's own counts, kept in the span attributes the export carries:
    attrs = json.loads(gen["metadata"])["attributes"]
    provider_usage = json.loads(attrs["output.value"])["usage_metadata"]
    thoughts, candidates = (
        provider_usage["thoughts_token_count"],
        provider_usage["candidates_token_count"],
    )
    assert row["output_tokens"] == candidates + thoughts == gen["usageDetails"]["output"] == 2055
    assert row["reasoning_tokens"] == thoughts == 1104
    assert row["input_tokens"] == provider_usage["prompt_token_count"] == 6
    assert (row["provider"], row["model"]) == ("google", "gemini-2.5-flash")


def test_litellm_ingestion_batch(gw: GatewayKit) -> None:
    batch = load(LITELLM_BATCH)["batch"]
    trace = next(e["body"] for e in batch if e["type"] == "trace-create")
    gen = next(e["body"] for e in batch if e["type"] == "generation-create")
    got = gw.one(LITELLM_BATCH)
    assert (got.format, got.records_read, got.loaded) == ("langfuse", 1, 1)
    [row] = gw.rows(LITELLM_BATCH)
    u = gen["usageDetails"]
    uncached = u["input"] - u["cache_read_input_tokens"] - u["cache_creation_input_tokens"]
    assert classes(row) == (uncached, 0, 0, 0, u["output"], None)
    assert row["ts"] == datetime(2025, 1, 22, 15, 31, 28, 960749, tzinfo=UTC)  # -08:00 in
    assert row["metadata"]["tags"] == trace["tags"]
    assert row["feature"] == trace["name"]
    assert row["model"] == gen["model"]
    assert gw.text(row["prompt_hash"]) == gen["input"]["messages"][0]["content"] == "Hello!"
    assert row["source_line"] == start_line(
        LITELLM_BATCH.read_text("utf-8"), f'            "id": "{batch[1]["id"]}"'
    )


def _event(kind: str, body: Json, ts: str = "2026-10-14T09:00:03Z") -> Json:
    return {"id": f"ev-{kind}-{body.get('id')}", "type": kind, "timestamp": ts, "body": body}


TRACE = {
    "id": "tr-1",
    "name": "support-chat",
    "userId": "u-7",
    "sessionId": "s-1",
    "tags": ["prod", "team:support"],
}
GEN_CREATE = {
    "id": "gen-1",
    "traceId": "tr-1",
    "name": "answer",
    "startTime": "2026-10-14T09:00:00Z",
    "model": "claude-sonnet-4-5",
    "input": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hi"},
    ],
    "promptName": "support-answer",
    "promptVersion": 3,
}
# Langfuse's own keys: every key is its own slice, total is their sum.
GEN_UPDATE = {
    "id": "gen-1",
    "traceId": "tr-1",
    "endTime": "2026-10-14T09:00:02Z",
    "usageDetails": {
        "input": 4,
        "input_cached_tokens": 1163,
        "input_cache_creation_1h": 200,
        "output": 100,
        "output_reasoning_tokens": 50,
        "total": 4 + 1163 + 200 + 100 + 50,
    },
}


def gen(gen_id: str, usage: Json | None, **fields: Any) -> Json:
    body: Json = {
        "id": gen_id,
        "traceId": "tr-1",
        "startTime": "2026-10-14T10:00:00Z",
        "model": "gpt-4o-mini",
    }
    if usage is not None:
        body["usageDetails"] = usage
    body.update(fields)
    return body


def test_batch_create_and_update_merge_with_trace_attribution(gw: GatewayKit) -> None:
    doc = {
        "batch": [
            _event("trace-create", TRACE),
            _event("generation-create", GEN_CREATE),
            _event("span-create", {"id": "sp-1", "traceId": "tr-1", "name": "retrieve"}),
            _event("generation-update", GEN_UPDATE),
        ]
    }
    path = gw.write("batch.json", json.dumps(doc, indent=2))
    got = gw.one(path)
    assert (got.records_read, got.loaded) == (1, 1)  # create + update = one generation
    [row] = gw.rows(path)
    u = GEN_UPDATE["usageDetails"]
    assert classes(row) == (
        u["input"],
        u["input_cached_tokens"],
        0,
        u["input_cache_creation_1h"],
        u["output"] + u["output_reasoning_tokens"],  # Langfuse's output is net of reasoning
        u["output_reasoning_tokens"],
    )
    assert (row["team"], row["user_id"], row["feature"]) == ("support", "u-7", "support-chat")
    assert (row["prompt_id"], row["prompt_version"]) == ("support-answer", "3")
    assert row["latency_ms"] == 2000.0
    assert row["provider"] == "anthropic"  # from the model name: Langfuse has no provider
    assert gw.text(row["prompt_hash"]) == "You are terse."
    assert row["source_line"] == start_line(
        path.read_text("utf-8"), '      "id": "ev-generation-create-gen-1"'
    )


@pytest.mark.parametrize("update_first", [False, True], ids=["create-first", "update-first"])
def test_a_create_and_its_update_in_two_files_merge(gw: GatewayKit, update_first: bool) -> None:
    """The SDK often sends them in different batches: one generation, whatever the order."""
    create = gw.write(
        f"c-{update_first}.json",
        json.dumps(
            {"batch": [_event("trace-create", TRACE), _event("generation-create", GEN_CREATE)]}
        ),
    )
    update = gw.write(
        f"u-{update_first}.json", json.dumps({"batch": [_event("generation-update", GEN_UPDATE)]})
    )
    files = [update, create] if update_first else [create, update]
    results = [gw.one(path) for path in files]  # separate ingests, as separate runs would
    [row] = gw.query(
        "SELECT * FROM requests WHERE request_key = ?", [f"langfuse:{GEN_CREATE['id']}"]
    )
    u = GEN_UPDATE["usageDetails"]
    assert classes(row)[0] == u["input"] and row["has_usage"] is True
    assert (row["team"], row["user_id"], row["model"]) == ("support", "u-7", GEN_CREATE["model"])
    assert gw.text(row["prompt_hash"]) == "You are terse."
    first, second = results
    if update_first:  # nothing to merge into yet: kept as a reject that says so
        assert (first.loaded, first.rejected, second.loaded) == (0, 1, 1)
        [reject] = gw.query("SELECT reason FROM rejects WHERE source_file = ?", [str(update)])
        assert reject["reason"] == (
            f"observation {GEN_UPDATE['id']}: no model yet "
            "(an update whose create is not loaded: kept, and merged when it is)"
        )
    else:  # the update is a duplicate of the stored generation and replaces its figures
        assert (first.loaded, second.loaded, second.duplicates, second.rejected) == (1, 0, 1, 0)


def test_inclusive_or_additive_usage_is_decided_by_total(gw: GatewayKit) -> None:
    litellm_keys = {
        "input": 1167,
        "output": 26,
        "cache_read_input_tokens": 1163,
        "cache_creation_input_tokens": 0,
    }
    events = [
        _event("trace-create", TRACE),
        # LiteLLM's logger: input holds the cache (its prompt_tokens); total says so
        _event("generation-create", gen("incl-total", {**litellm_keys, "total": 1193})),
        # no total, but the generation comes from LiteLLM's logger (its metadata)
        _event(
            "generation-create",
            gen("incl-litellm", litellm_keys, metadata={"litellm_response_cost": 0.004}),
        ),
        # the same keys from anywhere else follow Langfuse's additive meaning
        _event("generation-create", gen("additive", litellm_keys)),
        # OpenInference detail keys are inside input
        _event(
            "generation-create",
            gen(
                "openinference",
                {"input": 1149, "prompt_details.cache_read": 1024, "output": 5, "total": 1154},
            ),
        ),
    ]
    path = gw.write_jsonl("batches.jsonl", [{"batch": events[:3]}, {"batch": events[3:]}])
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (4, 4, 0)
    rows = gw.by_key(path)
    assert classes(rows["langfuse:incl-total"]) == (1167 - 1163, 1163, 0, 0, 26, None)
    assert classes(rows["langfuse:incl-litellm"]) == (1167 - 1163, 1163, 0, 0, 26, None)
    assert classes(rows["langfuse:additive"]) == (1167, 1163, 0, 0, 26, None)
    assert classes(rows["langfuse:openinference"]) == (1149 - 1024, 1024, 0, 0, 5, None)
    # the trace-create on line 1 attributes the generations on line 2
    assert rows["langfuse:additive"]["source_line"] == 2
    assert rows["langfuse:additive"]["team"] == "support"


def test_openai_usage_objects_as_usage_details(gw: GatewayKit) -> None:
    """Langfuse's ingestion API takes an OpenAI usage object as usageDetails (its SDKs'
    OpenAI integrations send it so): cached tokens and reasoning are inside the headline
    counts. They were rejects (a details object is not a count), and a Responses usage
    without total_tokens loaded with no usage at all."""
    chat = {
        "prompt_tokens": 1000,
        "completion_tokens": 100,
        "total_tokens": 1100,
        "prompt_tokens_details": {"cached_tokens": 512, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 64},
    }
    responses = {
        "input_tokens": 2000,
        "output_tokens": 300,
        "input_tokens_details": {"cached_tokens": 1536},
    }
    events = [
        _event("trace-create", TRACE),
        _event("generation-create", gen("chat", chat)),
        _event("generation-create", gen("responses", responses)),
        _event(
            "generation-create",
            gen("too-cached", {**chat, "prompt_tokens_details": {"cached_tokens": 1001}}),
        ),
        _event("generation-create", gen("bad", {**chat, "completion_tokens": "many"})),
    ]
    path = gw.write("openai-usage.json", json.dumps({"batch": events}, indent=2))
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (2, 2)
    rows = gw.by_key(path)
    assert classes(rows["langfuse:chat"]) == (1000 - 512, 512, 0, 0, 100, 64)
    assert classes(rows["langfuse:responses"]) == (2000 - 1536, 1536, 0, 0, 300, None)
    assert rows["langfuse:chat"]["metadata"]["usage_details"] == chat  # kept as logged
    reasons = " ".join(r["reason"] for r in gw.rejects(path).values())
    assert "too-cached: usageDetails: cached tokens exceed prompt tokens" in reasons
    assert "usageDetails.completion_tokens should be a whole number" in reasons


def test_usage_details_without_input_or_output_keys_are_usage(gw: GatewayKit) -> None:
    """Counts of any class are usage, though no ``input`` / ``output`` key is set (an
    Anthropic usage object passed on as is); they loaded with no usage at all, the cache
    reads dropped. A total alone, or a Gemini key outside a Gemini-shaped object, is no
    usage (never priced as 0 tokens)."""
    anthropic = {"input_tokens": 4, "output_tokens": 50, "cache_read_input_tokens": 1163}
    lines = [
        {"batch": [_event("generation-create", gen("anthropic-keys", anthropic))]},
        {"batch": [_event("generation-create", gen("cache-only", {"input_cached_tokens": 900}))]},
        {"batch": [_event("generation-create", gen("total-only", {"total": 77}))]},
        {"batch": [_event("generation-create", gen("gemini-key", {"candidatesTokenCount": 5}))]},
    ]
    path = gw.write_jsonl("no-input-key.jsonl", lines)
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (4, 0)
    rows = gw.by_key(path)
    # Langfuse's additive meaning: other input_* / output_* keys are slices of their own
    assert classes(rows["langfuse:anthropic-keys"]) == (4, 1163, 0, 0, 50, None)
    assert rows["langfuse:anthropic-keys"]["has_usage"] is True
    assert classes(rows["langfuse:cache-only"]) == (0, 900, 0, 0, 0, None)
    for key in ("langfuse:total-only", "langfuse:gemini-key"):
        assert rows[key]["has_usage"] is False
        assert classes(rows[key]) == (None, None, None, None, None, None)


def test_team_from_trace_then_observation_metadata(gw: GatewayKit) -> None:
    untagged = {**TRACE, "id": "tr-2", "tags": ["prod"], "metadata": '{"team": "billing"}'}
    events = [
        _event("trace-create", untagged),
        _event("generation-create", gen("from-trace", {"input": 1, "output": 1}, traceId="tr-2")),
        _event(
            "generation-create",
            gen("from-obs", {"input": 1, "output": 1}, traceId="tr-3", metadata={"team": "ml"}),
        ),
        _event(
            "generation-create", gen("tag-wins", {"input": 1, "output": 1}, metadata={"team": "x"})
        ),
        _event("trace-create", TRACE),
    ]
    path = gw.write_jsonl("teams.jsonl", [{"batch": events}])
    gw.one(path)
    teams = {k: r["team"] for k, r in gw.by_key(path).items()}
    assert teams == {
        "langfuse:from-trace": "billing",  # trace metadata, a JSON string here
        "langfuse:from-obs": "ml",  # no trace: the observation's metadata
        "langfuse:tag-wins": "support",  # a team: tag on the trace comes first
    }


NOT_A_NUMBER = 'usageDetails.input should be a whole number, got "many"'


def test_rejects_with_lines_in_a_pretty_export(gw: GatewayKit) -> None:
    export = copy.deepcopy(load(PYDANTIC))
    good = generations(export)[0]
    no_model = {**copy.deepcopy(good), "id": "gen-no-model", "model": None, "metadata": None}
    odd_key = {
        **copy.deepcopy(good),
        "id": "gen-odd-key",
        "usageDetails": {"input": 3, "output": 1, "widgets": 2},
    }
    not_number = {**copy.deepcopy(good), "id": "gen-nan", "usageDetails": {"input": "many"}}
    errored = {
        **copy.deepcopy(good),
        "id": "gen-error",
        "level": "ERROR",
        "statusMessage": "upstream 529 overloaded",
        "usageDetails": {},
    }
    export["observations"] += [no_model, odd_key, not_number, errored]
    text = json.dumps(export, indent=2)
    path = gw.write("trace.json", text)
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (5, 2, 3)

    def line(obs_id: str) -> int:
        return start_line(text, f'      "id": "{obs_id}"')

    rejects = gw.rejects(path)
    assert {k: v["reason"] for k, v in rejects.items()} == {
        line("gen-no-model"): "observation gen-no-model: no model",
        line("gen-odd-key"): "observation gen-odd-key: usageDetails key(s) not understood: widgets",
        line("gen-nan"): "observation gen-nan: " + NOT_A_NUMBER,
    }
    assert json.loads(rejects[line("gen-no-model")]["raw"])["id"] == "gen-no-model"
    err = gw.by_key(path)["langfuse:gen-error"]
    assert (err["status"], err["error_message"], err["has_usage"]) == (
        "error",
        "upstream 529 overloaded",
        False,
    )


def test_compact_document_merges_rejects_of_one_line(gw: GatewayKit) -> None:
    export = {
        "trace": {"id": "tr-9", "name": "t"},
        "observations": [
            {**gen("a", {"input": 1, "output": 1}), "type": "GENERATION", "model": None},
            {**gen("b", {"input": 2, "output": 2}), "type": "GENERATION"},
            {**gen("c", {"input": 3, "output": 3}), "type": "GENERATION", "startTime": "soon"},
        ],
    }
    path = gw.write("compact.json", json.dumps(export) + "\n")
    got = gw.one(path)
    # two bad observations on line 1 make one reject naming both
    assert (got.records_read, got.loaded, got.rejected) == (2, 1, 1)
    assert gw.rejects(path)[1]["reason"] == (
        "observation a: no model; observation c: no startTime (or it is not a timestamp)"
    )


def test_observation_export_lines(gw: GatewayKit) -> None:
    obs = {
        **gen("o-1", {"input": 10, "output": 2}),
        "type": "GENERATION",
        "traceName": "nightly-eval",
        "traceTags": ["team=evals"],
        "userId": "ci",
    }
    span = {"id": "o-2", "traceId": "tr-1", "type": "SPAN", "name": "step"}
    path = gw.write_jsonl("observations.jsonl", [obs, span, "{oops"])
    got = gw.one(path)
    assert (got.format, got.records_read, got.loaded, got.rejected) == ("langfuse", 2, 1, 1)
    [row] = gw.rows(path)
    assert (row["team"], row["user_id"], row["feature"]) == ("evals", "ci", "nightly-eval")
    assert classes(row) == (10, 0, 0, 0, 2, None)
    assert gw.rejects(path)[3]["reason"] == "invalid JSON"


def test_observation_create_and_legacy_usage(gw: GatewayKit) -> None:
    """SDK v2 style: an observation-create of type GENERATION with only the legacy
    ``usage`` object ({promptTokens, completionTokens}); a span-type observation is not a
    record."""
    generation = {
        **gen("legacy", None),
        "type": "GENERATION",
        "usage": {"promptTokens": 120, "completionTokens": 30, "totalTokens": 150},
    }
    span = {"id": "sp", "traceId": "tr-1", "type": "SPAN", "startTime": "2026-10-14T10:00:00Z"}
    doc = {
        "batch": [
            _event("observation-create", generation),
            _event("observation-create", span),
        ]
    }
    path = gw.write_jsonl("v2.jsonl", [doc])
    got = gw.one(path)
    assert (got.records_read, got.loaded) == (1, 1)
    [row] = gw.rows(path)
    assert classes(row) == (120, 0, 0, 0, 30, None)
    assert row["metadata"]["usage_details"] == {"input": 120, "output": 30, "total": 150}


def test_epoch_start_times_by_size_and_none_before_2000(gw: GatewayKit) -> None:
    """A millisecond startTime used to load in year 58720; 0 as 1970."""
    second = 1790867154  # 2026-10-01T15:05:54Z
    events = [
        _event("trace-create", TRACE),
        _event("generation-create", gen("ms", {"input": 1, "output": 1}, startTime=second * 1000)),
        _event("generation-create", gen("s", {"input": 1, "output": 1}, startTime=second)),
        _event("generation-create", gen("zero", {"input": 1, "output": 1}, startTime=0)),
    ]
    path = gw.write_jsonl("batch.jsonl", [{"batch": events}])
    got = gw.one(path)
    assert (got.loaded, got.rejected) == (2, 1)
    at = datetime(2026, 10, 1, 15, 5, 54, tzinfo=UTC)
    assert {k: r["ts"] for k, r in gw.by_key(path).items()} == {
        "langfuse:ms": at,
        "langfuse:s": at,
    }
    assert [r["reason"] for r in gw.rejects(path).values()] == [
        "observation zero: startTime 0 is before 2000: not a request time "
        "(read as 1970-01-01 00:00:00 UTC)"
    ]


def test_an_empty_count_is_a_reject_and_a_null_one_not_reported(gw: GatewayKit) -> None:
    """An empty or blank string used to read as 0 and the call was priced. It is not a
    whole number (Langfuse's own schema takes only numbers). A null is Langfuse's "not
    reported" (every usage key is ``nullish`` in its ingestion schema): read as absent."""

    def obs(gen_id: str, usage: Json, key: str = "usageDetails") -> Json:
        return {**gen(gen_id, None), key: usage, "type": "GENERATION"}

    lines = [
        obs("empty-in", {"input": "", "output": 20}),
        obs("empty-out", {"input": 100, "output": ""}),
        obs("blank-in", {"input": " ", "output": 20}),
        obs("legacy", {"promptTokens": 100, "completionTokens": ""}, key="usage"),
        obs("huge", {"input": 10**30, "output": 20}),
        obs("null-out", {"input": "100", "output": None}),
    ]
    path = gw.write_jsonl("observations.jsonl", lines)
    got = gw.one(path)
    assert (got.records_read, got.loaded, got.rejected) == (6, 1, 5)
    assert {n: r["reason"] for n, r in gw.rejects(path).items()} == {
        1: 'observation empty-in: usageDetails.input should be a whole number, got ""',
        2: 'observation empty-out: usageDetails.output should be a whole number, got ""',
        3: 'observation blank-in: usageDetails.input should be a whole number, got " "',
        4: 'observation legacy: usageDetails.output should be a whole number, got ""',
        5: "observation huge: usageDetails.input is too large: 1000000000000000000000000000000",
    }
    [row] = gw.rows(path)
    assert row["request_key"] == "langfuse:null-out"
    assert classes(row) == (100, 0, 0, 0, 0, None)
