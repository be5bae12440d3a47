"""The token-class conventions of pricing-semantics §2, written out independently of src/.

Tests compute their expectations from raw provider ``usage`` objects with these, never by
calling tokaudit.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]
CLASSES = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_5m_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


def openai_classes(usage: Json) -> Json:
    """prompt/input includes cached + cache-write; completion/output includes reasoning."""
    p = usage.get("prompt_tokens", usage.get("input_tokens"))
    pdet = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    odet = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    c, w = pdet.get("cached_tokens", 0), pdet.get("cache_write_tokens", 0)
    return {
        "input_tokens": p - c - w,
        "cache_read_tokens": c,
        "cache_write_5m_tokens": w,
        "cache_write_1h_tokens": 0,
        "output_tokens": usage.get("completion_tokens", usage.get("output_tokens")),
        "reasoning_tokens": odet.get("reasoning_tokens"),
    }


def anthropic_classes(usage: Json) -> Json:
    """input excludes cache; cache writes split 5m/1h, all 5m when the split is absent."""
    cw = usage.get("cache_creation_input_tokens") or 0
    split = usage.get("cache_creation")
    cw5 = split.get("ephemeral_5m_input_tokens", 0) if split else cw
    cw1 = split.get("ephemeral_1h_input_tokens", 0) if split else 0
    return {
        "input_tokens": usage["input_tokens"],
        "cache_read_tokens": usage.get("cache_read_input_tokens") or 0,
        "cache_write_5m_tokens": cw5,
        "cache_write_1h_tokens": cw1,
        "output_tokens": usage["output_tokens"],
        "reasoning_tokens": (usage.get("output_tokens_details") or {}).get("thinking_tokens"),
    }


def gemini_classes(um: Json) -> Json:
    """promptTokenCount includes cachedContentTokenCount; thoughts are outside candidates."""
    pt, tu = um["promptTokenCount"], um.get("toolUsePromptTokenCount", 0)
    cc = um.get("cachedContentTokenCount", 0)
    th = um.get("thoughtsTokenCount", 0)
    return {
        "input_tokens": pt + tu - cc,
        "cache_read_tokens": cc,
        "cache_write_5m_tokens": 0,
        "cache_write_1h_tokens": 0,
        "output_tokens": um.get("candidatesTokenCount", 0) + th,
        "reasoning_tokens": th,
    }


def classes_of(row: Json) -> Json:
    """A stored row's token classes, to compare with a convention's."""
    return {k: row[k] for k in CLASSES}
