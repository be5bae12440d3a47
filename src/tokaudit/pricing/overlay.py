"""User overlays: negotiated discounts, committed-use credits and private model prices.

An overlay is a small YAML file applied on top of the (hash-verified) public table. It never
edits the table: it produces a new in-memory table, and every report names the overlay file
and its SHA-256 next to the table version, so a discounted figure can always be told apart
from a list price and reproduced later.

```yaml
schema_version: 1
name: acme negotiated 2026            # optional, shown in reports
discounts:                            # percent off; a model's, while in force, beats its provider's
- {provider: anthropic, percent: '12'}
- {model: gpt-4o, percent: '20', effective_from: '2026-01-01'}
credits:                              # amounts that offset spend in their scope and window
- {name: AWS commit 2026, amount_usd: '5000', provider: bedrock,
   effective_from: '2026-01-01', effective_to: '2027-01-01'}
models:                               # private / self-hosted models, provider-file schema
- id: acme-llm-7b
  provider: self-hosted
  versions:
  - {effective_from: null, effective_to: null, source: {url: 'https://wiki.example/llm'},
     prices: {input: '0', output: '0'}}
```
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from tokaudit.errors import PricingTableError
from tokaudit.models import CreditUse
from tokaudit.pricing.names import lookup
from tokaudit.pricing.store_tables import check_money
from tokaudit.pricing.table import (
    ALL_PRICE_KEYS,
    FEE_KEYS,
    Credit,
    ModelEntry,
    OverlayRef,
    PriceTable,
    PriceVersion,
    Tier,
    Variant,
    _check_keys,
    _list_problem,
    _model_entry,
    check_names,
    parse_decimal,
    parse_instant,
    read_yaml,
)

OVERLAY_KEYS = {"schema_version", "name", "discounts", "credits", "models", "notes"}
DISCOUNT_KEYS = {
    "provider",
    "model",
    "percent",
    "applies_to",
    "effective_from",
    "effective_to",
    "notes",
}
CREDIT_KEYS = {"name", "amount_usd", "provider", "model", "effective_from", "effective_to", "notes"}
HUNDRED = Decimal(100)
MONEY_LIMIT = Decimal(10) ** 20  # DECIMAL(38,18) holds 20 digits before the point


@dataclass(frozen=True)
class Discount:
    factor: Decimal  # 1 - percent/100
    keys: tuple[str, ...]  # price and fee keys it scales
    provider: str | None
    model: str | None
    effective_from: datetime | None
    effective_to: datetime | None

    def covers(self, v: PriceVersion) -> bool:
        """True when the whole version lies inside the discount's window."""
        starts = self.effective_from is None or (
            v.effective_from is not None and v.effective_from >= self.effective_from
        )
        ends = self.effective_to is None or (
            v.effective_to is not None and v.effective_to <= self.effective_to
        )
        return starts and ends


def _resolve_model(table: PriceTable, name: str, where: str) -> str:
    names = table.names()
    for candidate in lookup(name).candidates:
        if candidate in names:
            return names[candidate]
    raise PricingTableError(f"{where}: model {name!r} is not in the price table")


def _window(item: dict[str, Any], where: str) -> tuple[datetime | None, datetime | None]:
    start = parse_instant(item.get("effective_from"), f"{where}.effective_from")
    end = parse_instant(item.get("effective_to"), f"{where}.effective_to")
    if start and end and start >= end:
        raise PricingTableError(f"{where}: effective_from is not before effective_to")
    return start, end


def _scope(table: PriceTable, item: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    provider, model = item.get("provider"), item.get("model")
    if provider is not None and model is not None:
        raise PricingTableError(f"{where}: give provider or model, not both")
    if provider is not None and str(provider) not in {m.provider for m in table.models}:
        known = sorted({m.provider for m in table.models})
        raise PricingTableError(f"{where}: unknown provider {provider!r} (known: {known})")
    model_id = None if model is None else _resolve_model(table, str(model), where)
    return (None if provider is None else str(provider)), model_id


def _entries(
    raw: Any, where: str, name: str, keys: set[str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each mapping of the overlay list ``name``, with its location for messages."""
    if raw is None:
        return
    if not isinstance(raw, list):
        raise PricingTableError(f"{where}: '{name}' must be a list")
    for i, item in enumerate(raw):
        w = f"{where}.{name}[{i}]"
        if not isinstance(item, dict):
            raise PricingTableError(f"{w}: must be a mapping")
        _check_keys(item, keys, w)
        yield w, item


def _discounts(table: PriceTable, raw: Any, where: str) -> list[Discount]:
    out = []
    for w, item in _entries(raw, where, "discounts", DISCOUNT_KEYS):
        provider, model = _scope(table, item, w)
        if provider is None and model is None:
            raise PricingTableError(f"{w}: needs a provider or a model")
        percent = parse_decimal(item.get("percent"), f"{w}.percent")
        if percent > HUNDRED:
            raise PricingTableError(f"{w}.percent: {percent} is more than 100")
        keys = item.get("applies_to") or list(ALL_PRICE_KEYS)
        allowed = ALL_PRICE_KEYS + FEE_KEYS
        if not isinstance(keys, list) or any(k not in allowed for k in keys):
            raise PricingTableError(f"{w}.applies_to: {keys!r} must list keys of {allowed}")
        start, end = _window(item, w)
        out.append(Discount(1 - percent / HUNDRED, tuple(keys), provider, model, start, end))
    for i, a in enumerate(out):
        for b in out[i + 1 :]:
            same = (a.provider, a.model) == (b.provider, b.model)
            if same and _overlap(
                a.effective_from, a.effective_to, b.effective_from, b.effective_to
            ):
                scope = a.model or a.provider
                raise PricingTableError(f"{where}: two discounts for {scope} overlap in time")
    return out


def _overlap(
    a0: datetime | None, a1: datetime | None, b0: datetime | None, b1: datetime | None
) -> bool:
    return (a1 is None or b0 is None or b0 < a1) and (b1 is None or a0 is None or a0 < b1)


def _credits(table: PriceTable, raw: Any, where: str) -> list[Credit]:
    out: list[Credit] = []
    for w, item in _entries(raw, where, "credits", CREDIT_KEYS):
        if not item.get("name"):
            raise PricingTableError(f"{w}: needs a name")
        provider, model = _scope(table, item, w)
        start, end = _window(item, w)
        amount = parse_decimal(item.get("amount_usd"), f"{w}.amount_usd")
        exponent = amount.normalize().as_tuple().exponent
        if (isinstance(exponent, int) and exponent < -18) or amount >= MONEY_LIMIT:
            # refused here, by file and key: the store's error named neither (QA)
            raise PricingTableError(
                f"{w}.amount_usd: {amount} does not fit the store's DECIMAL(38,18) "
                "(at most 18 decimal places, under 10^20)"
            )
        name = str(item["name"])
        if any(c.name == name for c in out):  # reports name each credit's use by its name
            raise PricingTableError(f"{w}: a second credit named {name!r} (names must be unique)")
        out.append(Credit(name, amount, provider, model, start, end))
    return out


def _split(versions: list[PriceVersion], cuts: list[datetime]) -> list[PriceVersion]:
    """Cut versions at the instants inside them, so a discount window covers whole versions."""
    out = []
    for v in versions:
        inside = sorted(
            {
                c
                for c in cuts
                if (v.effective_from is None or c > v.effective_from)
                and (v.effective_to is None or c < v.effective_to)
            }
        )
        bounds = [v.effective_from, *inside, v.effective_to]
        out += [
            dataclasses.replace(v, effective_from=a, effective_to=b)
            for a, b in itertools.pairwise(bounds)
        ]
    return out


def _scale_prices(prices: dict[str, Decimal], d: Discount) -> dict[str, Decimal]:
    return {k: (p * d.factor if k in d.keys else p) for k, p in prices.items()}


def _scale_tiers(tiers: list[Tier], d: Discount) -> list[Tier]:
    return [Tier(t.threshold, _scale_prices(t.prices, d)) for t in tiers]


def _discounted(v: PriceVersion, d: Discount) -> PriceVersion:
    return dataclasses.replace(
        v,
        prices=_scale_prices(v.prices, d),
        tiers=_scale_tiers(v.tiers, d),
        fees=_scale_prices(v.fees, d),
        variants=[
            Variant(
                x.name,
                _scale_prices(x.prices, d),
                _scale_tiers(x.tiers, d),
                x.when,
                x.checked,
                x.multiplier,
            )
            for x in v.variants
        ],
    )


def _apply(model: ModelEntry, discounts: list[Discount]) -> ModelEntry:
    """Scale ``model``'s prices: its own discount where one is in force, else its provider's.

    A model discount replaces the provider's only inside its window: one starting in June
    must not take the provider discount off that model's requests before June (QA).
    """
    own = [d for d in discounts if d.model == model.id]
    wide = [d for d in discounts if d.model is None and d.provider == model.provider]
    if not own and not wide:
        return model
    cuts = [t for d in own + wide for t in (d.effective_from, d.effective_to) if t is not None]
    versions = []
    for v in _split(model.versions, cuts):
        active = [d for d in own if d.covers(v)] or [d for d in wide if d.covers(v)]
        versions.append(_discounted(v, active[0]) if active else v)
    return dataclasses.replace(model, versions=versions)


def load_overlay(table: PriceTable, path: Path) -> PriceTable:
    """``table`` with the overlay at ``path`` applied (and named) on top."""
    if path.is_dir():
        raise PricingTableError(f"{path}: an overlay is one YAML file, not a directory")
    if not path.is_file():
        raise PricingTableError(f"{path}: overlay file not found")
    data = path.read_bytes()
    where = str(path)
    try:
        doc = read_yaml(data.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise PricingTableError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise PricingTableError(f"{where}: must be a mapping")
    _check_keys(doc, OVERLAY_KEYS, where)
    if doc.get("schema_version") != 1:
        raise PricingTableError(f"{where}: needs schema_version: 1")
    shape = _list_problem(doc, "models", "a list of models")
    if shape:
        raise PricingTableError(f"{where}: {shape}")
    private = []
    for i, entry in enumerate(doc.get("models") or []):
        if not isinstance(entry, dict) or not entry.get("provider"):
            raise PricingTableError(
                f"{where}: models[{i}] needs a provider label (e.g. self-hosted)"
            )
        body = {k: v for k, v in entry.items() if k != "provider"}
        private.append(_model_entry(body, where, str(entry["provider"])))
    problems: list[str] = []
    check_names([*table.models, *private], problems)
    if problems:
        raise PricingTableError("\n".join(problems))
    base = dataclasses.replace(table, models=[*table.models, *private])
    discounts = _discounts(base, doc.get("discounts"), where)
    credits = _credits(base, doc.get("credits"), where)
    name = doc.get("name")
    ref = OverlayRef(
        str(path.resolve()), hashlib.sha256(data).hexdigest(), None if name is None else str(name)
    )
    return dataclasses.replace(
        base,
        models=[_discounted_model(base, m, discounts, where) for m in base.models],
        overlay=ref,
        credits=credits,
    )


def _discounted_model(
    table: PriceTable, model: ModelEntry, discounts: list[Discount], where: str
) -> ModelEntry:
    """``_apply``, refusing a discounted price the store cannot hold in the overlay's name
    (the error named the provider file only, as if the public table were wrong: QA)."""
    result = _apply(model, discounts)
    if result is not model:
        try:
            check_money(dataclasses.replace(table, models=[result], credits=[]))
        except PricingTableError as exc:
            raise PricingTableError(f"{where}: a discount on {model.id}: {exc}") from exc
    return result


def credit_usage(
    con: duckdb.DuckDBPyConnection, since: datetime | None = None, until: datetime | None = None
) -> list[CreditUse]:
    """How much of each credit the priced requests used, each dollar of spend once.

    Credits are drawn one after another, the one that expires first first (then the
    earlier start, then the name), each over the spend in its scope and window in time
    order that earlier credits left uncovered: two credits on the same spend each offset
    all of it before (QA: $7.25 of credit "used" on $3.62 of spend). One SQL pass a credit.
    """
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _credit_left AS
        WITH providers AS (SELECT DISTINCT model_id, provider FROM price_bands)
        SELECT c.request_key, c.ts, c.priced_model, p.provider, c.cost_usd AS left_usd
        FROM request_costs c LEFT JOIN providers p ON p.model_id = c.priced_model
        WHERE c.pricing_status = 'priced' AND c.cost_usd > 0"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _credit_used "
        "(name VARCHAR, request_key VARCHAR, ts TIMESTAMPTZ, used DECIMAL(38, 18))"
    )
    credits = con.execute(
        """SELECT name, amount_usd, provider, model, effective_from, effective_to
        FROM pricing_credits
        ORDER BY effective_to NULLS LAST, effective_from NULLS FIRST, name"""
    ).fetchall()
    for name, amount, provider, model, start, end in credits:
        con.execute(
            """INSERT INTO _credit_used
            SELECT ?, request_key, ts, least(left_usd, greatest(0, ? - (cum - left_usd)))
            FROM (
                SELECT request_key, ts, left_usd,
                    sum(left_usd) OVER (ORDER BY ts, request_key ROWS UNBOUNDED PRECEDING) AS cum
                FROM _credit_left
                WHERE left_usd > 0
                  AND (?::TIMESTAMPTZ IS NULL OR ts >= ?) AND (?::TIMESTAMPTZ IS NULL OR ts < ?)
                  AND (?::VARCHAR IS NULL OR priced_model = ?)
                  AND (?::VARCHAR IS NULL OR provider = ?)
            )
            WHERE cum - left_usd < ?""",
            [name, amount, start, start, end, end, model, model, provider, provider, amount],
        )
        con.execute(
            """UPDATE _credit_left l SET left_usd = l.left_usd - u.used
            FROM _credit_used u WHERE u.name = ? AND u.request_key = l.request_key""",
            [name],
        )
    rows = con.execute(
        """SELECT k.name, k.amount_usd,
            coalesce(sum(u.used) FILTER (WHERE (?::TIMESTAMPTZ IS NULL OR u.ts >= ?)
                                           AND (?::TIMESTAMPTZ IS NULL OR u.ts < ?)), 0),
            coalesce(sum(u.used) FILTER (WHERE ?::TIMESTAMPTZ IS NULL OR u.ts < ?), 0)
        FROM pricing_credits k LEFT JOIN _credit_used u ON u.name = k.name
        GROUP BY k.name, k.amount_usd ORDER BY k.name""",
        [since, since, until, until, until, until],
    ).fetchall()
    con.execute("DROP TABLE _credit_left; DROP TABLE _credit_used")
    return [
        CreditUse(str(n), Decimal(a), Decimal(applied), Decimal(a) - Decimal(upto))
        for n, a, applied, upto in rows
    ]
