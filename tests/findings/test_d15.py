"""D15 beyond its YAML cases: estimates are judged on the group's net only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import priced_store
from tokaudit.findings import RULES, with_overrides
from tokaudit.recount import count_request

D15 = next(r for r in RULES if r.rule_id == "D15")
HUNDRED = "hello" + " hello" * 99


def _claude(rid: str, text: str, input_tokens: int) -> dict[str, Any]:
    return {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "anthropic",
        "metadata": {"team": "est"},
        "request": {"model": "claude-sonnet-4-5", "messages": [{"role": "user", "content": text}]},
        "response": {
            "id": rid,
            "model": "claude-sonnet-4-5-20250929",
            "usage": {"input_tokens": input_tokens, "output_tokens": 5},
        },
    }


def test_usage_swapped_between_estimates_is_judged_on_the_net_only(tmp_path: Path) -> None:
    """Claude recounts are estimates: with ``exact_only: false`` they join the net check,
    never the per-request one, so two calls whose usage was swapped (net 0, whatever the
    estimates) find nothing, while the same pair far off in one direction is flagged."""
    short, long = (
        count_request(
            {"messages": [{"role": "user", "content": text}]}, "claude-sonnet-4-5", "anthropic"
        )
        for text in ("Say this is a test", HUNDRED)
    )
    assert not short.input_exact and not long.input_exact  # estimates
    assert short.input_tokens is not None and long.input_tokens is not None
    assert long.input_tokens > short.input_tokens * 2  # far apart: swapped, each is way off
    settings = with_overrides({"D15": {"exact_only": False}})["D15"]

    (tmp_path / "swapped").mkdir()
    (tmp_path / "inflated").mkdir()
    swapped = [
        _claude("e1", "Say this is a test", long.input_tokens),
        _claude("e2", HUNDRED, short.input_tokens),
    ]
    assert D15.evaluate(priced_store(tmp_path / "swapped", swapped), settings) == []

    # control: the same per-request differences, both over, are a net discrepancy
    over = long.input_tokens - short.input_tokens
    inflated = [
        _claude("e1", "Say this is a test", short.input_tokens + over),
        _claude("e2", HUNDRED, long.input_tokens + over),
    ]
    [found] = D15.evaluate(priced_store(tmp_path / "inflated", inflated), settings)
    total = short.input_tokens + long.input_tokens
    assert (found.team, found.requests) == ("est", 2)
    assert found.detail.startswith(
        f"input reported {total + 2 * over:,} vs recounted {total:,} tokens (+{2 * over:,}"
    )
    assert "in the group's total" in found.detail and "request by request" not in found.detail


INT64_MAX_COUNTS = (
    Path(__file__).resolve().parents[1] / "fixtures" / "envelope" / ("int64_max_counts.jsonl")
)


def test_counts_of_int64_max_are_judged_without_overflow(tmp_path: Path) -> None:
    """Ingest accepts a count of 2^63 - 1; the per-request tolerance test multiplied its
    difference by 100 in BIGINT and ``findings`` / ``audit`` crashed (OutOfRangeException).
    Every rule runs on such a store (an output of 2^63 - 1 too), and D15 reports the
    input in full. (The output recount of a reasoning model is not exact: not judged.)"""
    records = [json.loads(line) for line in INT64_MAX_COUNTS.read_text("utf-8").splitlines()]
    con = priced_store(tmp_path, records)
    settings = with_overrides({})
    for rule in RULES:
        rule.evaluate(con, settings[rule.rule_id])
    [found] = D15.evaluate(con, settings["D15"])
    assert found.requests == 2
    assert f"input reported {2**63 - 1 + 56:,}" in found.detail


def test_an_unpriced_discrepancy_has_no_dollars(tmp_path: Path) -> None:
    """A gpt-4o flex request is unpriced (no flex price): its difference read "+0 USD", as
    if priced at $0 (QA)."""
    record = {
        "timestamp": "2026-10-01T10:00:00Z",
        "provider": "openai",
        "metadata": {"team": "flex"},
        "request": {
            "model": "gpt-4o",
            "service_tier": "flex",
            "messages": [{"role": "user", "content": "Say this is a test"}],
        },
        "response": {
            "id": "f1",
            "model": "gpt-4o-2024-08-06",
            "usage": {"prompt_tokens": 100, "completion_tokens": 1},
        },
    }
    con = priced_store(tmp_path, [record])
    status = con.execute("SELECT pricing_status, unpriced_reason FROM request_costs").fetchone()
    assert status == ("unpriced", "unknown_context")
    [found] = D15.evaluate(con, with_overrides({})["D15"])
    recounted = count_request(record["request"], "gpt-4o").input_tokens
    assert recounted is not None
    assert (
        f"input reported 100 vs recounted {recounted:,} tokens (+{100 - recounted:,}"
        in found.detail
    )
    assert "USD unknown: unpriced" in found.detail and "+0 USD" not in found.detail
