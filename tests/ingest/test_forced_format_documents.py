"""``--format NAME`` reads a pretty-printed document as its records, as detection does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import EnvelopeKit

OPENAPI = (
    Path(__file__).resolve().parents[1] / "fixtures" / "realworld" / "openai" / "openapi_examples"
)


@pytest.mark.parametrize("fmt", ["auto", "openai-pairs"])
def test_a_saved_response_loads_under_a_forced_format(kit: EnvelopeKit, fmt: str) -> None:
    chat = json.loads((OPENAPI / "chat_completion_response_default.json").read_text("utf-8"))
    saved = kit.tmp_path / "saved.json"
    saved.write_text(json.dumps(chat, indent=2))
    [fr] = kit.ingest(saved, fmt=fmt).files
    assert (fr.format, fr.error, fr.records_read, fr.loaded, fr.rejected) == (
        "openai-pairs",
        None,
        1,
        1,
        0,
    )
    [row] = kit.rows(saved)
    assert row["output_tokens"] == chat["usage"]["completion_tokens"]


def test_json_lines_under_a_forced_format_are_read_line_by_line(kit: EnvelopeKit) -> None:
    chat = json.loads((OPENAPI / "chat_completion_response_default.json").read_text("utf-8"))
    second = {**chat, "id": chat["id"] + "-2"}
    lines = kit.write("two.jsonl", [chat, second, "{broken"])
    [fr] = kit.ingest(lines, fmt="openai-pairs").files
    assert (fr.records_read, fr.loaded, fr.rejected) == (3, 2, 1)
    assert set(kit.rejects(lines)) == {3}
