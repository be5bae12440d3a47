"""Anthropic Messages request/response pairs (docs/formats.md).

A Message body carries no time (only the HTTP ``Date`` header had one), so every line
needs a ``timestamp``. Streamed responses (the SSE events, or a list of them) are folded
into one Message: ``message_start`` patched with the last ``message_delta``.
"""

from __future__ import annotations

from tokaudit.ingest.pairs import PairsFormat


class AnthropicPairsFormat(PairsFormat):
    name = "anthropic-pairs"
    description = "Anthropic Messages request-response pairs (JSONL)"
    provider = "anthropic"
    time_hint = "Anthropic message bodies carry no time; add a timestamp to each line"
