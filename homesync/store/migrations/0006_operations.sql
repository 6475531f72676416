-- Operations: the record of backups taken of this data dir and of restores into it.

-- One row per completed `homesync backup create` (shown by `homesync status` and metrics).
CREATE TABLE backups (
    id              TEXT PRIMARY KEY,                 -- backup_...
    destination     TEXT NOT NULL,                    -- DEST as given (absolute)
    snapshot        TEXT NOT NULL,                    -- snapshot name inside DEST
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER NOT NULL,
    journal_seq     INTEGER NOT NULL,                 -- last journal seq in the snapshot
    chunks          INTEGER NOT NULL,                 -- chunks the snapshot refers to
    bytes           INTEGER NOT NULL,
    copied_chunks   INTEGER NOT NULL,                 -- new in DEST this time
    copied_bytes    INTEGER NOT NULL,
    missing_chunks  INTEGER NOT NULL                  -- referenced but absent at the source
);
CREATE INDEX backups_finished ON backups(finished_at);

-- A data dir restored from a backup. Journal seqs (snapshot_seq, resumed_seq] were never
-- issued by this database: a device whose sync token falls there synced with the server
-- after the backup was taken, so it must sync from scratch (its newer files are not here).
CREATE TABLE restores (
    id              TEXT PRIMARY KEY,                 -- restore_...
    restored_at     INTEGER NOT NULL,
    source          TEXT NOT NULL,                    -- DEST/snapshots/<name>
    snapshot_seq    INTEGER NOT NULL,
    resumed_seq     INTEGER NOT NULL
);
