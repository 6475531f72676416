"""The change journal: every change to a user's files, in commit order."""

from __future__ import annotations

from homesync import clock
from homesync.store.db import Conn, fetchone

__all__ = ["append", "latest_seq", "newest_seq", "stamp"]


def stamp(now: int) -> int:
    """An entry's ``at``: when it is written, not the ``now`` its change began with (which
    may be from before the wait for the write lock). ``lastSync`` deltas find entries by
    ``at`` and count on every entry a sync did not see being stamped after the
    ``lastSyncAt`` it answered (``Database.writing_since``)."""
    return max(now, clock.now_ms())


async def append(
    conn: Conn, *, user_id: str, file_id: str, action: str, device_id: str | None, now: int,
    from_path: str | None = None,
) -> int:
    """Record a change and return its sequence number.

    Call inside the transaction that makes the change, then store the returned seq in
    ``files.seq`` (and ``files.created_seq`` for a new file): deltas scan ``files.seq``.
    ``from_path``: for a move or rename, the entry's full path before it.
    """
    async with conn.execute(
        "INSERT INTO journal (user_id, file_id, action, device_id, at, from_path)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (user_id, file_id, action, device_id, stamp(now), from_path),
    ) as cur:
        seq = cur.lastrowid
    assert seq is not None
    return seq


async def latest_seq(conn: Conn, user_id: str) -> int:
    row = await fetchone(conn, "SELECT max(seq) FROM journal WHERE user_id = ?", (user_id,))
    return int(row[0] or 0) if row else 0


async def newest_seq(conn: Conn) -> int:
    """The newest position of any user's (0 before the first): in a write transaction,
    the entries a step appends are those after it, up to its value after the step."""
    row = await fetchone(conn, "SELECT max(seq) FROM journal")
    return int(row[0] or 0) if row else 0
