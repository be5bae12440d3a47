"""Flatten versions, variants and tiers into price bands that SQL can join on.

A band is everything needed to price one request with plain column arithmetic:
the model, the instant range, the context (standard, batch, flex, priority, regional or a
combination such as ``batch+regional``) and a range of total input tokens, with one
per-token price per token class. Doing the tier and variant logic here, once per table,
keeps the per-request work in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from tokaudit.pricing.table import ALL_PRICE_KEYS, ModelEntry, PriceTable, PriceVersion, Tier

PER_MILLION = Decimal(1_000_000)
Schedule = list[tuple[int, Decimal]]  # (exclusive lower bound of total input, price)


@dataclass(frozen=True)
class PriceBand:
    model_id: str
    provider: str
    valid_from: datetime | None
    valid_to: datetime | None
    variant: str
    above_tokens: int  # band applies when total_input_tokens > above_tokens ...
    up_to_tokens: int | None  # ... and <= up_to_tokens (None: no upper bound)
    per_token: dict[str, Decimal | None]  # USD per token, None = no price for that class
    web_search_per_request: Decimal | None
    source_url: str
    file_search_per_request: Decimal | None = None  # USD per file_search_call
    per_request: Decimal | None = None  # USD per request (fees.per_request)


# Keys priced only where a version names them; absent, their tokens take the schedule of
# the key they are part of (audio input is input, cached audio a cache read).
FALLBACK_KEYS = {"input_audio": "input", "cache_audio_read": "cache_read"}


def _schedule(base: Decimal, key: str, tiers: list[Tier]) -> Schedule:
    return [(-1, base)] + [(t.threshold, t.prices[key]) for t in tiers if key in t.prices]


def schedules(version: PriceVersion, variant: str) -> dict[str, Schedule]:
    """Per key: the base schedule, or the variant's own where it names the key.

    Audio input with no audio price stays in the text class: it takes the (variant's)
    input schedule, so a model priced only for text bills its audio tokens as input; cached
    audio likewise takes the cache_read schedule.
    """
    out = {k: _schedule(p, k, version.tiers) for k, p in version.prices.items()}
    for v in version.variants:
        if v.name == variant:
            out.update({k: _schedule(p, k, v.tiers) for k, p in v.prices.items()})
    for key, part_of in FALLBACK_KEYS.items():
        if key not in out and part_of in out:
            out[key] = out[part_of]
    return out


def _price_at(schedule: Schedule, above: int) -> Decimal:
    """The price of the highest threshold at or below the band start (a cliff, not marginal)."""
    return [price for threshold, price in schedule if threshold <= above][-1]


def _per_call(version: PriceVersion, fee: str) -> Decimal | None:
    """USD per call of a fee given per 1,000 calls."""
    per_1k = version.fees.get(fee)
    return None if per_1k is None else per_1k / 1000


def compile_model(model: ModelEntry) -> list[PriceBand]:
    bands: list[PriceBand] = []
    for version in model.versions:
        for context in version.contexts():
            per_key = schedules(version, context)
            starts = sorted({t for s in per_key.values() for t, _ in s})
            for i, start in enumerate(starts):
                end = starts[i + 1] if i + 1 < len(starts) else None
                per_token: dict[str, Decimal | None] = {
                    key: (_price_at(per_key[key], start) / PER_MILLION) if key in per_key else None
                    for key in ALL_PRICE_KEYS
                }
                bands.append(
                    PriceBand(
                        model_id=model.id,
                        provider=model.provider,
                        valid_from=version.effective_from,
                        valid_to=version.effective_to,
                        variant=context,
                        above_tokens=start,
                        up_to_tokens=end,
                        per_token=per_token,
                        web_search_per_request=_per_call(version, "web_search_per_1k"),
                        file_search_per_request=_per_call(version, "file_search_per_1k"),
                        source_url=version.source_url,
                        per_request=version.fees.get("per_request"),
                    )
                )
    return bands


def compile_table(table: PriceTable) -> list[PriceBand]:
    return [band for model in table.models for band in compile_model(model)]
