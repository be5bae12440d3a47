"""Pricing overlays: negotiated discounts, committed-use credits and private model prices.

An overlay is applied on top of the verified table and named (path + SHA-256) in every report.
Expected costs are list prices (§10) times the discount, worked out by hand per case.
"""

from __future__ import annotations

import hashlib
import json
import textwrap
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pricing_testkit import (
    anthropic_envelope,
    openai_envelope,
    price_envelopes,
    shipped_table,
    write_jsonl,
)

from tokaudit import api
from tokaudit.errors import PricingTableError
from tokaudit.ingest import ingest_paths
from tokaudit.pricing.overlay import load_overlay
from tokaudit.report.renderers import json_format
from tokaudit.store import open_store

D = Decimal
K = 100_000
OVERLAY = """\
schema_version: 1
name: acme negotiated 2026
discounts:
- {provider: anthropic, percent: '10'}
- {model: claude-sonnet-4-5-20250929, percent: '20'}   # any name of the model
- {model: gpt-4o, percent: '25', effective_from: '2026-06-01'}
- {model: gpt-4.1, percent: '50', applies_to: [output, web_search_per_1k]}
credits:
- {name: commit, amount_usd: '5', provider: anthropic, effective_from: '2026-01-01'}
models:
- id: acme-llm-7b
  provider: self-hosted
  match: [{regex: 'acme-llm-7b-q[48]'}]
  versions:
  - effective_from: null
    effective_to: null
    source: {url: 'https://wiki.example/self-hosted-costs'}
    prices: {input: '0', output: '0'}
"""


def write(tmp_path: Path, text: str, name: str = "overlay.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), "utf-8")
    return path


@pytest.fixture(scope="module")
def overlay_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("overlay"), OVERLAY)


CASES = {
    # Sonnet 4.5: 100k x 3 + 100k x 15 = $1.80; its model discount (20%) beats the provider's.
    "sonnet": (anthropic_envelope("claude-sonnet-4-5", "2026-02-01T00:00:00Z", K, K), "1.44"),
    # Haiku 4.5: 100k x 1 + 100k x 5 = $0.60, provider discount 10%.
    "haiku": (anthropic_envelope("claude-haiku-4-5", "2026-02-02T00:00:00Z", K, K), "0.54"),
    # gpt-4o 1M + 1M = $12.50; 25% off only from 2026-06-01 (a version split at that instant).
    "gpt-4o-before": (openai_envelope("gpt-4o", "2026-05-31T23:59:59Z", 10 * K, 10 * K), "12.5"),
    "gpt-4o-after": (openai_envelope("gpt-4o", "2026-06-01T00:00:00Z", 10 * K, 10 * K), "9.375"),
    # gpt-4.1: half off output and web search only: 1M x 2 + 1M x 8 x 0.5 + 2 x $0.005.
    "gpt-4.1": (
        openai_envelope(
            "gpt-4.1", "2026-02-01T00:00:00Z", 10 * K, 10 * K, api="responses", web_search_calls=2
        ),
        "6.01",
    ),
    # Untouched: no discount for Google.
    "private": (openai_envelope("acme-llm-7b", "2026-02-01T00:00:00Z", K, K), "0"),
    "private-rule": (openai_envelope("acme-llm-7b-q4", "2026-02-01T00:00:00Z", K, K), "0"),
}


@pytest.fixture(scope="module")
def rows(overlay_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    table = load_overlay(shipped_table(), overlay_path)
    envelopes = [{**env, "request_id": key} for key, (env, _) in CASES.items()]
    return price_envelopes(tmp_path_factory.mktemp("priced"), envelopes, table)


@pytest.mark.parametrize("case", list(CASES))
def test_overlay_prices(rows: dict[str, Any], case: str) -> None:
    row = rows[case]
    assert row["pricing_status"] == "priced", row
    assert row["cost_usd"] == D(CASES[case][1]), row


def test_private_models_are_unpriced_without_the_overlay(tmp_path: Path) -> None:
    """Local models may be $0 only through an explicit entry (§8)."""
    env = openai_envelope("acme-llm-7b", "2026-02-01T00:00:00Z", K, K)
    (row,) = price_envelopes(tmp_path, [env]).values()
    assert (row["cost_usd"], row["unpriced_reason"]) == (None, "unknown_model")


def test_the_overlay_is_named_with_its_hash(overlay_path: Path) -> None:
    table = load_overlay(shipped_table(), overlay_path)
    assert table.overlay is not None
    assert table.overlay.sha256 == hashlib.sha256(overlay_path.read_bytes()).hexdigest()
    assert table.overlay.name == "acme negotiated 2026"
    # The public table stays what the manifest says.
    assert (table.table_version, table.table_sha256) == (
        shipped_table().table_version,
        shipped_table().table_sha256,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "schema_version: 1\nmodels:\n- {id: gpt-4o, provider: x, versions: [{effective_from: "
            "null, effective_to: null, source: {url: 'u'}, prices: {input: '1', output: '1'}}]}\n",
            "already claimed",
        ),
        # gpt-4o-20240806 is logged gpt-4o (gpt-4o-2024-08-06); an exact private id is found
        # first, so it took gpt-4o's requests and priced them at the overlay's $0 (QA)
        (
            "schema_version: 1\nmodels:\n- {id: gpt-4o-20240806, provider: x, versions: "
            "[{effective_from: null, effective_to: null, source: {url: 'u'}, prices: {input: '0', "
            "output: '0'}}]}\n",
            "compact form of 'gpt-4o-2024-08-06' of model gpt-4o",
        ),
        ("schema_version: 1\ndiscounts: [{provider: azure, percent: '5'}]\n", "unknown provider"),
        ("schema_version: 1\ndiscounts: [{model: gpt-9, percent: '5'}]\n", "'gpt-9' is not in"),
        ("schema_version: 1\ndiscounts: [{provider: openai, percent: '150'}]\n", "more than 100"),
        ("schema_version: 1\ndiscounts: [{provider: openai, percent: 5.5}]\n", "decimal string"),
        (
            "schema_version: 1\ndiscounts:\n- {provider: openai, percent: '5'}\n"
            "- {provider: openai, percent: '7', effective_from: '2026-01-01'}\n",
            "overlap in time",
        ),
        ("schema_version: 1\ndiscount: []\n", "unknown key(s) discount"),
        ("schema_version: 1\ncredits: [{amount_usd: '5'}]\n", "needs a name"),
        (
            "schema_version: 1\ncredits: [{name: c, amount_usd: '1'},\n"
            "  {name: c, amount_usd: '1'}]\n",
            "a second credit named 'c'",
        ),
        ("discounts: []\n", "schema_version: 1"),
        # gpt-4o input $2.50/M x 2/3 = 0.0000016666...: more than 18 places; the error named
        # providers/openai.yaml only, as if the public table were wrong (QA)
        (
            "schema_version: 1\ndiscounts: [{model: gpt-4o, percent: '33.333333333333'}]\n",
            "a discount on gpt-4o: providers/openai.yaml: model gpt-4o, input:",
        ),
        (
            "schema_version: 1\ncredits: [{name: c, amount_usd: '0.1234567890123456789'}]\n",
            "credits[0].amount_usd: 0.1234567890123456789 does not fit",
        ),
        (
            "schema_version: 1\ncredits: [{name: c, amount_usd: '100000000000000000000'}]\n",
            "credits[0].amount_usd: 100000000000000000000 does not fit",
        ),
    ],
)
def test_bad_overlays_are_refused(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(PricingTableError) as info:
        load_overlay(shipped_table(), path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_reports_name_the_overlay_and_apply_credits(overlay_path: Path, tmp_path: Path) -> None:
    """A credit offsets spend in its scope (Anthropic: $1.44 + $0.54) in time order."""
    log = write_jsonl(tmp_path / "log.jsonl", [env for env, _ in CASES.values()])
    db = tmp_path / "store.duckdb"
    con = open_store(db)  # ingest without the prompt recount: these logs carry no prompts
    ingest_paths(con, [str(log)])
    con.close()
    plain = json.loads(json_format.render_breakdown(api.report(db, ["model"])))
    assert "overlay" not in plain["pricing"]
    report = api.report(db, ["model"], overlay=overlay_path)
    data = json.loads(json_format.render_breakdown(report))
    overlay = data["pricing"]["overlay"]
    assert overlay["sha256"] == hashlib.sha256(overlay_path.read_bytes()).hexdigest()
    assert overlay["name"] == "acme negotiated 2026"
    assert overlay["credits"] == [
        {"name": "commit", "amount_usd": "5", "applied_usd": "1.98", "remaining_usd": "3.02"}
    ]
    # From 02-02 on, only Haiku's $0.54 falls in the window; Sonnet used $1.44 before it.
    window = api.report(db, ["model"], since=datetime(2026, 2, 2, tzinfo=UTC), overlay=overlay_path)
    assert window.pricing.overlay is not None
    (credit,) = window.pricing.overlay.credits
    assert (credit.applied_usd, credit.remaining_usd) == (D("0.54"), D("3.02"))


def test_overlapping_credits_offset_each_dollar_once(tmp_path: Path) -> None:
    """Two credits on the same spend each offset all of it (QA: $7.25 of credit used on
    $3.62 of spend). The one that expires first is drawn first, in time order; the other
    takes what it leaves. Anthropic spend here: Sonnet $1.44, then Haiku $0.54."""
    log = write_jsonl(tmp_path / "log.jsonl", [env for env, _ in CASES.values()])
    db = tmp_path / "store.duckdb"
    con = open_store(db)
    ingest_paths(con, [str(log)])
    con.close()
    overlay = write(
        tmp_path,
        """\
        schema_version: 1
        credits:
        - {name: later, amount_usd: '100', provider: anthropic, effective_from: '2026-01-01'}
        - {name: sooner, amount_usd: '1.5', provider: anthropic, effective_to: '2027-01-01'}
        """,
    )
    both = api.report(db, ["model"], overlay=overlay)
    assert both.pricing.overlay is not None
    plain = api.report(db, ["provider"])
    spend = next(r.totals.cost_usd for r in plain.rows if r.keys["provider"] == "anthropic")
    used = {c.name: c.applied_usd for c in both.pricing.overlay.credits}
    # with the discounts of no overlay here, Anthropic's spend is the plain one
    assert used == {"sooner": D("1.5"), "later": spend - D("1.5")}
    assert sum(used.values()) == spend


def test_a_model_discount_replaces_its_providers_only_inside_its_window(tmp_path: Path) -> None:
    """Anthropic 10% always, Sonnet 5.5 20% from 2026-10-09: before that day Sonnet 5.5 keeps
    the provider's 10% (QA: it got no discount at all). 1M input + 1M cache read + 1M output:
    list $2 + $0.20 + $10 = $12.20 before 2026-10-07, $2 + $0.10 + $10 = $12.10 after
    (the cache-read cut), so a discount window and a version bound both split the prices."""
    overlay = write(
        tmp_path,
        """\
        schema_version: 1
        discounts:
        - {provider: anthropic, percent: '10'}
        - {model: claude-sonnet-5-5, percent: '20', effective_from: '2026-10-09'}
        """,
    )
    m = 1_000_000
    envelopes = [
        anthropic_envelope("claude-sonnet-5-5", ts, m, m, cache_read=m, request_id=ts)
        for ts in ("2026-10-01T00:00:00Z", "2026-10-08T00:00:00Z", "2026-10-09T00:00:00Z")
    ]
    rows = price_envelopes(tmp_path, envelopes, load_overlay(shipped_table(), overlay))
    costs = [rows[env["request_id"]]["cost_usd"] for env in envelopes]
    assert costs == [D("12.2") * D("0.9"), D("12.1") * D("0.9"), D("12.1") * D("0.8")]
