"""Auto-detection of the gateway and observability formats, and what they leave alone."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from gateway_helpers import FIXTURES, OTLP_FIXTURE, REALWORLD, GatewayKit

SAMPLES = {
    REALWORLD / "litellm" / "spend_logs_payload.json": "litellm-spendlogs",
    REALWORLD / "litellm" / "standard_logging_payload.json": "litellm-spendlogs",
    REALWORLD / "langfuse" / "pydantic-ai-2025-06-06.trace.json": "langfuse",
    REALWORLD / "langfuse" / "openai-agents-2025-09-30.trace.json": "langfuse",
    REALWORLD / "langfuse" / "google-gemini-2025-08-01.trace.json": "langfuse",
    REALWORLD / "langfuse" / "litellm_langfuse_ingestion_completion_with_tags.json": "langfuse",
    OTLP_FIXTURE: "otel-genai",
}
COMPACT = [
    REALWORLD / "litellm" / "spend_logs_payload.json",
    REALWORLD / "langfuse" / "pydantic-ai-2025-06-06.trace.json",
    OTLP_FIXTURE,
]


def test_every_sample_is_detected_from_one_directory(gw: GatewayKit, tmp_path: Path) -> None:
    """Pretty-printed documents (detected from their first lines) and, for one sample of
    each format, a compact gzip-compressed JSON Lines copy, all in one directory walk."""
    folder = tmp_path / "logs"
    (folder / "a_pretty").mkdir(parents=True)
    (folder / "b_lines").mkdir()
    expected = {}
    for path, fmt in SAMPLES.items():
        (folder / "a_pretty" / path.name).write_bytes(path.read_bytes())
        expected[f"a_pretty/{path.name}"] = fmt
    for path in COMPACT:
        compact = json.dumps(json.loads(path.read_text("utf-8"))) + "\n"
        name = f"b_lines/{path.stem}.jsonl.gz"
        (folder / name).write_bytes(gzip.compress(compact.encode()))
        expected[name] = SAMPLES[path]
    result = gw.ingest(folder)
    assert {Path(f.path).relative_to(folder).as_posix(): f.format for f in result.files} == (
        expected
    )
    assert not result.errors
    for f in result.files:
        assert f.records_read == f.loaded + f.duplicates + f.rejected
        if f.path.endswith(".gz"):  # the same records again: all duplicates
            assert f.loaded == 0 and f.duplicates == f.records_read - f.rejected > 0


@pytest.mark.parametrize("fmt", ["litellm-spendlogs", "helicone", "langfuse", "otel-genai"])
def test_envelope_logs_are_not_claimed(gw: GatewayKit, fmt: str) -> None:
    mixed = FIXTURES / "envelope" / "mixed.jsonl"
    result = gw.ingest(mixed)
    assert result.files[0].format == "envelope"
    # forcing a gateway format on them rejects every record instead of misreading it
    forced = gw.ingest(gw.write("copy.jsonl", mixed.read_text("utf-8")), fmt=fmt)
    f = forced.files[0]
    assert f.format == fmt and f.loaded == 0 and f.rejected == f.records_read > 0
