"""Attribution: envelope metadata lands in columns, and the whole object is kept as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]

META: Json = {
    "team": "search",
    "user": "u-42",
    "feature": "snippet-summary",
    "prompt_id": "snippet",
    "prompt_version": "3",
    "environment": "prod",
    # extra keys tokaudit has no column for
    "region": "us-east",
    "ticket": 1234,
    "tags": ["beta", "eu"],
    "nested": {"experiment": "b", "weight": 0.5},
}
COLUMNS = {
    "team": "team",
    "user_id": "user",
    "feature": "feature",
    "prompt_id": "prompt_id",
    "prompt_version": "prompt_version",
    "environment": "environment",
}


def test_metadata_lands_in_columns_for_every_provider(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    [snap] = kit.snapshot("anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json")
    [gem] = kit.cassette("gemini/otelcontrib_vertexai_generate_content.yaml")
    lines = [
        kit.from_exchange(chat, "openai", metadata=META),
        kit.from_exchange(snap, "anthropic", metadata=META),
        kit.from_exchange(gem, "google", metadata=META),
    ]
    fr, rows = kit.ingest_lines(lines)
    assert (fr.loaded, fr.rejected) == (3, 0)
    for row in rows:
        for column, key in COLUMNS.items():
            assert row[column] == META[key], (row["provider"], column)
        stored = json.loads(row["metadata"])
        assert stored == META  # extra keys survive, with their JSON types
        assert stored["ticket"] == 1234 and stored["nested"]["weight"] == 0.5


def test_extra_metadata_is_queryable_in_sql(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    kit.ingest_lines([kit.from_exchange(chat, "openai", metadata=META)])
    got = kit.con.execute(
        "SELECT metadata ->> 'region', metadata -> 'nested' ->> 'experiment', "
        "json_array_length(metadata -> 'tags') FROM requests"
    ).fetchone()
    assert got == ("us-east", "b", 2)


def test_non_string_attribution_values_become_text(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    meta = {"prompt_version": 3, "user": 7}
    _, [row] = kit.ingest_lines([kit.from_exchange(chat, "openai", metadata=meta)])
    assert (row["prompt_version"], row["user_id"]) == ("3", "7")


def test_no_metadata_leaves_attribution_null(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    _, [row] = kit.ingest_lines([kit.from_exchange(chat, "openai")])
    assert all(row[c] is None for c in COLUMNS)
    assert row["metadata"] is None


def test_user_falls_back_to_the_request_body(kit: EnvelopeKit) -> None:
    """OpenAI ``user`` and Anthropic ``metadata.user_id`` in the request body."""
    [chat] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    [snap] = kit.snapshot("anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json")
    oa = kit.from_exchange(chat, "openai")
    oa["request"]["user"] = "oa-user"
    an = kit.from_exchange(snap, "anthropic")
    an["request"]["metadata"] = {"user_id": "an-user"}
    overridden = kit.from_exchange(chat, "openai", metadata={"user": "meta-user"})
    overridden["request"]["user"] = "oa-user"
    overridden["response"]["id"] = "chatcmpl-other"
    _, rows = kit.ingest_lines([oa, an, overridden])
    assert [r["user_id"] for r in rows] == ["oa-user", "an-user", "meta-user"]


def test_openai_responses_prompt_object_gives_prompt_id(kit: EnvelopeKit) -> None:
    resp = kit.sample_json("openai/openapi_examples/responses_response_text_input.json")
    resp["prompt"] = {"id": "pmpt_abc", "version": "2"}
    _, [row] = kit.ingest_lines([kit.envelope("openai", {"model": "gpt-5.4"}, resp)])
    assert (row["prompt_id"], row["prompt_version"]) == ("pmpt_abc", "2")


def test_envelope_fields_request_id_model_latency(kit: EnvelopeKit) -> None:
    [gem] = kit.cassette("gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml")
    line = kit.from_exchange(gem, "google", request_id="trace-1", latency_ms=2170, api="custom")
    _, [row] = kit.ingest_lines([line])
    assert row["request_id"] == "trace-1"
    assert row["request_key"] == "google:trace-1"
    assert row["model_requested"] == "gemini-2.5-flash"
    assert row["latency_ms"] == 2170.0
    assert row["api"] == "custom"  # an explicit api wins over the inferred one
