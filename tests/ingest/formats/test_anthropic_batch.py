"""anthropic-batch: Message Batches results, batch-priced, failures kept as error rows.

No real results file is public (log-formats.md §3.2), so the lines follow the documented
shape ``{custom_id, result: {type, message | error}}`` around the real Message of the
SDK snapshot, with ``usage.service_tier`` set to ``batch`` as batch results report it.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from format_helpers import (
    anthropic_classes,
    assert_counts_add_up,
    classes_of,
    costs,
    install_prices,
    yaml_prices,
)

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"
MTIME = datetime(2026, 10, 20, 6, 0, tzinfo=UTC)


def results(kit: EnvelopeKit) -> tuple[Json, list[Json]]:
    [snap] = kit.snapshot(SNAPSHOT)
    message = copy.deepcopy(snap.response)
    message["usage"]["service_tier"] = "batch"
    second = copy.deepcopy(message)
    second["id"] = "msg_second"
    second["usage"].update(cache_read_input_tokens=1000, output_tokens=40)
    return snap.request, [
        {"custom_id": "r-1", "result": {"type": "succeeded", "message": message}},
        {"custom_id": "r-2", "result": {"type": "succeeded", "message": second}},
        {
            "custom_id": "r-3",
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "invalid_request_error", "message": "max_tokens: too large"},
                },
            },
        },
        {"custom_id": "r-4", "result": {"type": "canceled"}},
        {"custom_id": "r-5", "result": {"type": "expired"}},
    ]


def test_results_are_detected_batch_priced_and_failures_kept(kit: EnvelopeKit) -> None:
    _, lines = results(kit)
    path = kit.write("results.jsonl", lines)
    os.utime(path, (MTIME.timestamp(), MTIME.timestamp()))
    [fr] = kit.ingest(path).files
    assert fr.format == "anthropic-batch"  # what --format auto chose
    assert_counts_add_up(fr, 5, 5, 0, 0)
    rows = kit.rows(path)
    for line, row in zip(lines[:2], rows[:2], strict=True):
        message = line["result"]["message"]
        assert classes_of(row) == anthropic_classes(message["usage"])
        assert row["request_key"] == "anthropic:" + message["id"]
        assert (row["status"], row["is_batch"], row["service_tier"]) == ("ok", True, None)
    assert [(r["status"], r["error_type"], r["has_usage"]) for r in rows[2:]] == [
        ("error", "errored", False),
        ("error", "canceled", False),
        ("error", "expired", False),
    ]
    assert rows[2]["error_message"] == "invalid_request_error: max_tokens: too large"
    assert {r["ts"] for r in rows} == {MTIME}  # no time in the lines: the file's mtime
    assert {json.loads(r["metadata"])["batch_input"] for r in rows} == {None}

    install_prices(kit.con)
    p = yaml_prices("anthropic", "claude-sonnet-4-5", "batch")
    got = costs(kit.con)
    assert [c["price_context"] for c in got] == ["batch"] * 5
    assert [c["cost_usd"] for c in got] == [
        249 * p["input"] + 26 * p["output"],
        249 * p["input"] + 1000 * p["cache_read"] + 40 * p["output"],
        0,
        0,
        0,
    ]


def test_request_params_come_from_the_input_file_and_line_times_win(kit: EnvelopeKit) -> None:
    request, lines = results(kit)
    lines[0]["created_at"] = "2026-09-01T12:00:00Z"  # copied from the batch object
    kit.write("b/requests.jsonl", [{"custom_id": x["custom_id"], "params": request} for x in lines])
    path = kit.write("b/results.jsonl", lines)
    result = kit.ingest(path, kit.tmp_path / "b" / "requests.jsonl")
    assert [f.format for f in result.files] == ["batch-input", "anthropic-batch"]
    rows = kit.rows(path)
    assert rows[0]["ts"].isoformat() == "2026-09-01T12:00:00+00:00"
    assert {r["model_requested"] for r in rows} == {"claude-sonnet-4-5"}
    assert rows[3]["model"] == "claude-sonnet-4-5"  # a canceled line, named by its input
    assert len({r["prompt_hash"] for r in rows}) == 1 and rows[0]["prompt_hash"] is not None
    assert {json.loads(r["metadata"])["custom_id"] for r in rows} == {
        "r-1",
        "r-2",
        "r-3",
        "r-4",
        "r-5",
    }


def test_rejects_and_dedup(kit: EnvelopeKit) -> None:
    _, lines = results(kit)
    spec: list[tuple[Any, str | None]] = [
        (lines[0], None),
        (lines[0], None),  # the same message again
        (
            {"custom_id": "x", "result": {"type": "timed_out"}},
            'result.type is "timed_out" (expected one of succeeded, errored, canceled, expired)',
        ),
        ({"custom_id": "x", "result": {"type": "succeeded"}}, "result.message is not an object"),
        ({"result": lines[1]["result"]}, "custom_id is missing or not a string"),
        ({"custom_id": "x", "result": "ok"}, "result is missing or not an object"),
        ("[]", "not a JSON object (got array)"),
        (lines[1], None),
    ]
    path = kit.write("r.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path, fmt="anthropic-batch").files
    assert_counts_add_up(fr, 8, 2, 1, 5)
    rejects = kit.rejects(path)
    assert set(rejects) == {3, 4, 5, 6, 7}
    for n in rejects:
        why = spec[n - 1][1]
        assert why is not None and why in rejects[n]["reason"], rejects[n]["reason"]


@pytest.mark.parametrize("layout", ["pretty", "a request a line"])
def test_request_params_from_a_saved_create_document(kit: EnvelopeKit, layout: str) -> None:
    """The create call's body saved as one document, ``{"requests": [...]}``, gives the
    results their prompts, as a file of one request per line does: pretty-printed, or
    ``{"requests": [`` then one compact request a line. In that layout the last request (no
    comma after it) parses on its own, so the file was read as JSON Lines, every other line
    a reject, and with the input no longer covering the results, no result got its prompt."""
    request, lines = results(kit)
    requests = [{"custom_id": x["custom_id"], "params": request} for x in lines]
    created = kit.tmp_path / "c" / "create.json"
    created.parent.mkdir()
    if layout == "pretty":
        created.write_text(json.dumps({"requests": requests}, indent=2), "utf-8")
    else:
        compact = ",\n".join(json.dumps(r) for r in requests)
        created.write_text('{"requests": [\n' + compact + "\n]}\n", "utf-8")
    path = kit.write("c/results.jsonl", lines)
    result = kit.ingest(path, created)
    assert [(f.format, f.records_read, f.loaded, f.rejected) for f in result.files] == [
        ("batch-input", 5, 5, 0),
        ("anthropic-batch", 5, 5, 0),
    ]
    rows = kit.rows(path)
    assert [json.loads(r["metadata"])["batch_input"] for r in rows] == [str(created.resolve())] * 5
    assert {r["model_requested"] for r in rows} == {"claude-sonnet-4-5"}
    assert len({r["prompt_hash"] for r in rows}) == 1 and rows[0]["prompt_hash"] is not None
    assert kit.con.execute("SELECT count(*) FROM batch_inputs").fetchone() == (5,)
