"""OpenAI Chat Completions and Responses API request/response pairs (docs/formats.md).

Streamed responses are folded first (``streams.py``): usage comes from the chunk that has
it, and a stream logged without ``stream_options.include_usage`` loads with
``has_usage = false`` (unpriced ``no_usage``), never as zero tokens. Without a line
``timestamp``, the response's ``created`` (Chat, unix seconds) or ``created_at``
(Responses) is the time of the call.
"""

from __future__ import annotations

from tokaudit.ingest.pairs import PairsFormat


class OpenAIPairsFormat(PairsFormat):
    name = "openai-pairs"
    description = "OpenAI Chat Completions / Responses request-response pairs (JSONL)"
    provider = "openai"
    body_time_sql = "coalesce(resp -> 'created', resp -> 'created_at')"
    time_hint = "no timestamp, and the response has no created or created_at"
