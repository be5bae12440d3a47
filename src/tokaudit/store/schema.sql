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
    PRIMARY KEY (path, fingerprint)
);

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
    metadata               JSON,                 -- the whole metadata object as logged
    input_tokens           BIGINT,               -- uncached input only
    cache_read_tokens      BIGINT,
    cache_write_5m_tokens  BIGINT,
    cache_write_1h_tokens  BIGINT,
    output_tokens          BIGINT,               -- includes reasoning
    reasoning_tokens       BIGINT,               -- subset of output_tokens, informational
    web_search_requests    BIGINT,
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
    recount_exact          BOOLEAN
);

-- Unique prompt texts, keyed by hash: system prompts ('system') and whole inputs ('input', JSON).
CREATE TABLE IF NOT EXISTS prompt_texts (
    text_hash  VARCHAR PRIMARY KEY,
    kind       VARCHAR NOT NULL,
    provider   VARCHAR NOT NULL,
    body       VARCHAR NOT NULL,
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
