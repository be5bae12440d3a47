"""Gemini grounding with Google Search: counted, shown, never priced.

Google bills grounding apart from tokens ($35 per 1,000 grounded prompts on Gemini 2.x,
$14 per 1,000 search queries on 3.x) after a free allowance that no log shows, so the
queries are counted from the response (``candidates[0].groundingMetadata.webSearchQueries``,
the shape of the Gemini API's "Grounding with Google Search" guide) and every report says
that fee is in none of its costs.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from helpers import write_jsonl
from tokaudit.cli import app

runner = CliRunner()


def _call(request_id: str, queries: list[str] | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {
        "content": {"role": "model", "parts": [{"text": "Spain won."}]},
        "finishReason": "STOP",
    }
    if queries is not None:
        candidate["groundingMetadata"] = {
            "webSearchQueries": queries,
            "groundingChunks": [{"web": {"uri": "https://example.com", "title": "example"}}],
        }
    return {
        "timestamp": "2026-10-20T10:00:00Z",
        "provider": "google",
        "request_id": request_id,
        "model": "gemini-2.5-flash",
        "metadata": {"team": "search"},
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "Who won Euro 2024?"}]}],
            "tools": [{"google_search": {}}],
        },
        "response": {
            "responseId": request_id,
            "modelVersion": "gemini-2.5-flash",
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5},
        },
    }


def _csv(db: Path, query: str) -> list[str]:
    """The lines of `tokaudit sql -f csv` on the store."""
    result = runner.invoke(app, ["sql", "--db", str(db), "-f", "csv", query])
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_grounding_is_counted_and_named_but_not_priced(tmp_path: Path) -> None:
    log = write_jsonl(
        tmp_path / "gemini.jsonl",
        [_call("g1", ["euro 2024 winner", "uefa euro 2024 final"]), _call("g2", None)],
    )
    db = tmp_path / "s.duckdb"
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db)]).exit_code == 0
    out = runner.invoke(app, ["report", "--db", str(db), "-f", "json"])
    assert out.exit_code == 0, out.stderr
    data = json.loads(out.stdout)
    assert (data["grounded_requests"], data["grounding_queries"]) == (1, 2)
    # tokens only: gemini-2.5-flash $0.30 input, $2.50 output per 1M (pricing/google.yaml)
    tokens = 2 * (10 * Decimal("0.30") + 5 * Decimal("2.50")) / 10**6
    assert Decimal(data["totals"]["cost_usd"]) == tokens
    table = runner.invoke(app, ["report", "--db", str(db)]).stdout
    assert "1 Gemini request(s) grounded with Google Search" in " ".join(table.split())
    markdown = runner.invoke(app, ["report", "--db", str(db), "-f", "markdown"]).stdout
    assert "**Not priced**: 1 Gemini request(s) grounded" in markdown
    csv = runner.invoke(app, ["report", "--db", str(db), "-f", "csv"])
    assert "note: 1 Gemini request(s) grounded with Google Search (2 search queries)" in csv.stderr
    assert _csv(db, "SELECT request_id, grounding_queries FROM requests ORDER BY 1") == [
        "request_id,grounding_queries",
        "g1,2",
        "g2,0",
    ]


def test_a_report_without_grounding_says_nothing_of_it(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "gemini.jsonl", [_call("g2", None)])
    result = runner.invoke(app, ["audit", str(log)])
    assert result.exit_code == 0, result.stderr
    assert "Google Search" not in result.stdout + result.stderr


def test_a_streamed_grounded_call_keeps_its_queries(tmp_path: Path) -> None:
    """A grounded call logged as a stream: the search queries come in a chunk of their own
    (the last, with the finish reason), and folding the stream must not drop them."""
    whole = _call("s1", ["euro 2024 winner", "euro 2024 final"])
    response = whole["response"]
    [candidate] = response["candidates"]
    first = {
        "responseId": "s1",
        "modelVersion": "gemini-2.5-flash",
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Spain "}]}}],
    }
    last = {
        **response,
        "candidates": [{**candidate, "content": {"role": "model", "parts": [{"text": "won."}]}}],
    }
    streamed = {**whole, "response": [first, last]}
    log = write_jsonl(tmp_path / "g.jsonl", [streamed])
    db = tmp_path / "g.duckdb"
    assert runner.invoke(app, ["ingest", str(log), "--db", str(db), "--no-recount"]).exit_code == 0
    got = _csv(db, "SELECT request_id, grounding_queries, output_tokens FROM requests")
    assert got == ["request_id,grounding_queries,output_tokens", "s1,2,5"]
