-- Mouthpiece metadata: accounts and keys, tasks (the durable queue), TTS
-- audio, the callback outbox and server settings. Times are Unix ms.
-- PostgreSQL twin of migrations/sqlite/0001_init.sql: integers are BIGINT
-- so both stores read the same Rust types.

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id                   TEXT PRIMARY KEY NOT NULL,
    name                 TEXT NOT NULL,
    access_key           TEXT NOT NULL UNIQUE,
    -- HMAC key of the account's JWTs: kept as-is so signatures can be checked.
    secret_key           TEXT NOT NULL,
    webhook_secret       TEXT,
    max_concurrent_tasks BIGINT,
    created_at           BIGINT NOT NULL
);

CREATE TABLE api_keys (
    -- SHA-256 (hex) of the API key; the key itself is never stored.
    key_hash   TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL
);

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    external_task_id TEXT,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('submitted', 'processing', 'succeed', 'failed')),
    status_msg       TEXT,
    progress         BIGINT NOT NULL DEFAULT 0,
    spec             TEXT NOT NULL,
    result           TEXT,
    callback_url     TEXT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);
CREATE UNIQUE INDEX tasks_external_id ON tasks (account_id, external_task_id)
    WHERE external_task_id IS NOT NULL;
CREATE INDEX tasks_account_created ON tasks (account_id, kind, created_at DESC);
CREATE INDEX tasks_queue ON tasks (state, created_at);

CREATE TABLE audio (
    id         TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    blob_key   TEXT NOT NULL,
    duration   DOUBLE PRECISION NOT NULL,
    timeline   TEXT,
    text       TEXT NOT NULL,
    voice_id   TEXT NOT NULL,
    language   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    -- Until when a janitor holds the row for deletion (several nodes sweep).
    janitor_until BIGINT
);
CREATE INDEX audio_expires ON audio (expires_at);

CREATE TABLE callbacks (
    id              BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    task_id         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- pending | delivered | abandoned
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX callbacks_pending ON callbacks (state, task_id, id);
