"""D09 overkill-model: a premium model used for short, simple requests (routing opportunity).

A (team, prompt, model) group is flagged when most of its requests are short (little
user input beyond the system prompt, short output, no reasoning, no tools) and a
cheaper model of the same provider costs at most 1/ratio as much per input token. The
saving re-prices the same token classes at the cheaper model's prices on the same day;
it is an opportunity that needs an evaluation first, never realised waste.
"""

from __future__ import annotations

from typing import Any

import duckdb

from tokaudit.findings.common import PROMPT_KEY, UNCLAIMED, claimed_table, estimate_note, usd
from tokaudit.findings.interface import WasteRule
from tokaudit.models import Finding

# The stored input body (prompt_texts ``pt``), parsed once into what D09 asks of it (each
# json_type or json_extract_string parsed the whole body again: 9 parses a request, 3 times
# the rule's time). A key of another JSON type reads as NULL.
_BODY = (
    'from_json(pt.body, \'{"system":"JSON","instructions":"JSON",'
    '"systemInstruction":"JSON","system_instructions":"JSON","messages":[{"role":"VARCHAR"}],'
    '"input":"JSON","tools":"JSON","functions":"JSON"}\')'
)
_SYSTEM_ROLES = "['system', 'developer']"
_ROLE_LIST = """'[{"role":"VARCHAR"}]'"""  # a from_json shape: a list of messages' roles


def _has_system_role(messages: str) -> str:
    """SQL: whether a list of ``{role}`` structs names a system or developer message."""
    return f"list_has_any(list_transform({messages}, lambda m: m.role), {_SYSTEM_ROLES})"


# Whether the body has a system prompt: a system field (Anthropic, Gemini, Responses
# instructions, OTel) or a system or developer message (Chat messages, a Responses input
# list, or a bare list of messages as Langfuse keeps it).
_HAS_SYSTEM = f"""coalesce(
        coalesce(v.system, v.instructions, v.systemInstruction, v.system_instructions)
            IS NOT NULL
        OR {_has_system_role("v.messages")}
        OR (left(v.input::VARCHAR, 1) = '['
            AND {_has_system_role(f"from_json(v.input, {_ROLE_LIST})")})
        OR (left(body, 1) = '[' AND {_has_system_role(f"from_json(body, {_ROLE_LIST})")}),
        false)"""
_ESTIMATED = "usage_source = 'recounted'"  # priced (judged rows all are) from the recount
_HAS_TOOLS = """coalesce(json_array_length(v.tools) > 0 OR json_array_length(v.functions) > 0,
                 false)"""


class OverkillModel(WasteRule):
    rule_id = "D09"
    name = "overkill-model"
    summary = "a premium model on short simple requests a cheaper model could serve"

    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        routing = dict(settings.get("routing", {}))
        if not routing:
            return []
        claimed_table(con)
        con.execute("CREATE OR REPLACE TEMP TABLE _routing (model VARCHAR, target VARCHAR)")
        con.executemany("INSERT INTO _routing VALUES (?, ?)", list(routing.items()))
        rows = con.execute(
            f"""WITH joined AS (
                SELECT c.*, {PROMPT_KEY} AS prompt_key, r.target, t.tokens AS prompt_tokens,
                    pt.body AS body, {_BODY} AS v
                FROM request_costs c
                JOIN _routing r ON r.model = c.priced_model
                LEFT JOIN token_counts t ON t.text_hash = c.prompt_hash
                     AND t.encoding = 'o200k_base'
                LEFT JOIN prompt_texts pt ON pt.text_hash = c.input_hash
                -- bucket rows (aggregated usage exports) stand for many calls: no evidence
                WHERE c.granularity = 'request' AND c.status = 'ok'
                  AND c.pricing_status = 'priced'
            ), base AS (
                -- the prompt key's text is the system prompt, or the first message when
                -- there is none: that message is the user's question, not a prompt, so
                -- such requests group by team and model alone (one group a question never
                -- reached min_requests), and only a system prompt is input beyond the user's
                SELECT * REPLACE (CASE WHEN has_system OR prompt_id IS NOT NULL
                                       THEN prompt_key END AS prompt_key),
                    total_input_tokens - CASE WHEN has_system THEN coalesce(prompt_tokens, 0)
                                              ELSE 0 END AS user_input
                FROM (SELECT *, {_HAS_SYSTEM} AS has_system, {_HAS_TOOLS} AS has_tools
                      FROM joined)
            ), judged AS (
                SELECT b.*,
                    user_input <= ? AND output_tokens <= ? AND coalesce(reasoning_tokens, 0) = 0
                        AND NOT has_tools AS simple,
                    (coalesce(b.input_tokens, 0) * t.input_price
                     + coalesce(b.input_audio_tokens, 0)
                         * coalesce(t.input_audio_price, t.input_price)
                     + coalesce(b.cache_read_tokens, 0)
                         * coalesce(t.cache_read_price, t.input_price)
                     + coalesce(b.cache_read_audio_tokens, 0)
                         * coalesce(t.cache_audio_read_price, t.cache_read_price, t.input_price)
                     + coalesce(b.cache_write_5m_tokens, 0)
                         * coalesce(t.cache_write_5m_price, t.input_price)
                     + coalesce(b.cache_write_1h_tokens, 0)
                         * coalesce(t.cache_write_1h_price, t.input_price)
                     + coalesce(b.output_tokens, 0) * t.output_price) AS target_cost,
                    b.input_price >= ?::DECIMAL(18, 6) * t.input_price AS premium
                FROM base b JOIN price_bands t ON t.model_id = b.target
                 AND t.variant = b.price_context
                 AND (t.valid_from IS NULL OR b.ts >= t.valid_from)
                 AND (t.valid_to IS NULL OR b.ts < t.valid_to)
                 AND b.total_input_tokens > t.above_tokens
                 AND (t.up_to_tokens IS NULL OR b.total_input_tokens <= t.up_to_tokens)
            )
            -- the savings leave out requests an earlier rule counted (a duplicate, a missed
            -- cache read): the share of simple requests still judges all of them
            SELECT team, model, prompt_key, any_value(target), count(*),
                   count(*) FILTER (WHERE simple),
                   count(*) FILTER (WHERE simple AND {UNCLAIMED}),
                   sum(cost_usd - target_cost) FILTER (WHERE simple AND {UNCLAIMED}),
                   -- the saving's part priced from recounted tokens (no usage logged)
                   count(*) FILTER (WHERE simple AND {UNCLAIMED} AND {_ESTIMATED}),
                   sum(cost_usd - target_cost)
                       FILTER (WHERE simple AND {UNCLAIMED} AND {_ESTIMATED})
            FROM judged WHERE premium
            GROUP BY team, model, prompt_key
            HAVING count(*) >= ? AND count(*) FILTER (WHERE simple) >= ? * count(*)
            ORDER BY 8 DESC""",
            [
                int(settings.get("max_user_input_tokens", 200)),
                int(settings.get("max_output_tokens", 300)),
                str(settings.get("min_price_ratio", 5)),
                int(settings.get("min_requests", 100)),
                float(settings.get("min_candidate_share", 0.8)),
            ],
        ).fetchall()
        return [
            Finding(
                rule_id=self.rule_id,
                rule=self.name,
                title=f"Premium model on short, simple requests: try {target}",
                team=team,
                model=model,
                prompt=prompt,
                requests=int(simple),
                savings_usd=usd(saved),
                detail=(
                    f"{simple} of {total} requests were short and simple; the same tokens on "
                    f"{target} would cost {usd(saved):f} USD less"
                    # requests an earlier finding counted (a duplicate, a missed cache read)
                    # are left out of the saving: say so, or the figure reads as all of them
                    + (
                        f" for the {open_} not counted by an earlier finding"
                        if open_ < simple
                        else ""
                    )
                    + " (evaluate quality first)"
                    + estimate_note(guessed, guess_usd)
                ),
                kind="opportunity",
            )
            for team, model, prompt, target, total, simple, open_, saved, guessed, guess_usd in rows
            if saved and saved > 0
        ]
