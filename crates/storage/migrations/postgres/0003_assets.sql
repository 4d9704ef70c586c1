-- Files uploaded through useapi's POST /assets, listed and deleted by
-- /assets/uploaded. The bytes are in the blob store under blob_key.

CREATE TABLE assets (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    email       TEXT NOT NULL,
    file_name   TEXT NOT NULL,
    -- image, video or audio
    kind        TEXT NOT NULL,
    mime        TEXT NOT NULL,
    blob_key    TEXT NOT NULL,
    width       BIGINT,
    height      BIGINT,
    duration_ms BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX assets_account ON assets (account_id, email, created_at);
