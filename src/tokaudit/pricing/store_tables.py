"""Write a compiled price table into the store and (re)create the pricing views.

Every priced command refreshes these few hundred rows, so the figures always come
from the table the user chose, and analysts' ad-hoc SQL sees the same prices.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from tokaudit.pricing.bands import compile_table
from tokaudit.pricing.table import PRICE_KEYS, PriceTable
from tokaudit.store.connection import bulk_insert

MONEY = "DECIMAL(38,18)"

_DDL = f"""
CREATE OR REPLACE TABLE pricing_info (
    table_version VARCHAR, table_sha256 VARCHAR, directory VARCHAR, loaded_at TIMESTAMPTZ);
CREATE OR REPLACE TABLE model_names (name VARCHAR PRIMARY KEY, model_id VARCHAR NOT NULL);
CREATE OR REPLACE TABLE price_bands (
    model_id VARCHAR NOT NULL, provider VARCHAR NOT NULL,
    valid_from TIMESTAMPTZ, valid_to TIMESTAMPTZ, variant VARCHAR NOT NULL,
    above_tokens BIGINT NOT NULL, up_to_tokens BIGINT,
    {", ".join(f"{k}_price {MONEY}" for k in PRICE_KEYS)},
    web_search_price {MONEY}, source_url VARCHAR);
"""

# Normalise a logged model name the way pricing-semantics §7 says: lowercase, no routing
# prefix, Vertex @date as -date. Dated snapshots are never cut back to their alias.
MODEL_KEY_MACRO = r"""
CREATE OR REPLACE MACRO tokaudit_model_key(m) AS regexp_replace(
    regexp_replace(lower(trim(m)), '^((openai|anthropic|google|gemini|vertex_ai)/)?(models/)?', ''),
    '@(\d{8})$', '-\1');
"""

_COST_VIEW = """
CREATE OR REPLACE VIEW request_costs AS
WITH r AS (
    SELECT q.*,
        coalesce(q.input_tokens, 0) + coalesce(q.cache_read_tokens, 0)
            + coalesce(q.cache_write_5m_tokens, 0) + coalesce(q.cache_write_1h_tokens, 0)
            AS total_input_tokens,
        CASE WHEN q.is_batch THEN 'batch' ELSE coalesce(q.service_tier, 'standard') END
            AS price_context,
        n.model_id AS priced_model
    FROM requests q LEFT JOIN model_names n ON n.name = tokaudit_model_key(q.model)
), priced AS (
    SELECT r.*, b.input_price, b.cache_read_price, b.cache_write_5m_price,
        b.cache_write_1h_price, b.output_price, b.web_search_price, b.source_url AS price_source,
        b.valid_from AS price_valid_from,
        EXISTS (SELECT 1 FROM price_bands s WHERE s.model_id = r.priced_model
                AND (s.valid_from IS NULL OR r.ts >= s.valid_from)
                AND (s.valid_to IS NULL OR r.ts < s.valid_to)) AS version_in_force
    FROM r LEFT JOIN price_bands b
      ON b.model_id = r.priced_model AND b.variant = r.price_context
     AND (b.valid_from IS NULL OR r.ts >= b.valid_from)
     AND (b.valid_to IS NULL OR r.ts < b.valid_to)
     AND r.total_input_tokens > b.above_tokens
     AND (b.up_to_tokens IS NULL OR r.total_input_tokens <= b.up_to_tokens)
), judged AS (
    SELECT *,
        CASE
            WHEN NOT has_usage AND status = 'error' THEN NULL
            WHEN NOT has_usage THEN 'no_usage'
            WHEN priced_model IS NULL THEN 'unknown_model'
            WHEN NOT version_in_force THEN 'no_active_version'
            WHEN input_price IS NULL AND output_price IS NULL THEN 'unknown_context'
            WHEN (coalesce(input_tokens, 0) > 0 AND input_price IS NULL)
              OR (coalesce(cache_read_tokens, 0) > 0 AND cache_read_price IS NULL)
              OR (coalesce(cache_write_5m_tokens, 0) > 0 AND cache_write_5m_price IS NULL)
              OR (coalesce(cache_write_1h_tokens, 0) > 0 AND cache_write_1h_price IS NULL)
              OR (coalesce(output_tokens, 0) > 0 AND output_price IS NULL)
              OR (coalesce(web_search_requests, 0) > 0 AND web_search_price IS NULL)
                THEN 'missing_price_key'
        END AS unpriced_reason
    FROM priced
)
SELECT request_key, request_id, source_file, source_line, ts, provider, api, model,
    priced_model, price_context, team, user_id, feature, prompt_id, prompt_version,
    environment, status, is_batch, service_tier, has_usage,
    input_tokens, cache_read_tokens, cache_write_5m_tokens, cache_write_1h_tokens,
    output_tokens, reasoning_tokens, web_search_requests, total_input_tokens,
    request_hash, prompt_hash, input_hash,
    CASE WHEN unpriced_reason IS NULL THEN 'priced' ELSE 'unpriced' END AS pricing_status,
    unpriced_reason,
    (SELECT table_version FROM pricing_info) AS price_table_version,
    price_valid_from, price_source,
    input_price, cache_read_price, cache_write_5m_price, cache_write_1h_price, output_price,
    CASE WHEN unpriced_reason IS NULL
         THEN coalesce(coalesce(input_tokens, 0) * input_price, 0)::{money} END AS input_cost,
    CASE WHEN unpriced_reason IS NULL
         THEN coalesce(coalesce(cache_read_tokens, 0) * cache_read_price, 0)::{money}
         END AS cache_read_cost,
    CASE WHEN unpriced_reason IS NULL
         THEN (coalesce(coalesce(cache_write_5m_tokens, 0) * cache_write_5m_price, 0)
             + coalesce(coalesce(cache_write_1h_tokens, 0) * cache_write_1h_price, 0))::{money}
         END AS cache_write_cost,
    CASE WHEN unpriced_reason IS NULL
         THEN coalesce(coalesce(output_tokens, 0) * output_price, 0)::{money} END AS output_cost,
    CASE WHEN unpriced_reason IS NULL
         THEN coalesce(coalesce(web_search_requests, 0) * web_search_price, 0)::{money}
         END AS fees_cost,
    CASE WHEN unpriced_reason IS NULL THEN (
          coalesce(coalesce(input_tokens, 0) * input_price, 0)
        + coalesce(coalesce(cache_read_tokens, 0) * cache_read_price, 0)
        + coalesce(coalesce(cache_write_5m_tokens, 0) * cache_write_5m_price, 0)
        + coalesce(coalesce(cache_write_1h_tokens, 0) * cache_write_1h_price, 0)
        + coalesce(coalesce(output_tokens, 0) * output_price, 0)
        + coalesce(coalesce(web_search_requests, 0) * web_search_price, 0))::{money}
    END AS cost_usd
FROM judged
""".replace("{money}", MONEY)


BAND_COLUMNS = {
    "model_id": "VARCHAR",
    "provider": "VARCHAR",
    "valid_from": "TIMESTAMPTZ",
    "valid_to": "TIMESTAMPTZ",
    "variant": "VARCHAR",
    "above_tokens": "BIGINT",
    "up_to_tokens": "BIGINT",
    **{f"{k}_price": MONEY for k in PRICE_KEYS},
    "web_search_price": MONEY,
    "source_url": "VARCHAR",
}


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def install_price_table(con: duckdb.DuckDBPyConnection, table: PriceTable) -> None:
    """Replace the store's pricing tables with ``table`` and recreate ``request_costs``."""
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(_DDL)
        con.execute(MODEL_KEY_MACRO)
        con.execute(
            "INSERT INTO pricing_info VALUES (?, ?, ?, now())",
            [table.table_version, table.table_sha256, str(table.directory)],
        )
        bulk_insert(
            con,
            "model_names",
            {"name": "VARCHAR", "model_id": "VARCHAR"},
            list(table.names().items()),
        )
        rows = [
            (
                b.model_id,
                b.provider,
                b.valid_from,
                b.valid_to,
                b.variant,
                b.above_tokens,
                b.up_to_tokens,
                *(_money(b.per_token[k]) for k in PRICE_KEYS),
                _money(b.web_search_per_request),
                b.source_url,
            )
            for b in compile_table(table)
        ]
        bulk_insert(con, "price_bands", BAND_COLUMNS, rows)
        con.execute(_COST_VIEW)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
