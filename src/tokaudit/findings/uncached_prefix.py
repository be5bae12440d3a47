"""D01 uncached-repeated-prefix: a long shared prompt prefix re-sent and billed uncached.

Requests sharing a system prompt (or, without one, a first message) are split into warm
chains: a gap longer than the cache TTL starts a new chain. After a chain's first
request, every request that read (almost) nothing from cache paid the full input
rate for a prefix it could have read at the cache rate. The saving per missed request
is ``(P_eff - cache_read) * (input - cache_read price)``, minus one cache-write premium
per chain that never wrote: the catalogue formula, counted only on requests that
missed, so an estimated prefix size cannot make a well-cached chain look wasteful.
``P`` is the prefix size counted with o200k_base (exact for OpenAI and Azure OpenAI, an
estimate for other providers); both cache in 128-token steps from 1,024 tokens.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from typing import Any

import duckdb

from tokaudit.findings.common import CLAIMED, PROMPT_KEY, UNCLAIMED, claimed_table, usd
from tokaudit.findings.interface import WasteRule
from tokaudit.models import Finding


def _minimum(priced_model: str, minimums: dict[str, Any]) -> int | None:
    """The minimum cacheable prefix of a priced model: its own entry, else the longest
    entry its family id starts with, once a Bedrock region and vendor prefix are dropped
    (``us.anthropic.claude-haiku-4-5-20251001-v1:0`` is a ``claude-haiku-4-5``: it fell
    back to the default, 1,024, and was flagged below its 4,096)."""
    if priced_model in minimums:
        return int(minimums[priced_model])
    family = re.sub(r"^(?:[a-z]{2,6}\.)?(?:anthropic\.)", "", priced_model.lower())
    keys = [k for k in minimums if family.startswith(k.lower())]
    return int(minimums[max(keys, key=len)]) if keys else None


# Providers whose prompt cache is OpenAI's: from 1,024 tokens, in steps of 128, with an
# o200k prefix size that is exact. Azure OpenAI documents the same steps ("after the first
# 1,024 tokens cache hits will occur for every 128 additional identical tokens",
# learn.microsoft.com/azure/ai-foundry/openai/how-to/prompt-caching).
OPENAI_CACHES = ("openai", "azure")
_OPENAI_CACHES = ", ".join(f"'{p}'" for p in OPENAI_CACHES)


class UncachedPrefix(WasteRule):
    rule_id = "D01"
    name = "uncached-repeated-prefix"
    summary = "a long prompt prefix re-sent within the cache TTL but billed uncached"

    def evaluate(self, con: duckdb.DuckDBPyConnection, settings: dict[str, Any]) -> list[Finding]:
        ttl = float(settings.get("cache_ttl_minutes", 5))  # may be a fraction: 7.5 min
        step = int(settings.get("openai_increment", 128))
        minimums = dict(settings.get("min_prefix_tokens", {}))
        default_min = int(minimums.pop("default", 1024))
        con.execute("CREATE OR REPLACE TEMP TABLE _min_prefix (model VARCHAR, tokens BIGINT)")
        models = [
            m for (m,) in con.execute("SELECT DISTINCT priced_model FROM request_costs").fetchall()
        ]
        found = [(m, _minimum(m, minimums)) for m in models if m is not None]
        if any(tokens is not None for _, tokens in found):
            con.executemany(
                "INSERT INTO _min_prefix VALUES (?, ?)", [f for f in found if f[1] is not None]
            )
        claimed_table(con)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _d01_judged AS WITH sized AS (
                SELECT c.*, {PROMPT_KEY} AS prompt_key,
                    least(t.tokens, c.total_input_tokens) AS p,
                    coalesce(m.tokens, ?) AS min_p
                FROM request_costs c
                JOIN prompt_texts pt ON pt.text_hash = c.prompt_hash AND pt.kind = 'system'
                JOIN token_counts t ON t.text_hash = c.prompt_hash AND t.encoding = 'o200k_base'
                LEFT JOIN _min_prefix m ON m.model = c.priced_model
                -- bucket rows (aggregated usage exports) stand for many calls: no evidence
                WHERE c.granularity = 'request' AND c.status = 'ok'
                  AND c.pricing_status = 'priced'
                  AND c.cache_read_price IS NOT NULL AND c.input_price > c.cache_read_price
            ), eligible AS (
                SELECT *,
                    CASE WHEN provider IN ({_OPENAI_CACHES})
                         THEN CASE WHEN p >= 1024 THEN 1024 + ? * ((p - 1024) // ?) ELSE 0 END
                         ELSE p END AS p_eff,
                    lag(ts) OVER w AS prev_ts
                FROM sized WHERE p >= min_p
                WINDOW w AS (PARTITION BY provider, model, prompt_hash ORDER BY ts, request_key)
            ), chained AS (
                SELECT *, sum(CASE WHEN prev_ts IS NULL OR ts - prev_ts > to_microseconds(?::BIGINT)
                              THEN 1 ELSE 0 END)
                          OVER (PARTITION BY provider, model, prompt_hash
                                ORDER BY ts, request_key ROWS UNBOUNDED PRECEDING) AS chain,
                    prev_ts IS NULL OR ts - prev_ts > to_microseconds(?::BIGINT) AS chain_start
                FROM eligible
            ), judged AS (
                -- a request that missed the cache, unless an earlier rule counted it (a
                -- duplicate a response cache would have served whole)
                SELECT *, NOT chain_start AND cache_read_tokens < p_eff / 2 AND {UNCLAIMED}
                    AS missed
                FROM chained
            )
            SELECT request_key, team, model, prompt_key, provider, prompt_hash, chain, p, p_eff,
                missed, cache_read_tokens, input_price, cache_read_price, cache_write_5m_tokens,
                cache_write_1h_tokens, cache_write_5m_price
            FROM judged""",
            [default_min, step, step, round(ttl * 60_000_000), round(ttl * 60_000_000)],
        )
        # each (chain, team, prompt) part of a warm chain; the chain's writes and premium
        rows = con.execute(
            """SELECT provider, model, prompt_hash, chain, team, prompt_key,
                any_value(p) AS p,
                count(*) FILTER (WHERE missed) AS missed,
                sum(CASE WHEN missed
                         THEN (p_eff - cache_read_tokens) * (input_price - cache_read_price)
                         ELSE 0 END) AS gross,
                -- HUGEINT: two counts near 2^63 would overflow BIGINT's +
                sum(sum(cache_write_5m_tokens::HUGEINT + cache_write_1h_tokens))
                    OVER (PARTITION BY provider, model, prompt_hash, chain) AS writes,
                -- the write premium from the prices, not the log's provider: Claude logged
                -- as bedrock (LiteLLM, OTel) or google (Vertex) pays it, and so does GPT-5.6
                -- (1.25x input); OpenAI before it writes at the input rate (premium 0)
                max(max(CASE WHEN cache_write_5m_price IS NOT NULL
                             THEN p_eff * (cache_write_5m_price - input_price)
                             WHEN provider = 'anthropic' THEN NULL ELSE 0 END))
                    OVER (PARTITION BY provider, model, prompt_hash, chain) AS premium,
                -- a cache written only where marked (Claude on any platform): cache_control
                bool_or(provider <> 'openai' AND cache_write_5m_price > input_price)
                    AS explicit
            FROM _d01_judged
            GROUP BY provider, model, prompt_hash, chain, team, prompt_key"""
        ).fetchall()
        groups, saving_chains = _per_group(rows)
        # the requests counted here, in chains with a saving: D09 leaves them out of its
        # savings (a chain that saves nothing, or whose write premium is unknown, claims none)
        con.execute(
            f"""INSERT INTO {CLAIMED} SELECT j.request_key FROM _d01_judged j
            SEMI JOIN (SELECT unnest(?::VARCHAR[]) AS provider, unnest(?::VARCHAR[]) AS model,
                              unnest(?::VARCHAR[]) AS prompt_hash, unnest(?::BIGINT[]) AS chain) s
              ON j.provider IS NOT DISTINCT FROM s.provider
             AND j.model IS NOT DISTINCT FROM s.model
             AND j.prompt_hash = s.prompt_hash AND j.chain = s.chain
            WHERE j.missed""",
            [[str(c[i]) if c[i] is not None else None for c in saving_chains] for i in range(3)]
            + [[int(c[3]) for c in saving_chains]],
        )
        con.execute("DROP TABLE _d01_judged")
        return [
            Finding(
                rule_id=self.rule_id,
                rule=self.name,
                title="Long prompt prefix billed uncached (caching opportunity)",
                team=team,
                model=model,
                prompt=prompt,
                requests=int(missed),
                savings_usd=usd(saved),
                detail=(
                    f"{missed} request(s) in {chains} warm chain(s) re-sent a ~{p:,}-token "
                    f"prefix within {ttl:g} min without a cache read"
                    + ("" if provider in OPENAI_CACHES else " (prefix size estimated)")
                    + (
                        "; mark it with cache_control"
                        if explicit or provider == "anthropic"
                        else "; keep the prefix byte-identical and first"
                    )
                ),
            )
            for (team, model, prompt), (provider, chains, missed, p, saved, explicit) in groups
            if saved > 0
        ]


MONEY_QUANTUM = Decimal("1e-18")  # DECIMAL(38,18), the store's money type


def _per_group(
    rows: list[Any],
) -> tuple[list[tuple[tuple[Any, ...], tuple[Any, ...]]], list[tuple[Any, ...]]]:
    """Savings per (team, model, prompt), largest first, from the parts of each warm chain;
    and the chains (provider, model, prompt hash, chain) that save something.

    A chain's saving is its missed gross minus the write premium it never paid, at least 0,
    counted once per chain: a chain whose requests came from two teams (or prompt ids) is
    shared between them by their gross (it subtracted the premium once per team).
    """
    saving_chains: list[tuple[Any, ...]] = []
    chains: dict[tuple[Any, ...], list[Any]] = {}
    for row in rows:
        chains.setdefault(tuple(row[:4]), []).append(row)
    groups: dict[tuple[Any, ...], list[Any]] = {}
    with localcontext() as exact:
        exact.prec = 80  # the share of a DECIMAL(38,18) saving: no rounding that matters
        for parts in chains.values():
            gross = sum((Decimal(part[8]) for part in parts), Decimal(0))
            writes, premium = parts[0][9], parts[0][10]
            if writes == 0 and premium is None:
                # a model with a cache-read price and none for writes (an overlay's
                # private model): the premium the chain never paid is unknown, so the
                # chain claims nothing rather than a saving that may not exist
                saving = Decimal(0)
            else:
                saving = max(Decimal(0), gross - (Decimal(premium) if writes == 0 else 0))
            if saving <= 0:
                continue  # a chain that saves nothing is no part of any finding
            saving_chains.append(tuple(parts[0][:4]))
            for provider, model, _h, _c, team, prompt, p, missed, part_gross, _w, _p, x in parts:
                if not missed:
                    continue
                share = saving if len(parts) == 1 else saving * Decimal(part_gross) / gross
                group = groups.setdefault(
                    (team, model, prompt), [provider, 0, 0, 0, Decimal(0), False]
                )
                group[5] = group[5] or bool(x)
                group[1] += 1
                group[2] += int(missed)
                group[3] = max(group[3], int(p))
                group[4] += share if gross else Decimal(0)
    for group in groups.values():
        # a shared chain's part is a quotient (33.38656199772001823985408117...): written at
        # the store's money scale, as every amount is, not as 28 digits passed off as exact
        group[4] = group[4].quantize(MONEY_QUANTUM)
    ordered = sorted(groups.items(), key=lambda item: item[1][4], reverse=True)
    return [(key, tuple(values)) for key, values in ordered], saving_chains
