"""Load, verify and validate the YAML pricing tables.

The tables are data reviewed in pull requests; this module refuses anything it
cannot price unambiguously: a bad decimal, overlapping versions, an alias that two
models claim, a match rule that reaches another model or a dated snapshot, a name that
the normaliser could never produce, or bytes that no longer match the manifest. Every
problem names the file, the model and the key, and all of them are reported at once.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tokaudit.errors import PricingTableError
from tokaudit.pricing.manifest import MANIFEST, file_sha256, provider_files, table_sha256
from tokaudit.pricing.names import compact_date_key, model_key

# Token classes with a store column; each is priced by the key of the same name.
PRICE_KEYS = ("input", "cache_read", "cache_write_5m", "cache_write_1h", "output")
# Priced only where a log separates the class: input_audio (Gemini AUDIO prompt tokens; falls
# back to `input` when absent), cache_audio_read (Gemini cached AUDIO tokens; falls back to
# `cache_read`) and reasoning (a subset of output; falls back to `output`).
OPTIONAL_PRICE_KEYS = ("input_audio", "cache_audio_read", "reasoning")
ALL_PRICE_KEYS = PRICE_KEYS + OPTIONAL_PRICE_KEYS
FEE_KEYS = ("web_search_per_1k", "file_search_per_1k", "per_request")
# The request context a variant can name, in the order its name is spelt ("batch+regional",
# "batch+us"). ``inference_geo`` is the Claude API's data-residency choice (``us``: US-only
# inference), apart from ``region`` because the two premiums cover different models: Vertex's
# regional +10% starts with the 4.5 models, US-only inference's 1.1x with the 4.6 ones.
CONTEXT_KEYS = ("processing", "service_tier", "region", "inference_geo")
VARIANT_WHEN = {
    "processing": {"batch"},
    "service_tier": {"flex", "priority"},
    "region": {"regional"},
    "inference_geo": {"us"},
}
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
# What python -m tokaudit.pricing.manifest writes; anything else was accepted and ignored.
MANIFEST_KEYS = {"schema_version", "table_version", "files", "table_sha256"}
MODEL_KEYS = {"id", "aliases", "match", "versions", "local", "notes", "kind"}
# An embedding model bills input only: its versions need no output price (an embedding
# request that reports output tokens is then unpriced, never charged 0).
MODEL_KINDS = ("chat", "embedding")
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
SOURCE_KEYS = {"url", "via", "model_id", "notes"}
VARIANT_KEYS = {"when", "prices", "tiers", "multiplier", "applies_to", "checked", "notes"}
# A match rule must not reach a dated snapshot of its own model's names (§7 pitfalls).
_PROBE_SNAPSHOTS = ("-20991231", "-2099-12-31", "@20991231")


# libyaml's loader when PyYAML was built with it: the tables are parsed on every priced
# command, and the pure-Python loader takes about a second for them.
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):  # type: ignore[misc]
    """Safe YAML that refuses a key given twice in one mapping: PyYAML keeps the last one,
    so ``{output: '10', output: '11'}`` would price at 11 without a word."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(text: str) -> Any:
    """Safe YAML (no Python objects), with libyaml's speed when it is available."""
    return yaml.load(text, Loader=_Loader)


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
    """Prices for one request context; replaces only the keys it names (their tiers too).

    A ``multiplier`` variant is resolved at load time into explicit prices and tiers.
    """

    name: str  # the context: batch | flex | priority | regional | us | batch+regional ...
    prices: dict[str, Decimal]
    tiers: list[Tier]
    when: dict[str, str] = field(default_factory=dict)
    checked: str | None = None
    multiplier: Decimal | None = None


@dataclass(frozen=True)
class PriceVersion:
    effective_from: datetime | None  # inclusive, UTC
    effective_to: datetime | None  # exclusive, UTC
    prices: dict[str, Decimal]
    tiers: list[Tier]
    fees: dict[str, Decimal]
    variants: list[Variant]
    source_url: str
    source_via: str | None = None

    def contexts(self) -> list[str]:
        return ["standard", *(v.name for v in self.variants)]

    def active_at(self, instant: datetime) -> bool:
        return (self.effective_from is None or instant >= self.effective_from) and (
            self.effective_to is None or instant < self.effective_to
        )


@dataclass(frozen=True)
class ModelEntry:
    id: str
    provider: str
    aliases: list[str]
    versions: list[PriceVersion]
    file: str = ""
    rules: list[str] = field(default_factory=list)  # regex, matched in full against the key
    local: bool = False  # kept as is by `pricing sync`

    def version_at(self, instant: datetime) -> PriceVersion | None:
        for version in self.versions:
            if version.active_at(instant):
                return version
        return None


@dataclass(frozen=True)
class OverlayRef:
    """The user overlay applied on top of the table, named in every report."""

    path: str
    sha256: str
    name: str | None = None


@dataclass(frozen=True)
class Credit:
    """A committed-use credit: an amount that offsets spend in its scope and window."""

    name: str
    amount_usd: Decimal
    provider: str | None = None
    model: str | None = None
    effective_from: datetime | None = None
    effective_to: datetime | None = None


@dataclass(frozen=True)
class PriceTable:
    directory: Path
    table_version: str
    table_sha256: str
    models: list[ModelEntry]
    conventions: dict[str, str] = field(default_factory=dict)  # provider -> usage convention
    source_urls: dict[str, list[str]] = field(default_factory=dict)  # provider -> pages
    overlay: OverlayRef | None = None
    credits: list[Credit] = field(default_factory=list)

    def names(self) -> dict[str, str]:
        """Every exact id and alias (lowercase) mapped to its canonical model id."""
        return {name: m.id for m in self.models for name in [m.id, *m.aliases]}

    def rules(self) -> list[tuple[str, str]]:
        """(model id, regex) for every match rule, in table order."""
        return [(m.id, rule) for m in self.models for rule in m.rules]

    def model(self, model_id: str) -> ModelEntry | None:
        return next((m for m in self.models if m.id == model_id), None)


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


def parse_decimal(value: Any, where: str) -> Decimal:
    """A price, percentage or amount: a quoted decimal string, never a YAML number.

    A bare float is binary; a bare integer is no safer (YAML 1.1 reads ``010`` as 8).
    """
    if not isinstance(value, str):
        kind = "binary floats" if isinstance(value, float) else "bare YAML numbers"
        raise PricingTableError(
            f"{where}: must be a quoted decimal string like '2.5', got {value!r} "
            f"({kind} are not accepted: YAML reads 010 as 8)"
        )
    try:
        result = Decimal(str(value))
    except InvalidOperation as exc:
        raise PricingTableError(f"{where}: {value!r} is not a decimal number") from exc
    if not result.is_finite() or result < 0:
        raise PricingTableError(f"{where}: {value!r} must be a non-negative finite number")
    return result


def parse_instant(value: Any, where: str) -> datetime | None:
    """A UTC day (``'2025-06-10'``: its midnight) or an RFC 3339 instant; naive means UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise PricingTableError(
                f"{where}: {value!r} is not an ISO date or RFC 3339 instant"
            ) from exc
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise PricingTableError(f"{where}: {value!r} is not an ISO date or RFC 3339 instant")


def _prices(raw: Any, where: str, allow_empty: bool = False) -> dict[str, Decimal]:
    if not isinstance(raw, dict) or (not raw and not allow_empty):
        raise PricingTableError(f"{where}: 'prices' must be a mapping of price keys")
    out: dict[str, Decimal] = {}
    for key, value in raw.items():
        if key not in ALL_PRICE_KEYS:
            raise PricingTableError(
                f"{where}: unknown price key {key!r} (allowed: {ALL_PRICE_KEYS})"
            )
        out[key] = parse_decimal(value, f"{where}.{key}")
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
        # a tier prices input-side keys only: a `fees` there was ignored without a word (QA)
        _check_keys(item, {"when", "prices"}, w)
        _check_keys(when, {"metric", "op", "value"}, f"{w}.when")
        op, value = when.get("op", "gt"), when.get("value")
        if op not in ("gt", "gte") or not isinstance(value, int) or value < (op == "gte"):
            raise PricingTableError(f"{w}: 'when' needs op gt|gte and a whole-number value")
        threshold = value if op == "gt" else value - 1
        tiers.append(Tier(threshold, _prices(item.get("prices"), w)))
    thresholds = [t.threshold for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise PricingTableError(f"{where}: two tiers share a threshold")
    return sorted(tiers, key=lambda t: t.threshold)


def context_name(when: dict[str, str]) -> str:
    """The context a variant prices, spelt as request_costs.price_context spells it."""
    return "+".join(str(when[k]) for k in CONTEXT_KEYS if k in when) or "standard"


def _scaled(
    m: Decimal, keys: list[str], prices: dict[str, Decimal], tiers: list[Tier]
) -> tuple[dict[str, Decimal], list[Tier]]:
    """``keys`` of the base prices and their tiers, times ``m`` (pricing-semantics §5)."""
    scaled_tiers = []
    for t in tiers:
        named = {k: p * m for k, p in t.prices.items() if k in keys}
        if named:
            scaled_tiers.append(Tier(t.threshold, named))
    return {k: prices[k] * m for k in keys}, scaled_tiers


def _variants(
    raw: Any, where: str, base: dict[str, Decimal], base_tiers: list[Tier]
) -> list[Variant]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PricingTableError(f"{where}: 'variants' must be a list")
    variants = []
    for i, item in enumerate(raw):
        w = f"{where}.variants[{i}]"
        if not isinstance(item, dict):
            raise PricingTableError(f"{w}: must be a mapping")
        _check_keys(item, VARIANT_KEYS, w)
        when = item.get("when")
        if not isinstance(when, dict) or not when:
            raise PricingTableError(f"{w}: 'when' must name one or more of {list(CONTEXT_KEYS)}")
        for key, value in when.items():
            if key not in VARIANT_WHEN or value not in VARIANT_WHEN[key]:
                allowed = "; ".join(f"{k}: {'|'.join(sorted(v))}" for k, v in VARIANT_WHEN.items())
                raise PricingTableError(
                    f"{w}: unsupported variant condition {key}: {value} (allowed: {allowed})"
                )
        checked = item.get("checked")
        if checked is not None:
            parse_instant(checked, f"{w}.checked")
        multiplier = None
        if "multiplier" in item:
            if "prices" in item or "tiers" in item:
                raise PricingTableError(f"{w}: give either 'multiplier' or 'prices'/'tiers'")
            multiplier = parse_decimal(item["multiplier"], f"{w}.multiplier")
            keys = item.get("applies_to") or [k for k in ALL_PRICE_KEYS if k in base]
            if not isinstance(keys, list) or any(k not in base for k in keys):
                raise PricingTableError(
                    f"{w}.applies_to: {keys!r} must list price keys of this version"
                )
            prices, tiers = _scaled(multiplier, list(keys), base, base_tiers)
        else:
            if "applies_to" in item:
                raise PricingTableError(f"{w}: 'applies_to' needs a 'multiplier'")
            if "prices" not in item:
                raise PricingTableError(
                    f"{w}: needs 'prices' (use prices: {{}} when this context costs the same "
                    "as the base) or a 'multiplier'"
                )
            prices = _prices(item.get("prices"), w, allow_empty=True)
            tiers = _tiers(item.get("tiers"), w)
        typed_when = {str(k): str(v) for k, v in when.items()}
        variants.append(
            Variant(
                context_name(typed_when),
                prices,
                tiers,
                typed_when,
                None if checked is None else str(checked),
                multiplier,
            )
        )
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise PricingTableError(f"{where}: two variants for the same context")
    return variants


def _fees(raw: Any, where: str) -> dict[str, Decimal]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PricingTableError(f"{where}: 'fees' must be a mapping")
    fees = {}
    for key, value in raw.items():
        if key not in FEE_KEYS:
            raise PricingTableError(f"{where}: unknown fee {key!r} (allowed: {FEE_KEYS})")
        fees[key] = parse_decimal(value, f"{where}.fees.{key}")
    return fees


def _versions(raw: Any, where: str, kind: str = "chat") -> list[PriceVersion]:
    if not isinstance(raw, list) or not raw:
        raise PricingTableError(f"{where}: 'versions' must be a non-empty list")
    versions = []
    for i, item in enumerate(raw):
        w = f"{where}.versions[{i}]"
        if not isinstance(item, dict):
            raise PricingTableError(f"{w}: must be a mapping")
        _check_keys(item, VERSION_KEYS, w)
        source = item.get("source") or {}
        if isinstance(source, dict):
            _check_keys(source, SOURCE_KEYS, f"{w}.source")
        url = source.get("url") if isinstance(source, dict) else None
        if not url:
            raise PricingTableError(f"{w}: every version must cite source.url")
        prices = _prices(item.get("prices"), w)
        required = ("input",) if kind == "embedding" else ("input", "output")
        missing = [k for k in required if k not in prices]
        if missing:
            raise PricingTableError(f"{w}: prices must include {' and '.join(missing)}")
        tiers = _tiers(item.get("tiers"), w)
        versions.append(
            PriceVersion(
                effective_from=parse_instant(item.get("effective_from"), f"{w}.effective_from"),
                effective_to=parse_instant(item.get("effective_to"), f"{w}.effective_to"),
                prices=prices,
                tiers=tiers,
                fees=_fees(item.get("fees"), w),
                variants=_variants(item.get("variants"), w, prices, tiers),
                source_url=str(url),
                source_via=None if source.get("via") is None else str(source.get("via")),
            )
        )
    check_contiguous(versions, where)
    return versions


def check_contiguous(versions: list[PriceVersion], where: str) -> None:
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


def _rules(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PricingTableError(f"{where}: 'match' must be a list of {{regex: ...}}")
    rules = []
    for i, item in enumerate(raw):
        w = f"{where}.match[{i}]"
        if not isinstance(item, dict) or set(item) != {"regex"}:
            raise PricingTableError(
                f"{w}: only {{regex: '...'}} is supported (matched in full against the "
                "normalised name; prefix and substring rules are refused, §7)"
            )
        pattern = str(item["regex"])
        try:
            re.compile(pattern)
        except re.error as exc:
            raise PricingTableError(f"{w}: invalid regex {pattern!r}: {exc}") from exc
        rules.append(pattern)
    return rules


def _manifest_files(path: Path) -> tuple[dict[str, str], dict[str, Any]]:
    """The manifest's {path: sha256} and the whole document; a damaged manifest is a
    PricingTableError naming it (a missing hash or a non-UTF-8 byte was a traceback: QA)."""
    regenerate = "regenerate it with python -m tokaudit.pricing.manifest"
    try:
        manifest = read_yaml(path.read_text("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PricingTableError(f"{path}: not a readable manifest ({exc}); {regenerate}") from exc
    files = manifest.get("files", []) if isinstance(manifest, dict) else None
    if not isinstance(files, list):
        raise PricingTableError(f"{path}: must be a mapping with a list of files; {regenerate}")
    unknown = sorted(map(str, set(manifest) - MANIFEST_KEYS))
    if unknown:
        raise PricingTableError(
            f"{path}: unknown key(s) {', '.join(unknown)} (allowed: "
            f"{', '.join(sorted(MANIFEST_KEYS))}); {regenerate}"
        )
    listed: dict[str, str] = {}
    for number, entry in enumerate(files, start=1):
        if not (
            isinstance(entry, dict)
            and set(entry) == {"path", "sha256"}
            and isinstance(entry["path"], str)
            and isinstance(entry["sha256"], str)
        ):
            raise PricingTableError(
                f"{path}: files entry {number} needs a path and a sha256 (nothing else); "
                f"{regenerate}"
            )
        listed[entry["path"]] = entry["sha256"]
    return listed, manifest


def _verify_manifest(directory: Path) -> tuple[str, str]:
    path = directory / MANIFEST
    if not path.is_file():
        raise PricingTableError(
            f"{path}: manifest missing (run python -m tokaudit.pricing.manifest)"
        )
    listed, manifest = _manifest_files(path)
    present = provider_files(directory)
    if sorted(listed) != present:
        raise PricingTableError(
            f"{path}: lists {sorted(listed)} but the directory has {present}; "
            "regenerate it with python -m tokaudit.pricing.manifest"
        )
    problems = []
    for rel, expected in listed.items():
        actual = file_sha256(directory / rel)
        if actual != expected:
            problems.append(
                f"{directory / rel}: sha256 {actual} does not match the manifest ({expected}); "
                "the table was edited without regenerating the manifest"
            )
    combined = table_sha256(listed)
    if manifest.get("table_sha256") != combined:
        problems.append(f"{path}: table_sha256 does not match its file list")
    if problems:
        raise PricingTableError("\n".join(problems))
    return str(manifest.get("table_version")), combined


def _model_entry(entry: Any, rel: str, provider: str) -> ModelEntry:
    if not isinstance(entry, dict):
        raise PricingTableError(f"{rel}: every model must be a mapping")
    model_id = str(entry.get("id", "")).strip().lower()
    if not model_id:
        raise PricingTableError(f"{rel}: a model has no id")
    where = _where(rel, model_id)
    _check_keys(entry, MODEL_KEYS, where)
    kind = entry.get("kind", "chat")
    if kind not in MODEL_KINDS:
        raise PricingTableError(f"{where}: kind must be one of {MODEL_KINDS}, got {kind!r}")
    raw_aliases = entry.get("aliases") or []
    if not isinstance(raw_aliases, list) or not all(isinstance(a, str) for a in raw_aliases):
        raise PricingTableError(f"{where}: 'aliases' must be a list of names")
    aliases = [a.strip().lower() for a in raw_aliases]
    for name in [model_id, *aliases]:
        key = model_key(name)
        if key != name:
            raise PricingTableError(
                f"{where}: name {name!r} can never match: logged names are looked up as "
                f"{key!r} (write the normalised form)"
            )
    return ModelEntry(
        id=model_id,
        provider=provider,
        aliases=[a for a in aliases if a != model_id],
        versions=_versions(entry.get("versions"), where, kind),
        file=rel,
        rules=_rules(entry.get("match"), where),
        local=bool(entry.get("local", False)),
    )


def iter_models(
    docs: list[tuple[str, dict[str, Any]]], problems: list[str]
) -> Iterator[tuple[str, str, ModelEntry]]:
    """Parse every model of every (file, document), collecting problems instead of stopping."""
    for rel, doc in docs:
        provider = str(doc.get("provider") or "")
        for entry in doc.get("models") or []:
            try:
                yield rel, provider, _model_entry(entry, rel, provider)
            except PricingTableError as exc:
                problems.append(str(exc))


def check_names(models: list[ModelEntry], problems: list[str]) -> None:
    """No name claimed twice; no match rule reaching another model or a dated snapshot."""
    owner: dict[str, str] = {}
    defined: dict[str, str] = {}
    for m in models:
        if m.id in defined:
            problems.append(
                f"{m.file}: model {m.id}: name {m.id!r} is already claimed by {m.id} in "
                f"{defined[m.id]} (a model is defined twice)"
            )
        defined.setdefault(m.id, m.file)
        for name in [m.id, *m.aliases]:
            if name in owner and owner[name] != m.id:
                problems.append(
                    f"{m.file}: model {m.id}: name {name!r} is already claimed by "
                    f"{owner[name]} (ambiguous match)"
                )
            owner.setdefault(name, m.id)
    for m in models:
        for name in [m.id, *m.aliases]:
            # An exact name is looked up before a compact date is spelt out, so this name
            # would take another model's requests logged in the compact form (QA: an overlay
            # model `gpt-4o-20240806` took gpt-4o's requests and priced them at $0).
            spelt = compact_date_key(name)
            if spelt != name and owner.get(spelt, m.id) != m.id:
                problems.append(
                    f"{m.file}: model {m.id}: name {name!r} is the compact form of "
                    f"{spelt!r} of model {owner[spelt]} (ambiguous match)"
                )
    for m in models:
        own = [m.id, *m.aliases]
        for i, rule in enumerate(m.rules):
            where = f"{m.file}: model {m.id}: match[{i}] {rule!r}"
            others = sorted(n for n, o in owner.items() if o != m.id and re.fullmatch(rule, n))
            if others:
                problems.append(
                    f"{where} also matches {', '.join(others)} of model "
                    f"{owner[others[0]]} (ambiguous match)"
                )
            snapshots = [n + s for n in own for s in _PROBE_SNAPSHOTS]
            hits = [model_key(n) for n in snapshots if re.fullmatch(rule, model_key(n))]
            if hits:
                problems.append(
                    f"{where} matches the dated snapshot {hits[0]!r}: a snapshot is never "
                    "priced as its floating alias (§7); list snapshots as aliases"
                )


def _list_problem(doc: dict[str, Any], key: str, what: str, required: bool = False) -> str:
    """Why ``doc[key]`` is not a list, or "" (``models: null`` dropped every model silently
    and a string was read letter by letter: QA)."""
    if key not in doc and not required:
        return ""
    value = doc.get(key)
    if isinstance(value, list) and (value or not required):
        return ""
    shown = "missing" if key not in doc else f"{type(value).__name__} {value!r}"[:80]
    return f"{key!r} must be {what}{' (at least one)' if required else ''}, got {shown}"


def _read_docs(
    directory: Path, problems: list[str]
) -> tuple[list[tuple[str, Any]], dict[str, str]]:
    docs: list[tuple[str, Any]] = []
    conventions: dict[str, str] = {}
    for rel in provider_files(directory):
        try:
            doc = read_yaml((directory / rel).read_text("utf-8")) or {}
        except yaml.YAMLError as exc:
            problems.append(f"{rel}: not valid YAML: {exc}")
            continue
        except UnicodeDecodeError as exc:
            problems.append(f"{rel}: not valid UTF-8 ({exc})")
            continue
        if not isinstance(doc, dict):
            problems.append(f"{rel}: must be a mapping")
            continue
        provider = doc.get("provider")
        convention = doc.get("usage_convention")
        try:
            _check_keys(doc, FILE_KEYS, rel)
        except PricingTableError as exc:
            problems.append(str(exc))
            continue
        if doc.get("schema_version") != 1 or not provider or convention not in CONVENTIONS:
            problems.append(
                f"{rel}: needs schema_version: 1, provider and usage_convention in "
                f"{sorted(CONVENTIONS)}"
            )
            continue
        if Path(rel).stem != provider:
            problems.append(
                f"{rel}: provider {provider!r} does not match the file name {Path(rel).name}"
            )
            continue
        shape = _list_problem(doc, "models", "a list of models", required=True)
        shape = shape or _list_problem(doc, "source_urls", "a list of addresses")
        if shape:
            problems.append(f"{rel}: {shape}")
            continue
        conventions[str(provider)] = str(convention)
        docs.append((rel, doc))
    return docs, conventions


def inspect_table(directory: Path | None = None) -> tuple[PriceTable | None, list[str]]:
    """Load a table and every problem found in it (``pricing validate`` shows them all)."""
    directory = directory or default_pricing_dir()
    if not directory.is_dir():
        return None, [f"{directory}: pricing directory not found"]
    problems: list[str] = []
    try:
        version, sha = _verify_manifest(directory)
    except PricingTableError as exc:
        problems.append(str(exc))
        version, sha = "unverified", ""
    docs, conventions = _read_docs(directory, problems)
    models = [m for _, _, m in iter_models(docs, problems)]
    check_names(models, problems)
    sources = {str(doc["provider"]): list(doc.get("source_urls") or []) for _, doc in docs}
    table = PriceTable(directory, version, sha, models, conventions, sources)
    return table, problems


# Tables loaded without a problem in this process, by directory and the SHA-256 of every
# file the loader reads (the manifest and each provider file): parsing and validating the
# YAML costs about 50 ms, paid again by every library call or test that prices a store.
# A table whose bytes changed since is read afresh; the newest few are kept.
_LOADED: dict[tuple[Path, str], PriceTable] = {}
_LOADED_MAX = 8


def _content_key(directory: Path) -> tuple[Path, str] | None:
    """(directory, hash over the bytes of every file ``inspect_table`` reads), or None when
    a file cannot be read (the loader then reports it)."""
    digest = hashlib.sha256()
    try:
        for rel in [MANIFEST, *provider_files(directory)]:
            digest.update(f"{rel}\0{file_sha256(directory / rel)}\n".encode())
    except OSError:
        return None
    return directory, digest.hexdigest()


def load_price_table(directory: Path | None = None) -> PriceTable:
    """Load every provider file, verifying hashes and rejecting ambiguity.

    The same bytes load once per process: the table returned is then shared, so callers
    derive a changed one with ``dataclasses.replace`` (as overlays do), never in place.
    """
    directory = directory or default_pricing_dir()
    key = _content_key(directory) if directory.is_dir() else None
    cached = _LOADED.get(key) if key is not None else None
    if cached is not None:
        return cached
    table, problems = inspect_table(directory)
    if problems or table is None:
        raise PricingTableError("\n".join(problems))
    if key is not None and _content_key(directory) == key:  # not changed while read
        _LOADED.pop(key, None)
        _LOADED[key] = table
        while len(_LOADED) > _LOADED_MAX:
            del _LOADED[next(iter(_LOADED))]
    return table
