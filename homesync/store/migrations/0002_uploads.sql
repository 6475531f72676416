-- Uploads (issue 3): resumable upload sessions, their files and the chunks received.
-- A chunk counts as received only once its bytes are durable in the chunk store and the
-- upload_chunks row is committed; that set is what GET /upload/{id} reports after a crash.

-- One POST /upload/init: the options the app asked for, shared by its files.
CREATE TABLE upload_sessions (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    wifi_only      INTEGER NOT NULL DEFAULT 0,
    max_retries    INTEGER NOT NULL DEFAULT 3,
    chunk_size     INTEGER NOT NULL,                  -- as asked, after clamping
    created_at     INTEGER NOT NULL
);
CREATE INDEX upload_sessions_user ON upload_sessions(user_id);

-- One file being uploaded. `expires_at` slides forward with every sign of life.
CREATE TABLE uploads (
    id               TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL REFERENCES upload_sessions(id) ON DELETE CASCADE,
    user_id          TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id        TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    local_id         TEXT NOT NULL,
    folder           TEXT NOT NULL,
    name             TEXT NOT NULL,
    name_key         TEXT NOT NULL,
    size             INTEGER NOT NULL,
    mime_type        TEXT NOT NULL,
    checksum         TEXT NOT NULL,                   -- sha256:<hex> declared at init
    priority         TEXT NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
    target_file_id   TEXT,                            -- a new version of this file
    chunk_size       INTEGER NOT NULL,
    total_chunks     INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN
                       ('pending', 'uploading', 'paused', 'completed', 'failed', 'cancelled', 'expired')),
    received_chunks  INTEGER NOT NULL DEFAULT 0,      -- rows in upload_chunks
    received_bytes   INTEGER NOT NULL DEFAULT 0,
    reported_bytes   INTEGER,                         -- what the app last said (progress)
    reported_at      INTEGER,
    -- Set when complete found the content wrong: from then on a chunk sent again with
    -- different bytes replaces the stored one (the app is repairing the upload).
    checksum_failed  INTEGER NOT NULL DEFAULT 0,
    file_id          TEXT,                            -- the result, once completed
    version_id       TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX uploads_user_status ON uploads(user_id, status);
CREATE INDEX uploads_device_status ON uploads(device_id, status);
CREATE INDEX uploads_open_expiry ON uploads(expires_at)
    WHERE status IN ('pending', 'uploading', 'paused', 'failed');
CREATE INDEX uploads_resume ON uploads(user_id, device_id, folder, name_key, checksum);

-- Chunks received for an upload. The chunk row keeps the bytes out of gc's reach.
CREATE TABLE upload_chunks (
    upload_id      TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,
    idx            INTEGER NOT NULL,
    chunk_hash     TEXT NOT NULL REFERENCES chunks(hash),
    size           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    PRIMARY KEY (upload_id, idx)
) WITHOUT ROWID;
CREATE INDEX upload_chunks_chunk ON upload_chunks(chunk_hash);
