"""batch-input: OpenAI and Anthropic batch input lines load into ``batch_inputs``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from format_helpers import REALWORLD, assert_counts_add_up
from typer.testing import CliRunner

from tokaudit.cli import app

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
INPUT = REALWORLD / "openai" / "litellm_batch_job_results_furniture.input.jsonl"
OUTPUT = REALWORLD / "openai" / "litellm_test_batch_utils_output.jsonl"
SPEC_INPUT = REALWORLD / "openai" / "openapi_examples" / "batch_request_input_line_example.jsonl"
SNAPSHOT = "anthropic/anthropic_sdk_snapshot_messages_parse_c11eefc7.json"


def real_inputs() -> list[Json]:
    text = INPUT.read_text("utf-8") + SPEC_INPUT.read_text("utf-8")
    lines = [json.loads(x) for x in text.splitlines() if x.strip()]
    lines[-1]["custom_id"] = "spec-request-1"  # the spec example reuses request-1
    return lines


def test_real_inputs_load_into_batch_inputs_not_requests(kit: EnvelopeKit) -> None:
    lines = real_inputs()
    fr, rows = kit.ingest_lines(lines, "input.jsonl")
    assert fr.format == "batch-input"  # what --format auto chose
    assert_counts_add_up(fr, 3, 3, 0, 0)
    assert rows == [] and kit.count("requests") == 0  # prompts alone are not calls
    stored = kit.query("SELECT * FROM batch_inputs ORDER BY source_line")
    assert [(r["custom_id"], r["provider"], r["method"], r["url"], r["model"]) for r in stored] == [
        (x["custom_id"], "openai", "POST", x["url"], x["body"]["model"]) for x in lines
    ]
    assert [json.loads(r["body"]) for r in stored] == [x["body"] for x in lines]
    assert {r["source_file"] for r in stored} == {str((kit.tmp_path / "input.jsonl").resolve())}


def test_anthropic_request_lines_and_rejects(kit: EnvelopeKit) -> None:
    [snap] = kit.snapshot(SNAPSHOT)
    openai = real_inputs()[0]
    spec: list[tuple[Any, str | None]] = [
        ({"custom_id": "a-1", "params": snap.request}, None),
        ({"custom_id": "a-2", "params": snap.request | {"max_tokens": 10}}, None),
        ({"custom_id": "a-1", "params": snap.request}, "custom_id a-1 repeats line 1"),
        ({"params": snap.request}, "custom_id is missing or not a string"),
        ({"custom_id": 7, "params": snap.request}, "custom_id is missing or not a string"),
        ({"custom_id": "a-3", "params": "hi"}, "params is not an object"),
        ({"custom_id": "a-4"}, "neither body (OpenAI) nor params (Anthropic)"),
        (
            {"custom_id": "o-1", "method": "POST", "body": openai["body"]},
            "url is missing or not a string",
        ),
        ({"custom_id": "a-5", "params": {"messages": []}}, "no model in the record"),
        ("{oops", "invalid JSON"),
    ]
    path = kit.write("requests.jsonl", [line for line, _ in spec])
    [fr] = kit.ingest(path).files
    assert fr.format == "batch-input"
    assert_counts_add_up(fr, 10, 2, 0, 8)
    rejects = kit.rejects(path)
    assert set(rejects) == {3, 4, 5, 6, 7, 8, 9, 10}
    for n in rejects:
        why = spec[n - 1][1]
        assert why is not None and why in rejects[n]["reason"], rejects[n]["reason"]
    stored = kit.query("SELECT custom_id, provider, url, model FROM batch_inputs ORDER BY 1")
    assert stored == [
        {"custom_id": "a-1", "provider": "anthropic", "url": None, "model": "claude-sonnet-4-5"},
        {"custom_id": "a-2", "provider": "anthropic", "url": None, "model": "claude-sonnet-4-5"},
    ]

    # the same file again is skipped; a grown copy adds only its new line
    [same] = kit.ingest(path).files
    assert same.skipped
    grown = [line for line, _ in spec[:2]] + [{"custom_id": "a-9", "params": snap.request}]
    kit.write("requests.jsonl", grown)
    [more] = kit.ingest(path).files
    assert_counts_add_up(more, 3, 1, 2, 0)


def test_cli_says_which_format_it_chose_and_loads_inputs_first(tmp_path: Path) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    shutil.copy(OUTPUT, folder / "a-output.jsonl")  # sorts before the input
    shutil.copy(INPUT, folder / "b-input.jsonl")
    db = tmp_path / "s.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(folder), "--db", str(db), "-o", "json"])
    assert result.exit_code == 0, result.stderr
    files = json.loads(result.stdout)["files"]
    assert [(Path(f["file"]).name, f["format"], f["loaded"]) for f in files] == [
        ("b-input.jsonl", "batch-input", 2),
        ("a-output.jsonl", "openai-batch", 2),
    ]
