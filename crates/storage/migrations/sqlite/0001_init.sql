-- Mouthpiece metadata: accounts and keys, tasks (the durable queue), TTS
-- audio, the callback outbox and server settings. Times are Unix ms.

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
    max_concurrent_tasks INTEGER,
    created_at           INTEGER NOT NULL
);

CREATE TABLE api_keys (
    -- SHA-256 (hex) of the API key; the key itself is never stored.
    key_hash   TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);

CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    external_task_id TEXT,
    kind             TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('submitted', 'processing', 'succeed', 'failed')),
    status_msg       TEXT,
    progress         INTEGER NOT NULL DEFAULT 0,
    spec             TEXT NOT NULL,
    result           TEXT,
    callback_url     TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);
CREATE UNIQUE INDEX tasks_external_id ON tasks (account_id, external_task_id)
    WHERE external_task_id IS NOT NULL;
CREATE INDEX tasks_account_created ON tasks (account_id, kind, created_at DESC);
CREATE INDEX tasks_queue ON tasks (state, created_at);

CREATE TABLE audio (
    id         TEXT PRIMARY KEY NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    blob_key   TEXT NOT NULL,
    duration   REAL NOT NULL,
    timeline   TEXT,
    text       TEXT NOT NULL,
    voice_id   TEXT NOT NULL,
    language   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX audio_expires ON audio (expires_at);

CREATE TABLE callbacks (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT NOT NULL UNIQUE,
    task_id         TEXT NOT NULL,
    account_id      TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    -- pending | delivered | abandoned
    state           TEXT NOT NULL DEFAULT 'pending',
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER
);
CREATE INDEX callbacks_pending ON callbacks (state, task_id, id);
