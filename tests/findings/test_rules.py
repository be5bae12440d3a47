"""Each waste rule against its YAML cases: envelope records in, findings out."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from helpers import REPO, priced_store
from tokaudit.findings import RULES, default_settings

CASES = Path(__file__).parent / "cases"
RULES_BY_ID = {r.rule_id: r for r in RULES}


def _expand(value: Any, texts: dict[str, str]) -> Any:
    if isinstance(value, str) and value.startswith("$") and value[1:] in texts:
        return texts[value[1:]]
    if isinstance(value, dict):
        return {k: _expand(v, texts) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, texts) for v in value]
    return value


def _load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8"))
        texts = {
            name: spec.get("prefix", "") + spec["repeat"] * spec["times"]
            for name, spec in (doc.get("texts") or {}).items()
        }
        for case in doc["cases"]:
            params.append(
                pytest.param(
                    doc["rule"],
                    # a case may set thresholds of its own over the file's
                    {**doc.get("settings", {}), **case.get("settings", {})},
                    _expand(case, texts),
                    id=f"{doc['rule']}-{case['name']}",
                )
            )
    return params


def test_every_rule_has_cases() -> None:
    covered = {yaml.safe_load(p.read_text("utf-8"))["rule"] for p in CASES.glob("*.yaml")}
    assert covered == set(RULES_BY_ID)


@pytest.mark.parametrize(("rule_id", "overrides", "case"), _load_cases())
def test_rule_case(
    tmp_path: Path, rule_id: str, overrides: dict[str, Any], case: dict[str, Any]
) -> None:
    con = priced_store(tmp_path, case["records"])
    settings = default_settings().get(rule_id, {})
    settings.update(overrides)
    found = RULES_BY_ID[rule_id].evaluate(con, settings)
    got = sorted(
        [
            {"team": f.team, "model": f.model, "requests": f.requests, "savings_usd": f.savings_usd}
            for f in found
        ],
        key=lambda x: (str(x["team"]), str(x["model"])),
    )
    want = sorted(
        [
            {
                **{k: v for k, v in e.items() if k != "detail"},
                "savings_usd": Decimal(e["savings_usd"]),
            }
            for e in case["expect"]
        ],
        key=lambda x: (str(x["team"]), str(x["model"])),
    )
    assert got == want
    assert all(f.rule_id == rule_id for f in found)
    # an expectation may name texts its finding's detail must contain
    details = {(f.team, f.model): f.detail for f in found}
    for e in case["expect"]:
        for text in e.get("detail", []):
            assert text in details[(e["team"], e["model"])]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"D99": {}}, "unknown rule 'D99'"),
        ({"D09": {"min_request": 50}}, "D09 has no threshold 'min_request'"),
        ({"D09": {"min_requests": "fifty"}}, "D09.min_requests must be like its default 100"),
        ({"D15": {"exact_only": 1}}, "D15.exact_only must be like its default True"),
        ({"D09": 50}, "D09 must be a mapping"),
        # a negative turned a rule off; a fraction of a count was cut silently (QA)
        ({"D04": {"window_hours": -5}}, "D04.window_hours cannot be negative"),
        ({"D09": {"min_candidate_share": 80}}, "is a share of the requests, from 0 to 1"),
        ({"D09": {"min_requests": 2.5}}, "D09.min_requests must be a whole number"),
        (
            {"D01": {"min_prefix_tokens": {"default": "abc"}}},
            r"must map a model name to a whole number of tokens \(default: 'abc'\)",
        ),
        ({"D01": {"min_prefix_tokens": {"claude-sonnet-4-5": None}}}, "whole number of tokens"),
        ({"D09": {"routing": {"gpt-4o": 5}}}, "must map a model name to a model name"),
        # .inf, .nan and values no rule's arithmetic fits crashed the rules with a
        # traceback (OverflowError, InvalidOperation), or turned D09 off silently (QA)
        ({"D04": {"window_hours": float("inf")}}, "D04.window_hours must be a finite number"),
        ({"D04": {"window_hours": float("nan")}}, "must be a finite number"),
        ({"D01": {"cache_ttl_minutes": float("inf")}}, "must be a finite number"),
        ({"D09": {"min_price_ratio": float("inf")}}, "must be a finite number"),
        ({"D15": {"tolerance_pct": float("nan")}}, "must be a finite number"),
        ({"D09": {"max_user_input_tokens": 1.0e300}}, "no greater than 1,000,000,000"),
        ({"D09": {"min_candidate_share": float("nan")}}, "must be a finite number"),
        ({"D01": {"min_prefix_tokens": {"default": float("inf")}}}, "whole number of tokens"),
    ],
)
def test_a_bad_threshold_override_is_refused(overrides: dict[str, Any], needle: str) -> None:
    """A typo in a rule id or threshold must not pass silently (the rule would run with its
    default); a value of another type must not fail deep inside a rule."""
    from tokaudit.errors import ConfigError
    from tokaudit.findings import with_overrides

    with pytest.raises(ConfigError, match=needle):
        with_overrides(overrides)


def test_a_good_override_replaces_only_its_threshold() -> None:
    from tokaudit.findings import default_settings, with_overrides

    settings = with_overrides({"D09": {"min_requests": 50, "min_candidate_share": 1}})
    expected = default_settings()
    expected["D09"].update(min_requests=50, min_candidate_share=1)
    assert settings == expected


def test_findings_with_equal_savings_come_in_one_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """D04 findings with equal savings (same team and model, other prompts) swapped places
    from one run to the next: the order must not depend on the order a rule found them."""
    from tokaudit import findings
    from tokaudit.findings.interface import WasteRule
    from tokaudit.models import Finding

    def found(prompt: str | None, detail: str = "d") -> Finding:
        return Finding(
            "D04", "exact-duplicate-request", "t", "a", "m", prompt, 2, Decimal(1), detail
        )

    class Fixed(WasteRule):
        rule_id, name, summary = "D04", "exact-duplicate-request", ""

        def __init__(self, items: list[Finding]) -> None:
            self.items = items

        def evaluate(self, con: Any, settings: dict[str, Any]) -> list[Finding]:
            return list(self.items)

    items = [found("prompt b"), found(None), found("prompt a", "e"), found("prompt a")]
    orders = []
    for ordered in (items, items[::-1]):
        monkeypatch.setattr(findings, "RULES", [Fixed(ordered)])
        orders.append(findings.run_rules(duckdb.connect()))
    assert orders[0] == orders[1]
    assert [(f.prompt, f.detail) for f in orders[0]] == [
        (None, "d"),
        ("prompt a", "d"),
        ("prompt a", "e"),
        ("prompt b", "d"),
    ]


def test_a_request_is_counted_once_across_rules(tmp_path: Path) -> None:
    """Three identical uncached claude-sonnet-4-5 calls a minute apart with a 2,000-token
    system prompt: D04 counts the two repeats whole, and D01 counted their prefix again,
    so "could save" came to more than was spent (QA). The catalogue counts each request's
    dollars once, D04 before D01 before D09."""
    from tokaudit.findings import run_rules

    system = "hello" + " hello" * 1999  # 2,000 tokens in o200k_base
    records = [
        _anthropic_call(
            f"2026-10-01T10:0{minute}:00Z",
            ("claude-sonnet-4-5", "claude-sonnet-4-5-20250929"),
            system,
            "Same question",
            f"m{minute}",
            2010,
        )
        for minute in range(3)
    ]
    con = priced_store(tmp_path, records)
    spent = con.execute("SELECT sum(cost_usd) FROM request_costs").fetchone()[0]
    found = run_rules(con)
    # each call: 2,010 × $3 + 10 × $15 per 1M = 0.00618; D04 counts the 2 repeats whole
    assert [(f.rule_id, f.requests, f.savings_usd) for f in found] == [
        ("D04", 2, Decimal("0.01236"))
    ]
    assert sum(f.savings_usd for f in found) < spent
    # D01 alone (no earlier rule ran) still finds the missed prefix
    alone = RULES_BY_ID["D01"].evaluate(con, default_settings()["D01"])
    assert [(f.rule_id, f.requests) for f in alone] == [("D01", 2)]


def test_a_shared_chains_parts_are_amounts_at_the_money_scale() -> None:
    """A chain shared by three teams is split by gross: a third of $1 was written with 28
    digits (0.3333333333333333333333333333), a quotient passed off as exact (QA). Each
    part is at the store's money scale, 18 decimals, and the parts sum to the saving
    within it."""
    from tokaudit.findings.uncached_prefix import _per_group

    # (provider, model, prompt hash, chain, team, prompt, prefix tokens, missed, gross,
    #  writes, premium, explicit caching): gross 3, no cache write paid, premium 2: $1
    rows = [
        ("anthropic", "m", "h", 1, team, None, 2048, 1, "1", 0, "2", True)
        for team in ("a", "b", "c")
    ]
    groups, saving_chains = _per_group(rows)
    parts = {key[0]: values[4] for key, values in groups}
    assert parts == dict.fromkeys(("a", "b", "c"), Decimal("0.333333333333333333"))
    assert abs(sum(parts.values()) - 1) < Decimal("1e-17")
    assert saving_chains == [("anthropic", "m", "h", 1)]


def test_a_chain_that_saves_nothing_is_not_counted_in_its_groups_finding() -> None:
    """Two warm chains of one team and prompt: the first saves $1 (gross 3, premium 2),
    the second's gross (1) is below the premium it never paid. The finding is the first
    chain's: one chain, its 2 missed requests, $1 (the second's 5 missed requests were
    counted, and D09 may count them too since D01 no longer claims them)."""
    from tokaudit.findings.uncached_prefix import _per_group

    rows = [
        ("anthropic", "m", "h", 1, "t", None, 2048, 2, "3", 0, "2", True),
        ("anthropic", "m", "h", 2, "t", None, 2048, 5, "1", 0, "2", True),
    ]
    groups, saving_chains = _per_group(rows)
    assert [(key, values[1:5]) for key, values in groups] == [
        (("t", "m", None), (1, 2, 2048, Decimal(1)))
    ]
    assert saving_chains == [("anthropic", "m", "h", 1)]


def test_d01_on_a_model_without_a_cache_write_price_claims_nothing(tmp_path: Path) -> None:
    """An overlay's private Anthropic-provider model with a cache-read price and no
    cache-write price crashed `findings` and `audit` (the write premium was NULL, QA):
    the premium a chain never paid is unknown, so it claims no saving, and the other
    rules still run."""
    from tokaudit.findings import run_rules
    from tokaudit.pricing.overlay import load_overlay
    from tokaudit.pricing.store_tables import install_price_table
    from tokaudit.pricing.table import load_price_table

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        """schema_version: 1
name: private claude
models:
- id: my-claude
  provider: anthropic-private
  versions:
  - {effective_from: null, effective_to: null, source: {url: 'https://wiki.example/llm'},
     prices: {input: '3', cache_read: '0.3', output: '15'}}
""",
        "utf-8",
    )
    system = " ".join(f"rule{i}: be precise." for i in range(400))
    records = [
        _anthropic_call(
            f"2026-10-05T11:0{i}:00Z", ("my-claude", "my-claude"), system, f"q{i}", f"m{i}", 3000
        )
        for i in range(2)
    ]
    con = priced_store(tmp_path, records)
    install_price_table(con, load_overlay(load_price_table(REPO / "pricing"), overlay))
    priced = con.execute("SELECT count(*) FROM request_costs WHERE cost_usd IS NOT NULL")
    assert priced.fetchone() == (2,)  # the overlay prices them: D01 sees both
    assert RULES_BY_ID["D01"].evaluate(con, default_settings()["D01"]) == []
    # and it claims none of the chain's requests, which D09 may still count
    assert con.execute("SELECT count(*) FROM _claimed_requests").fetchone() == (0,)
    assert all(f.rule_id != "D01" for f in run_rules(con))


def _anthropic_call(
    ts: str, models: tuple[str, str], system: str, question: str, rid: str, input_tokens: int
) -> dict[str, Any]:
    """An uncached Anthropic call of team t: (requested, answering) models, 10 tokens out."""
    return {
        "timestamp": ts,
        "provider": "anthropic",
        "metadata": {"team": "t"},
        "request": {
            "model": models[0],
            "system": system,
            "messages": [{"role": "user", "content": question}],
        },
        "response": {
            "id": rid,
            "model": models[1],
            "usage": {"input_tokens": input_tokens, "output_tokens": 10},
        },
    }


def test_every_default_routing_pair_can_fire_at_todays_prices() -> None:
    """A default D09 pair whose premium is under min_price_ratio never counts: the shipped
    gemini-2.5-pro -> gemini-2.5-flash ($1.25 against $0.30, 4.2x) was such a dead pair (QA)."""
    from datetime import UTC, datetime

    from tokaudit.pricing.table import load_price_table

    settings = default_settings()["D09"]
    table = load_price_table()
    now = datetime.now(UTC)
    ratios = {}
    for premium, target in settings["routing"].items():
        prices = []
        for model_id in (premium, target):
            entry = table.model(model_id)
            assert entry is not None, model_id
            version = entry.version_at(now)
            assert version is not None, model_id
            prices.append(version.prices["input"])
        ratios[premium] = prices[0] / prices[1]
    assert {p: r for p, r in ratios.items() if r < settings["min_price_ratio"]} == {}


def test_d09_says_when_an_earlier_finding_took_some_of_its_requests(tmp_path: Path) -> None:
    """Four short opus calls, the second a repeat of the first: D04 counts the repeat whole,
    so D09's saving covers the other three. Its detail said "4 of 4 requests were short
    and simple; ... would cost X less", X being for three of them."""
    from tokaudit.findings import run_rules

    records = [
        _anthropic_call(
            f"2026-10-01T10:0{minute}:00Z",
            ("claude-opus-4-1", "claude-opus-4-1-20250805"),
            "Classify.",
            question,
            f"o{minute}",
            100,
        )
        for minute, question in enumerate(["a", "a", "b", "c"])
    ]
    con = priced_store(tmp_path, records)
    found = {f.rule_id: f for f in run_rules(con, {"D09": {"min_requests": 3}})}
    # per call: opus 100 × $15 + 10 × $75 per 1M = 0.00225; haiku 100 × $1 + 10 × $5 = 0.00015
    assert (found["D04"].requests, found["D04"].savings_usd) == (1, Decimal("0.00225"))
    d09 = found["D09"]
    assert (d09.requests, d09.savings_usd) == (4, 3 * (Decimal("0.00225") - Decimal("0.00015")))
    assert d09.detail.startswith(
        "4 of 4 requests were short and simple; the same tokens on claude-haiku-4-5 would "
        "cost 0.0063 USD less for the 3 not counted by an earlier finding"
    )
