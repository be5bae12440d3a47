"""Attribution: envelope metadata lands in columns, and the whole object is kept as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

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


CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
VERTEX = "gemini/otelcontrib_vertexai_generate_content.yaml"
FLASH = "gemini/otelcontrib_google_genai_non_streaming_gemini-2.5-flash.yaml"
RESPONSES = "openai/openapi_examples/responses_response_text_input.json"


def build_lines(kit: EnvelopeKit) -> dict[str, Json]:
    """Named envelope lines (each with its own request id) for one shared ingest."""
    [chat] = kit.cassette(CHAT)
    [snap] = kit.snapshot(SNAPSHOT)
    [vertex] = kit.cassette(VERTEX)
    [flash] = kit.cassette(FLASH)
    lines = {
        "openai_meta": kit.from_exchange(chat, "openai", metadata=META, request_id="oa-meta"),
        "anthropic_meta": kit.from_exchange(snap, "anthropic", metadata=META),
        "google_meta": kit.from_exchange(vertex, "google", metadata=META),
        "numbers": kit.from_exchange(
            chat, "openai", metadata={"prompt_version": 3, "user": 7}, request_id="numbers"
        ),
        "no_meta": kit.from_exchange(chat, "openai", request_id="no-meta"),
        "oa_body_user": kit.from_exchange(chat, "openai", request_id="oa-body-user"),
        "an_body_user": kit.from_exchange(snap, "anthropic", request_id="an-body-user"),
        "meta_beats_body": kit.from_exchange(
            chat, "openai", metadata={"user": "meta-user"}, request_id="meta-beats-body"
        ),
        "envelope_fields": kit.from_exchange(
            flash, "google", request_id="trace-1", latency_ms=2170, api="custom"
        ),
    }
    lines["oa_body_user"]["request"]["user"] = "oa-user"
    lines["meta_beats_body"]["request"]["user"] = "oa-user"
    lines["an_body_user"]["request"]["metadata"] = {"user_id": "an-user"}
    resp = kit.sample_json(RESPONSES)
    resp["prompt"] = {"id": "pmpt_abc", "version": "2"}
    lines["responses_prompt"] = kit.envelope("openai", {"model": "gpt-5.4"}, resp)
    return lines


@pytest.fixture(scope="module")
def rows(module_kit: EnvelopeKit) -> dict[str, Json]:
    lines = build_lines(module_kit)
    fr, got = module_kit.ingest_lines(list(lines.values()), "attribution.jsonl")
    assert (fr.error, fr.loaded, fr.rejected) == (None, len(lines), 0)
    by_line = {r["source_line"]: r for r in got}
    return {name: by_line[i] for i, name in enumerate(lines, 1)}


@pytest.mark.parametrize("name", ["openai_meta", "anthropic_meta", "google_meta"])
def test_metadata_lands_in_columns_for_every_provider(rows: dict[str, Json], name: str) -> None:
    row = rows[name]
    for column, key in COLUMNS.items():
        assert row[column] == META[key], column
    stored = json.loads(row["metadata"])
    assert stored == META  # extra keys survive, with their JSON types
    assert stored["ticket"] == 1234 and stored["nested"]["weight"] == 0.5


def test_extra_metadata_is_queryable_in_sql(module_kit: EnvelopeKit, rows: dict[str, Json]) -> None:
    got = module_kit.con.execute(
        "SELECT metadata ->> 'region', metadata -> 'nested' ->> 'experiment', "
        "json_array_length(metadata -> 'tags') FROM requests WHERE request_id = 'oa-meta'"
    ).fetchone()
    assert got == ("us-east", "b", 2)


def test_non_string_attribution_values_become_text(rows: dict[str, Json]) -> None:
    row = rows["numbers"]
    assert (row["prompt_version"], row["user_id"]) == ("3", "7")


def test_no_metadata_leaves_attribution_null(rows: dict[str, Json]) -> None:
    row = rows["no_meta"]
    assert all(row[c] is None for c in COLUMNS)
    assert row["metadata"] is None


def test_user_falls_back_to_the_request_body(rows: dict[str, Json]) -> None:
    """OpenAI ``user`` and Anthropic ``metadata.user_id`` in the request body."""
    assert rows["oa_body_user"]["user_id"] == "oa-user"
    assert rows["an_body_user"]["user_id"] == "an-user"
    assert rows["meta_beats_body"]["user_id"] == "meta-user"


def test_openai_responses_prompt_object_gives_prompt_id(rows: dict[str, Json]) -> None:
    row = rows["responses_prompt"]
    assert (row["prompt_id"], row["prompt_version"]) == ("pmpt_abc", "2")


def test_envelope_fields_request_id_model_latency(rows: dict[str, Json]) -> None:
    row = rows["envelope_fields"]
    assert row["request_id"] == "trace-1"
    assert row["request_key"] == "google:trace-1"
    assert row["model_requested"] == "gemini-2.5-flash"
    assert row["latency_ms"] == 2170.0
    assert row["api"] == "custom"  # an explicit api wins over the inferred one
