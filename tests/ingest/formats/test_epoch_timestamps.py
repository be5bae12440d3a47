"""Epoch timestamps: the unit is read from the number's size, and no request predates 2000.

A JavaScript ``Date.now()`` (milliseconds) used to be read as seconds (year 58720) and a
``-1`` placeholder loaded as 1969-12-31, both priced. Expected times are worked out here
with integer arithmetic from the value and the unit each case is written in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import EnvelopeKit

CHAT = "openai/otelcontrib_chat_completion_with_content.yaml"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# microseconds per unit
PER = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": Decimal("0.001")}


def at(value: int | float | str, unit: str) -> datetime:
    """The time ``value`` stands for in ``unit`` (nanoseconds truncated to microseconds)."""
    micros = int(Decimal(str(value)) * PER[unit])
    return EPOCH + timedelta(microseconds=micros)


# (timestamp as logged, the unit it was written in)
LOADED: list[tuple[Any, str]] = [
    (1790867154, "s"),
    (1790867154.25, "s"),
    (1790867154123, "ms"),  # JavaScript Date.now()
    (1790867154123456, "us"),
    (1790867154123456789, "ns"),
    (946684800, "s"),  # 2000-01-01T00:00:00Z: the first accepted time
    (946684800000, "ms"),
    (99999999999, "s"),  # the last number read as seconds (year 5138)
]


def test_envelope_epochs_are_read_in_the_unit_their_size_says(kit: EnvelopeKit) -> None:
    [chat] = kit.cassette(CHAT)
    lines = [
        kit.from_exchange(chat, "openai", timestamp=ts, request_id=f"ts-{i}")
        for i, (ts, _) in enumerate(LOADED)
    ]
    fr, rows = kit.ingest_lines(lines)
    assert (fr.loaded, fr.rejected) == (len(LOADED), 0)
    assert [r["ts"] for r in rows] == [at(ts, unit) for ts, unit in LOADED]
    assert rows[2]["ts"] == datetime(2026, 10, 1, 15, 5, 54, 123000, tzinfo=UTC)
    assert rows[4]["ts"] == datetime(2026, 10, 1, 15, 5, 54, 123456, tzinfo=UTC)
    assert rows[7]["ts"].year == 5138


def test_an_iso_time_is_judged_in_utc(kit: EnvelopeKit) -> None:
    """1999-12-31T23:00 at UTC-2 is 2000-01-01T01:00Z: a 2000 time, so it loads."""
    [chat] = kit.cassette(CHAT)
    line = kit.from_exchange(chat, "openai", timestamp="1999-12-31T23:00:00-02:00")
    fr, rows = kit.ingest_lines([line])
    assert (fr.loaded, fr.rejected) == (1, 0)
    assert rows[0]["ts"] == datetime(2000, 1, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("timestamp", "reason"),
    [
        (-1, "timestamp -1 is before 2000: not a request time (read as 1969-12-31 23:59:59 UTC)"),
        (0, "timestamp 0 is before 2000: not a request time (read as 1970-01-01 00:00:00 UTC)"),
        (
            946684799,
            "timestamp 946684799 is before 2000: not a request time "
            "(read as 1999-12-31 23:59:59 UTC)",
        ),
        (
            946684799999,
            "timestamp 946684799999 is before 2000: not a request time "
            "(read as 1999-12-31 23:59:59.999 UTC)",
        ),
        (
            "1999-06-01T00:00:00Z",
            'timestamp "1999-06-01T00:00:00Z" is before 2000: not a request time '
            "(read as 1999-06-01 00:00:00 UTC)",
        ),
        (
            1e20,
            "timestamp is not ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds): "
            "100000000000000000000.0",
        ),
        # epoch seconds in quotes: the old reason said it was not epoch seconds
        (
            "1790000000",
            'timestamp "1790000000" is an epoch time written as a string: epoch times are '
            "read from JSON numbers only",
        ),
        (
            " 1790000000.5",
            'timestamp " 1790000000.5" is an epoch time written as a string: epoch times are '
            "read from JSON numbers only",
        ),
        (
            "17900x",
            "timestamp is not ISO 8601 or epoch seconds (or milli-, micro- or nanoseconds): "
            '"17900x"',
        ),
        # DuckDB parses these as times: infinity loaded (priced at the newest prices) and
        # -infinity's reason, "read as" NULL, was NULL itself, so it loaded too (QA)
        ("infinity", 'timestamp "infinity" is not a request time (an infinite time)'),
        ("-infinity", 'timestamp "-infinity" is not a request time (an infinite time)'),
    ],
)
def test_envelope_times_before_2000_are_rejects(
    kit: EnvelopeKit, timestamp: Any, reason: str
) -> None:
    [chat] = kit.cassette(CHAT)
    good = kit.from_exchange(chat, "openai", request_id="good")
    bad = kit.from_exchange(chat, "openai", timestamp=timestamp, request_id="bad")
    path = kit.write("log.jsonl", [good, bad])
    [fr] = kit.ingest(path).files
    assert (fr.loaded, fr.rejected) == (1, 1)
    assert kit.rejects(path)[2]["reason"] == reason
    assert [r["request_id"] for r in kit.rows(path)] == ["good"]


def test_pairs_body_times_follow_the_same_rule(kit: EnvelopeKit) -> None:
    """A bare response whose ``created`` is in milliseconds, or a placeholder 0."""
    [chat] = kit.cassette(CHAT)
    created = chat.response["created"]
    assert created == 1731368630
    in_ms = {**chat.response, "id": "in-ms", "created": created * 1000 + 5}
    zero = {**chat.response, "id": "zero", "created": 0}
    path = kit.write("bodies.jsonl", [chat.response, in_ms, zero])
    [fr] = kit.ingest(path).files
    assert (fr.format, fr.loaded, fr.rejected) == ("openai-pairs", 2, 1)
    rows = kit.rows(path)
    assert [r["ts"] for r in rows] == [at(created, "s"), at(created * 1000 + 5, "ms")]
    assert kit.rejects(path)[3]["reason"].startswith("timestamp 0 is before 2000")
