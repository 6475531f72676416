-- The sync horizon (sync.history_retention): history older than it is compacted away --
-- journal entries (each user's latest one stays: it is their head position), deletion
-- tombstones of purged files, superseded share-feed entries -- and a device whose sync
-- position is below it syncs from scratch (GET /sync/status answers reset: true).
--
-- sync_horizon_seq: every journal entry and tombstone that may be gone has a seq at or
--   below it, so a token at or above it still gets exact deltas.
-- sync_horizon_at: every journal entry that may be gone is older than it, so a lastSync
--   at or after it still finds its position in the journal.
-- shared_horizon_pos: the same as sync_horizon_seq for the user's share-feed position.
-- All 0 until the first compaction: nothing is gone.
ALTER TABLE users ADD COLUMN sync_horizon_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN sync_horizon_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN shared_horizon_pos INTEGER NOT NULL DEFAULT 0;

-- Purged files by age, for the compaction (the trash indexes leave them out).
CREATE INDEX files_purged ON files(user_id, purged_at) WHERE purged_at IS NOT NULL;
