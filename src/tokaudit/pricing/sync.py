"""``tokaudit pricing sync --from genai-prices``: refresh the table as a reviewable change.

The optional ``sync`` extra installs pydantic's genai-prices, whose package bundles its price
data (no network). For every model of our table that is not marked ``local: true``, the
version in force now is compared, key by key, with genai-prices' prices for the same model
and context (standard, each batch/flex/priority variant, Bedrock regional). Keys genai-prices
does not price are kept as they are (local conventions such as OpenAI's cache writes at the
input rate, or derived Anthropic batch rates). When something differs, the current version is
closed on ``--effective-from`` and a new version with genai-prices' values is appended: a
price change is a new version, never an edit in place. The result is written to a separate
directory with a fresh manifest, and ``pricing diff`` of the two tables is the review.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import ConfigError, PricingTableError
from tokaudit.pricing.catalog import version_label
from tokaudit.pricing.diff import TableDiff, diff_tables
from tokaudit.pricing.manifest import write_manifest
from tokaudit.pricing.table import (
    ModelEntry,
    PriceTable,
    PriceVersion,
    Tier,
    Variant,
    load_price_table,
)

PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "bedrock": "aws",
    "groq": "groq",
}
TOKEN_KEYS = {
    "input_mtok": "input",
    "cache_read_mtok": "cache_read",
    "cache_write_mtok": "cache_write_5m",
    "cache_write_1h_mtok": "cache_write_1h",
    "output_mtok": "output",
    "input_audio_mtok": "input_audio",
    "cache_audio_read_mtok": "cache_audio_read",
    "output_reasoning_mtok": "reasoning",
}
FEE_KEYS = {
    "web_searches_kcount": ("web_search_per_1k", Decimal(1)),
    "storage_searches_kcount": ("file_search_per_1k", Decimal(1)),
    "requests_kcount": ("per_request", Decimal("0.001")),
}
WHEN = {"batch": {"processing": "batch"}, "flex": {"service_tier": "flex"}}
WHEN["priority"] = {"service_tier": "priority"}


@dataclass(frozen=True)
class KeyChange:
    context: str
    tier: str  # base | >N | fees
    key: str
    ours: Decimal | None
    theirs: Decimal


@dataclass(frozen=True)
class SyncItem:
    provider: str
    model: str
    status: str  # updated | unchanged | local (kept) | not in genai-prices | skipped
    detail: str = ""
    changes: list[KeyChange] = field(default_factory=list)


@dataclass(frozen=True)
class SyncResult:
    source: str  # "genai-prices 0.2.3"
    items: list[SyncItem]
    written: Path | None
    diff: TableDiff | None


def _genai_prices() -> tuple[Any, str]:
    try:
        from importlib.metadata import version

        from genai_prices.data_snapshot import get_snapshot
    except ImportError as exc:
        raise ConfigError(
            "pricing sync needs the optional genai-prices package: pip install 'tokaudit[sync]'"
        ) from exc
    return get_snapshot(), f"genai-prices {version('genai-prices')}"


def _find(snapshot: Any, provider: str, refs: list[str]) -> Any | None:
    for ref in refs:
        try:
            return snapshot.find_provider_model(ref, None, provider, None)[1]
        except LookupError:
            continue
    return None


def _declared(price: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(price).items() if v is not None and not k.startswith("_")}


def _schedule(value: Any) -> tuple[Decimal, dict[int, Decimal]]:
    tiers = getattr(value, "tiers", None)
    if tiers is None:
        return Decimal(value), {}
    return Decimal(value.base), {int(t.start): Decimal(t.price) for t in tiers}


def _ours(
    prices: dict[str, Decimal], tiers: list[Tier], key: str
) -> tuple[Decimal | None, dict[int, Decimal]]:
    return prices.get(key), {t.threshold: t.prices[key] for t in tiers if key in t.prices}


def _compare(
    context: str,
    gp: dict[str, Any],
    prices: dict[str, Decimal],
    tiers: list[Tier],
    fees: dict[str, Decimal] | None,
) -> list[KeyChange]:
    out = []
    for gp_key, value in gp.items():
        if gp_key in TOKEN_KEYS:
            key = TOKEN_KEYS[gp_key]
            base, their_tiers = _schedule(value)
            ours, our_tiers = _ours(prices, tiers, key)
            if ours != base:
                out.append(KeyChange(context, "base", key, ours, base))
            for threshold in sorted(set(their_tiers) | set(our_tiers)):
                if threshold in their_tiers and our_tiers.get(threshold) != their_tiers[threshold]:
                    out.append(
                        KeyChange(
                            context,
                            f">{threshold}",
                            key,
                            our_tiers.get(threshold),
                            their_tiers[threshold],
                        )
                    )
        elif gp_key in FEE_KEYS and fees is not None:
            key, scale = FEE_KEYS[gp_key]
            theirs = Decimal(value) * scale
            if fees.get(key) != theirs:
                out.append(KeyChange(context, "fees", key, fees.get(key), theirs))
    return out


def _refs(model: ModelEntry, version: PriceVersion, via_model_id: str | None) -> list[str]:
    refs = [r for r in [via_model_id, model.id, *model.aliases] if r]
    return [r.removeprefix("groq/") for r in refs]


def _model_changes(
    snapshot: Any, model: ModelEntry, version: PriceVersion, at: datetime
) -> SyncItem:
    provider = PROVIDERS.get(model.provider)
    if provider is None:
        return SyncItem(model.provider, model.id, "skipped", "no genai-prices provider for it")
    regional = None
    if model.provider == "bedrock":
        base = _find(snapshot, provider, [f"global.{model.id}", f"us.{model.id}"])
        regional = _find(snapshot, provider, [f"us.{model.id}"])
    else:
        base = _find(snapshot, provider, _refs(model, version, None))
    if base is None:
        return SyncItem(model.provider, model.id, "not in genai-prices")
    standard = _declared(base.get_prices(at))
    changes = _compare("standard", standard, version.prices, version.tiers, version.fees)
    for variant in version.variants:
        if variant.multiplier is not None:
            continue  # derived from the base by rule; follows the base
        if variant.name == "regional" and regional is not None:
            theirs = _declared(regional.get_prices(at))
            changes += _compare("regional", theirs, _effective(version, variant), [], None)
            continue
        wanted = WHEN.get(variant.name)
        if wanted is None:
            continue
        in_force = _variant_in_force(base, wanted, at)
        if in_force is not None:
            changes += _compare(variant.name, in_force, variant.prices, variant.tiers, None)
    status = "updated" if changes else "unchanged"
    return SyncItem(model.provider, model.id, status, f"genai-prices model {base.id}", changes)


def _variant_in_force(base: Any, wanted: dict[str, str], at: datetime) -> dict[str, Any] | None:
    """genai-prices' variant keys for ``wanted`` at ``at``, resolved as genai-prices does.

    A model can list several variants for one context with dated constraints (Gemini 3.6 Flash:
    an introductory batch rate and the 2027 one); only those in force at ``at`` count, and the
    first one naming a key wins. None when genai-prices has no variant for the context.
    """
    found = False
    theirs: dict[str, Any] = {}
    for gp_variant in base.price_variants or ():
        constraint = gp_variant.constraint
        if gp_variant.when != wanted or (constraint is not None and not constraint.active(at)):
            continue
        found = True
        for key, value in _declared(gp_variant.prices).items():
            theirs.setdefault(key, value)
    return theirs if found else None


def _effective(version: PriceVersion, variant: Variant) -> dict[str, Decimal]:
    return {**version.prices, **variant.prices}


def _apply(version: PriceVersion, changes: list[KeyChange]) -> dict[str, Any]:
    """The new version as YAML data: the current one with genai-prices' values."""
    prices = dict(version.prices)
    tiers = {t.threshold: dict(t.prices) for t in version.tiers}
    fees = dict(version.fees)
    variants = {
        v.name: (dict(v.prices), {t.threshold: dict(t.prices) for t in v.tiers}, v)
        for v in version.variants
    }
    for c in changes:
        if c.tier == "fees":
            fees[c.key] = c.theirs
            continue
        if c.context == "standard":
            target_prices, target_tiers = prices, tiers
        else:
            target_prices, target_tiers, _ = variants[c.context]
        if c.tier == "base":
            target_prices[c.key] = c.theirs
        else:
            target_tiers.setdefault(int(c.tier[1:]), {})[c.key] = c.theirs
    return {
        "prices": prices,
        "tiers": tiers,
        "fees": fees,
        "variants": [(v, p, t) for p, t, v in variants.values()],
    }


def _q(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0E-18") else text


def _tiers_yaml(tiers: dict[int, dict[str, Decimal]]) -> list[dict[str, Any]]:
    return [
        {
            "when": {"metric": "total_input_tokens", "op": "gt", "value": threshold},
            "prices": {k: _q(p) for k, p in prices.items()},
        }
        for threshold, prices in sorted(tiers.items())
    ]


def _version_yaml(version: PriceVersion, data: dict[str, Any], start: datetime, via: str) -> str:
    item: dict[str, Any] = {
        "effective_from": start.date().isoformat()
        if start.time() == datetime.min.time()
        else start.isoformat().replace("+00:00", "Z"),
        "effective_to": None,
        "source": {"url": version.source_url, "via": via},
        "prices": {k: _q(p) for k, p in data["prices"].items()},
    }
    if data["tiers"]:
        item["tiers"] = _tiers_yaml(data["tiers"])
    if data["fees"]:
        item["fees"] = {k: _q(p) for k, p in data["fees"].items()}
    variants = []
    for v, prices, tiers in data["variants"]:
        entry: dict[str, Any] = {"when": dict(v.when)}
        if v.multiplier is not None:
            entry["multiplier"] = _q(v.multiplier)
            entry["applies_to"] = list(v.prices)
        else:
            entry["prices"] = {k: _q(p) for k, p in prices.items()}
            if tiers:
                entry["tiers"] = _tiers_yaml(tiers)
        if v.checked:
            entry["checked"] = v.checked
        variants.append(entry)
    if variants:
        item["variants"] = variants
    text = yaml.safe_dump([item], sort_keys=False, default_flow_style=None, width=100)
    return "".join("  " + line if line.strip() else line for line in text.splitlines(True))


def _edit_file(
    path: Path, model: ModelEntry, version: PriceVersion, block: str, start: datetime
) -> None:
    """Close the model's open version on ``start`` and append ``block`` after its versions."""
    lines = path.read_text("utf-8").splitlines(True)
    head = next(
        (
            i
            for i, line in enumerate(lines)
            if re.match(rf"^- id:\s*'?{re.escape(model.id)}'?\s*$", line)
        ),
        None,
    )
    if head is None:
        raise PricingTableError(f"{path}: model {model.id}: cannot find `- id: {model.id}`")
    end = next((i for i in range(head + 1, len(lines)) if lines[i].startswith("- ")), len(lines))
    while end > head + 1 and (
        not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")
    ):
        end -= 1
    open_lines = [
        i
        for i in range(head, end)
        if re.match(r"^\s+effective_to:\s*(null|~)?\s*(#.*)?$", lines[i])
    ]
    if not open_lines:
        raise PricingTableError(
            f"{path}: model {model.id}: no block-style `effective_to: null` line to close; "
            "edit this model by hand"
        )
    i = open_lines[-1]
    indent = lines[i][: len(lines[i]) - len(lines[i].lstrip())]
    day = start.date().isoformat() if start.time() == datetime.min.time() else start.isoformat()
    lines[i] = f"{indent}effective_to: '{day}'\n"
    lines[end:end] = [block if block.endswith("\n") else block + "\n"]
    path.write_text("".join(lines), "utf-8")


def sync_from_genai_prices(
    table: PriceTable,
    out: Path | None = None,
    effective_from: datetime | None = None,
    at: datetime | None = None,
) -> SyncResult:
    """Compare ``table`` with genai-prices; with ``out``, write the refreshed table there."""
    snapshot, via = _genai_prices()
    now = at or datetime.now(UTC)
    start = effective_from or datetime(now.year, now.month, now.day, tzinfo=UTC)
    items: list[SyncItem] = []
    edits: list[tuple[ModelEntry, PriceVersion, list[KeyChange]]] = []
    for model in table.models:
        if model.local:
            items.append(SyncItem(model.provider, model.id, "local (kept)"))
            continue
        version = model.version_at(now)
        if version is None:
            items.append(SyncItem(model.provider, model.id, "skipped", "no version in force"))
            continue
        item = _model_changes(snapshot, model, version, now)
        if item.status == "updated":
            if version.effective_to is not None or (
                version.effective_from is not None and version.effective_from >= start
            ):
                item = SyncItem(
                    item.provider,
                    item.model,
                    "skipped",
                    f"current version {version_label(version)} cannot be closed on "
                    f"{start.date().isoformat()}; edit by hand",
                    item.changes,
                )
            else:
                edits.append((model, version, item.changes))
        items.append(item)
    if out is None:
        return SyncResult(via, items, None, None)
    if out.resolve() == table.directory.resolve():
        raise ConfigError(f"{out}: write the refreshed table to a new directory, then diff it")
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: not a directory")
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: directory is not empty")
    try:
        shutil.copytree(table.directory, out, dirs_exist_ok=True)
    except OSError as exc:  # a parent that cannot hold it (/proc, read-only): no traceback
        raise ConfigError(f"{out}: cannot write the refreshed table there ({exc})") from exc
    for model, version, changes in edits:
        block = _version_yaml(version, _apply(version, changes), start, via)
        _edit_file(out / model.file, model, version, block, start)
    write_manifest(out)
    refreshed = load_price_table(out)
    return SyncResult(via, items, out, diff_tables(table, refreshed))
