"""Load, verify and validate the YAML pricing tables.

The tables are data reviewed in pull requests; this module refuses anything it
cannot price unambiguously: a bad decimal, overlapping versions, an alias that two
models claim, or bytes that no longer match the manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import PricingTableError
from tokaudit.pricing.manifest import MANIFEST, file_sha256, provider_files, table_sha256

PRICE_KEYS = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
OPTIONAL_PRICE_KEYS = ("reasoning", "input_audio", "output_audio")
FEE_KEYS = ("web_search_per_1k", "file_search_per_1k", "per_request")
VARIANT_WHEN = {"processing": {"batch"}, "service_tier": {"flex", "priority"}}
CONVENTIONS = {"openai", "anthropic", "gemini"}
# The keys each level may carry; a misspelt structural key ("tier:" for "tiers:") would
# otherwise drop data silently.
FILE_KEYS = {
    "schema_version",
    "provider",
    "currency",
    "unit",
    "usage_convention",
    "source_urls",
    "models",
    "notes",
}
MODEL_KEYS = {"id", "aliases", "versions", "notes"}
VERSION_KEYS = {
    "effective_from",
    "effective_to",
    "source",
    "prices",
    "tiers",
    "fees",
    "variants",
    "notes",
}
VARIANT_KEYS = {"when", "prices", "tiers", "checked", "notes"}


def _check_keys(item: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(item) - allowed)
    if unknown:
        raise PricingTableError(
            f"{where}: unknown key(s) {', '.join(map(str, unknown))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


@dataclass(frozen=True)
class Tier:
    """A long-context cliff: past ``threshold`` total input, these keys re-price all tokens."""

    threshold: int  # strict: applies when total_input_tokens > threshold
    prices: dict[str, Decimal]


@dataclass(frozen=True)
class Variant:
    """Batch/flex/priority prices; replaces only the keys it names (their tiers too)."""

    name: str  # batch | flex | priority
    prices: dict[str, Decimal]
    tiers: list[Tier]


@dataclass(frozen=True)
class PriceVersion:
    effective_from: datetime | None  # inclusive, UTC
    effective_to: datetime | None  # exclusive, UTC
    prices: dict[str, Decimal]
    tiers: list[Tier]
    fees: dict[str, Decimal]
    variants: list[Variant]
    source_url: str


@dataclass(frozen=True)
class ModelEntry:
    id: str
    provider: str
    aliases: list[str]
    versions: list[PriceVersion]


@dataclass(frozen=True)
class PriceTable:
    directory: Path
    table_version: str
    table_sha256: str
    models: list[ModelEntry]
    conventions: dict[str, str] = field(default_factory=dict)  # provider -> usage convention

    def names(self) -> dict[str, str]:
        """Every exact id and alias (lowercase) mapped to its canonical model id."""
        return {name: m.id for m in self.models for name in [m.id, *m.aliases]}


def default_pricing_dir() -> Path:
    """The table embedded in the package, else the repository's ``pricing/`` (dev checkout).

    ``TOKAUDIT_PRICING`` overrides both.
    """
    env = os.environ.get("TOKAUDIT_PRICING")
    if env:
        return Path(env)
    embedded = Path(str(resources.files("tokaudit").joinpath("_tables")))
    if (embedded / MANIFEST).is_file():
        return embedded
    return Path(__file__).resolve().parents[3] / "pricing"


def _where(file: str, model: str | None = None, key: str | None = None) -> str:
    parts = [file]
    if model:
        parts.append(f"model {model}")
    if key:
        parts.append(key)
    return ": ".join(parts)


def _decimal(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PricingTableError(
            f"{where}: price must be a decimal string like '2.5', got {value!r} "
            "(binary floats are not accepted)"
        )
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PricingTableError(f"{where}: {value!r} is not a decimal number") from exc
    if not result.is_finite() or result < 0:
        raise PricingTableError(f"{where}: {value!r} must be a non-negative finite number")
    return result


def _instant(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise PricingTableError(f"{where}: {value!r} is not an ISO date") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise PricingTableError(f"{where}: {value!r} is not an ISO date")


def _prices(raw: Any, where: str, allow_empty: bool = False) -> dict[str, Decimal]:
    if not isinstance(raw, dict) or (not raw and not allow_empty):
        raise PricingTableError(f"{where}: 'prices' must be a mapping of price keys")
    allowed = PRICE_KEYS + OPTIONAL_PRICE_KEYS
    out: dict[str, Decimal] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise PricingTableError(f"{where}: unknown price key {key!r} (allowed: {allowed})")
        out[key] = _decimal(value, f"{where}.{key}")
    return out


def _tiers(raw: Any, where: str) -> list[Tier]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PricingTableError(f"{where}: 'tiers' must be a list")
    tiers = []
    for i, item in enumerate(raw):
        w = f"{where}.tiers[{i}]"
        when = item.get("when") if isinstance(item, dict) else None
        if not isinstance(when, dict) or when.get("metric") != "total_input_tokens":
            raise PricingTableError(f"{w}: 'when' must name metric: total_input_tokens")
        op, value = when.get("op", "gt"), when.get("value")
        if op not in ("gt", "gte") or not isinstance(value, int) or value < 0:
            raise PricingTableError(f"{w}: 'when' needs op gt|gte and a whole-number value")
        threshold = value if op == "gt" else value - 1
        tiers.append(Tier(threshold, _prices(item.get("prices"), w)))
    thresholds = [t.threshold for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise PricingTableError(f"{where}: two tiers share a threshold")
    return sorted(tiers, key=lambda t: t.threshold)


def _variants(raw: Any, where: str) -> list[Variant]:
    if raw is None:
        return []
    variants = []
    for i, item in enumerate(raw):
        w = f"{where}.variants[{i}]"
        when = item.get("when") if isinstance(item, dict) else None
        if isinstance(item, dict):
            _check_keys(item, VARIANT_KEYS, w)
        if not isinstance(when, dict) or len(when) != 1:
            raise PricingTableError(f"{w}: 'when' must have exactly one of {sorted(VARIANT_WHEN)}")
        ((key, value),) = when.items()
        if key not in VARIANT_WHEN or value not in VARIANT_WHEN[key]:
            raise PricingTableError(f"{w}: unsupported variant condition {key}: {value}")
        variants.append(
            Variant(str(value), _prices(item.get("prices"), w), _tiers(item.get("tiers"), w))
        )
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise PricingTableError(f"{where}: two variants for the same context")
    return variants


def _versions(raw: Any, where: str) -> list[PriceVersion]:
    if not isinstance(raw, list) or not raw:
        raise PricingTableError(f"{where}: 'versions' must be a non-empty list")
    versions = []
    for i, item in enumerate(raw):
        w = f"{where}.versions[{i}]"
        if not isinstance(item, dict):
            raise PricingTableError(f"{w}: must be a mapping")
        _check_keys(item, VERSION_KEYS, w)
        source = item.get("source") or {}
        url = source.get("url") if isinstance(source, dict) else None
        if not url:
            raise PricingTableError(f"{w}: every version must cite source.url")
        fees_raw = item.get("fees") or {}
        fees = {}
        for key, value in fees_raw.items():
            if key not in FEE_KEYS:
                raise PricingTableError(f"{w}: unknown fee {key!r} (allowed: {FEE_KEYS})")
            fees[key] = _decimal(value, f"{w}.fees.{key}")
        prices = _prices(item.get("prices"), w)
        missing = [k for k in ("input", "output") if k not in prices]
        if missing:
            raise PricingTableError(f"{w}: prices must include {' and '.join(missing)}")
        versions.append(
            PriceVersion(
                effective_from=_instant(item.get("effective_from"), f"{w}.effective_from"),
                effective_to=_instant(item.get("effective_to"), f"{w}.effective_to"),
                prices=prices,
                tiers=_tiers(item.get("tiers"), w),
                fees=fees,
                variants=_variants(item.get("variants"), w),
                source_url=str(url),
            )
        )
    _check_contiguous(versions, where)
    return versions


def _check_contiguous(versions: list[PriceVersion], where: str) -> None:
    """Exactly one version may be in force at any instant: sorted, no overlap, no gap."""
    for i, v in enumerate(versions):
        if v.effective_from and v.effective_to and v.effective_from >= v.effective_to:
            raise PricingTableError(f"{where}.versions[{i}]: effective_from is not before _to")
        if i == 0:
            continue
        prev = versions[i - 1]
        if prev.effective_to is None or v.effective_from is None:
            raise PricingTableError(
                f"{where}.versions[{i}]: overlaps version {i - 1} (an open bound in the middle)"
            )
        if prev.effective_to != v.effective_from:
            kind = "overlaps" if v.effective_from < prev.effective_to else "leaves a gap after"
            raise PricingTableError(f"{where}.versions[{i}]: {kind} version {i - 1}")


def _verify_manifest(directory: Path) -> tuple[str, str]:
    path = directory / MANIFEST
    if not path.is_file():
        raise PricingTableError(
            f"{path}: manifest missing (run python -m tokaudit.pricing.manifest)"
        )
    manifest = yaml.safe_load(path.read_text("utf-8")) or {}
    listed = {f["path"]: f["sha256"] for f in manifest.get("files", [])}
    present = provider_files(directory)
    if sorted(listed) != present:
        raise PricingTableError(
            f"{path}: lists {sorted(listed)} but the directory has {present}; "
            "regenerate it with python -m tokaudit.pricing.manifest"
        )
    for rel, expected in listed.items():
        actual = file_sha256(directory / rel)
        if actual != expected:
            raise PricingTableError(
                f"{directory / rel}: sha256 {actual} does not match the manifest ({expected}); "
                "the table was edited without regenerating the manifest"
            )
    combined = table_sha256(listed)
    if manifest.get("table_sha256") != combined:
        raise PricingTableError(f"{path}: table_sha256 does not match its file list")
    return str(manifest.get("table_version")), combined


def load_price_table(directory: Path | None = None) -> PriceTable:
    """Load every provider file, verifying hashes and rejecting ambiguity."""
    directory = directory or default_pricing_dir()
    if not directory.is_dir():
        raise PricingTableError(f"{directory}: pricing directory not found")
    version, sha = _verify_manifest(directory)
    models: list[ModelEntry] = []
    conventions: dict[str, str] = {}
    owner: dict[str, str] = {}
    for rel in provider_files(directory):
        doc = yaml.safe_load((directory / rel).read_text("utf-8")) or {}
        provider = doc.get("provider")
        convention = doc.get("usage_convention")
        if doc.get("schema_version") != 1 or not provider or convention not in CONVENTIONS:
            raise PricingTableError(
                f"{rel}: needs schema_version: 1, provider and usage_convention in {CONVENTIONS}"
            )
        _check_keys(doc, FILE_KEYS, rel)
        if Path(rel).stem != provider:
            raise PricingTableError(
                f"{rel}: provider {provider!r} does not match the file name {Path(rel).name}"
            )
        conventions[str(provider)] = str(convention)
        for entry in doc.get("models") or []:
            model_id = str(entry.get("id", "")).strip().lower()
            if not model_id:
                raise PricingTableError(f"{rel}: a model has no id")
            _check_keys(entry, MODEL_KEYS, _where(rel, model_id))
            aliases = [str(a).strip().lower() for a in entry.get("aliases") or []]
            for name in [model_id, *aliases]:
                if name in owner and owner[name] != model_id:
                    raise PricingTableError(
                        f"{rel}: model {model_id}: name {name!r} is already claimed by "
                        f"{owner[name]} (ambiguous match)"
                    )
                owner[name] = model_id
            models.append(
                ModelEntry(
                    id=model_id,
                    provider=str(provider),
                    aliases=[a for a in aliases if a != model_id],
                    versions=_versions(entry.get("versions"), _where(rel, model_id)),
                )
            )
    return PriceTable(directory, version, sha, models, conventions)
