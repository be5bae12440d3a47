"""gemini-batch: Vertex AI batch prediction output and Gemini API Batch Mode results.

No real results file is in the fixtures, so the lines follow the public shapes: Vertex's
official output examples (cloud.google.com/vertex-ai/generative-ai/docs/multimodal/
batch-prediction-from-cloud-storage: a succeeded line with ``status: ""`` and a failed
"Bad Request" line without ``response``), and the Gemini API Batch Mode results file
(ai.google.dev/gemini-api/docs/batch-api: ``{key, response}`` or ``{key, error}``).
Token classes and dollars below are worked out by hand from the batch rates of
pricing/providers/google.yaml (gemini-2.5-flash batch: input $0.15, output $1.25 per
million; context caching keeps the standard $0.03).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from format_helpers import assert_counts_add_up, classes_of, costs, install_prices

from helpers import detected_format, sniffed_fixtures
from tokaudit.ingest import ingest_paths
from tokaudit.ingest.gemini_batch import GeminiBatchFormat
from tokaudit.ingest.interface import FileHead
from tokaudit.ingest.loader import REQUEST_COLUMNS
from tokaudit.store import open_store

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
REPO = Path(__file__).resolve().parents[3]
MTIME = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)
BAD_REQUEST = (
    'Bad Request: {"error": {"code": 400, "message": "Please use a valid role: user, model.", '
    '"status": "INVALID_ARGUMENT"}}'
)


def vertex_lines() -> list[Json]:
    """A succeeded line with cache and thoughts, the official failed line, and the official
    succeeded example (gemini-2.0-flash-001@default, which has no batch rate)."""
    return [
        {
            "status": "",
            "processed_time": "2025-09-02T10:00:00.500+00:00",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "Summarise the report."}]}],
                "systemInstruction": {"parts": [{"text": "You are terse."}]},
                "cachedContent": "projects/p/locations/us-central1/cachedContents/c1",
                "labels": {"team": "research"},
            },
            "response": {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": "Done."}]}, "finishReason": 1}
                ],
                "modelVersion": "gemini-2.5-flash@default",
                "createTime": "2025-09-02T09:59:58.250Z",
                "responseId": "vtx-resp-1",
                "usageMetadata": {
                    "promptTokenCount": 12000,
                    "cachedContentTokenCount": 10000,
                    "candidatesTokenCount": 300,
                    "thoughtsTokenCount": 700,
                    "totalTokenCount": 13000,
                },
            },
            "row_id": "r-17",  # a custom field of the input line, copied through
        },
        {
            "status": BAD_REQUEST,
            "processed_time": "2025-07-09T19:57:43.558+00:00",
            "request": {
                "contents": [
                    {
                        "parts": [{"text": "Explain how AI works in a few words"}],
                        "role": "assistant",
                    }
                ]
            },
        },
        {
            "status": "",
            "processed_time": "2024-11-01T18:13:16.826+00:00",
            "request": {"contents": [{"role": "user", "parts": [{"text": "Describe the video."}]}]},
            "response": {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "A zoo."}], "role": "model"},
                        "finishReason": "STOP",
                    }
                ],
                "modelVersion": "gemini-2.0-flash-001@default",
                "usageMetadata": {
                    "candidatesTokenCount": 36,
                    "promptTokenCount": 29180,
                    "totalTokenCount": 29216,
                },
            },
        },
    ]


def studio_results() -> list[Json]:
    return [
        {
            "key": "request-1",
            "response": {
                "candidates": [
                    {
                        "content": {"parts": [{"text": "A one-liner."}], "role": "model"},
                        "finishReason": "STOP",
                    }
                ],
                "modelVersion": "gemini-2.5-flash",
                "responseId": "studio-resp-1",
                "usageMetadata": {
                    "promptTokenCount": 8,
                    "candidatesTokenCount": 12,
                    "thoughtsTokenCount": 20,
                    "totalTokenCount": 40,
                },
            },
        },
        {
            "key": "request-2",
            "error": {"code": 3, "message": "Request contains an invalid argument."},
        },
        {
            "key": "request-3",
            "error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"},
        },
    ]


def studio_inputs() -> list[Json]:
    texts = ["Tell me a one-sentence joke.", "Why is the sky blue?", "Name a colour."]
    return [
        {"key": f"request-{n}", "request": {"contents": [{"parts": [{"text": t}], "role": "user"}]}}
        for n, t in enumerate(texts, 1)
    ]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def write_at(kit: EnvelopeKit, name: str, lines: list[Json]) -> Path:
    path = kit.write(name, lines)
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    return path


def test_vertex_output_is_detected_batch_priced_and_failures_kept(kit: EnvelopeKit) -> None:
    lines = vertex_lines()
    path = write_at(kit, "vertex/predictions.jsonl", lines)
    [fr] = kit.ingest(path).files
    assert fr.format == "gemini-batch"  # what --format auto chose
    assert_counts_add_up(fr, 3, 3, 0, 0)
    ok, failed, official = kit.rows(path)

    # promptTokenCount 12,000 includes the 10,000 cached; thoughts 700 are outside the 300
    assert classes_of(ok) == {
        "input_tokens": 2000,
        "cache_read_tokens": 10000,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 1000,
        "reasoning_tokens": 700,
    }
    assert (ok["status"], ok["is_batch"], ok["provider"], ok["api"]) == (
        "ok",
        True,
        "google",
        "generate_content",
    )
    assert ok["request_key"] == "google:vtx-resp-1"
    assert ok["model"] == "gemini-2.5-flash@default"  # as logged; priced without @default
    assert ok["ts"] == datetime(2025, 9, 2, 9, 59, 58, 250000, tzinfo=UTC)  # createTime
    assert ok["finish_reason"] == "STOP"  # enum-encoding=int: 1
    assert json.loads(ok["metadata"]) == {"row_id": "r-17", "labels": {"team": "research"}}
    [system] = kit.query("SELECT body FROM prompt_texts WHERE text_hash = ?", [ok["prompt_hash"]])
    assert system["body"] == "You are terse."  # the prompt came from the line's own request

    # the failed line: the error text of status, no usage, keyed by the line's hash
    raw = path.read_text("utf-8").splitlines()
    assert failed["request_key"] == "google:line-md5:" + hashlib.md5(raw[1].encode()).hexdigest()
    assert (failed["status"], failed["has_usage"], failed["is_batch"]) == ("error", False, True)
    assert (failed["http_status"], failed["error_type"]) == (400, "INVALID_ARGUMENT")
    assert failed["error_message"] == "Please use a valid role: user, model."
    assert failed["model"] == "unknown"  # the batch job named it, not the line
    assert failed["ts"] == datetime(2025, 7, 9, 19, 57, 43, 558000, tzinfo=UTC)  # processed_time
    assert failed["prompt_hash"] is not None  # its prompt is still counted

    assert official["ts"] == datetime(2024, 11, 1, 18, 13, 16, 826000, tzinfo=UTC)
    assert (official["input_tokens"], official["output_tokens"]) == (29180, 36)

    install_prices(kit.con)
    got = costs(kit.con)
    assert [c["price_context"] for c in got] == ["batch"] * 3
    assert [c["priced_model"] for c in got] == ["gemini-2.5-flash", None, "gemini-2.0-flash"]
    # 2,000 x 0.15 + 10,000 x 0.03 (caching keeps the standard rate) + 1,000 x 1.25, per 1M
    assert got[0]["cost_usd"] == Decimal("0.00185")
    assert got[1]["cost_usd"] == 0  # an error without usage costs nothing
    # Gemini 2.0 Flash publishes no batch rate: unpriced, never its standard price
    assert (got[2]["cost_usd"], got[2]["unpriced_reason"]) == (None, "unknown_context")


def test_gemini_api_results_take_their_prompts_from_the_input_file(kit: EnvelopeKit) -> None:
    write_at(kit, "b/input.jsonl", studio_inputs())
    path = write_at(kit, "b/results.jsonl", studio_results())
    result = kit.ingest(path, kit.tmp_path / "b" / "input.jsonl")  # results named first
    assert [f.format for f in result.files] == ["batch-input", "gemini-batch"]
    assert_counts_add_up(result.files[0], 3, 3, 0, 0)
    assert_counts_add_up(result.files[1], 3, 3, 0, 0)
    stored = kit.query("SELECT custom_id, provider, model FROM batch_inputs ORDER BY source_line")
    assert stored == [
        {"custom_id": f"request-{n}", "provider": "google", "model": None} for n in (1, 2, 3)
    ]

    ok, bad_arg, quota = kit.rows(path)
    raw = path.read_text("utf-8").splitlines()
    assert ok["request_key"] == "google:studio-resp-1"
    # a failed line: its key and the hash of the line (a key is unique in its batch only)
    assert [bad_arg["request_key"], quota["request_key"]] == [
        f"google:request-2@{md5(raw[1])}",
        f"google:request-3@{md5(raw[2])}",
    ]
    assert classes_of(ok) == {
        "input_tokens": 8,
        "cache_read_tokens": 0,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": 32,
        "reasoning_tokens": 20,
    }
    assert (ok["model_requested"], ok["model"]) == (None, "gemini-2.5-flash")
    # google.rpc.Code 3 is not an HTTP status; 429 is
    assert [(r["http_status"], r["error_type"], r["error_message"]) for r in (bad_arg, quota)] == [
        (None, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        (429, "RESOURCE_EXHAUSTED", "Quota exceeded."),
    ]
    assert {r["model"] for r in (bad_arg, quota)} == {"unknown"}
    assert {r["ts"] for r in (ok, bad_arg, quota)} == {MTIME}  # no time in the file
    for row, line in zip((ok, bad_arg, quota), studio_inputs(), strict=True):
        assert json.loads(row["metadata"]) == {
            "key": line["key"],
            "batch_input": str((kit.tmp_path / "b" / "input.jsonl").resolve()),
        }
        [text] = kit.query(
            "SELECT body FROM prompt_texts WHERE text_hash = ?", [row["prompt_hash"]]
        )
        assert text["body"] == line["request"]["contents"][0]["parts"][0]["text"]

    install_prices(kit.con)
    got = costs(kit.con)
    assert [c["price_context"] for c in got] == ["batch"] * 3
    # 8 x 0.15 + 32 x 1.25 per 1M
    assert [c["cost_usd"] for c in got] == [Decimal("0.0000412"), 0, 0]


def test_a_results_file_read_from_a_copy_is_matched_timed_and_keyed_as_itself(
    kit: EnvelopeKit,
) -> None:
    """A results file with a byte order mark (or bare CRs) is staged from a temporary
    copy: its input is still the one in its own directory (two batches with the same keys
    side by side), its time is its own modification time, its failures' keys are those of
    its lines (not of the copy's)."""
    for batch in ("b1", "b2"):
        write_at(kit, f"{batch}/input.jsonl", studio_inputs())
        path = write_at(kit, f"{batch}/results.jsonl", studio_results())
        data = path.read_bytes().replace(b"-resp-1", batch.encode())
        # each batch failed in its own words (identical failed lines would be one request)
        for words in (b"Request contains", b"Quota exceeded"):
            data = data.replace(words, batch.encode() + b": " + words)
        path.write_bytes(b"\xef\xbb\xbf" + data)
        os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    result = kit.ingest(kit.tmp_path / "b1", kit.tmp_path / "b2")
    assert [f.format for f in result.files] == ["batch-input"] * 2 + ["gemini-batch"] * 2
    for batch in ("b1", "b2"):
        path = kit.tmp_path / batch / "results.jsonl"
        rows = kit.rows(path)
        raw = path.read_text("utf-8-sig").splitlines()
        assert [r["request_key"] for r in rows] == [
            f"google:studio{batch}",
            f"google:request-2@{md5(raw[1])}",
            f"google:request-3@{md5(raw[2])}",
        ]
        assert {r["ts"] for r in rows} == {MTIME}
        given = str((kit.tmp_path / batch / "input.jsonl").resolve())
        assert [json.loads(r["metadata"])["batch_input"] for r in rows] == [given] * 3
        assert all(r["prompt_hash"] is not None for r in rows)


def test_input_loaded_later_fills_the_same_columns(kit: EnvelopeKit) -> None:
    write_at(kit, "b/input.jsonl", studio_inputs())
    path = write_at(kit, "b/results.jsonl", studio_results())
    kit.ingest(kit.tmp_path / "b")  # one call: the input loads first
    in_order = kit.rows(path)
    late = open_store(":memory:")
    try:
        [fout] = ingest_paths(late, [str(path)]).files
        assert_counts_add_up(fout, 3, 3, 0, 0)
        before = late.execute("SELECT prompt_hash FROM requests").fetchall()
        assert {r[0] for r in before} == {None}  # no input yet: no prompt
        [fin] = ingest_paths(late, [str(kit.tmp_path / "b" / "input.jsonl")]).files
        assert_counts_add_up(fin, 3, 3, 0, 0)
        cur = late.execute("SELECT * FROM requests ORDER BY source_line")
        names = [d[0] for d in cur.description or []]
        filled = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        late.close()
    assert [{c: r[c] for c in REQUEST_COLUMNS} for r in filled] == [
        {c: r[c] for c in REQUEST_COLUMNS} for r in in_order
    ]
    assert [r["model"] for r in filled] == ["gemini-2.5-flash", "unknown", "unknown"]


def test_rejects_dedup_and_reingest(kit: EnvelopeKit) -> None:
    vertex, studio = vertex_lines(), studio_results()
    no_request = copy.deepcopy(vertex[0])
    del no_request["request"]
    spec: list[tuple[Any, str | None]] = [
        (vertex[0], None),
        (vertex[0], None),  # the same response again: a duplicate
        (studio[0], None),
        (no_request, "request is missing or not an object"),
        ({**vertex[2], "status": 5}, "status is not a string"),
        ({k: v for k, v in vertex[2].items() if k != "response"}, "response is missing but status"),
        ({**vertex[0], "response": [1]}, "response is not an object"),
        ({"key": 5, "response": studio[0]["response"]}, "key is missing or not a string"),
        ({"key": "k", "error": "boom"}, "error is not an object"),
        ({"key": "k"}, "neither a response nor an error"),
        ("{not json", "invalid JSON"),
        (studio[1], None),
    ]
    path = kit.write("r.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt="gemini-batch").files
    assert_counts_add_up(fr, 12, 3, 1, 8)
    rejects = kit.rejects(path)
    assert set(rejects) == {4, 5, 6, 7, 8, 9, 10, 11}
    for n, reject in rejects.items():
        why = spec[n - 1][1]
        assert why is not None and why in reject["reason"], reject["reason"]

    # the file grows: the lines already stored are duplicates, keys unchanged
    keys = [r["request_key"] for r in kit.rows(path)]
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(studio[2]) + "\n")
    [again] = kit.ingest(path).files
    assert again.format == "gemini-batch"
    assert_counts_add_up(again, 13, 1, 4, 8)
    assert [r["request_key"] for r in kit.rows(path)][:3] == keys


def test_a_bigquery_export_with_json_text_columns(kit: EnvelopeKit) -> None:
    """A BigQuery table exported as JSONL may hold request/response as JSON text and
    processed_time as BigQuery's "YYYY-MM-DD hh:mm:ss UTC"."""
    [line, failed, _] = vertex_lines()
    exported = {
        "status": "",
        "processed_time": "2025-09-02 10:00:00.5 UTC",
        "request": json.dumps(line["request"]),
        "response": json.dumps(line["response"] | {"createTime": None}),
    }
    fr, rows = kit.ingest_lines([exported, failed], "bq.jsonl")
    assert fr.format == "gemini-batch"
    assert_counts_add_up(fr, 2, 2, 0, 0)
    assert (rows[0]["input_tokens"], rows[0]["cache_read_tokens"]) == (2000, 10000)
    assert rows[0]["ts"] == datetime(2025, 9, 2, 10, 0, 0, 500000, tzinfo=UTC)
    assert rows[0]["prompt_hash"] is not None


@pytest.mark.parametrize("shape", ["vertex", "studio", "input"])
def test_detection_claims_its_own_files_only(kit: EnvelopeKit, shape: str) -> None:
    lines = {"vertex": vertex_lines(), "studio": studio_results(), "input": studio_inputs()}[shape]
    path = kit.write(f"{shape}.jsonl", lines)
    assert detected_format(path) == ("batch-input" if shape == "input" else "gemini-batch")


def test_no_existing_fixture_is_taken_for_a_gemini_batch() -> None:
    """Every log file in the repository's fixtures and samples detects as before: none looks
    like a Gemini batch result to the new sniffer."""
    assert sniffed_fixtures(GeminiBatchFormat()) == []


def test_vertex_input_lines_are_batch_inputs_not_rejects(kit: EnvelopeKit) -> None:
    """A Vertex AI batch job's input file (``{"request": …}`` lines, no key) next to its
    output: its lines are the job's prompts, not malformed calls. It was read as
    gemini-pairs and every line rejected ("missing timestamp"); it is a batch input now,
    kept by line number, and the output still takes each prompt from its own line."""
    inputs = [{"request": line["request"]} for line in vertex_lines()]
    assert all("contents" in line["request"] for line in inputs)
    input_path = write_at(kit, "vertex/input.jsonl", inputs)
    output_path = write_at(kit, "vertex/predictions.jsonl", vertex_lines())
    result = kit.ingest(input_path.parent)
    by_name = {Path(f.path).name: f for f in result.files}
    assert by_name["input.jsonl"].format == "batch-input"
    assert_counts_add_up(by_name["input.jsonl"], 3, 3, 0, 0)
    assert kit.rejects(input_path) == {}
    stored = kit.query(
        "SELECT custom_id, provider FROM batch_inputs WHERE source_file = ? ORDER BY 1",
        [str(input_path.resolve())],
    )
    assert [(r["custom_id"], r["provider"]) for r in stored] == [
        ("#1", "google"),
        ("#2", "google"),
        ("#3", "google"),
    ]
    # the outputs load as they do alone
    assert by_name["predictions.jsonl"].format == "gemini-batch"
    assert len(kit.rows(output_path)) == 3
    # a Gemini API input line without its key is still a reject (a key is what joins it)
    no_key = [{"key": 7, "request": inputs[0]["request"]}]
    bad = kit.write("studio-input.jsonl", [*studio_inputs(), *no_key])
    [fr] = kit.ingest(bad).files
    assert fr.format == "batch-input"
    assert [r["reason"] for r in kit.rejects(bad).values()] == ["key is missing or not a string"]


def test_a_bigquery_exported_vertex_input_is_a_batch_input(kit: EnvelopeKit) -> None:
    """A BigQuery input table exported as JSON Lines holds each request as JSON text, as its
    output (read since BigQuery exports are) does: the input file was undetectable, so a
    folder holding a BigQuery job's input and output failed with exit 2."""
    requests = [line["request"] for line in vertex_lines()]
    input_path = write_at(kit, "bq/input.jsonl", [{"request": json.dumps(req)} for req in requests])
    exported = [
        {**line, "request": json.dumps(line["request"]), "response": json.dumps(line["response"])}
        for line in vertex_lines()
        if "response" in line
    ]
    write_at(kit, "bq/predictions.jsonl", exported)
    result = kit.ingest(input_path.parent)
    by_name = {Path(f.path).name: f for f in result.files}
    assert (by_name["input.jsonl"].format, by_name["input.jsonl"].error) == ("batch-input", None)
    assert_counts_add_up(by_name["input.jsonl"], 3, 3, 0, 0)
    assert by_name["predictions.jsonl"].format == "gemini-batch"
    stored = kit.query(
        "SELECT custom_id, provider, model, body FROM batch_inputs WHERE source_file = ? "
        "ORDER BY source_line",
        [str(input_path.resolve())],
    )
    assert [(r["custom_id"], r["provider"], r["model"]) for r in stored] == [
        ("#1", "google", None),
        ("#2", "google", None),
        ("#3", "google", None),
    ]
    assert [json.loads(r["body"]) for r in stored] == requests


def test_failed_gemini_api_lines_copied_to_another_path_load_nothing_new(
    kit: EnvelopeKit,
) -> None:
    """A failed Gemini API line was keyed by the file's path: the same results file copied
    elsewhere (downloaded twice, moved into an archive) loaded its failures again."""
    path = write_at(kit, "b/results.jsonl", studio_results())
    [first] = kit.ingest(path).files
    assert_counts_add_up(first, 3, 3, 0, 0)
    copy_path = kit.tmp_path / "archive" / "results.jsonl"
    copy_path.parent.mkdir()
    copy_path.write_bytes(path.read_bytes())
    [copied] = kit.ingest(copy_path).files
    assert copied.format == "gemini-batch"
    assert_counts_add_up(copied, 3, 0, 3, 0)
    assert kit.count("requests") == 3


def test_a_bigquery_export_that_leaves_out_a_null_status(kit: EnvelopeKit) -> None:
    """A BigQuery output table exported as JSON Lines leaves out a NULL column: a
    successful row is {processed_time, request, response}, without status (or with
    status: null). It was not detected, and forced it was rejected."""
    [line, failed, _] = vertex_lines()
    no_status = {k: v for k, v in line.items() if k not in ("status", "row_id")}
    null_status = {
        **no_status,
        "status": None,
        "response": {**line["response"], "responseId": "r2"},
    }
    path = kit.write("bq.jsonl", [no_status, null_status, failed])
    assert GeminiBatchFormat().sniff(FileHead(path, path.read_text("utf-8").splitlines()))
    [fr] = kit.ingest(path).files
    assert fr.format == "gemini-batch"
    assert_counts_add_up(fr, 3, 3, 0, 0)
    ok, ok_null, bad = kit.rows(path)
    for row in (ok, ok_null):
        assert row["status"] == "ok"
        # promptTokenCount 12,000 includes the 10,000 cached; thoughts 700 outside the 300
        assert (row["input_tokens"], row["cache_read_tokens"], row["output_tokens"]) == (
            2000,
            10000,
            1000,
        )
    assert [ok["request_key"], ok_null["request_key"]] == ["google:vtx-resp-1", "google:r2"]
    assert json.loads(ok["metadata"]) == {"labels": {"team": "research"}}
    assert bad["status"] == "error"


def test_a_genai_sdk_dump_result_is_keyed_by_its_response_id(kit: EnvelopeKit) -> None:
    """A Gemini API result whose response is a google-genai SDK dump (snake_case) was keyed
    ``key@file``: the same call saved as the API's JSON loaded twice. Its response_id is
    its key, as responseId is, and its create_time its time."""
    api = studio_results()[0]
    sdk = {
        "key": "request-1",
        "response": {
            "candidates": [
                {
                    "content": {"parts": [{"text": "A one-liner."}], "role": "model"},
                    "finish_reason": "STOP",
                }
            ],
            "model_version": "gemini-2.5-flash",
            "response_id": "studio-resp-1",
            "create_time": "2025-09-03T08:00:00Z",
            "usage_metadata": {
                "prompt_token_count": 8,
                "candidates_token_count": 12,
                "thoughts_token_count": 20,
                "total_token_count": 40,
            },
        },
    }
    sdk_path = write_at(kit, "sdk/results.jsonl", [sdk])
    [fr] = kit.ingest(sdk_path).files
    assert fr.format == "gemini-batch"
    assert_counts_add_up(fr, 1, 1, 0, 0)
    [row] = kit.rows(sdk_path)
    assert row["request_key"] == "google:studio-resp-1"
    assert row["ts"] == datetime(2025, 9, 3, 8, 0, tzinfo=UTC)
    assert (row["input_tokens"], row["output_tokens"], row["reasoning_tokens"]) == (8, 32, 20)
    # the same call saved as the API's JSON: one request
    [again] = kit.ingest(write_at(kit, "api/results.jsonl", [api])).files
    assert_counts_add_up(again, 1, 0, 1, 0)
    install_prices(kit.con)
    # 8 x 0.15 + 32 x 1.25 per 1M (gemini-2.5-flash batch)
    assert [c["cost_usd"] for c in costs(kit.con)] == [Decimal("0.0000412")]


def test_a_blank_processed_time_is_no_time(kit: EnvelopeKit) -> None:
    """A blank ``processed_time`` takes the earliest time of its file, as a missing one
    does; it was a reject ('timestamp is not ISO 8601')."""
    lines = vertex_lines()
    lines[2] = {**lines[2], "processed_time": " "}
    path = write_at(kit, "blank.jsonl", lines)
    [fr] = kit.ingest(path).files
    assert_counts_add_up(fr, 3, 3, 0, 0)
    official = kit.rows(path)[2]
    # the failed line's processed_time, the earliest in the file (the first line's createTime
    # is 2025-09-02)
    assert official["ts"] == datetime(2025, 7, 9, 19, 57, 43, 558000, tzinfo=UTC)
