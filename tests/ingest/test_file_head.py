"""Detection's view of a file: ``FileHead`` parses its records only as far as needed."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from tokaudit.ingest import interface
from tokaudit.ingest.interface import HEAD_RECORDS, FileHead

# one line of each kind a head can hold
LINES = {
    "hit": '{"kind": "right"}',
    "miss": '{"kind": "wrong"}',
    "array": "[1, 2]",  # parses, but is not an object
    "broken": '{"kind": "rig',  # does not parse
}


def looks_right(record: dict[str, Any]) -> bool:
    return record.get("kind") == "right"


def naive_mostly(lines: list[str]) -> bool:
    """The rule spelled out: parse the first HEAD_RECORDS records, then count."""
    records: list[Any] = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
        if len(records) == HEAD_RECORDS:
            break
    objects = [r for r in records if isinstance(r, dict)]
    hits = sum(looks_right(o) for o in objects)
    return hits > 0 and 2 * hits >= len(objects)


@pytest.mark.parametrize("length", range(0, 8))
def test_mostly_agrees_with_the_rule_on_every_head(length: int) -> None:
    for kinds in itertools.product(LINES, repeat=length):
        lines = [LINES[k] for k in kinds]
        expected = naive_mostly(lines)
        assert FileHead(Path("x.jsonl"), lines).mostly(looks_right) is expected, kinds
        # the records of a head given ready-parsed lead to the same answer
        given = FileHead(Path("x.jsonl"), lines, FileHead(Path("x.jsonl"), lines).records)
        assert given.mostly(looks_right) is expected, kinds


def test_records_are_the_first_five_that_parse() -> None:
    lines = [LINES["broken"], *(json.dumps({"n": n}) for n in range(8))]
    assert FileHead(Path("x.jsonl"), lines).records == [{"n": n} for n in range(5)]


def test_three_hits_decide_without_parsing_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []

    class CountingJson:
        JSONDecodeError = json.JSONDecodeError

        @staticmethod
        def loads(text: str) -> Any:
            parsed.append(text)
            return json.loads(text)

    monkeypatch.setattr(interface, "json", CountingJson)
    lines = [LINES["hit"]] * 3 + [LINES["miss"]] * 10
    head = FileHead(Path("x.jsonl"), lines)
    assert head.mostly(looks_right)
    assert len(parsed) == 3
    # a later question parses on from where the first one stopped, never twice
    assert len(head.records) == HEAD_RECORDS
    assert len(parsed) == HEAD_RECORDS
