"""Aggregated usage exports: OpenAI Usage API pages and Anthropic usage-report pages.

Expected values come from the samples themselves (the OpenAPI examples and the Anthropic
docs example, see data/README.md) and from the published list prices, not from the code.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokaudit.findings import run_rules
from tokaudit.pricing.store_tables import install_price_table
from tokaudit.pricing.table import load_price_table
from tokaudit.report.breakdown import breakdown

if TYPE_CHECKING:
    from conftest import EnvelopeKit

Json = dict[str, Any]
ROOT = Path(__file__).resolve().parents[3]
REALWORLD = ROOT / "tests" / "fixtures" / "realworld" / "openai" / "openapi_examples"
DATA = Path(__file__).resolve().parent / "data"
OPENAI_PAGE = REALWORLD / "usage_completions_response.json"
OPENAI_RESULT = REALWORLD / "UsageCompletionsResult_object_example.json"
ANTHROPIC_PAGE = DATA / "anthropic_usage_report_docs_example.json"
M = Decimal(1_000_000)


def _price(kit: EnvelopeKit) -> None:
    install_price_table(kit.con, load_price_table(ROOT / "pricing"))


def _line_of(path: Path, needle: str) -> int:
    """1-based line of the ``{`` that opens the object whose first key line holds needle."""
    lines = path.read_text("utf-8").splitlines()
    hit = next(i for i, line in enumerate(lines) if needle in line)
    return next(i for i in range(hit, -1, -1) if lines[i].strip() == "{") + 1


def _openai_page(results: list[Json], start: int = 1730419200) -> Json:
    return {
        "object": "page",
        "data": [
            {"object": "bucket", "start_time": start, "end_time": start + 86400, "results": results}
        ],
        "has_more": False,
        "next_page": None,
    }


def test_openai_page_sample_ungrouped(kit: EnvelopeKit) -> None:
    page = json.loads(OPENAI_PAGE.read_text("utf-8"))
    [result] = page["data"][0]["results"]
    [fr] = kit.ingest(OPENAI_PAGE).files
    assert (fr.format, fr.records_read, fr.loaded, fr.rejected) == ("openai-usage", 1, 1, 0)
    [row] = kit.rows(OPENAI_PAGE)
    # input_tokens is cache-inclusive: 1000 = 400 cached + 100 cache-write + 500 uncached
    assert row["input_tokens"] == result["input_uncached_tokens"] == 500
    assert row["cache_read_tokens"] == result["input_cached_tokens"]
    assert row["cache_write_5m_tokens"] == result["input_cache_write_tokens"]
    assert row["output_tokens"] == result["output_tokens"]
    assert (row["granularity"], row["request_count"]) == ("bucket", result["num_model_requests"])
    assert row["ts"].timestamp() == page["data"][0]["start_time"]
    assert row["source_line"] == _line_of(OPENAI_PAGE, "organization.usage.completions.result")
    # not grouped by model: kept, and unpriced rather than $0
    assert row["model"] == "(not grouped by model)" and row["model_responded"] is None
    _price(kit)
    [cost] = kit.query("SELECT pricing_status, unpriced_reason, cost_usd FROM request_costs")
    assert cost == {
        "pricing_status": "unpriced",
        "unpriced_reason": "unknown_model",
        "cost_usd": None,
    }


def test_openai_grouped_result_priced(kit: EnvelopeKit) -> None:
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    path = kit.tmp_path / "usage.json"
    path.write_text(json.dumps(_openai_page([result]), indent=2), "utf-8")
    [fr] = kit.ingest(path).files
    assert (fr.format, fr.loaded) == ("openai-usage", 1)
    [row] = kit.rows(path)
    assert (
        row["input_tokens"],
        row["cache_read_tokens"],
        row["cache_write_5m_tokens"],
        row["output_tokens"],
    ) == (3000, 1800, 200, 1000)
    assert (row["project"], row["user_id"], row["request_count"]) == ("proj_abc", "user-abc", 5)
    assert row["is_batch"] is False and row["service_tier"] is None  # "default" = standard
    assert json.loads(row["metadata"])["api_key_id"] == "key_abc"
    _price(kit)
    [cost] = kit.query("SELECT priced_model, cost_usd FROM request_costs")
    # gpt-4o-mini list prices per 1M: input 0.15, cached input 0.075, output 0.60; OpenAI
    # bills cache writes at the input rate.
    expected = (
        3000 * Decimal("0.15")
        + 1800 * Decimal("0.075")
        + 200 * Decimal("0.15")
        + 1000 * Decimal("0.60")
    ) / M
    assert cost["priced_model"] == "gpt-4o-mini"
    assert Decimal(cost["cost_usd"]) == expected


def test_openai_batch_and_flex_groups(kit: EnvelopeKit) -> None:
    base = json.loads(OPENAI_RESULT.read_text("utf-8"))
    batch = {**base, "batch": True, "service_tier": None}
    flex = {**base, "batch": False, "service_tier": "flex", "api_key_id": "key_flex"}
    path = kit.tmp_path / "usage.jsonl"
    # JSON Lines: one page per line
    path.write_text(
        json.dumps(_openai_page([batch])) + "\n" + json.dumps(_openai_page([flex])) + "\n", "utf-8"
    )
    [fr] = kit.ingest(path).files
    assert (fr.records_read, fr.loaded) == (2, 2)
    rows = kit.rows(path)
    assert [(r["source_line"], r["is_batch"], r["service_tier"]) for r in rows] == [
        (1, True, None),
        (2, False, "flex"),
    ]


def test_openai_fast_is_priority_under_its_new_name(kit: EnvelopeKit) -> None:
    """OpenAI renamed priority processing Fast mode on 2026-07-30 and takes either name
    (its Fast mode guide): a `fast` group is priority (it was an unknown context)."""
    base = json.loads(OPENAI_RESULT.read_text("utf-8"))
    path = kit.tmp_path / "usage.json"
    path.write_text(json.dumps(_openai_page([{**base, "service_tier": "fast"}])), "utf-8")
    kit.ingest(path)
    assert [r["service_tier"] for r in kit.rows(path)] == ["priority"]


def test_openai_inconsistent_and_wrong_results_are_rejected(kit: EnvelopeKit) -> None:
    good = json.loads(OPENAI_RESULT.read_text("utf-8"))
    bad_sum = {**good, "model": "gpt-4o", "input_uncached_tokens": 3100}
    bad_type = {**good, "model": "gpt-4.1", "output_tokens": "1000"}
    embeddings = {
        **good,
        "model": "text-embedding-3-small",
        "object": "organization.usage.embeddings.result",
    }
    path = kit.tmp_path / "usage.json"
    path.write_text(
        json.dumps(_openai_page([good, bad_sum, bad_type, embeddings]), indent=2), "utf-8"
    )
    [fr] = kit.ingest(path).files
    assert (fr.records_read, fr.loaded, fr.duplicates, fr.rejected) == (4, 1, 0, 3)
    rejects = kit.rejects(path)
    text = path.read_text("utf-8").splitlines()
    starts = [
        i + 1
        for i, line in enumerate(text)
        if line.strip() in ("{", "},{") and '"object": "organization.usage' in text[i + 1]
    ]
    assert sorted(rejects) == starts[1:]  # each reject points at its own result
    reasons = [rejects[n]["reason"] for n in starts[1:]]
    assert "input_uncached_tokens is not" in reasons[0]
    assert reasons[1] == 'output_tokens should be a whole number, got "1000"'
    assert "organization.usage.embeddings.result" in reasons[2]
    assert json.loads(rejects[starts[1]]["raw"])["model"] == "gpt-4o"


def test_reloading_an_overlapping_export_is_duplicates(kit: EnvelopeKit) -> None:
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    first = kit.tmp_path / "a.json"
    first.write_text(json.dumps(_openai_page([result])), "utf-8")
    # the same bucket downloaded again, next to the following day's bucket
    page = _openai_page([result])
    page["data"].append(_openai_page([result], start=1730505600)["data"][0])
    second = kit.tmp_path / "b.json"
    second.write_text(json.dumps(page), "utf-8")
    a, b = kit.ingest(first, second).files
    assert (a.loaded, b.records_read, b.loaded, b.duplicates) == (1, 2, 1, 1)
    assert kit.count("requests") == 2


def test_bare_result_without_bucket_says_why(kit: EnvelopeKit) -> None:
    [fr] = kit.ingest(OPENAI_RESULT, fmt="openai-usage").files
    assert (fr.records_read, fr.loaded, fr.rejected) == (1, 0, 1)
    [reject] = kit.rejects(OPENAI_RESULT).values()
    assert "outside its bucket" in reject["reason"]


def test_anthropic_docs_example(kit: EnvelopeKit) -> None:
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    [fr] = kit.ingest(ANTHROPIC_PAGE).files
    assert (fr.format, fr.records_read, fr.loaded) == ("anthropic-usage", 1, 1)
    [row] = kit.rows(ANTHROPIC_PAGE)
    assert row["input_tokens"] == res["uncached_input_tokens"] == 1500
    assert row["cache_read_tokens"] == 200
    assert (row["cache_write_5m_tokens"], row["cache_write_1h_tokens"]) == (500, 1000)
    assert (row["output_tokens"], row["web_search_requests"]) == (500, 10)
    assert row["project"] == res["workspace_id"]
    assert (row["granularity"], row["request_count"]) == ("bucket", None)  # not exported
    assert row["ts"].isoformat() == "2025-08-01T00:00:00+00:00"
    assert row["source_line"] == _line_of(ANTHROPIC_PAGE, '"uncached_input_tokens"')
    _price(kit)
    [cost] = kit.query("SELECT priced_model, price_context, cost_usd FROM request_costs")
    # Claude Sonnet 4 per 1M: input 3, cache read 0.30, 5m write 3.75, 1h write 6, output 15;
    # web search $10 per 1,000.
    expected = (
        1500 * Decimal(3)
        + 200 * Decimal("0.3")
        + 500 * Decimal("3.75")
        + 1000 * Decimal(6)
        + 500 * Decimal(15)
    ) / M + 10 * Decimal("0.01")
    assert (cost["priced_model"], cost["price_context"]) == ("claude-sonnet-4", "standard")
    assert Decimal(cost["cost_usd"]) == expected


def _anthropic_page(results: list[Json], hour: int = 0) -> Json:
    return {
        "data": [
            {
                "starting_at": f"2025-08-01T{hour:02d}:00:00Z",
                "ending_at": f"2025-08-01T{hour + 1:02d}:00:00Z",
                "results": results,
            }
        ],
        "has_more": False,
        "next_page": None,
    }


def test_anthropic_context_window_picks_the_tier(kit: EnvelopeKit) -> None:
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    # Millions of tokens in one bucket: only context_window says which tier each call had.
    big = {
        "uncached_input_tokens": 3_000_000,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 10_000,
        "server_tool_use": {"web_search_requests": 0},
    }
    big["model"] = "claude-sonnet-4-5-20250929"  # a model with a long-context tier
    short = {**copy.deepcopy(res), **big, "context_window": "0-200k"}
    long = {**copy.deepcopy(res), **big, "context_window": "200k-1M"}
    path = kit.tmp_path / "report.json"
    path.write_text(json.dumps(_anthropic_page([short, long])), "utf-8")
    [fr] = kit.ingest(path).files
    assert fr.loaded == 2
    _price(kit)
    got = kit.query("""SELECT r.metadata ->> 'context_window' AS w, c.input_price * 1000000 AS p,
                       c.cost_usd FROM request_costs c JOIN requests r USING (request_key)
                       ORDER BY w""")
    # Sonnet 4.5: $3 / $15 up to 200k input tokens per call, $6 / $22.50 above.
    assert [(g["w"], Decimal(g["p"])) for g in got] == [("0-200k", 3), ("200k-1M", 6)]
    assert Decimal(got[0]["cost_usd"]) == (3_000_000 * 3 + 10_000 * 15) / M
    assert Decimal(got[1]["cost_usd"]) == (3_000_000 * 6 + 10_000 * Decimal("22.5")) / M


def test_anthropic_batch_tier_and_bad_counts(kit: EnvelopeKit) -> None:
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    batch = {**res, "service_tier": "batch"}
    negative = {**res, "service_tier": "priority", "output_tokens": -5}
    path = kit.tmp_path / "report.json"
    path.write_text(json.dumps(_anthropic_page([batch, negative])), "utf-8")
    [fr] = kit.ingest(path).files
    assert (fr.records_read, fr.loaded, fr.rejected) == (2, 1, 1)
    [row] = kit.rows(path)
    assert (row["is_batch"], row["service_tier"]) == (True, None)
    # a compact document is one line: the reject names the line of the whole document
    assert [r["reason"] for r in kit.rejects(path).values()] == ["output_tokens is negative"]


def test_anthropic_fast_mode_group_is_unpriced_not_standard(kit: EnvelopeKit) -> None:
    """A report grouped by speed used to price its fast-mode rows at the standard rate (fast
    mode costs several times more); Claude Code logs of the same calls are unpriced."""
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    standard = {**res, "speed": "standard"}
    fast = {**res, "speed": "fast"}
    path = kit.tmp_path / "report.json"
    path.write_text(json.dumps(_anthropic_page([standard, fast])), "utf-8")
    [fr] = kit.ingest(path).files
    assert fr.loaded == 2
    _price(kit)
    got = kit.query("""SELECT r.metadata ->> 'speed' AS speed, c.price_context, c.cost_usd,
                       c.unpriced_reason FROM request_costs c JOIN requests r USING (request_key)
                       ORDER BY speed""")
    # Sonnet 4 list prices per 1M: 3 input, 0.30 cache read, 3.75 / 6 cache writes, 15 output;
    # web search $10 per 1,000
    standard_cost = (
        1500 * Decimal(3) + 200 * Decimal("0.3") + 500 * Decimal("3.75") + 1000 * 6 + 500 * 15
    ) / M + 10 * Decimal("0.01")
    assert [(g["speed"], g["price_context"]) for g in got] == [
        ("fast", "fast"),
        ("standard", "standard"),
    ]
    assert (got[0]["cost_usd"], got[0]["unpriced_reason"]) == (None, "unknown_context")
    assert Decimal(got[1]["cost_usd"]) == standard_cost


def _report_requests(kit: EnvelopeKit, by: str) -> dict[str | None, int]:
    b = breakdown(kit.con, [by])
    return {r.keys[by]: r.totals.requests for r in b.rows}


def test_reports_count_the_calls_a_bucket_stands_for(kit: EnvelopeKit) -> None:
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    path = kit.tmp_path / "usage.json"
    path.write_text(json.dumps(_openai_page([result])), "utf-8")
    [ex] = kit.cassette("openai/otelcontrib_chat_completion_with_content.yaml")
    kit.ingest(path, kit.write("calls.jsonl", [kit.from_exchange(ex, "openai")]))
    _price(kit)
    b = breakdown(kit.con, ["provider"])
    assert b.totals.requests == 5 + 1  # num_model_requests of the bucket + one logged call
    assert _report_requests(kit, "project") == {"proj_abc": 5, None: 1}


def test_findings_ignore_bucket_rows(kit: EnvelopeKit) -> None:
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    # 120 hourly buckets of tiny Claude Opus traffic: as single calls, D09 would flag them.
    tiny = {
        **res,
        "model": "claude-opus-4-1-20250805",
        "uncached_input_tokens": 40,
        "cache_read_input_tokens": 0,
        "output_tokens": 50,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": {"web_search_requests": 0},
    }
    pages = [
        _anthropic_page([tiny], hour=h % 23)["data"][0]
        | {"starting_at": f"2025-08-{1 + h // 23:02d}T{h % 23:02d}:00:00Z"}
        for h in range(120)
    ]
    path = kit.tmp_path / "report.json"
    path.write_text(json.dumps({"data": pages}, indent=1), "utf-8")
    [fr] = kit.ingest(path).files
    assert fr.loaded == 120
    _price(kit)
    assert run_rules(kit.con) == []
    # control: the same rows as single calls are flagged, so the filter is what spares them
    kit.con.execute("UPDATE requests SET granularity = 'request', request_count = 1")
    assert [f.rule_id for f in run_rules(kit.con)] == ["D09"]


def test_bucket_without_a_window_is_tiered_by_its_average_call(kit: EnvelopeKit) -> None:
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    path = kit.tmp_path / "usage.json"
    path.write_text(json.dumps(_openai_page([result])), "utf-8")
    kit.ingest(path)
    _price(kit)

    def price_per_million(calls: int, tokens: int = 900_000) -> Decimal:
        # uncached input tokens on a model with a tier above 200,000 per call
        kit.con.execute(
            "UPDATE requests SET model = 'claude-sonnet-4-5', provider = 'anthropic', "
            "input_tokens = ?, cache_read_tokens = 0, cache_write_5m_tokens = 0, "
            "request_count = ?",
            [tokens, calls],
        )
        [row] = kit.query("SELECT input_price * 1000000 AS p FROM request_costs")
        return Decimal(row["p"])

    assert price_per_million(5) == 3  # 180,000 per call: standard tier
    assert price_per_million(4) == 6  # 225,000 per call: long-context tier
    # the average is not cut to a whole number: 200,000.5 per call is above 200,000
    assert price_per_million(2, 400_000) == 3
    assert price_per_million(2, 400_001) == 6


def test_cost_reports_are_not_taken_for_usage(kit: EnvelopeKit) -> None:
    # OpenAI Costs API page: buckets with results, but amounts instead of token counts
    costs = REALWORLD / "costs_response.json"
    anthropic_costs = kit.tmp_path / "cost_report.json"
    anthropic_costs.write_text(
        json.dumps(
            {
                "data": [
                    {
                        "starting_at": "2025-08-01T00:00:00Z",
                        "ending_at": "2025-08-02T00:00:00Z",
                        "results": [
                            {
                                "amount": "123.45",
                                "currency": "USD",
                                "cost_type": "tokens",
                                "token_type": "cache_read_input_tokens",
                                "model": "claude-sonnet-4",
                            }
                        ],
                    }
                ],
                "has_more": False,
                "next_page": None,
            },
            indent=2,
        ),
        "utf-8",
    )
    for path in (costs, anthropic_costs):
        [fr] = kit.ingest(path).files
        assert fr.error is not None and "cannot detect the log format" in fr.error
        assert "openai-usage" in fr.error and "anthropic-usage" in fr.error


def test_openai_bucket_times_by_size_and_none_before_2000(kit: EnvelopeKit) -> None:
    """A start_time in milliseconds used to load in year 56800-odd; 0 as 1970."""
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    start = 1730419200  # 2024-11-01T00:00:00Z
    pages = [_openai_page([result], start), _openai_page([result], start * 1000 + 86_400_000)]
    pages.append(_openai_page([result], 0))
    path = kit.write("usage.jsonl", pages)
    [fr] = kit.ingest(path).files
    assert (fr.format, fr.loaded, fr.rejected) == ("openai-usage", 2, 1)
    assert [r["ts"].isoformat() for r in kit.rows(path)] == [
        "2024-11-01T00:00:00+00:00",
        "2024-11-02T00:00:00+00:00",
    ]
    assert [r["reason"] for r in kit.rejects(path).values()] == [
        "bucket start_time 0 is before 2000: not a request time (read as 1970-01-01 00:00:00 UTC)"
    ]


def test_a_null_input_or_output_count_in_a_usage_export_is_a_reject(kit: EnvelopeKit) -> None:
    """A null output_tokens used to price the bucket without its output."""
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    assert result["output_tokens"] > 0
    no_output = {**result, "output_tokens": None, "model": "gpt-4o-mini"}
    openai = kit.write("usage.json", [_openai_page([result, no_output])])
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    nulls = {**res, "uncached_input_tokens": None, "output_tokens": None}
    anthropic = kit.tmp_path / "report.json"
    anthropic.write_text(json.dumps(_anthropic_page([res, nulls])), "utf-8")
    files = kit.ingest(openai, anthropic).files
    assert [(f.loaded, f.rejected) for f in files] == [(1, 1), (1, 1)]
    assert [r["reason"] for r in kit.rejects(openai).values()] == ["output_tokens is null"]
    assert [r["reason"] for r in kit.rejects(anthropic).values()] == [
        "uncached_input_tokens is null; output_tokens is null"
    ]
    assert [r["output_tokens"] for r in kit.rows(openai)] == [result["output_tokens"]]


def test_a_missing_output_count_in_a_usage_export_is_a_reject(kit: EnvelopeKit) -> None:
    """Both schemas require output_tokens: a result without it used to load with 0 output,
    its bucket priced on input alone."""
    result = json.loads(OPENAI_RESULT.read_text("utf-8"))
    no_output = {k: v for k, v in result.items() if k != "output_tokens"}
    no_output["api_key_id"] = "key_other"  # another group: not a duplicate of the first
    openai = kit.write("usage.json", [_openai_page([result, no_output])])
    doc = json.loads(ANTHROPIC_PAGE.read_text("utf-8"))
    [res] = doc["data"][0]["results"]
    missing = {k: v for k, v in res.items() if k != "output_tokens"}
    missing["api_key_id"] = "apikey_other"
    anthropic = kit.tmp_path / "report.json"
    anthropic.write_text(json.dumps(_anthropic_page([res, missing])), "utf-8")
    files = kit.ingest(openai, anthropic).files
    assert [(f.loaded, f.rejected) for f in files] == [(1, 1), (1, 1)]
    assert [r["reason"] for r in kit.rejects(openai).values()] == ["missing output_tokens"]
    assert [r["reason"] for r in kit.rejects(anthropic).values()] == ["missing output_tokens"]
    assert [r["output_tokens"] for r in kit.rows(openai)] == [result["output_tokens"]]
    assert [r["output_tokens"] for r in kit.rows(anthropic)] == [res["output_tokens"]]
