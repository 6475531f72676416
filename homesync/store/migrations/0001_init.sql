-- Core schema: accounts, devices, tokens, files and their versions, chunks, the change
-- journal and the notification inbox/outbox. Times are integer milliseconds (UTC).

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL UNIQUE COLLATE NOCASE,
    name              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    is_admin          INTEGER NOT NULL DEFAULT 0,
    quota_bytes       INTEGER NOT NULL DEFAULT 0,      -- 0: unlimited
    used_bytes        INTEGER NOT NULL DEFAULT 0,      -- every stored version, trash included
    created_at        INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL,
    failed_logins     INTEGER NOT NULL DEFAULT 0,      -- consecutive
    login_blocked_until INTEGER NOT NULL DEFAULT 0,    -- backoff after failures
    locked            INTEGER NOT NULL DEFAULT 0       -- hard lock: `homesync user unlock`
);

CREATE TABLE devices (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id       TEXT NOT NULL,                    -- the app's own deviceId
    name            TEXT NOT NULL,
    platform        TEXT NOT NULL,
    model           TEXT NOT NULL,
    os_version      TEXT NOT NULL,
    app_version     TEXT NOT NULL,
    push_token      TEXT,
    settings        TEXT NOT NULL DEFAULT '{}',       -- JSON, see api schemas DeviceSettings
    registered_at   INTEGER NOT NULL,
    last_active_at  INTEGER NOT NULL,
    last_sync_at    INTEGER,
    removed_at      INTEGER
);
CREATE UNIQUE INDEX devices_live_client ON devices(user_id, client_id) WHERE removed_at IS NULL;
CREATE INDEX devices_user ON devices(user_id);

-- A sign-in of one device: every refresh token it rotates through, and every access
-- token minted from them (claim `sid`), dies with it.
CREATE TABLE token_families (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoke_reason  TEXT
);
CREATE INDEX token_families_device ON token_families(device_id);
CREATE INDEX token_families_user ON token_families(user_id);

CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,                  -- sha256 of the token; never the token
    family_id      TEXT NOT NULL REFERENCES token_families(id) ON DELETE CASCADE,
    issued_at      INTEGER NOT NULL,
    used_at        INTEGER                            -- set once, when rotated
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

-- Files and folders. A row keeps its id across new versions, renames and moves;
-- `seq` is the journal position of its last change, so a delta is a range scan.
CREATE TABLE files (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    folder         TEXT NOT NULL,                     -- absolute, normalised, NFC
    name           TEXT NOT NULL,                     -- one segment, NFC
    name_key       TEXT NOT NULL,                     -- casefolded name: no case-only twins
    version_id     TEXT,                              -- current version (files only)
    size           INTEGER NOT NULL DEFAULT 0,
    checksum       TEXT,                              -- sha256:<hex> of the current version
    mime_type      TEXT,
    metadata       TEXT NOT NULL DEFAULT '{}',
    modified_at    INTEGER NOT NULL,                  -- the client's mtime
    created_at     INTEGER NOT NULL,
    created_seq    INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    deleted_at     INTEGER                            -- in the trash (or purged: see sync)
);
CREATE UNIQUE INDEX files_live_name ON files(user_id, folder, name_key) WHERE deleted_at IS NULL;
CREATE INDEX files_user_seq ON files(user_id, seq);
CREATE INDEX files_user_checksum ON files(user_id, checksum);

CREATE TABLE file_versions (
    id             TEXT PRIMARY KEY,
    file_id        TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    size           INTEGER NOT NULL,
    checksum       TEXT NOT NULL,
    mime_type      TEXT NOT NULL,
    metadata       TEXT NOT NULL DEFAULT '{}',
    modified_at    INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    device_id      TEXT                               -- who uploaded it (no FK: devices may go)
);
CREATE INDEX file_versions_file ON file_versions(file_id, created_at);
CREATE INDEX file_versions_user_checksum ON file_versions(user_id, checksum);

-- Chunks are stored once, under their sha256, however many versions use them.
CREATE TABLE chunks (
    hash           TEXT PRIMARY KEY,                  -- 64 lowercase hex
    size           INTEGER NOT NULL,
    created_at     INTEGER NOT NULL
);

-- A version's manifest: its content is the concatenation of these chunks in `idx` order.
CREATE TABLE version_chunks (
    version_id     TEXT NOT NULL REFERENCES file_versions(id) ON DELETE CASCADE,
    idx            INTEGER NOT NULL,
    chunk_hash     TEXT NOT NULL REFERENCES chunks(hash),
    PRIMARY KEY (version_id, idx)
) WITHOUT ROWID;
CREATE INDEX version_chunks_chunk ON version_chunks(chunk_hash);

-- The change journal: one row per change, in commit order. Sync tokens name a seq.
CREATE TABLE journal (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_id        TEXT NOT NULL,
    action         TEXT NOT NULL,                     -- create update delete move rename mkdir restore
    device_id      TEXT,
    at             INTEGER NOT NULL
);
CREATE INDEX journal_user_seq ON journal(user_id, seq);

-- The inbox, and the outbox the push worker delivers from. Written in the same
-- transaction as the event that caused it.
CREATE TABLE notifications (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    category           TEXT NOT NULL CHECK (category IN ('uploads', 'shares', 'storage', 'security')),
    kind               TEXT NOT NULL,                 -- new_device, token_reuse, upload_completed, ...
    title              TEXT NOT NULL,
    body               TEXT NOT NULL,
    data               TEXT NOT NULL DEFAULT '{}',    -- ids only, never file content
    only_device_id     TEXT,                          -- push to this device only (uploads)
    except_device_id   TEXT,                          -- not to this one (the new device itself)
    created_at         INTEGER NOT NULL,
    read_at            INTEGER,
    dispatched_at      INTEGER                        -- fanned out to push deliveries
);
CREATE INDEX notifications_user ON notifications(user_id, created_at);
CREATE INDEX notifications_undispatched ON notifications(created_at) WHERE dispatched_at IS NULL;
