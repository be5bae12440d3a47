"""Result dataclasses shared by the library, the renderers and the CLI.

Money is ``Decimal`` end to end; renderers decide how to show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal


class JsonText(str):
    """A JSON value read from the store, as its text: the JSON output writes it as the JSON
    it is (``tokaudit sql`` printed a ``metadata`` object as a string), every other format
    as the text."""


@dataclass(frozen=True)
class CreditUse:
    """A committed-use credit from the pricing overlay and how much of it a report used."""

    name: str
    amount_usd: Decimal
    applied_usd: Decimal  # used inside the report window
    remaining_usd: Decimal  # left after the end of the report window


@dataclass(frozen=True)
class OverlayInfo:
    """The user pricing overlay applied on top of the table (discounts, private models)."""

    path: str
    sha256: str
    name: str | None = None
    credits: tuple[CreditUse, ...] = ()


@dataclass(frozen=True)
class PricingInfo:
    table_version: str
    sha256: str
    overlay: OverlayInfo | None = None


@dataclass(frozen=True)
class Totals:
    requests: int
    input_tokens: int  # uncached input
    cache_read_tokens: int
    cache_write_tokens: int  # 5-minute + 1-hour writes
    output_tokens: int  # includes reasoning
    reasoning_tokens: int
    cost_usd: Decimal | None  # priced requests only; None when every request is unpriced
    unpriced_requests: int
    # requests logged without usage, priced from recounted tokens (in cost_usd, an estimate)
    estimated_requests: int = 0
    estimated_cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class BreakdownRow:
    keys: dict[str, str | None]
    totals: Totals
    preview: str | None = None  # a short prompt preview when grouped by prompt


@dataclass(frozen=True)
class UnpricedModel:
    model: str
    provider: str
    requests: int
    reason: str


@dataclass(frozen=True)
class Breakdown:
    group_by: list[str]
    rows: list[BreakdownRow]
    totals: Totals
    unpriced: list[UnpricedModel]
    pricing: PricingInfo
    omitted_rows: int = 0  # rows cut by --top (still in totals)
    # Gemini requests grounded with Google Search, and their queries: billed apart after a
    # free allowance no log shows, so not in any cost (docs/pricing.md)
    grounded_requests: int = 0
    grounding_queries: int = 0


@dataclass(frozen=True)
class Finding:
    rule_id: str
    rule: str
    title: str
    team: str | None
    model: str | None
    prompt: str | None
    requests: int
    savings_usd: Decimal
    detail: str
    kind: str = "waste"  # waste (realised) | opportunity (needs an evaluation first)


@dataclass(frozen=True)
class FindingsReport:
    findings: list[Finding]
    pricing: PricingInfo
    unpriced: list[UnpricedModel] = field(default_factory=list)  # requests no rule could price
    # tokenizer plugins that failed in the recount run first (name, why): warnings
    broken_plugins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_savings_usd(self) -> Decimal:
        return sum((f.savings_usd for f in self.findings), Decimal(0))


@dataclass(frozen=True)
class BaselineSide:
    """A relative budget's scope in the baseline store (``check --baseline``), whole store."""

    value: Decimal | None  # the metric; None when nothing in scope gives it (see not_compared)
    matched_requests: int  # 0: the scope is new (nothing to compare with)
    unpriced_requests: int
    unpriced_models: list[UnpricedModel] = field(default_factory=list)
    estimated_requests: int = 0
    estimated_cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True)
class BudgetOutcome:
    name: str
    period: str
    scope: dict[str, str]
    max_cost_usd: Decimal | None  # None: a per-request or relative budget
    worst_period: str | None  # the period bucket with the highest spend
    worst_cost_usd: Decimal | None  # None: requests in scope, none of them priced
    exceeded_periods: list[tuple[str, Decimal]]
    unpriced_requests: int
    # requests in the scope, whole store; 0 flags a scope that matches nothing (a typo?),
    # None when not counted
    matched_requests: int | None = None
    # the unpriced requests in scope per model and reason (named by `check`'s warning)
    unpriced_models: list[UnpricedModel] = field(default_factory=list)
    # requests in scope priced from recounted tokens (logged without usage): estimates, and
    # how much of the worst period's spend they are
    estimated_requests: int = 0
    worst_estimated_cost_usd: Decimal = Decimal(0)
    # what the limit is on: cost (spend), cost_per_request, input_tokens_per_request or
    # output_tokens_per_request (budget/config.py METRICS)
    metric: str = "cost"
    max_cost_per_request_usd: Decimal | None = None
    max_increase_pct: Decimal | None = None
    # the metric in the worst period (a relative budget: the whole store), as compared with
    # the limit; None when nothing in scope gives it (nothing priced, no request)
    value: Decimal | None = None
    # a relative budget: the baseline's side, the change in % (None when undefined: from 0,
    # or not compared) and why it was not compared (then it passes, with a warning)
    baseline: BaselineSide | None = None
    change_pct: Decimal | None = None
    not_compared: str | None = None

    @property
    def exceeded(self) -> bool:
        return bool(self.exceeded_periods)

    @property
    def relative(self) -> bool:
        return self.max_increase_pct is not None


@dataclass(frozen=True)
class BudgetReport:
    outcomes: list[BudgetOutcome]
    pricing: PricingInfo
    baseline: str | None = None  # the baseline store's path (check --baseline)

    @property
    def violated(self) -> bool:
        return any(o.exceeded for o in self.outcomes)
