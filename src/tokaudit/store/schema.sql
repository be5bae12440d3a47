-- tokaudit store schema, version 1. Documented in docs/schema.md; keep both in step.
CREATE TABLE IF NOT EXISTS schema_info (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- One row per ingested file version; a file whose fingerprint is already here is skipped.
CREATE TABLE IF NOT EXISTS ingested_files (
    path          VARCHAR NOT NULL,
    fingerprint   VARCHAR NOT NULL,   -- sha256 of the file bytes as stored (compressed if .gz)
    format        VARCHAR NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL,
    records_read  BIGINT NOT NULL,
    loaded        BIGINT NOT NULL,
    duplicates    BIGINT NOT NULL,
    rejected      BIGINT NOT NULL,
    non_requests  BIGINT NOT NULL DEFAULT 0,  -- valid lines that are not model calls
    -- sha256 of the attribution rules (tokaudit.yaml) and --map field map the file was read
    -- with; NULL = loaded before it was recorded. ingest warns when they differ (--reload).
    rules_fingerprint VARCHAR,
    PRIMARY KEY (path, fingerprint)
);
-- records_read = loaded + duplicates + rejected + non_requests. Older stores gain the column.
ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS non_requests BIGINT DEFAULT 0;
-- Stores created before the rules were recorded gain the column (NULL = not recorded).
ALTER TABLE ingested_files ADD COLUMN IF NOT EXISTS rules_fingerprint VARCHAR;

-- One row per model call. Token classes are disjoint: never add cache tokens to input_tokens.
CREATE TABLE IF NOT EXISTS requests (
    request_key            VARCHAR PRIMARY KEY,  -- provider:request id (or a hash of the line)
    request_id             VARCHAR,
    source_file            VARCHAR NOT NULL,
    source_line            BIGINT NOT NULL,
    source_format          VARCHAR NOT NULL,
    ts                     TIMESTAMPTZ NOT NULL,
    provider               VARCHAR NOT NULL,
    api                    VARCHAR,
    model_requested        VARCHAR,
    model_responded        VARCHAR,
    model                  VARCHAR NOT NULL,     -- the model that billed: responded, else requested
    team                   VARCHAR,
    user_id                VARCHAR,
    feature                VARCHAR,
    prompt_id              VARCHAR,
    prompt_version         VARCHAR,
    environment            VARCHAR,
    project                VARCHAR,              -- attribution: project or workspace
    metadata               JSON,                 -- the whole metadata object as logged
    input_tokens           BIGINT,               -- uncached input only (audio excluded)
    input_audio_tokens     BIGINT,               -- uncached audio input (Gemini AUDIO modality)
    cache_read_tokens      BIGINT,               -- cached input (audio excluded)
    cache_read_audio_tokens BIGINT,              -- cached audio input (Gemini AUDIO modality)
    cache_write_5m_tokens  BIGINT,
    cache_write_1h_tokens  BIGINT,
    output_tokens          BIGINT,               -- includes reasoning
    reasoning_tokens       BIGINT,               -- subset of output_tokens, informational
    web_search_requests    BIGINT,
    file_search_calls      BIGINT,               -- OpenAI Responses file_search_call items
    grounding_queries      BIGINT,               -- Gemini Google Search queries (fee not priced)
    has_usage              BOOLEAN NOT NULL,
    status                 VARCHAR NOT NULL,     -- ok | error
    http_status            INTEGER,
    error_type             VARCHAR,
    error_message          VARCHAR,
    finish_reason          VARCHAR,
    latency_ms             DOUBLE,
    is_batch               BOOLEAN NOT NULL,
    service_tier           VARCHAR,              -- NULL = standard; flex | priority | other as logged
    request_hash           VARCHAR,              -- md5 of the request body as sent
    prompt_hash            VARCHAR,              -- md5 of the system prompt, else the first message
    input_hash             VARCHAR,              -- md5 of the whole input (system, messages, tools)
    recounted_input_tokens BIGINT,
    recount_tokenizer      VARCHAR,
    recount_exact          BOOLEAN,
    -- 'request': one model call; 'bucket': an aggregated usage-export row (many calls)
    granularity            VARCHAR NOT NULL DEFAULT 'request',
    request_count          BIGINT DEFAULT 1,     -- calls the row stands for; NULL = not exported
    tier_input_tokens      BIGINT                -- bucket rows: per-call input size for tier pricing
);
-- Stores created before the cached-audio class gain the column (NULL = none split out).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS cache_read_audio_tokens BIGINT;
-- Stores created before file-search fees gain the column (NULL = none logged).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS file_search_calls BIGINT;
-- Stores created before grounding was counted gain the column (NULL = not counted).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS grounding_queries BIGINT;
-- Stores created before the audio token class gain the column (NULL = none split out).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS input_audio_tokens BIGINT;
-- Stores created before attribution by project and aggregated rows gain these columns.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS project VARCHAR;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS granularity VARCHAR DEFAULT 'request';
ALTER TABLE requests ADD COLUMN IF NOT EXISTS request_count BIGINT DEFAULT 1;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS tier_input_tokens BIGINT;
-- The reply's text (prompt_texts kind 'output') and its offline recount (docs/recount.md).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS output_hash VARCHAR;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS recounted_output_tokens BIGINT;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS recount_output_exact BOOLEAN;

-- Unique prompt texts, keyed by hash: system prompts ('system'), whole inputs ('input', JSON)
-- and replies ('output', JSON of the response's output-bearing keys).
CREATE TABLE IF NOT EXISTS prompt_texts (
    text_hash  VARCHAR PRIMARY KEY,
    kind       VARCHAR NOT NULL,
    provider   VARCHAR NOT NULL,
    -- ZSTD: DuckDB's own pick for long JSON bodies (dictionary + FSST) spends more time
    -- analysing than writing; ZSTD writes 4x faster, reads faster, is smaller (benchmarks.md)
    body       VARCHAR NOT NULL USING COMPRESSION zstd,
    preview    VARCHAR NOT NULL,
    chars      BIGINT NOT NULL
);

-- Token counts of prompt_texts, one per tokenizer and encoding, kept across runs.
CREATE TABLE IF NOT EXISTS token_counts (
    text_hash          VARCHAR NOT NULL,
    tokenizer          VARCHAR NOT NULL,
    tokenizer_version  VARCHAR NOT NULL,
    encoding           VARCHAR NOT NULL,
    tokens             BIGINT NOT NULL,
    exact              BOOLEAN NOT NULL,
    PRIMARY KEY (text_hash, tokenizer, encoding)
);

-- Every line that could not be loaded, with why. Nothing is dropped silently.
CREATE TABLE IF NOT EXISTS rejects (
    source_file  VARCHAR NOT NULL,
    source_line  BIGINT NOT NULL,        -- 0 = the file as a whole (unreadable, truncated archive)
    raw          VARCHAR,
    reason       VARCHAR NOT NULL,
    rejected_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_file, source_line)
);

-- Batch input files (OpenAI {custom_id, method, url, body}; Anthropic {custom_id, params}).
-- Batch output and result lines take their request body from here, matched on custom_id.
CREATE TABLE IF NOT EXISTS batch_inputs (
    source_file  VARCHAR NOT NULL,
    source_line  BIGINT NOT NULL,
    custom_id    VARCHAR NOT NULL,
    provider     VARCHAR NOT NULL,       -- openai | anthropic
    method       VARCHAR,                -- OpenAI: POST
    url          VARCHAR,                -- OpenAI: the endpoint, e.g. /v1/chat/completions
    model        VARCHAR,                -- the body's model
    body         JSON NOT NULL,          -- the request body as sent (Anthropic: params)
    loaded_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_file, custom_id)
);

-- Reported vs recounted tokens, one row per request (docs/recount.md). Both input
-- columns mean total input as the provider counts it: uncached + cache read + cache
-- writes (+ audio), framing included. reported_* are NULL when the log had no usage.
CREATE OR REPLACE VIEW token_audit AS
SELECT *, reported_input_tokens - recounted_input_tokens AS input_difference,
    reported_output_tokens - recounted_output_tokens AS output_difference
FROM (
    SELECT request_key, request_id, ts, provider, api, model, team, feature, prompt_id,
        recount_tokenizer AS tokenizer,
        recount_exact AS exact,
        CASE WHEN has_usage THEN coalesce(input_tokens, 0) + coalesce(input_audio_tokens, 0)
            + coalesce(cache_read_tokens, 0) + coalesce(cache_read_audio_tokens, 0)
            + coalesce(cache_write_5m_tokens, 0)
            + coalesce(cache_write_1h_tokens, 0) END AS reported_input_tokens,
        recounted_input_tokens,
        CASE WHEN has_usage THEN output_tokens END AS reported_output_tokens,
        recounted_output_tokens,
        recount_output_exact AS output_exact
    FROM requests
    WHERE coalesce(granularity, 'request') = 'request'
);
