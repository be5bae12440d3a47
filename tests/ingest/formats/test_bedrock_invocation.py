"""bedrock-invocation: Amazon Bedrock model invocation logs (S3 / CloudWatch JSON Lines).

The records follow the public shape of AWS's "Monitor model invocation using CloudWatch Logs
and Amazon S3" (docs.aws.amazon.com/bedrock/latest/userguide/model-invocation-logging.html),
with the field list of Panther's AWS.BedrockModelInvocation schema and the ConverseStream
record of github.com/dheerajoruganty/aws-bedrock-logs-mcp-server (setup.md). Converse usage
follows the AWS TokenUsage / CacheDetail API reference (inputTokens exclude cache reads and
writes; cacheDetails split the writes by ttl).

Dollars are worked out by hand from pricing/providers/bedrock.yaml, per million tokens:
Sonnet 4.5 global input 3, cache read 0.30, 5m write 3.75, 1h write 6, output 15; regional
(us., eu., in-region) +10 %: 3.30, 0.33, 4.125, 6.60, 16.50. Haiku 4.5 global 1, 0.10, -,
-, 5; regional 1.10, 0.11, -, -, 5.50.
"""

from __future__ import annotations

import copy
import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from format_helpers import anthropic_events, assert_counts_add_up, costs, install_prices

from helpers import detected_format, sniffed_fixtures
from tokaudit.ingest.attribution import parse_attribution
from tokaudit.ingest.bedrock_invocation import BedrockInvocationFormat
from tokaudit.ingest.interface import FileHead
from tokaudit.ingest.loader import _head_lines, ingest_paths

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
SONNET = "anthropic.claude-sonnet-4-5-20250929-v1:0"
HAIKU = "anthropic.claude-haiku-4-5-20251001-v1:0"
ROLE = "arn:aws:sts::123456789012:assumed-role/search-team/app-server"
D = Decimal
M = Decimal(1_000_000)


def record(request_id: str, model_id: str, operation: str, **fields: Any) -> Json:
    rec: Json = {
        "schemaType": "ModelInvocationLog",
        "schemaVersion": "1.0",
        "timestamp": "2026-10-03T09:00:00Z",
        "accountId": "123456789012",
        "identity": {"arn": ROLE},
        "region": "us-east-1",
        "requestId": request_id,
        "operation": operation,
        "modelId": model_id,
    }
    rec.update(fields)
    return rec


def claude_message(usage: Json, text: str = "Paris.") -> Json:
    """An InvokeModel response body of a Claude model: an Anthropic Message."""
    return {
        "id": "msg_bdrk_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


INVOKE_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "system": "You answer geography questions.",
    "messages": [{"role": "user", "content": "What is the capital of France?"}],
}
# input 120, cache read 1000, writes 300 = 200 (5m) + 100 (1h), output 35
CACHED_USAGE = {
    "input_tokens": 120,
    "cache_read_input_tokens": 1000,
    "cache_creation_input_tokens": 300,
    "cache_creation": {"ephemeral_5m_input_tokens": 200, "ephemeral_1h_input_tokens": 100},
    "output_tokens": 35,
}


def invoke(request_id: str, model_id: str, usage: Json = CACHED_USAGE) -> Json:
    return record(
        request_id,
        model_id,
        "InvokeModel",
        input={
            "inputContentType": "application/json",
            "inputBodyJson": INVOKE_BODY,
            "inputTokenCount": usage["input_tokens"],
            "cacheReadInputTokenCount": usage.get("cache_read_input_tokens", 0),
            "cacheWriteInputTokenCount": usage.get("cache_creation_input_tokens", 0),
        },
        output={
            "outputContentType": "application/json",
            "outputBodyJson": claude_message(usage),
            "outputTokenCount": usage["output_tokens"],
        },
    )


def converse(request_id: str, model_id: str) -> Json:
    return record(
        request_id,
        model_id,
        "Converse",
        input={
            "inputContentType": "application/json",
            "inputBodyJson": {
                "system": [{"text": "You answer geography questions."}, {"cachePoint": {}}],
                "messages": [
                    {"role": "user", "content": [{"text": "What is the capital of France?"}]}
                ],
                "inferenceConfig": {"maxTokens": 200},
            },
            "inputTokenCount": 120,
            "cacheReadInputTokenCount": 1000,
            "cacheWriteInputTokenCount": 200,
        },
        output={
            "outputContentType": "application/json",
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": "Paris."}]}},
                "stopReason": "end_turn",
                "metrics": {"latencyMs": 410},
                "usage": {
                    "inputTokens": 120,
                    "outputTokens": 35,
                    "totalTokens": 1355,
                    "cacheReadInputTokens": 1000,
                    "cacheWriteInputTokens": 200,
                    "cacheDetails": [
                        {"ttl": "1h", "inputTokens": 50},
                        {"ttl": "5m", "inputTokens": 150},
                    ],
                },
            },
            "outputTokenCount": 35,
        },
    )


def classes(row: Json) -> tuple[int, int, int, int, int]:
    return (
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_5m_tokens"],
        row["cache_write_1h_tokens"],
        row["output_tokens"],
    )


def text(kit: EnvelopeKit, text_hash: str | None) -> str | None:
    """A stored text (system prompt, input or output body) by its hash."""
    got = kit.query("SELECT body FROM prompt_texts WHERE text_hash = ?", [text_hash])
    return got[0]["body"] if got else None


def cost_of(con: duckdb.DuckDBPyConnection, key: str) -> Json:
    [row] = costs(con, f"request_key = '{key}'")
    return row


def test_invoke_model_claude_cache_classes_and_regional_vs_global_price(
    kit: EnvelopeKit,
) -> None:
    path = kit.write(
        "invoke.jsonl",
        [invoke("req-us", f"us.{SONNET}"), invoke("req-global", f"global.{SONNET}")],
    )
    [fr] = kit.ingest(path).files
    assert fr.format == "bedrock-invocation"
    assert_counts_add_up(fr, 2, 2, 0, 0)
    us, glob = kit.rows(path)
    # Anthropic convention: input_tokens exclude the cache; writes split 5m / 1h
    assert classes(us) == classes(glob) == (120, 1000, 200, 100, 35)
    assert us["request_key"] == "bedrock:req-us" and us["request_id"] == "req-us"
    assert (us["provider"], us["status"], us["has_usage"]) == ("anthropic", "ok", True)
    assert us["model_requested"] == f"us.{SONNET}"
    assert text(kit, us["prompt_hash"]) == "You answer geography questions."
    assert "What is the capital of France?" in str(text(kit, us["input_hash"]))
    meta = json.loads(us["metadata"])
    assert meta == {
        "account_id": "123456789012",
        "region": "us-east-1",
        "identity_arn": ROLE,
        "operation": "InvokeModel",
    }
    install_prices(kit.con)
    regional, base = cost_of(kit.con, "bedrock:req-us"), cost_of(kit.con, "bedrock:req-global")
    assert (regional["price_route"], regional["price_region"]) == ("bedrock", "us")
    assert regional["price_context"] == "regional"
    # 120 x 3.30 + 1000 x 0.33 + 200 x 4.125 + 100 x 6.60 + 35 x 16.50 = 2788.5 per 1M
    assert D(regional["cost_usd"]) == D("2788.5") / M
    assert (base["price_region"], base["price_context"]) == ("global", "standard")
    # 120 x 3 + 1000 x 0.30 + 200 x 3.75 + 100 x 6 + 35 x 15 = 2535 per 1M
    assert D(base["cost_usd"]) == D("2535") / M


def test_converse_camel_case_usage_and_cache_details(kit: EnvelopeKit) -> None:
    path = kit.write("converse.jsonl", [converse("conv-1", f"global.{SONNET}")])
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 1, 1, 0, 0)
    [row] = kit.rows(path)
    # inputTokens exclude the cache; cacheDetails: 150 written for 5m, 50 for 1h
    assert classes(row) == (120, 1000, 150, 50, 35)
    assert (row["api"], row["finish_reason"]) == ("converse", "end_turn")
    # the Converse system/messages blocks are read as Anthropic texts for the recount
    assert text(kit, row["prompt_hash"]) == "You answer geography questions."
    body = json.loads(str(text(kit, row["input_hash"])))
    assert body["system"] == [{"type": "text", "text": "You answer geography questions."}]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is the capital of France?"}]}
    ]
    install_prices(kit.con)
    # 120 x 3 + 1000 x 0.30 + 150 x 3.75 + 50 x 6 + 35 x 15 = 2047.5 per 1M
    assert D(cost_of(kit.con, "bedrock:conv-1")["cost_usd"]) == D("2047.5") / M


def test_streamed_calls_read_their_chunks_usage(kit: EnvelopeKit) -> None:
    usage = {"input_tokens": 50, "cache_read_input_tokens": 0, "output_tokens": 20}
    events = anthropic_events(claude_message(usage, "Paris is the capital."))
    # Bedrock's last chunk carries its own invocation metrics
    events[-1]["amazon-bedrock-invocationMetrics"] = {
        "inputTokenCount": 50,
        "outputTokenCount": 20,
        "invocationLatency": 812,
        "firstByteLatency": 301,
    }
    stream = record(
        "stream-1",
        f"us.{HAIKU}",
        "InvokeModelWithResponseStream",
        input={"inputBodyJson": INVOKE_BODY, "inputTokenCount": 50},
        output={"outputBodyJson": events, "outputTokenCount": 20},
    )
    converse_events = record(
        "cstream-1",
        f"global.{HAIKU}",
        "ConverseStream",
        input={
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
            "inputTokenCount": 40,
        },
        output={
            "outputBodyJson": [
                {"messageStart": {"role": "assistant"}},
                {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
                {"contentBlockDelta": {"delta": {"text": "lo"}, "contentBlockIndex": 0}},
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": "end_turn"}},
                {
                    "metadata": {
                        "usage": {
                            "inputTokens": 40,
                            "outputTokens": 10,
                            "totalTokens": 150,
                            "cacheReadInputTokens": 100,
                        },
                        "metrics": {"latencyMs": 200},
                    }
                },
            ],
            "outputTokenCount": 10,
        },
    )
    path = kit.write("streams.jsonl", [stream, converse_events])
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 2, 2, 0, 0)
    invoked, conversed = kit.rows(path)
    # message_start's input usage, the last message_delta's output count
    assert classes(invoked) == (50, 0, 0, 0, 20)
    assert invoked["finish_reason"] == "end_turn"
    # the metadata event's usage; the deltas' text is the reply
    assert classes(conversed) == (40, 100, 0, 0, 10)
    assert json.loads(str(text(kit, conversed["output_hash"]))) == {
        "content": [{"type": "text", "text": "Hello"}]
    }
    install_prices(kit.con)
    # regional Haiku 4.5: 50 x 1.10 + 20 x 5.50 = 165 per 1M
    assert D(cost_of(kit.con, "bedrock:stream-1")["cost_usd"]) == D(165) / M
    # global Haiku 4.5: 40 x 1 + 100 x 0.10 + 10 x 5 = 100 per 1M
    assert D(cost_of(kit.con, "bedrock:cstream-1")["cost_usd"]) == D(100) / M


def test_a_failed_call_is_an_error_row(kit: EnvelopeKit) -> None:
    failed = record(
        "fail-1",
        f"us.{SONNET}",
        "InvokeModel",
        input={"inputBodyJson": INVOKE_BODY, "inputTokenCount": 0},
        errorCode="ThrottlingException",
    )
    path = kit.write("failed.jsonl", [failed])
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 1, 1, 0, 0)
    [row] = kit.rows(path)
    assert (row["status"], row["http_status"]) == ("error", 429)
    assert row["error_type"] == "ThrottlingException"
    assert row["has_usage"] is False
    assert row["request_key"] == "bedrock:fail-1"


def test_priority_flex_and_latency_optimized_calls_are_not_priced_as_standard(
    kit: EnvelopeKit,
) -> None:
    """A Converse call on the priority or flex tier (ServiceTier.type in the request,
    response or ConverseStream metadata event) or latency-optimized (performanceConfig,
    the record's or the Converse body's) was priced at the standard rate: Bedrock bills
    those at their own rates, which the table does not hold."""
    conv = converse("tier-priority", f"us.{SONNET}")
    conv["output"]["outputBodyJson"]["serviceTier"] = {"type": "priority"}
    flex = converse("tier-flex", f"us.{SONNET}")
    flex["input"]["inputBodyJson"]["serviceTier"] = {"type": "flex"}
    default = converse("tier-default", f"us.{SONNET}")
    default["output"]["outputBodyJson"]["serviceTier"] = {"type": "default"}
    fast_body = converse("latency-body", f"us.{SONNET}")
    fast_body["input"]["inputBodyJson"]["performanceConfig"] = {"latency": "optimized"}
    events = converse("events-flex", f"us.{SONNET}")
    events["operation"] = "ConverseStream"
    events["output"]["outputBodyJson"] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Paris."}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {
                "usage": {"inputTokens": 120, "outputTokens": 35, "totalTokens": 155},
                "metrics": {"latencyMs": 300},
                "serviceTier": {"type": "flex"},
            }
        },
    ]
    haiku35 = "anthropic.claude-3-5-haiku-20241022-v1:0"
    counts = {"input": {"inputTokenCount": 1000}, "output": {"outputTokenCount": 100}}
    optimized = record("latency-record", haiku35, "InvokeModel", **counts)
    optimized["performanceConfig"] = {"latency": "optimized"}
    standard = record("latency-standard", haiku35, "InvokeModel", **counts)
    standard["performanceConfig"] = {"latency": "standard"}
    path = kit.write("tiers.jsonl", [conv, flex, default, fast_body, events, optimized, standard])
    assert_counts_add_up(kit.ingest(path).files[0], 7, 7, 0, 0)
    install_prices(kit.con)
    got = {
        r["request_key"]: (r["service_tier"], r["unpriced_reason"], r["cost_usd"])
        for r in costs(kit.con, "true")
    }
    assert got == {
        "bedrock:tier-priority": ("priority", "unknown_context", None),
        "bedrock:tier-flex": ("flex", "unknown_context", None),
        # 120 x 3.30 + 1000 x 0.33 + 150 x 4.125 + 50 x 6.60 + 35 x 16.50 = 2252.25 per 1M
        "bedrock:tier-default": (None, None, D("2252.25") / M),
        "bedrock:latency-body": ("latency-optimized", "unknown_context", None),
        "bedrock:events-flex": ("flex", "unknown_context", None),
        "bedrock:latency-record": ("latency-optimized", "unknown_context", None),
        # Claude 3.5 Haiku in-region: 1000 x 0.80 + 100 x 4 = 1200 per 1M
        "bedrock:latency-standard": (None, None, D("1200") / M),
    }


def test_other_vendors_load_with_their_counts_and_stay_unpriced(kit: EnvelopeKit) -> None:
    llama = record(
        "llama-1",
        "us.meta.llama3-3-70b-instruct-v1:0",
        "InvokeModel",
        input={"inputBodyJson": {"prompt": "Hello"}, "inputTokenCount": 12},
        output={
            "outputBodyJson": {
                "generation": "Hi!",
                "prompt_token_count": 12,
                "generation_token_count": 4,
            },
            "outputTokenCount": 4,
        },
    )
    nova = record(
        "nova-1",
        "amazon.nova-lite-v1:0",
        "ConverseStream",
        input={
            "inputBodyJson": {"messages": [{"role": "user", "content": [{"text": "hello"}]}]},
            "inputTokenCount": 4,
            "cacheReadInputTokenCount": 0,
            "cacheWriteInputTokenCount": 0,
        },
        output={
            "outputBodyJson": {
                "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": 4, "outputTokens": 38, "totalTokens": 42},
            },
            "outputTokenCount": 38,
        },
    )
    path = kit.write("others.jsonl", [llama, nova])
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 2, 2, 0, 0)
    lrow, nrow = kit.rows(path)
    assert classes(lrow) == (12, 0, 0, 0, 4)  # inputTokenCount / outputTokenCount
    assert classes(nrow) == (4, 0, 0, 0, 38)
    assert lrow["provider"] == nrow["provider"] == "bedrock"
    assert lrow["input_hash"] is None and lrow["has_usage"] is True
    install_prices(kit.con)
    for key in ("bedrock:llama-1", "bedrock:nova-1"):
        row = cost_of(kit.con, key)
        assert row["cost_usd"] is None, key  # unpriced, never $0
        assert row["unpriced_reason"] == "unknown_model"


def test_record_counts_when_the_body_went_to_s3(kit: EnvelopeKit) -> None:
    """A large body is delivered to S3 (inputBodyS3Path / outputBodyS3Path): the record's
    own counts are the usage, cache reads and writes apart from inputTokenCount."""
    big = record(
        "big-1",
        f"us.{SONNET}",
        "InvokeModel",
        input={
            "inputBodyS3Path": "s3://logs/AWSLogs/123456789012/BedrockModelInvocationLogs/in.json",
            "inputTokenCount": 2000,
            "cacheReadInputTokenCount": 500,
            "cacheWriteInputTokenCount": 0,
        },
        output={
            "outputBodyS3Path": "s3://logs/AWSLogs/123456789012/BedrockModelInvocationLogs/o.json",
            "outputTokenCount": 100,
        },
    )
    path = kit.write("big.jsonl", [big])
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 1, 1, 0, 0)
    [row] = kit.rows(path)
    assert classes(row) == (2000, 500, 0, 0, 100)
    assert json.loads(row["metadata"])["output_body_s3_path"].endswith("/o.json")
    install_prices(kit.con)
    # 2000 x 3.30 + 500 x 0.33 + 100 x 16.50 = 8415 per 1M
    assert D(cost_of(kit.con, "bedrock:big-1")["cost_usd"]) == D(8415) / M


def test_a_claude_call_without_its_output_count_is_not_priced_as_no_output(
    kit: EnvelopeKit,
) -> None:
    """The output went to S3 and the record has no outputTokenCount: its output is
    unknown, and was priced as 0 tokens. An embedding model has no output count at all."""
    s3 = "s3://logs/AWSLogs/123456789012/BedrockModelInvocationLogs/o.json"
    claude = record(
        "no-output-count",
        f"us.{SONNET}",
        "InvokeModel",
        input={"inputTokenCount": 2000},
        output={"outputBodyS3Path": s3},
    )
    embed = record(
        "embed-1",
        "amazon.titan-embed-text-v2:0",
        "InvokeModel",
        input={"inputBodyJson": {"inputText": "hello"}, "inputTokenCount": 5},
        output={"outputBodyJson": {"embedding": [0.1, 0.2], "inputTextTokenCount": 5}},
    )
    path = kit.write("counts.jsonl", [claude, embed])
    assert_counts_add_up(kit.ingest(path).files[0], 2, 2, 0, 0)
    install_prices(kit.con)
    got = {
        r["request_key"]: (r["has_usage"], r["input_tokens"], r["output_tokens"])
        for r in costs(kit.con)
    }
    assert got == {"bedrock:no-output-count": (False, None, None), "bedrock:embed-1": (True, 5, 0)}
    row = cost_of(kit.con, "bedrock:no-output-count")
    assert (row["unpriced_reason"], row["cost_usd"]) == ("no_usage", None)


def test_request_metadata_and_identity_attribute_a_team(kit: EnvelopeKit) -> None:
    rec = converse("conv-team", f"us.{SONNET}")
    rec["requestMetadata"] = {"team": "search", "feature": "geo-answers"}
    path = kit.write("team.jsonl", [rec])
    kit.ingest(path)
    [row] = kit.rows(path)
    assert (row["team"], row["feature"]) == ("search", "geo-answers")
    assert json.loads(row["metadata"])["identity_arn"] == ROLE


def test_the_attribution_example_charges_roles_and_accounts(kit: EnvelopeKit) -> None:
    """docs/attribution.md's example: the caller's role ARN (masked: any session name),
    else the AWS account, looked up as keys."""
    rules = parse_attribution(
        {
            "attribution": {"team": ["api_key"], "project": ["api_key"]},
            "api_key_fields": ["metadata.identity_arn", "metadata.account_id"],
            "api_keys": {
                "arn:aws:sts::123456789012:assumed-role/search-team/...": {
                    "team": "search",
                    "project": "prod",
                },
                "210987654321": {"team": "data", "project": "analytics"},
            },
        },
        "tokaudit.yaml",
    )
    other = invoke("acct-1", f"us.{SONNET}")
    other.update(accountId="210987654321", identity={"arn": "arn:aws:iam::210987654321:user/x"})
    path = kit.write("attributed.jsonl", [invoke("role-1", f"us.{SONNET}"), other])
    ingest_paths(kit.con, [str(path)], attribution=rules)
    by_role, by_account = kit.rows(path)
    assert (by_role["team"], by_role["project"]) == ("search", "prod")
    assert (by_account["team"], by_account["project"]) == ("data", "analytics")


def test_reingest_and_a_gzipped_copy_load_nothing_new(kit: EnvelopeKit) -> None:
    lines = [invoke("dup-1", f"us.{SONNET}"), converse("dup-2", f"eu.{SONNET}")]
    path = kit.write("a.jsonl", lines)
    assert_counts_add_up(kit.ingest(path).files[0], 2, 2, 0, 0)
    # the next hour's object repeats both records (CloudWatch and S3 copies) and adds one
    later = kit.write("b.jsonl", [*lines, invoke("new-1", f"us.{SONNET}")])
    assert_counts_add_up(kit.ingest(later).files[0], 3, 1, 2, 0)
    gz = kit.tmp_path / "s3-copy.json.gz"
    gz.write_bytes(gzip.compress(later.read_bytes()))
    [fr] = kit.ingest(gz).files
    assert fr.format == "bedrock-invocation"
    assert_counts_add_up(fr, 3, 0, 3, 0)
    assert kit.count("requests") == 3


def test_a_folder_of_s3_objects_loads_as_one_batch(kit: EnvelopeKit) -> None:
    """S3 delivery: many small .json.gz objects, staged together (stage_files); each row
    keeps its own file and line, and the same prompt sent through InvokeModel and Converse
    has one prompt hash."""
    folder = kit.tmp_path / "AWSLogs/123456789012/BedrockModelInvocationLogs/us-east-1"
    app_profile = invoke(
        "app-1",
        "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3",
    )
    kit.write(f"{folder}/09/a.json.gz", [invoke("s3-1", f"us.{SONNET}"), app_profile])
    kit.write(f"{folder}/10/b.json.gz", [converse("s3-2", f"global.{SONNET}")])
    result = kit.ingest(kit.tmp_path / "AWSLogs")
    assert [fr.format for fr in result.files] == ["bedrock-invocation"] * 2
    rows = {r["request_key"]: r for r in kit.rows()}
    assert sorted(rows) == ["bedrock:app-1", "bedrock:s3-1", "bedrock:s3-2"]
    assert (rows["bedrock:s3-2"]["source_line"], rows["bedrock:app-1"]["source_line"]) == (1, 2)
    assert rows["bedrock:s3-2"]["source_file"].endswith("10/b.json.gz")
    assert rows["bedrock:s3-1"]["prompt_hash"] == rows["bedrock:s3-2"]["prompt_hash"]
    install_prices(kit.con)
    # an application inference profile's ARN does not name its model: unpriced, never $0
    app = cost_of(kit.con, "bedrock:app-1")
    assert (app["cost_usd"], app["unpriced_reason"]) == (None, "unknown_model")


def test_malformed_records_are_rejects_with_reasons(kit: EnvelopeKit) -> None:
    good = invoke("ok-1", f"us.{SONNET}")
    no_id = record("x", f"us.{SONNET}", "InvokeModel", output={"outputTokenCount": 1})
    del no_id["requestId"]
    no_model = invoke("nm", "x")
    del no_model["modelId"]
    bad_count = invoke("bc", f"us.{SONNET}")
    bad_count["input"]["inputTokenCount"] = "12"
    no_result = record("nr", f"us.{SONNET}", "InvokeModel", input={"inputTokenCount": 3})
    bad_output = record("bo", f"us.{SONNET}", "InvokeModel", output="oops")
    path = kit.write(
        "bad.jsonl",
        [good, no_id, no_model, bad_count, no_result, bad_output, "{not json", [1, 2]],
    )
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 8, 1, 0, 7)
    reasons = {n: r["reason"] for n, r in kit.rejects(path).items()}
    assert reasons == {
        2: "requestId is missing or not a string",
        3: "modelId is missing or not a string",
        4: "input.inputTokenCount is not a whole number",
        5: "neither output nor errorCode (a call without a result)",
        6: "output is not an object",
        7: "invalid JSON",
        8: "not a JSON object (got array)",
    }


def test_detection_takes_invocation_logs_and_leaves_others(kit: EnvelopeKit) -> None:
    path = kit.write("bedrock.jsonl", [invoke("d-1", f"us.{SONNET}"), converse("d-2", SONNET)])
    assert detected_format(path) == "bedrock-invocation"
    # the same call as an envelope and as an Anthropic pair stays theirs
    env = kit.write(
        "env.jsonl",
        [
            {
                "timestamp": "2026-10-03T09:00:00Z",
                "provider": "anthropic",
                "request": {**INVOKE_BODY, "model": f"us.{SONNET}"},
                "response": claude_message(CACHED_USAGE),
            }
        ],
    )
    pairs = kit.write(
        "pairs.jsonl",
        [
            {
                "timestamp": "2026-10-03T09:00:00Z",
                "request": INVOKE_BODY,
                "response": claude_message(CACHED_USAGE),
            }
        ],
    )
    assert detected_format(env) == "envelope"
    assert detected_format(pairs) == "anthropic-pairs"
    fmt = BedrockInvocationFormat()
    con = duckdb.connect()
    try:
        for other in (env, pairs):
            assert not fmt.sniff(FileHead(other, _head_lines(con, other)))
        # another schemaType (e.g. a future log kind) is not taken
        other_schema = kit.write(
            "other.jsonl", [{**copy.deepcopy(invoke("o", SONNET)), "schemaType": "Other"}]
        )
        assert not fmt.sniff(FileHead(other_schema, _head_lines(con, other_schema)))
    finally:
        con.close()


def test_no_existing_fixture_is_taken_for_a_bedrock_invocation_log() -> None:
    assert sniffed_fixtures(BedrockInvocationFormat()) == []


def test_an_identity_that_is_not_an_object_is_a_reject(kit: EnvelopeKit) -> None:
    """``identity`` is ``{"arn": ...}``: a string (or a non-string arn) lost the caller's
    ARN, which attribution keys on, while the row loaded without it."""
    as_string = invoke("id-str", f"us.{SONNET}")
    as_string["identity"] = "x"
    bad_arn = invoke("id-arn", f"us.{SONNET}")
    bad_arn["identity"] = {"arn": 42}
    no_identity = invoke("id-none", f"us.{SONNET}")
    del no_identity["identity"]
    path = kit.write("identity.jsonl", [as_string, bad_arn, no_identity])
    assert_counts_add_up(kit.ingest(path).files[0], 3, 1, 0, 2)
    reasons = {n: r["reason"] for n, r in kit.rejects(path).items()}
    assert reasons == {1: "identity is not an object", 2: "identity.arn is not a string"}
    [row] = kit.rows(path)
    assert "identity_arn" not in json.loads(row["metadata"])


def test_a_cache_detail_with_an_unknown_ttl_names_it(kit: EnvelopeKit) -> None:
    """CacheDetail.ttl is 5m or 1h (Bedrock API reference); another value was rejected
    as a 5m + 1h split that does not add up, which hid the cause."""
    odd = converse("ttl-60m", f"us.{SONNET}")
    odd["output"]["outputBodyJson"]["usage"]["cacheDetails"][0]["ttl"] = "60m"
    missing = converse("ttl-none", f"us.{SONNET}")
    del missing["output"]["outputBodyJson"]["usage"]["cacheDetails"][1]["ttl"]
    path = kit.write("ttl.jsonl", [odd, missing, converse("ttl-ok", f"us.{SONNET}")])
    assert_counts_add_up(kit.ingest(path).files[0], 3, 1, 0, 2)
    reasons = {n: r["reason"] for n, r in kit.rejects(path).items()}
    assert reasons == {
        1: 'usage.cacheDetails ttl "60m" is neither 5m nor 1h (CacheDetail.ttl)',
        2: "usage.cacheDetails ttl missing is neither 5m nor 1h (CacheDetail.ttl)",
    }


ROUTER = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
HAIKU35_PROFILE = (
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/"
    "us.anthropic.claude-3-5-haiku-20241022-v1:0"
)


def test_a_prompt_router_call_is_priced_as_the_model_it_invoked(kit: EnvelopeKit) -> None:
    """A prompt router's ARN names no model; a Converse response's
    trace.promptRouter.invokedModelId (PromptRouterTrace) does: the call is priced as that
    model on its route and region, the router kept in metadata. Without the trace (an
    InvokeModel call, text logging off) the router stays unpriced."""
    routed = converse("routed-1", ROUTER)
    routed["output"]["outputBodyJson"]["trace"] = {
        "promptRouter": {"invokedModelId": HAIKU35_PROFILE}
    }
    # Claude 3.5 Haiku has no 1-hour write price: all 200 writes for 5 minutes
    routed["output"]["outputBodyJson"]["usage"]["cacheDetails"] = [
        {"ttl": "5m", "inputTokens": 200}
    ]
    custom = converse(
        "routed-2", "arn:aws:bedrock:us-east-1:123456789012:prompt-router/abcd1234efgh"
    )
    custom["operation"] = "ConverseStream"
    custom["input"].update(
        inputTokenCount=400, cacheReadInputTokenCount=0, cacheWriteInputTokenCount=0
    )
    custom["output"]["outputBodyJson"] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Paris."}, "contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {
                "usage": {"inputTokens": 400, "outputTokens": 50, "totalTokens": 450},
                "metrics": {"latencyMs": 300},
                "trace": {"promptRouter": {"invokedModelId": HAIKU35_PROFILE}},
            }
        },
    ]
    untraced = record(
        "routed-3",
        ROUTER,
        "InvokeModel",
        input={"inputTokenCount": 100},
        output={"outputTokenCount": 10},
    )
    path = kit.write("router.jsonl", [routed, custom, untraced])
    assert_counts_add_up(kit.ingest(path).files[0], 3, 3, 0, 0)
    rows = {r["request_key"]: r for r in kit.rows(path)}
    assert rows["bedrock:routed-1"]["model_requested"] == HAIKU35_PROFILE
    assert rows["bedrock:routed-1"]["provider"] == rows["bedrock:routed-2"]["provider"]
    assert rows["bedrock:routed-2"]["provider"] == "anthropic"
    assert json.loads(rows["bedrock:routed-1"]["metadata"])["prompt_router_arn"] == ROUTER
    assert json.loads(rows["bedrock:routed-2"]["metadata"])["prompt_router_arn"].endswith(
        ":prompt-router/abcd1234efgh"
    )
    install_prices(kit.con)
    got = {
        r["request_key"]: (r["price_region"], r["unpriced_reason"], r["cost_usd"])
        for r in costs(kit.con, "true")
    }
    assert got == {
        # Claude 3.5 Haiku (us. profile, no regional uplift): input 0.80, cache read 0.08,
        # 5m write 1, output 4: 120 x 0.80 + 1000 x 0.08 + 200 x 1 + 35 x 4 = 516 per 1M
        "bedrock:routed-1": ("us", None, D(516) / M),
        # 400 x 0.80 + 50 x 4 = 520 per 1M
        "bedrock:routed-2": ("us", None, D(520) / M),
        "bedrock:routed-3": (None, "unknown_model", None),
    }


def test_converse_usage_without_cache_fields_takes_the_records_cache_counts(
    kit: EnvelopeKit,
) -> None:
    """TokenUsage's cacheReadInputTokens / cacheWriteInputTokens are optional ("Required:
    No"): a body without them has not reported the cache, and the record's
    cacheReadInputTokenCount / cacheWriteInputTokenCount (1000 / 200) were lost. A body
    that reports them, 0 included, is the response's own word and wins."""
    unreported = converse("cache-unreported", f"us.{SONNET}")
    unreported["output"]["outputBodyJson"]["usage"] = {
        "inputTokens": 120,
        "outputTokens": 35,
        "totalTokens": 1355,
    }
    zero = converse("cache-zero", f"us.{SONNET}")
    zero["output"]["outputBodyJson"]["usage"] = {
        "inputTokens": 120,
        "outputTokens": 35,
        "totalTokens": 155,
        "cacheReadInputTokens": 0,
        "cacheWriteInputTokens": 0,
    }
    path = kit.write("cache-fields.jsonl", [unreported, zero])
    assert_counts_add_up(kit.ingest(path).files[0], 2, 2, 0, 0)
    rows = {r["request_key"]: r for r in kit.rows(path)}
    # the record's writes, without a ttl split, are 5-minute ones
    assert classes(rows["bedrock:cache-unreported"]) == (120, 1000, 200, 0, 35)
    assert classes(rows["bedrock:cache-zero"]) == (120, 0, 0, 0, 35)
    install_prices(kit.con)
    # regional Sonnet 4.5: 120 x 3.30 + 1000 x 0.33 + 200 x 4.125 + 35 x 16.50 = 2128.5 per 1M
    assert D(cost_of(kit.con, "bedrock:cache-unreported")["cost_usd"]) == D("2128.5") / M
    # 120 x 3.30 + 35 x 16.50 = 973.5 per 1M
    assert D(cost_of(kit.con, "bedrock:cache-zero")["cost_usd"]) == D("973.5") / M
