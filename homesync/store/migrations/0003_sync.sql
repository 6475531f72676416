-- Sync (issue 4): trash and deletion tombstones on `files`, indexes for conflict checks
-- and timestamp deltas on `journal`, and the conflicts, offline queue and tombstone tables.

-- A deleted entry stays a row for good, so a device that syncs a year later still learns
-- of the deletion: `deleted_at` puts it in the trash, `purged_at` says its versions are
-- gone (trash emptied or retention). `trash_root` is the entry whose delete trashed it (a
-- folder's delete trashes everything under it as one group, restored or purged together).
ALTER TABLE files ADD COLUMN trash_root TEXT;
ALTER TABLE files ADD COLUMN purged_at INTEGER;
-- Journal seq of the entry's last move or rename: a device that syncs only some folders
-- is told that an entry which moved out of them is gone.
ALTER TABLE files ADD COLUMN moved_seq INTEGER NOT NULL DEFAULT 0;

CREATE INDEX files_trash ON files(user_id, deleted_at)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX files_trash_due ON files(deleted_at)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL;
CREATE INDEX files_trash_root ON files(trash_root) WHERE trash_root IS NOT NULL;

-- "Did another device change this file since the client's token?" and "which seq was
-- current at this time?" (the lastSync parameter) without scanning a user's journal.
CREATE INDEX journal_file_seq ON journal(file_id, seq);
CREATE INDEX journal_user_at ON journal(user_id, at);

-- A change from a device that could not be applied without losing someone's work.
-- `local` is the device's side, `remote` the server's when it was detected (JSON, with
-- device names). An open conflict is unique per fingerprint (device, change, content),
-- so a retried change finds its conflict instead of making a second one.
CREATE TABLE conflicts (
    id             TEXT PRIMARY KEY,                  -- conflict_...
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    device_id      TEXT,                              -- who made the local change (no FK: devices go)
    file_id        TEXT,                              -- the server's entry it collided with
    kind           TEXT NOT NULL CHECK (kind IN
                     ('modify_modify', 'modify_delete', 'delete_modify', 'name_collision')),
    action         TEXT NOT NULL,                     -- the local change: upload delete rename move
    local_id       TEXT,
    local          TEXT NOT NULL,
    remote         TEXT NOT NULL,
    fingerprint    TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    resolved_at    INTEGER,
    resolution     TEXT,                              -- keep_remote keep_local keep_both
    outcome        TEXT                               -- JSON result, repeated when resolved again
);
CREATE INDEX conflicts_open ON conflicts(user_id, created_at) WHERE resolved_at IS NULL;
CREATE UNIQUE INDEX conflicts_open_fingerprint ON conflicts(user_id, fingerprint)
    WHERE resolved_at IS NULL;

-- The offline queue: operations an app recorded while offline, under its own op id.
-- Server-side ones (delete move rename mkdir) are applied as they arrive, in priority
-- then created_at order; an upload stays pending until an upload to remote_path lands.
CREATE TABLE queue_ops (
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    op_id          TEXT NOT NULL,                     -- the app's id
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type           TEXT NOT NULL CHECK (type IN ('upload', 'delete', 'move', 'rename', 'mkdir')),
    local_path     TEXT,
    remote_path    TEXT,
    file_id        TEXT,
    priority       TEXT NOT NULL CHECK (priority IN ('high', 'normal', 'low')),
    created_at     INTEGER NOT NULL,                  -- when the app queued it
    received_at    INTEGER NOT NULL,
    base_seq       INTEGER NOT NULL,                  -- what the device had seen: conflicts judge by it
    status         TEXT NOT NULL CHECK (status IN
                     ('pending', 'processing', 'done', 'failed', 'conflict', 'cancelled')),
    error          TEXT,                              -- JSON {code, message}
    result_file_id TEXT,
    conflict_id    TEXT,
    updated_at     INTEGER NOT NULL,
    UNIQUE (device_id, op_id)
);
CREATE INDEX queue_ops_device_status ON queue_ops(device_id, status);
CREATE INDEX queue_ops_finished ON queue_ops(updated_at)
    WHERE status IN ('done', 'failed', 'conflict', 'cancelled');

-- Content this user deleted: an auto-upload of the same checksum answers
-- deleted_on_server instead of bringing the photo back (unless it says restore: true).
CREATE TABLE tombstones (
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    checksum       TEXT NOT NULL,
    file_id        TEXT NOT NULL,                     -- the entry last deleted with it
    deleted_at     INTEGER NOT NULL,
    PRIMARY KEY (user_id, checksum)
) WITHOUT ROWID;
