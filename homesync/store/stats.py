"""Counts for ``homesync status`` and the metrics endpoint: one cheap pass over the tables."""

from __future__ import annotations

import msgspec

from homesync.store import deliveries
from homesync.store.db import Conn, fetchone
from homesync.store.tokens import SignInLifetimes

__all__ = ["StoreStats", "store_stats"]


class StoreStats(msgspec.Struct, frozen=True, kw_only=True):
    users: int
    devices: int                 # not removed
    files: int                   # live files (not folders, not in the trash)
    trashed_files: int           # in the trash (not purged: those rows are tombstones)
    versions: int                # every stored version, old ones and the trash included
    logical_bytes: int           # the sum of those versions' sizes (what quotas count)
    chunks: int
    stored_bytes: int            # the chunk pool: what the disk actually holds
    open_uploads: int            # pending, uploading, paused or failed, not past expiry
    pending_notifications: int   # the outbox: not yet fanned out, or pushes still to send
    retrying_pushes: int         # pushes that failed at least once and will be retried
    failed_pushes: int           # pushes given up on, or whose endpoint is gone
    journal_seq: int


async def store_stats(conn: Conn, now: int, sign_ins: SignInLifetimes) -> StoreStats:
    """The counts as of ``now`` (an upload past its expiry is not open, gc marked or not;
    a push waiting for a device signed out, its sign-in run out, say, is not pending)."""
    waiting = f"pd.status = 'pending' AND {deliveries.pushable_sql(sign_ins, '?1')}"
    row = await fetchone(conn, f"""
        SELECT
          (SELECT count(*) FROM users),
          (SELECT count(*) FROM devices WHERE removed_at IS NULL),
          (SELECT count(*) FROM files WHERE kind = 'file' AND deleted_at IS NULL),
          (SELECT count(*) FROM files
             WHERE kind = 'file' AND deleted_at IS NOT NULL AND purged_at IS NULL),
          (SELECT count(*) FROM file_versions),
          (SELECT coalesce(sum(size), 0) FROM file_versions),
          (SELECT count(*) FROM chunks),
          (SELECT coalesce(sum(size), 0) FROM chunks),
          (SELECT count(*) FROM uploads
             WHERE status IN ('pending', 'uploading', 'paused', 'failed') AND expires_at > ?1),
          (SELECT count(*) FROM notifications WHERE dispatched_at IS NULL)
            + (SELECT count(*) FROM push_deliveries pd WHERE {waiting}),
          (SELECT count(*) FROM push_deliveries pd WHERE {waiting} AND pd.attempts > 0),
          (SELECT count(*) FROM push_deliveries WHERE status IN ('failed', 'dropped')),
          (SELECT coalesce(max(seq), 0) FROM journal)
    """, (now,))
    assert row is not None
    return StoreStats(
        users=row[0], devices=row[1], files=row[2], trashed_files=row[3], versions=row[4],
        logical_bytes=row[5], chunks=row[6], stored_bytes=row[7], open_uploads=row[8],
        pending_notifications=row[9], retrying_pushes=row[10], failed_pushes=row[11],
        journal_seq=row[12],
    )
