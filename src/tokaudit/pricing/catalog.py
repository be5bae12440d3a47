"""What the table says: every model, and for one logged name the prices that apply.

``pricing list`` and ``pricing show`` read the loaded table in Python, resolving a name with
the same rules the ``request_costs`` view uses in SQL (names.py), so what ``show`` prints is
what a request with that name, date and context would be charged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from tokaudit.errors import UsageError
from tokaudit.pricing.bands import FALLBACK_KEYS, schedules
from tokaudit.pricing.names import lookup, model_key, region_class
from tokaudit.pricing.table import ALL_PRICE_KEYS, ModelEntry, PriceTable, PriceVersion


def _day(value: datetime | None) -> str | None:
    if value is None:
        return None
    if (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0):
        return value.date().isoformat()
    return value.isoformat().replace("+00:00", "Z")


def version_label(v: PriceVersion) -> str:
    """``from 2025-06-10``, ``until 2025-06-10`` (exclusive), ``A to B`` or ``always``."""
    start, end = _day(v.effective_from), _day(v.effective_to)
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"from {start}"
    if end:
        return f"until {end}"
    return "always"


@dataclass(frozen=True)
class ModelSummary:
    provider: str
    model_id: str
    aliases: list[str]
    version: str  # the version in force at the instant asked for, or "none"
    contexts: list[str]
    input: Decimal | None
    cache_read: Decimal | None
    output: Decimal | None
    source_url: str | None
    local: bool


def list_models(table: PriceTable, at: datetime | None = None) -> list[ModelSummary]:
    instant = at or datetime.now(UTC)
    out = []
    for m in table.models:
        v = m.version_at(instant)
        out.append(
            ModelSummary(
                provider=m.provider,
                model_id=m.id,
                aliases=m.aliases,
                version="none" if v is None else version_label(v),
                contexts=[] if v is None else v.contexts(),
                input=None if v is None else v.prices.get("input"),
                cache_read=None if v is None else v.prices.get("cache_read"),
                output=None if v is None else v.prices.get("output"),
                source_url=None if v is None else v.source_url,
                local=m.local,
            )
        )
    return sorted(out, key=lambda s: (s.provider, s.model_id))


@dataclass(frozen=True)
class PriceLine:
    context: str
    key: str
    above_tokens: int | None  # None: the base price; else applies when total input > this
    usd_per_million: Decimal


@dataclass(frozen=True)
class ShowResult:
    name: str
    model: ModelEntry
    matched: str  # the table name (or match rule) that matched
    route: str | None
    region: str | None
    context: str | None  # the request context this name implies (regional), if any
    at: datetime
    version: PriceVersion
    lines: list[PriceLine]
    checked: dict[str, str | None]  # context -> the day its variant rate was verified


def resolve(
    table: PriceTable, name: str, provider: str | None = None
) -> tuple[ModelEntry, str] | None:
    """The model a logged name prices as, and the table name or rule it matched."""
    names = table.names()
    look = lookup(name, provider)
    for candidate in look.candidates:
        if candidate in names:
            model = table.model(names[candidate])
            assert model is not None
            return model, candidate
    key = model_key(name)
    hits = {(m, rule) for m, rule in table.rules() if re.fullmatch(rule, key)}
    if len({m for m, _ in hits}) == 1:
        model_id, rule = sorted(hits)[0]
        model = table.model(model_id)
        assert model is not None
        return model, f"match {rule}"
    return None


def show_model(
    table: PriceTable,
    name: str,
    at: datetime | None = None,
    provider: str | None = None,
    vertex_location: str | None = None,
) -> ShowResult:
    found = resolve(table, name, provider)
    if found is None:
        raise UsageError(
            f"{name!r} is not in the price table (looked up as "
            f"{', '.join(lookup(name, provider).candidates)}); requests with it are unpriced "
            "(unknown_model)"
        )
    model, matched = found
    instant = at or datetime.now(UTC)
    version = model.version_at(instant)
    if version is None:
        raise UsageError(
            f"{model.id} has no price version in force at {instant.isoformat()} "
            f"(versions: {', '.join(version_label(v) for v in model.versions)}); requests "
            "then are unpriced (no_active_version)"
        )
    look = lookup(name, provider, vertex_location)
    if vertex_location and look.route != "vertex":
        # requests are priced the same way: a logged location counts only for a Vertex name
        raise UsageError(
            f"a Vertex AI location applies only to a Vertex AI model name (such as "
            f"claude-sonnet-4-5@20250929); {name!r} is "
            + (f"a {look.route} name" if look.route else "not routed through a cloud")
        )
    lines = []
    # a fallback key the version does not name is billed as the key it is part of: not listed
    unnamed = {
        key
        for key in FALLBACK_KEYS
        if key not in version.prices and not any(key in v.prices for v in version.variants)
    }
    for context in version.contexts():
        for key, schedule in schedules(version, context).items():
            if key not in ALL_PRICE_KEYS or key in unnamed:
                continue
            for threshold, price in schedule:
                lines.append(PriceLine(context, key, None if threshold < 0 else threshold, price))
    order = {k: i for i, k in enumerate(ALL_PRICE_KEYS)}
    lines.sort(
        key=lambda p: (
            version.contexts().index(p.context),
            order[p.key],
            -1 if p.above_tokens is None else p.above_tokens,
        )
    )
    checked = {v.name: v.checked for v in version.variants}
    return ShowResult(
        name=name,
        model=model,
        matched=matched,
        route=look.route,
        region=look.region,
        context=region_class(look.region),
        at=instant,
        version=version,
        lines=lines,
        checked=checked,
    )
