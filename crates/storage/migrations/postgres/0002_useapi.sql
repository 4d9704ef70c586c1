-- useapi.net dialect: linked (Kling web) accounts of an account, saved
-- avatars, and which linked account a task runs under. Times are Unix ms.

CREATE TABLE linked_accounts (
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    -- SHA-256 (hex) of the password; the password itself is never stored.
    password_hash TEXT NOT NULL,
    max_jobs      BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, email)
);

CREATE TABLE avatars (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    nickname    TEXT NOT NULL,
    prompt      TEXT NOT NULL,
    scene       TEXT NOT NULL,
    image_key   TEXT NOT NULL,
    tts_speaker TEXT NOT NULL,
    tts_speed   DOUBLE PRECISION NOT NULL,
    tts_emotion TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX avatars_account ON avatars (account_id, created_at);

CREATE TABLE task_links (
    task_id    TEXT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    account_id TEXT NOT NULL,
    email      TEXT NOT NULL
);
CREATE INDEX task_links_email ON task_links (account_id, email);
