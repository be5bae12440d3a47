"""Helpers shared by rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

PROMPT_KEY = "coalesce(c.prompt_id, 'fp:' || left(c.prompt_hash, 8))"


def usd(value: Any) -> Decimal:
    return Decimal(0) if value is None else Decimal(value).normalize()
