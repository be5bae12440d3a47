"""Golden files per output format. Regenerate deliberately with TOKAUDIT_UPDATE_GOLDEN=1."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from tokaudit.models import (
    Breakdown,
    BreakdownRow,
    BudgetOutcome,
    BudgetReport,
    Finding,
    FindingsReport,
    PricingInfo,
    Totals,
    UnpricedModel,
)
from tokaudit.report.breakdown import DIMENSIONS
from tokaudit.report.renderers import RENDERERS
from tokaudit.report.renderers.common import display_usd, money

GOLDEN = Path(__file__).parent / "golden"
EXT = {"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}
PRICING = PricingInfo("2026-11-26.1", "ab" * 32)


def _totals(requests: int, cost: str | None, unpriced: int = 0) -> Totals:
    return Totals(
        requests,
        1000 * requests,
        10 * requests,
        5 * requests,
        100 * requests,
        7 * requests,
        None if cost is None else Decimal(cost),
        unpriced,
    )


BREAKDOWN = Breakdown(
    group_by=["team", "prompt"],
    rows=[
        BreakdownRow({"team": "alpha", "prompt": "answer"}, _totals(2, "3.0079552")),
        BreakdownRow(
            {"team": "beta", "prompt": "fp:1a2b3c4d"},
            _totals(1, "0.01815"),
            preview="You draft | emails",
        ),
        # every request of the group unpriced: its cost is unknown, never $0
        BreakdownRow({"team": None, "prompt": None}, _totals(1, None, unpriced=1)),
    ],
    totals=_totals(4, "3.0261052", unpriced=1),
    unpriced=[UnpricedModel("acme-llm-7b", "openai", 1, "unknown_model")],
    pricing=PRICING,
)
FINDINGS = FindingsReport(
    [
        Finding(
            "D09",
            "overkill-model",
            "Premium model on short, simple requests",
            "growth",
            "claude-opus-4-1-20250805",
            "lead-intent",
            535,
            Decimal("0.5874"),
            "535 of 535 requests were short",
            "opportunity",
        ),
        Finding(
            "D04",
            "exact-duplicate-request",
            "Exact duplicate requests",
            "search",
            "gpt-4.1-mini",
            None,
            19,
            Decimal("0.0015"),
            "19 repeats",
        ),
    ],
    PRICING,
    # requests no rule could weigh: listed in every format but CSV (data rows only)
    unpriced=[UnpricedModel("acme-llm-7b", "openai", 6, "unknown_model")],
)
BUDGETS = BudgetReport(
    [
        BudgetOutcome("all spend", "all", {}, Decimal(5000), "all", Decimal("8.1"), [], 6),
        BudgetOutcome(
            "search monthly",
            "month",
            {"team": "search"},
            Decimal("0.3"),
            "2026-10",
            Decimal("0.3521"),
            [("2026-10", Decimal("0.3521"))],
            0,
            estimated_requests=2,  # priced from recounted tokens: shown with ≈ and a note
            worst_estimated_cost_usd=Decimal("0.0021"),
        ),
    ],
    PRICING,
)
CASES = {"breakdown": BREAKDOWN, "findings": FINDINGS, "budget": BUDGETS}


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
@pytest.mark.parametrize("kind", sorted(CASES))
def test_golden(fmt: str, kind: str) -> None:
    text = getattr(RENDERERS[fmt], f"render_{kind}")(CASES[kind])
    path = GOLDEN / f"{kind}.{EXT[fmt]}"
    if os.environ.get("TOKAUDIT_UPDATE_GOLDEN"):
        path.write_text(text, "utf-8")
    assert text == path.read_text("utf-8")


def test_json_breakdown_is_the_documented_shape() -> None:
    data = json.loads(RENDERERS["json"].render_breakdown(BREAKDOWN))
    assert set(data) >= {"group_by", "currency", "pricing", "rows", "totals", "unpriced"}
    assert data["pricing"] == {"table_version": "2026-11-26.1", "sha256": "ab" * 32}
    assert data["rows"][0]["cost_usd"] == "3.0079552"  # exact decimal strings, never floats
    assert data["totals"]["cost_usd"] == "3.0261052"
    # the estimate keys are there whether or not anything was estimated (they came and went)
    assert BREAKDOWN.totals.estimated_requests == 0
    for item in [*data["rows"], data["totals"]]:
        assert (item["estimated_requests"], item["estimated_cost_usd"]) == (0, "0")


@pytest.mark.parametrize(
    ("value", "exact", "shown"),
    [
        ("3.0079552", "3.0079552", "$3.01"),
        ("0.000021", "0.000021", "<$0.0001"),
        ("1234.5", "1234.5", "$1,234.50"),
        ("0", "0", "$0.00"),
        ("10", "10", "$10.00"),
        ("2.345", "2.345", "$2.35"),  # halves round up, as invoices do
        ("1.005", "1.005", "$1.01"),
        ("0.00025", "0.00025", "$0.0003"),
        ("0.99995", "0.99995", "$1.00"),  # a dollar once rounded: cents, not $1.0000
        ("0.99994", "0.99994", "$0.9999"),
        ("-2.345", "-2.345", "$-2.35"),  # a saving: away from zero too
        # more digits than Decimal's default precision (28): a "no limit" budget of 1e30
        ("1e30", "1000000000000000000000000000000", "$1" + ",000" * 10 + ".00"),
        (  # 29 digits: exact as written, and rounded for people to cents
            "1234567890123456789012345.6789",
            "1234567890123456789012345.6789",
            "$1,234,567,890,123,456,789,012,345.68",
        ),
    ],
)
def test_money_formats(value: str, exact: str, shown: str) -> None:
    assert money(Decimal(value)) == exact
    assert display_usd(Decimal(value)) == shown


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_rows_cut_by_top_are_counted_where_people_read(fmt: str) -> None:
    """--top keeps the costliest rows; the total still covers all, so the cut is shown."""
    from dataclasses import replace

    cut = replace(BREAKDOWN, rows=BREAKDOWN.rows[:1], omitted_rows=2)
    text = RENDERERS[fmt].render_breakdown(cut)
    assert "… 2 more" in text
    assert "… 2 more" not in RENDERERS[fmt].render_breakdown(BREAKDOWN)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_finding_for_requests_without_a_team_says_none_not_any(fmt: str) -> None:
    """Rules group by team: a NULL team is requests that have none, not all teams (and
    the two human formats say it the same way)."""
    from dataclasses import replace

    no_team = replace(FINDINGS, findings=[replace(FINDINGS.findings[1], team=None)])
    text = RENDERERS[fmt].render_findings(no_team)
    assert "(none)" in text and "(any)" not in text and "—" not in text


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_findings_name_their_prompt_and_detail(fmt: str) -> None:
    """A finding per prompt id says which prompt and what was found, in every format:
    two findings on one team and model differ only there."""
    from dataclasses import replace

    first = FINDINGS.findings[0]
    other = replace(first, prompt="churn-summary", detail="120 of 400 requests were short")
    text = RENDERERS[fmt].render_findings(replace(FINDINGS, findings=[first, other]))
    for needle in ("lead-intent", "churn-summary", "535 of 535", "120 of 400"):
        assert needle in text
    no_prompts = [replace(x, prompt=None) for x in FINDINGS.findings]
    assert "prompt" not in RENDERERS[fmt].render_findings(replace(FINDINGS, findings=no_prompts))


@pytest.mark.parametrize("fmt", ["table", "markdown", "json"])
def test_no_findings_still_names_the_prices(fmt: str) -> None:
    """Every output names the price table; the table format's empty result did not."""
    from dataclasses import replace

    text = RENDERERS[fmt].render_findings(replace(FINDINGS, findings=[], unpriced=[]))
    assert PRICING.table_version in text and PRICING.sha256[:12] in text


def test_markdown_prints_names_from_the_logs_as_text_never_as_markup() -> None:
    """A team named `*bold*`, `<b>x</b>` or `:smile:` rendered as emphasis, HTML or an
    emoji in a pull-request comment (QA); an id with one colon stays as it is."""
    from dataclasses import replace

    team = "*bold* <b>x</b> :smile: a_b [l](u)"
    row = BreakdownRow({"team": team, "prompt": "fp:1a2b3c4d"}, _totals(1, "1"))
    text = RENDERERS["markdown"].render_breakdown(replace(BREAKDOWN, rows=[row]))
    cell = r"\*bold\* &lt;b&gt;x&lt;/b&gt; &#58;smile: a\_b \[l\](u)"
    assert f"| {cell} | fp:1a2b3c4d |" in text
    sql = RENDERERS["markdown"].render_rows(["team"], [(team,), (None,), (3,)])
    assert cell in sql and "| — |" in sql and "| 3 |" in sql
    # an unpriced model's name too, in the breakdown's and the findings' notes
    unpriced = [UnpricedModel("<img src=x>*m*`", "openai", 1, "unknown_model")]
    for text in (
        RENDERERS["markdown"].render_breakdown(replace(BREAKDOWN, unpriced=unpriced)),
        RENDERERS["markdown"].render_findings(replace(FINDINGS, unpriced=unpriced)),
    ):
        assert r"&lt;img src=x&gt;\*m\*\`" in text and "<img" not in text


def test_markdown_names_from_the_logs_mention_no_one_and_link_no_issue() -> None:
    """A team named ``@platform`` would notify that GitHub team from every CI comment, and
    ``#12`` would link issue 12: an empty HTML comment after the sign keeps the text as it
    reads and breaks both; an entity of the other escapes stays whole."""
    from dataclasses import replace

    team = "@platform #12 a@b.c :x: #tag"
    row = BreakdownRow({"team": team, "prompt": "p"}, _totals(1, "1"))
    text = RENDERERS["markdown"].render_breakdown(replace(BREAKDOWN, rows=[row]))
    cell = "@<!-- -->platform #<!-- -->12 a@<!-- -->b.c &#58;x: #<!-- -->tag"
    assert f"| {cell} | p |" in text
    assert cell.replace("<!-- -->", "") == team.replace(":x:", "&#58;x:")
    sql = RENDERERS["markdown"].render_rows(["team"], [(team,)])
    assert f"| {cell} |" in sql


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_a_budget_exceeded_by_less_than_a_cent_shows_its_figures_exactly(fmt: str) -> None:
    """A limit of $1.001 and a spend of $1.004 both showed as $1.00 beside EXCEEDED (QA);
    where rounding would show a limit and a spend alike, both are shown exactly."""
    from dataclasses import replace

    tight = BudgetOutcome(
        "tight",
        "month",
        {},
        Decimal("1.001"),
        "2026-10",
        Decimal("1.004"),
        [("2026-10", Decimal("1.004"))],
        0,
    )
    roomy = BudgetOutcome("roomy", "month", {}, Decimal(5), "2026-10", Decimal("1.004"), [], 0)
    text = RENDERERS[fmt].render_budget(replace(BUDGETS, outcomes=[tight, roomy]))
    assert "$1.001" in text and "$1.004" in text
    assert "$5.00" in text and "$1.00" in text  # figures that differ on screen stay rounded


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
@pytest.mark.parametrize("dimension", sorted(DIMENSIONS))
def test_every_group_by_dimension_renders_in_every_format(fmt: str, dimension: str) -> None:
    """`report --by priced_model` (the default table) ended in a KeyError traceback: the
    table had a column title for every dimension but that one."""
    from dataclasses import replace

    rows = [BreakdownRow({dimension: "gpt-4o-mini"}, _totals(2, "0.0009"))]
    one = replace(BREAKDOWN, group_by=[dimension], rows=rows, totals=_totals(2, "0.0009"))
    text = RENDERERS[fmt].render_breakdown(one)
    assert "gpt-4o-mini" in text


def test_a_table_grouped_by_every_dimension_never_cuts_a_number() -> None:
    """`report --by` all nine dimensions printed "951,…" tokens and "$0.6…" in 120
    columns: the numbers were cut while the names could fold (QA)."""
    from dataclasses import replace

    totals = Totals(1, 951_230, 331_017, 55_055, 621_900, 0, Decimal("0.61587"), 0)
    keys = {d: f"a-rather-long-{d}-value" for d in DIMENSIONS}
    wide = replace(
        BREAKDOWN,
        group_by=sorted(DIMENSIONS),
        rows=[BreakdownRow(keys, totals)],
        totals=replace(totals, cost_usd=Decimal("7.9407381"), unpriced_requests=6),
    )
    text = RENDERERS["table"].render_breakdown(wide)
    assert "…" not in text
    for shown in ("951,230", "331,017", "55,055", "621,900", "$0.6159", "$7.94"):
        assert shown in text
