"""vertex-claude-batch: Vertex AI batch prediction output of Anthropic Claude models.

No real output file is in the fixtures, so the lines follow the public shape of Google's
"Batch predictions with Anthropic Claude models"
(cloud.google.com/vertex-ai/generative-ai/docs/partner-models/claude-batch): the input line
``{"custom_id", "request": {"messages", "anthropic_version": "vertex-2023-10-16",
"max_tokens"}}`` (other columns passed through) plus the two reserved output columns,
``response`` (a Messages API response) and ``status`` (empty, or the error of a failed line).
Token classes and dollars below are worked out by hand from the batch rates of
pricing/providers/anthropic.yaml (claude-3-5-haiku batch: input $0.40, cache read $0.04,
5-minute cache write $0.50, output $2 per million; claude-haiku-4-5 batch: $0.50, $0.05,
$0.625, 1-hour cache write $1, output $2.50).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
from format_helpers import assert_counts_add_up, classes_of, costs, install_prices

from helpers import detected_format, sniffed_fixtures
from tokaudit.ingest.gemini_batch import GeminiBatchFormat
from tokaudit.ingest.interface import FileHead
from tokaudit.ingest.loader import _head_lines
from tokaudit.ingest.vertex_claude_batch import VertexClaudeBatchFormat

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
MTIME = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
VERSION = "vertex-2023-10-16"
BAD_REQUEST = (
    'Bad Request: {"type": "error", "error": {"type": "invalid_request_error", '
    '"message": "messages: first message must use the \\"user\\" role"}}'
)


def request(text: str, system: str | None = None) -> Json:
    req: Json = {
        "messages": [{"role": "user", "content": text}],
        "anthropic_version": VERSION,
        "max_tokens": 500,
    }
    if system is not None:
        req["system"] = system
    return req


def message(ident: str, model: str, usage: Json, text: str = "Done.") -> Json:
    return {
        "id": ident,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": usage,
    }


def output_lines() -> list[Json]:
    """Two succeeded lines (cache reads and 5m writes; a 5m/1h split), a failed line with an
    Anthropic error in its status, and a failed line with plain status text."""
    return [
        {
            "custom_id": "request-1",
            "request": request("Summarise the report.", system="You are a careful summariser."),
            "status": "",
            "processed_time": "2025-03-04T10:00:00.500+00:00",
            "response": message(
                "msg_vrtx_01",
                "claude-3-5-haiku@20241022",
                {
                    "input_tokens": 1200,
                    "cache_creation_input_tokens": 3000,
                    "cache_read_input_tokens": 20000,
                    "output_tokens": 450,
                },
            ),
            "row_id": "r-17",  # another input column, passed through
        },
        {
            "custom_id": "request-2",
            "request": request("Name three rivers."),
            "status": "",
            "response": message(
                "msg_vrtx_02",
                "claude-haiku-4-5-20251001",
                {
                    "input_tokens": 50,
                    "cache_creation_input_tokens": 4000,
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": 1000,
                        "ephemeral_1h_input_tokens": 3000,
                    },
                    "cache_read_input_tokens": 0,
                    "output_tokens": 200,
                },
            ),
        },
        {
            "custom_id": "request-3",
            "request": {**request("Hi"), "messages": [{"role": "assistant", "content": "Hi"}]},
            "status": BAD_REQUEST,
            "processed_time": "2025-03-04T09:30:00+00:00",
        },
        {
            "custom_id": "request-4",
            "request": request("Tell me a story."),
            "status": "Internal error occurred.",
        },
    ]


def write_at(kit: EnvelopeKit, name: str, lines: list[Json]) -> Path:
    path = kit.write(name, lines)
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def test_claude_output_is_detected_batch_priced_and_failures_kept(kit: EnvelopeKit) -> None:
    path = write_at(kit, "vertex/predictions.jsonl", output_lines())
    [fr] = kit.ingest(path).files
    assert fr.format == "vertex-claude-batch"  # what --format auto chose
    assert_counts_add_up(fr, 4, 4, 0, 0)
    first, second, bad, internal = kit.rows(path)

    # Anthropic's input_tokens exclude the cache; cache writes without a split are 5m
    assert classes_of(first) == {
        "input_tokens": 1200,
        "cache_read_tokens": 20000,
        "cache_write_5m_tokens": 3000,
        "cache_write_1h_tokens": 0,
        "output_tokens": 450,
        "reasoning_tokens": None,
    }
    assert classes_of(second) == {
        "input_tokens": 50,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 1000,
        "cache_write_1h_tokens": 3000,
        "output_tokens": 200,
        "reasoning_tokens": None,
    }
    for row in (first, second):
        assert (row["status"], row["is_batch"], row["provider"], row["api"]) == (
            "ok",
            True,
            "anthropic",
            "messages",
        )
    assert [first["request_key"], second["request_key"]] == [
        "anthropic:msg_vrtx_01",
        "anthropic:msg_vrtx_02",
    ]
    assert first["model"] == "claude-3-5-haiku@20241022"  # as logged
    assert first["ts"] == datetime(2025, 3, 4, 10, 0, 0, 500000, tzinfo=UTC)  # processed_time
    # no time on the line: the earliest of its file (the failed line's processed_time)
    assert second["ts"] == datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
    assert json.loads(first["metadata"]) == {"custom_id": "request-1", "row_id": "r-17"}
    [system] = kit.query(
        "SELECT body FROM prompt_texts WHERE text_hash = ?", [first["prompt_hash"]]
    )
    assert system["body"] == "You are a careful summariser."  # from the line's own request

    # failed lines: no usage, the error kept, keyed by custom_id and the line's hash
    raw = path.read_text("utf-8").splitlines()
    assert bad["request_key"] == f"anthropic:request-3@{hashlib.md5(raw[2].encode()).hexdigest()}"
    assert internal["request_key"] == (
        f"anthropic:request-4@{hashlib.md5(raw[3].encode()).hexdigest()}"
    )
    assert (bad["status"], bad["has_usage"], bad["is_batch"]) == ("error", False, True)
    assert bad["error_type"] == "invalid_request_error"
    assert bad["error_message"] == 'messages: first message must use the "user" role'
    assert (internal["error_type"], internal["error_message"]) == (
        None,
        "Internal error occurred.",
    )
    assert {bad["model"], internal["model"]} == {"unknown"}  # the batch job named it
    assert bad["prompt_hash"] is not None  # its prompt is still counted

    install_prices(kit.con)
    got = costs(kit.con)
    assert [c["price_context"] for c in got[:2]] == ["batch", "batch"]
    assert [(c["priced_model"], c["price_route"]) for c in got[:2]] == [
        ("claude-3-5-haiku", "vertex"),  # @20241022: the Vertex name of the dated model
        ("claude-haiku-4-5", None),
    ]
    # 1,200 x 0.40 + 20,000 x 0.04 + 3,000 x 0.50 + 450 x 2, per 1M
    assert got[0]["cost_usd"] == Decimal("0.00368")
    # 50 x 0.50 + 1,000 x 0.625 + 3,000 x 1 + 200 x 2.50, per 1M
    assert got[1]["cost_usd"] == Decimal("0.00415")
    assert [c["cost_usd"] for c in got[2:]] == [0, 0]  # an error without usage costs nothing


def test_reingest_and_a_copy_elsewhere_load_nothing_new(kit: EnvelopeKit) -> None:
    path = write_at(kit, "a/predictions.jsonl", output_lines())
    [first] = kit.ingest(path).files
    assert_counts_add_up(first, 4, 4, 0, 0)
    # the file grows: the lines already stored are duplicates, the new one loads
    grown = {**output_lines()[3], "custom_id": "request-5"}
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(grown) + "\n")
    [again] = kit.ingest(path).files
    assert_counts_add_up(again, 5, 1, 4, 0)
    copy_path = kit.tmp_path / "b" / "predictions.jsonl"
    copy_path.parent.mkdir()
    shutil.copy(path, copy_path)
    [copied] = kit.ingest(copy_path).files
    assert copied.format == "vertex-claude-batch"
    assert_counts_add_up(copied, 5, 0, 5, 0)  # failed lines too: no path in their keys
    assert kit.count("requests") == 5


def test_a_bigquery_export_with_json_text_and_no_null_status(kit: EnvelopeKit) -> None:
    """A BigQuery output table exported as JSON Lines: request/response as JSON text, the
    NULL status of a successful row left out, BigQuery's time format."""
    line = output_lines()[0]
    exported = {
        "custom_id": line["custom_id"],
        "request": json.dumps(line["request"]),
        "response": json.dumps(line["response"]),
        "processed_time": "2025-03-04 10:00:00.5 UTC",
    }
    fr, rows = kit.ingest_lines([exported, output_lines()[2]], "bq.jsonl")
    assert fr.format == "vertex-claude-batch"
    assert_counts_add_up(fr, 2, 2, 0, 0)
    ok, failed = rows
    assert (ok["status"], ok["input_tokens"], ok["cache_read_tokens"]) == ("ok", 1200, 20000)
    assert ok["ts"] == datetime(2025, 3, 4, 10, 0, 0, 500000, tzinfo=UTC)
    assert ok["prompt_hash"] is not None
    assert failed["status"] == "error"


def test_rejects_name_the_problem(kit: EnvelopeKit) -> None:
    ok = output_lines()[0]
    gemini_response = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
    }
    spec: list[tuple[Any, str | None]] = [
        (ok, None),
        ({**ok, "status": 5}, "status is not a string"),
        ({k: v for k, v in ok.items() if k != "request"}, "request is missing or not an object"),
        ({**ok, "response": [1]}, "response is not an object"),
        ({k: v for k, v in ok.items() if k != "response"}, "response is missing but status"),
        ({**ok, "response": gemini_response}, "response is not an Anthropic Message"),
        ("{not json", "invalid JSON"),
        (output_lines()[2], None),
    ]
    path = kit.write("r.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt="vertex-claude-batch").files
    assert_counts_add_up(fr, 8, 2, 0, 6)
    rejects = kit.rejects(path)
    assert set(rejects) == {2, 3, 4, 5, 6, 7}
    for n, reject in rejects.items():
        why = spec[n - 1][1]
        assert why is not None and why in reject["reason"], reject["reason"]


def test_gemini_batch_forced_on_claude_output_says_which_format(kit: EnvelopeKit) -> None:
    """gemini-batch used to take a Claude output with processed_time and reject every line
    ("no model in the record, request or response"); forced, it now names the format."""
    path = kit.write(
        "claude.jsonl", [{**ln, "processed_time": "2025-03-04T10:00:00Z"} for ln in output_lines()]
    )
    [fr] = kit.ingest(path, fmt="gemini-batch").files
    assert_counts_add_up(fr, 4, 0, 0, 4)
    assert {r["reason"] for r in kit.rejects(path).values()} == {
        "a Claude request (anthropic_version or messages): use --format vertex-claude-batch"
    }


@pytest.mark.parametrize("with_processed_time", [False, True])
def test_detection_takes_claude_output_from_gemini_batch(
    kit: EnvelopeKit, with_processed_time: bool
) -> None:
    extra = {"processed_time": "2025-03-04T10:00:00Z"} if with_processed_time else {}
    path = kit.write("out.jsonl", [{**ln, **extra} for ln in output_lines()])
    assert detected_format(path) == "vertex-claude-batch"


def test_detection_leaves_other_formats_files(kit: EnvelopeKit) -> None:
    lines = output_lines()
    # the batch's input lines: no response, no status
    inputs = kit.write(
        "in.jsonl", [{"custom_id": ln["custom_id"], "request": ln["request"]} for ln in lines]
    )
    # Anthropic request/response pairs: the pair format's keys only
    pairs = kit.write(
        "pairs.jsonl",
        [
            {
                "timestamp": "2025-03-04T10:00:00Z",
                "request": ln["request"],
                "response": ln["response"],
            }
            for ln in lines[:2]
        ],
    )
    fmt = VertexClaudeBatchFormat()
    for path in (inputs, pairs):
        con = duckdb.connect()
        try:
            assert not fmt.sniff(FileHead(path, _head_lines(con, path))), path
        finally:
            con.close()
    assert detected_format(pairs) == "anthropic-pairs"


def test_no_existing_fixture_is_taken_for_a_vertex_claude_batch() -> None:
    assert sniffed_fixtures(VertexClaudeBatchFormat()) == []


def test_a_gemini_vertex_output_is_not_claude(kit: EnvelopeKit) -> None:
    gemini = {
        "status": "",
        "processed_time": "2025-03-04T10:00:00Z",
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        "response": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}}],
            "modelVersion": "gemini-2.5-flash",
            "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1},
        },
    }
    path = kit.write("gemini.jsonl", [gemini, copy.deepcopy(gemini)])
    assert detected_format(path) == "gemini-batch"


def test_the_batch_input_file_loads_beside_its_output(kit: EnvelopeKit) -> None:
    """The job's input file ({custom_id, request}, no model: the job names it) is a batch
    input, so a folder holding input and output ingests with no undetectable file."""
    lines = output_lines()
    inputs = kit.write(
        "job/input.jsonl",
        [{"custom_id": ln["custom_id"], "request": ln["request"]} for ln in lines],
    )
    write_at(kit, "job/predictions.jsonl", lines)
    assert detected_format(inputs) == "batch-input"
    result = kit.ingest(inputs.parent)
    by_format = {fr.format: fr for fr in result.files}
    assert sorted(by_format) == ["batch-input", "vertex-claude-batch"]
    assert_counts_add_up(by_format["batch-input"], 4, 4, 0, 0)
    assert_counts_add_up(by_format["vertex-claude-batch"], 4, 4, 0, 0)
    stored = kit.query(
        "SELECT custom_id, provider, model, body FROM batch_inputs ORDER BY source_line"
    )
    assert [(r["custom_id"], r["provider"], r["model"]) for r in stored] == [
        (f"request-{i}", "anthropic", None) for i in range(1, 5)
    ]
    assert json.loads(stored[0]["body"]) == lines[0]["request"]
    assert kit.count("requests") == 4  # inputs are prompts, not calls


def test_a_bigquery_exported_batch_input_loads_its_requests(kit: EnvelopeKit) -> None:
    """A BigQuery input table exported as JSON Lines holds each request as JSON text, as
    its output does: detected as batch input, it must load, not reject every line
    ('neither body (OpenAI) nor params (Anthropic)')."""
    lines = output_lines()
    exported = [
        {"custom_id": ln["custom_id"], "request": json.dumps(ln["request"])} for ln in lines
    ]
    inputs = kit.write("bqjob/input.jsonl", exported)
    assert detected_format(inputs) == "batch-input"
    (fr,) = kit.ingest(inputs).files
    assert_counts_add_up(fr, 4, 4, 0, 0)
    stored = kit.query("SELECT custom_id, provider, model, body FROM batch_inputs ORDER BY 1")
    assert [(r["custom_id"], r["provider"], r["model"]) for r in stored] == [
        (f"request-{i}", "anthropic", None) for i in range(1, 5)
    ]
    assert [json.loads(r["body"]) for r in stored] == [ln["request"] for ln in lines]


def test_an_anthropic_error_body_as_the_response_is_a_failed_line(kit: EnvelopeKit) -> None:
    """A response holding Anthropic's error body is a failed call (the envelope reads one
    so), not a reject naming the Gemini format."""
    line = {
        "custom_id": "request-9",
        "request": request("Hi"),
        "status": "",
        "response": {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
        },
    }
    path = write_at(kit, "err.jsonl", [line, output_lines()[0]])
    assert detected_format(path) == "vertex-claude-batch"
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 2, 2, 0, 0)
    [row] = kit.query(
        "SELECT status, error_type, error_message, has_usage FROM requests WHERE source_line = 1"
    )
    assert row == {
        "status": "error",
        "error_type": "overloaded_error",
        "error_message": "Overloaded",
        "has_usage": False,
    }


def test_a_blank_processed_time_is_no_time(kit: EnvelopeKit) -> None:
    """A blank ``processed_time`` takes the earliest time of its file, as a missing one
    does; it was a reject ('timestamp is not ISO 8601')."""
    lines = output_lines()[:2]
    lines[1] = {**lines[1], "processed_time": ""}
    path = write_at(kit, "blank.jsonl", lines)
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 2, 2, 0, 0)
    times = [r["ts"] for r in kit.query("SELECT ts FROM requests ORDER BY source_line")]
    # both at the file's only time, request-1's 2025-03-04T10:00:00.500Z
    assert times == [datetime(2025, 3, 4, 10, 0, 0, 500000, tzinfo=UTC)] * 2


def test_an_open_model_request_on_vertex_is_not_claude(kit: EnvelopeKit) -> None:
    """A Vertex batch line for an open model (Llama) carries an OpenAI-style ``messages``
    request without ``anthropic_version``, which Vertex requires of a Claude request: it
    is not read as a Claude line, nor as a Gemini one (a GenerateContentRequest has
    ``contents``): no format claims it (before, gemini-batch did once Claude lines required
    ``anthropic_version``, and rejected every line 'no model')."""
    llama = {
        "status": "",
        "processed_time": "2025-03-04T10:00:00Z",
        "request": {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 20},
        "response": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "meta/llama-3.3-70b-instruct-maas",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
        },
    }
    path = kit.write("llama.jsonl", [llama, copy.deepcopy(llama)])
    con = duckdb.connect()
    try:
        head = FileHead(path, _head_lines(con, path))
        assert not VertexClaudeBatchFormat().sniff(head)
        assert not GeminiBatchFormat().sniff(head)
    finally:
        con.close()
