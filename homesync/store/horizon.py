"""The sync horizon: compacting history older than ``sync.history_retention``.

Three things only grow: the journal, the deletion tombstones of purged files (``files``
rows with ``purged_at``, kept so that devices learn of the deletion) and the share feed.
Past the horizon they are compacted, and each user's ``users.sync_horizon_*`` columns
(migration 0011) say how far: a device whose position is below them syncs from scratch.

What stays, because other code reads it:

- each user's latest journal entry: ``max(seq)`` is the head a token is compared with,
  and ``journal.seq`` is AUTOINCREMENT, so a deleted seq is never issued again;
- journal entries above the horizon: conflict checks (``since_token.content_changed_since``)
  read a file's entries after a device's position, and ``seq_before`` maps times to
  positions; below the horizon both answer conservatively instead (see there);
- each recipient's latest feed entry (their feed head), and per (recipient, file) the
  latest entry at or below the horizon while the file exists or a later entry names it
  (an owner's removed account: its files go at once, their deletion is still to come):
  the delta's ``known``
  (did the device have this file?) looks for an entry at or before the device's
  position, and without it a later deletion would never reach the device;
- tombstones an open conflict or an unfinished queue operation still names.

Candidates are read on a reader, in batches, and deleted in short write transactions
that assert the conditions again (the single writer is never held for long).
"""

from __future__ import annotations

from collections.abc import Sequence

from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone

__all__ = [
    "delete_feed",
    "delete_journal",
    "delete_tombstones",
    "feed_cut",
    "global_cut",
    "horizon",
    "journal_cut",
    "old_feed",
    "old_journal",
    "old_tombstones",
    "raise_horizon",
    "user_ids",
]


async def user_ids(conn: Conn) -> list[str]:
    return [r[0] for r in await fetchall(conn, "SELECT id FROM users ORDER BY id")]


async def horizon(conn: Reads, user_id: str) -> Row | None:
    """A user's horizon: ``horizon_seq``, ``horizon_at`` and ``shared_horizon`` (the
    ``users.sync_horizon_seq``, ``sync_horizon_at`` and ``shared_horizon_pos`` columns,
    named as :func:`homesync.store.changes.positions` names them)."""
    return await fetchone(conn, "SELECT sync_horizon_seq AS horizon_seq, sync_horizon_at AS"
                                " horizon_at, shared_horizon_pos AS shared_horizon"
                                " FROM users WHERE id = ?", (user_id,))


async def journal_cut(conn: Conn, user_id: str, before_ms: int) -> tuple[int, int]:
    """(cut, head): every entry of the user at or below ``cut`` is older than
    ``before_ms``; ``head`` is their latest position (``cut`` is the head when all are)."""
    head = await fetchone(conn, "SELECT coalesce(max(seq), 0) FROM journal WHERE user_id = ?",
                          (user_id,))
    first = await fetchone(conn, "SELECT seq FROM journal WHERE user_id = ? AND at >= ?"
                                 " ORDER BY seq LIMIT 1", (user_id, before_ms))
    top = int(head[0]) if head else 0
    return (int(first[0]) - 1 if first else top), top


async def global_cut(conn: Conn, before_ms: int) -> int:
    """The journal position (of all users) up to which every entry is older than
    ``before_ms``. Feed entries carry such positions (``share_feed.seq``)."""
    first = await fetchone(conn, "SELECT seq FROM journal WHERE at >= ? ORDER BY seq LIMIT 1",
                           (before_ms,))
    if first is not None:
        return int(first[0]) - 1
    end = await fetchone(conn, "SELECT coalesce(max(seq), 0) FROM journal")
    return int(end[0]) if end else 0


async def feed_cut(conn: Conn, recipient_id: str, seq: int) -> tuple[int, int]:
    """(cut, head) of a recipient's feed: the entries at or below ``cut`` bring them up
    to journal position ``seq`` at most (``share_feed.seq`` never decreases with ``pos``)."""
    head = await fetchone(conn, "SELECT coalesce(max(pos), 0) FROM share_feed"
                                " WHERE recipient_id = ?", (recipient_id,))
    first = await fetchone(conn, "SELECT pos FROM share_feed WHERE recipient_id = ? AND seq > ?"
                                 " ORDER BY pos LIMIT 1", (recipient_id, seq))
    top = int(head[0]) if head else 0
    return (int(first[0]) - 1 if first else top), top


async def raise_horizon(tx: Conn, user_id: str, *, seq: int, at: int, pos: int) -> None:
    """Move the user's horizon up to journal position ``seq`` (whose entries are older
    than ``at``) and feed position ``pos``; never down. Committed before anything at or
    below it is deleted, so a reader that misses a deleted row sees the new horizon."""
    await execute(
        tx,
        "UPDATE users SET sync_horizon_at = CASE WHEN ?1 > sync_horizon_seq THEN ?2"
        " ELSE sync_horizon_at END, sync_horizon_seq = max(sync_horizon_seq, ?1),"
        " shared_horizon_pos = max(shared_horizon_pos, ?3) WHERE id = ?4",
        (seq, at, pos, user_id),
    )


async def old_journal(conn: Conn, user_id: str, *, upto: int, head: int,
                      limit: int) -> list[int]:
    """Seqs of the user's entries at or below ``upto``, never ``head`` (their latest)."""
    rows = await fetchall(conn, "SELECT seq FROM journal WHERE user_id = ? AND seq <= ?"
                                " AND seq < ? ORDER BY seq LIMIT ?", (user_id, upto, head, limit))
    return [int(r[0]) for r in rows]


async def delete_journal(tx: Conn, user_id: str, seqs: Sequence[int], *, head: int) -> int:
    marks = ", ".join("?" * len(seqs))
    return await execute(tx, f"DELETE FROM journal WHERE seq IN ({marks}) AND user_id = ?"
                             " AND seq < ?", (*seqs, user_id, head))


# A tombstone an open conflict or an unfinished queue operation names stays: resolving or
# applying it finds the entry deleted, as it was, instead of not at all. Both lists are
# small (open conflicts; queue operations not yet done), read once per statement.
def _still_named(column: str) -> str:
    return (f" AND {column} NOT IN (SELECT file_id FROM conflicts WHERE resolved_at IS NULL"
            "  AND file_id IS NOT NULL)"
            f" AND {column} NOT IN (SELECT file_id FROM queue_ops"
            "  WHERE status IN ('pending', 'processing') AND file_id IS NOT NULL)")


async def old_tombstones(conn: Conn, user_id: str, *, purged_before: int, upto: int,
                         limit: int) -> list[str]:
    """Ids of the user's purged entries purged before ``purged_before`` whose last change
    (the delete) is at or below journal position ``upto``."""
    rows = await fetchall(
        conn,
        "SELECT id FROM files WHERE user_id = ? AND purged_at IS NOT NULL"
        f" AND purged_at < ? AND seq <= ?{_still_named('id')} LIMIT ?",
        (user_id, purged_before, upto, limit),
    )
    return [r[0] for r in rows]


async def delete_tombstones(tx: Conn, user_id: str, ids: Sequence[str], *, purged_before: int,
                            upto: int) -> int:
    """Delete those of ``ids`` still past the horizon. A share of such an entry goes with
    it (foreign-key cascade): it has given access to nothing since the entry was trashed."""
    marks = ", ".join("?" * len(ids))
    return await execute(
        tx,
        f"DELETE FROM files WHERE id IN ({marks}) AND user_id = ?"
        f" AND purged_at IS NOT NULL AND purged_at < ? AND seq <= ?{_still_named('id')}",
        (*ids, user_id, purged_before, upto),
    )


async def old_feed(conn: Conn, recipient_id: str, *, after: int, upto: int, head: int,
                   limit: int) -> list[int]:
    """Positions in ``(after, upto]`` of the recipient's feed entries nothing needs: a
    later entry at or below ``upto`` stands for the same file, or the file is gone for
    good and no entry above ``upto`` names it (the removal of its owner's account feeds
    its deletion while the file goes at once: the entry before says the device has it).
    Never ``head``."""
    rows = await fetchall(
        conn,
        "SELECT s.pos FROM share_feed s WHERE s.recipient_id = ?1 AND s.pos > ?2"
        " AND s.pos <= ?3 AND s.pos < ?4 AND (EXISTS (SELECT 1 FROM share_feed l"
        "  WHERE l.recipient_id = ?1 AND l.file_id = s.file_id AND l.pos > s.pos"
        "  AND l.pos <= ?3) OR (NOT EXISTS (SELECT 1 FROM files f WHERE f.id = s.file_id)"
        "  AND NOT EXISTS (SELECT 1 FROM share_feed l WHERE l.recipient_id = ?1"
        "  AND l.file_id = s.file_id AND l.pos > ?3)))"
        " ORDER BY s.pos LIMIT ?5",
        (recipient_id, after, upto, head, limit),
    )
    return [int(r[0]) for r in rows]


async def delete_feed(tx: Conn, recipient_id: str, positions: Sequence[int], *,
                      head: int) -> int:
    """Delete feed entries :func:`old_feed` chose. What made them deletable stays true:
    entries are only appended, and a deleted ``files`` row never comes back."""
    marks = ", ".join("?" * len(positions))
    return await execute(tx, f"DELETE FROM share_feed WHERE pos IN ({marks})"
                             " AND recipient_id = ? AND pos < ?",
                         (*positions, recipient_id, head))
