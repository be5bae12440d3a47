"""What changed between two price tables, key by key.

Both tables are loaded and verified first (directories or ``git:REV``), then compared as
declared data: models and names added or removed, versions added or removed, and for a
version present in both (same bounds) every price, tier, variant and fee that changed. The
dollar effect on real logs is ``tokaudit report --compare-pricing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tokaudit.models import PricingInfo
from tokaudit.pricing.catalog import version_label
from tokaudit.pricing.table import ModelEntry, PriceTable, PriceVersion

PriceKey = tuple[str, str, str]  # (context, tier, key): ("batch", ">200000", "input")


@dataclass(frozen=True)
class Change:
    change: str  # model added | model removed | name added | name removed | version added |
    #              version removed | price added | price removed | price changed
    provider: str
    model: str
    version: str | None = None
    context: str | None = None
    tier: str | None = None
    key: str | None = None
    old: str | None = None
    new: str | None = None


@dataclass(frozen=True)
class TableDiff:
    old: PricingInfo
    new: PricingInfo
    old_source: str
    new_source: str
    changes: list[Change]


def _tier(threshold: int | None) -> str:
    return "base" if threshold is None else f">{threshold}"


def flatten(v: PriceVersion) -> dict[PriceKey, Decimal]:
    """Every declared price of a version: base, tiers, each variant's own keys, fees."""
    out: dict[PriceKey, Decimal] = {}
    for key, price in v.prices.items():
        out["standard", "base", key] = price
    for t in v.tiers:
        for key, price in t.prices.items():
            out["standard", _tier(t.threshold), key] = price
    for var in v.variants:
        for key, price in var.prices.items():
            out[var.name, "base", key] = price
        for t in var.tiers:
            for key, price in t.prices.items():
                out[var.name, _tier(t.threshold), key] = price
        if not var.prices and not var.tiers:
            out[var.name, "base", "(same as standard)"] = Decimal(0)
    for key, fee in v.fees.items():
        out["standard", "fees", key] = fee
    return out


def _text(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E-18") else text


def _summary(v: PriceVersion) -> str:
    keys = ", ".join(f"{k} {_text(p)}" for k, p in v.prices.items())
    return f"{keys}; contexts {', '.join(v.contexts())}"


def _model_changes(old: ModelEntry, new: ModelEntry) -> list[Change]:
    out = []
    base = {"provider": new.provider, "model": new.id}
    for name in sorted(set(new.aliases) - set(old.aliases)):
        out.append(Change("name added", **base, new=name))
    for name in sorted(set(old.aliases) - set(new.aliases)):
        out.append(Change("name removed", **base, old=name))
    for rule in sorted(set(new.rules) - set(old.rules)):
        out.append(Change("name added", **base, new=f"match {rule}"))
    for rule in sorted(set(old.rules) - set(new.rules)):
        out.append(Change("name removed", **base, old=f"match {rule}"))
    old_versions = {version_label(v): v for v in old.versions}
    new_versions = {version_label(v): v for v in new.versions}
    for label, v in new_versions.items():
        if label not in old_versions:
            out.append(Change("version added", **base, version=label, new=_summary(v)))
    for label, v in old_versions.items():
        if label not in new_versions:
            out.append(Change("version removed", **base, version=label, old=_summary(v)))
    for label in [x for x in new_versions if x in old_versions]:
        a, b = flatten(old_versions[label]), flatten(new_versions[label])
        for pk in sorted(set(a) | set(b)):
            before, after = a.get(pk), b.get(pk)
            if before == after:
                continue
            kind = (
                "price added"
                if before is None
                else "price removed"
                if after is None
                else "price changed"
            )
            context, tier, key = pk
            out.append(
                Change(
                    kind,
                    **base,
                    version=label,
                    context=context,
                    tier=tier,
                    key=key,
                    old=_text(before),
                    new=_text(after),
                )
            )
        if old_versions[label].source_url != new_versions[label].source_url:
            out.append(
                Change(
                    "source changed",
                    **base,
                    version=label,
                    key="source.url",
                    old=old_versions[label].source_url,
                    new=new_versions[label].source_url,
                )
            )
    return out


def diff_tables(old: PriceTable, new: PriceTable) -> TableDiff:
    old_models = {m.id: m for m in old.models}
    new_models = {m.id: m for m in new.models}
    changes: list[Change] = []
    for model_id, m in sorted(new_models.items()):
        if model_id not in old_models:
            current = m.versions[-1]
            changes.append(
                Change(
                    "model added",
                    m.provider,
                    model_id,
                    version_label(current),
                    new=_summary(current),
                )
            )
        else:
            changes += _model_changes(old_models[model_id], m)
    for model_id, m in sorted(old_models.items()):
        if model_id not in new_models:
            changes.append(Change("model removed", m.provider, model_id))
    return TableDiff(
        PricingInfo(old.table_version, old.table_sha256),
        PricingInfo(new.table_version, new.table_sha256),
        str(old.directory),
        str(new.directory),
        changes,
    )


DIFF_COLUMNS = ["change", "provider", "model", "version", "context", "tier", "key", "old", "new"]


def diff_rows(d: TableDiff) -> list[tuple[str | None, ...]]:
    return [
        (c.change, c.provider, c.model, c.version, c.context, c.tier, c.key, c.old, c.new)
        for c in d.changes
    ]
