"""What the recount would do in a store, asked without writing anything.

``findings`` and ``report --show recount`` need every text counted. Usually ``ingest``
has counted them already, so they open the store read-only, ask here, and reopen it
writable (DuckDB's exclusive lock) only when there is something to count.

The questions are the ones ``tokaudit.recount.recount`` selects its work by, on the same
plan (each model's tokenizer, version and encoding, from ``recount._plan``): inputs and
replies without a count at their tokenizer's current version, system prompts not sized
with o200k_base, and requests whose stored recount differs from the counts stored. When
all are zero, ``recount`` writes nothing; tests/test_read_only_commands.py checks that.
The "not counted yet" conditions are the recount's own (``not_counted_sql``,
``UNSIZED_SYSTEM_PROMPT``); the lagging-requests check mirrors its final update. A text
the model's tokenizer fails on is never stored (its estimate stands in for one run), so
it is pending on every run until the plugin counts it.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from tokaudit.recount import (
    INPUT_KEY,
    OUTPUT_KEY,
    UNSIZED_SYSTEM_PROMPT,
    _plan,
    not_counted_sql,
)
from tokaudit.recount.pool import fallback_label
from tokaudit.tokenizers import EstimateTokenizer, Registry

__all__ = ["Uncounted", "uncounted"]


@dataclass(frozen=True)
class Uncounted:
    """The recount's pending work in a store; false when there is none."""

    inputs: int = 0  # request inputs without a count by their tokenizer's current version
    replies: int = 0  # the same for replies
    system_prompts: int = 0  # system prompts not yet sized for the caching finding
    requests: int = 0  # requests whose recount columns lag the counts already stored

    def __bool__(self) -> bool:
        return any((self.inputs, self.replies, self.system_prompts, self.requests))

    def describe(self) -> str:
        """``3 input(s) and 1 reply`` style: what is waiting, for messages."""
        parts = [
            f"{n} {label}"
            for n, label in (
                (self.inputs, "request input(s)"),
                (self.replies, "reply(ies)"),
                (self.system_prompts, "system prompt(s)"),
            )
            if n
        ]
        if self.requests:
            parts.append(f"{self.requests} request(s) whose recount is not filled in")
        if not parts:
            return "nothing"
        return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]


def uncounted(con: duckdb.DuckDBPyConnection, registry: Registry) -> Uncounted:
    """What ``recount(con, registry)`` would count or update; reads only (temp tables).

    Works on a store opened read-only. ``registry.broken`` is left as it was: the recount
    that follows reports the plugins that fail.
    """
    broken = list(registry.broken)
    estimate = EstimateTokenizer()
    try:
        _plan(con, registry, estimate)  # the temp table _model_tok
    finally:
        registry.broken[:] = broken
    in_key = INPUT_KEY.format(p="q.provider", h="q.input_hash")
    out_key = OUTPUT_KEY.format(p="q.provider", i="q.input_hash", o="q.output_hash")
    current = ("m.tokenizer", "m.encoding", "m.tokenizer_version")  # each model's plan
    try:
        row = con.execute(
            f"""SELECT
            (SELECT count(*) FROM (
                SELECT DISTINCT {in_key}, m.tokenizer, m.encoding
                FROM requests q JOIN _model_tok m USING (model)
                JOIN prompt_texts p ON p.text_hash = q.input_hash
                WHERE {not_counted_sql(in_key, *current)})),
            (SELECT count(*) FROM (
                SELECT DISTINCT {out_key}, m.tokenizer, m.encoding
                FROM requests q JOIN _model_tok m USING (model)
                JOIN prompt_texts o ON o.text_hash = q.output_hash
                WHERE q.output_hash IS NOT NULL AND {not_counted_sql(out_key, *current)})),
            (SELECT count(*) FROM prompt_texts p
             WHERE {UNSIZED_SYSTEM_PROMPT}),
            (SELECT count(*)
             FROM requests q JOIN _model_tok m USING (model)
             LEFT JOIN token_counts ci ON ci.text_hash = {in_key}
                  AND ci.tokenizer = m.tokenizer AND ci.encoding = m.encoding
             LEFT JOIN token_counts co ON q.output_hash IS NOT NULL
                  AND co.text_hash = {out_key}
                  AND co.tokenizer = m.tokenizer AND co.encoding = m.encoding
             WHERE (ci.tokens IS NOT NULL OR co.tokens IS NOT NULL)
               AND (q.recounted_input_tokens IS DISTINCT FROM
                        coalesce(ci.tokens, q.recounted_input_tokens)
                    OR q.recount_exact IS DISTINCT FROM coalesce(ci.exact, q.recount_exact)
                    OR (q.recount_tokenizer IS DISTINCT FROM m.tokenizer
                        AND q.recount_tokenizer IS DISTINCT FROM
                            m.tokenizer || '{fallback_label("", estimate.name)}')
                    OR q.recounted_output_tokens IS DISTINCT FROM
                        coalesce(co.tokens, q.recounted_output_tokens)
                    OR q.recount_output_exact IS DISTINCT FROM
                        coalesce(co.exact, q.recount_output_exact)))"""
        ).fetchone()
    finally:
        con.execute("DROP TABLE IF EXISTS _model_tok")
    inputs, replies, system_prompts, requests = (int(n) for n in row) if row else (0, 0, 0, 0)
    return Uncounted(inputs, replies, system_prompts, requests)
