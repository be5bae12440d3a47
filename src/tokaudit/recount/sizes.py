"""System prompt sizes: each system prompt (or first message) counted with o200k_base.

The caching finding needs the size of every prompt in ``prompt_texts`` (kind 'system').
Most are the text of one plain message the input recount counts anyway, so they are sized
from that count instead of being tokenized again: from the message's pieces when it is
new (``size_from_pieces``), else from its stored unit count
(``recount._prompt_sizes_from_units``). Only the prompts left are counted on their own.
Every step first asks ``any_unsized``, which reads no prompt text: reading the texts
(stored compressed) costs more than the rest of a step.
"""

from __future__ import annotations

import duckdb

__all__ = [
    "SIZE_ENCODING",
    "SIZE_TOKENIZER",
    "UNSIZED_SYSTEM_PROMPT",
    "any_unsized",
    "size_from_pieces",
]

SIZE_TOKENIZER, SIZE_ENCODING = "tiktoken", "o200k_base"  # what sizes are counted with

# SQL over ``prompt_texts p``: a system prompt not sized yet (o200k_base, whatever the
# version: sizes are only for the caching finding)
UNSIZED_SYSTEM_PROMPT = f"""p.kind = 'system' AND NOT EXISTS (
            SELECT 1 FROM token_counts c
            WHERE c.text_hash = p.text_hash AND c.encoding = '{SIZE_ENCODING}')"""


def any_unsized(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether some system prompt has no size yet (its text is not read)."""
    row = con.execute(
        f"SELECT EXISTS (SELECT 1 FROM prompt_texts p WHERE {UNSIZED_SYSTEM_PROMPT})"
    ).fetchone()
    return bool(row and row[0])


def size_from_pieces(
    con: duckdb.DuckDBPyConnection,
    sid: int,
    version: str,
    split_unit: str,
    failed: int,
    with_fell: bool,
) -> None:
    """Size the prompts that are the text of a plain unit of ``_units`` counted by pieces.

    ``_piece_sums`` (rn, tokens) holds the sum of each unit's pieces: the count of its text
    alone, with the tokenizer and encoding of piece group ``sid`` (tiktoken's o200k_base,
    ``version``), which is the prompt's size. Prompts are matched on their length first,
    so only texts of a prompt's length are hashed. ``failed`` marks a sum that could not be
    counted; a sum the fallback made (``_piece_sums.fell`` ``with_fell``, the failure
    path) is no size.
    """
    estimated = "AND NOT s.fell" if with_fell else ""
    con.execute(
        f"""INSERT INTO token_counts
        SELECT m.text_hash, '{SIZE_TOKENIZER}', ?, '{SIZE_ENCODING}', any_value(s.tokens),
            any_value(m.provider = 'openai')
        FROM (
            -- the units that are a prompt's text, found first: joined to the sums with
            -- their payloads, the plan cost four times as much (0.12 s on the benchmark)
            SELECT p.text_hash, p.provider, u.rn
            FROM (SELECT text_hash, provider, chars FROM prompt_texts p
                  WHERE {UNSIZED_SYSTEM_PROMPT}) p
            JOIN (SELECT rn, payload, length(payload) AS chars FROM _units
                  WHERE kind = 'plain' AND sid = ? AND {split_unit}) u USING (chars)
            WHERE md5(u.payload) = p.text_hash) m
        JOIN _piece_sums s ON s.rn = m.rn
        WHERE s.tokens <> {failed} {estimated}
        GROUP BY m.text_hash
        ON CONFLICT DO NOTHING""",
        [version, sid],
    )
