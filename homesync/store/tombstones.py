"""Deletion tombstones: content (by checksum) that a user deleted.

An auto-upload of tombstoned content is answered ``deleted_on_server`` rather than
bringing back a photo the user threw away (Immich #10873, seadroid #815). Content that is
deliberately brought back (``restore: true``, a trash restore, a conflict resolution)
clears its tombstone.
"""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchone

__all__ = ["clear", "find", "record"]


async def record(tx: Conn, *, user_id: str, deleted: list[tuple[str, str]], now: int) -> None:
    """Tombstones for ``deleted`` (checksum, file id) pairs, in one statement (a folder
    of thousands of photos); of two with one checksum, the later pair's file id stays."""
    await tx.executemany(
        "INSERT INTO tombstones (user_id, checksum, file_id, deleted_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (user_id, checksum) DO UPDATE SET file_id = excluded.file_id,"
        " deleted_at = excluded.deleted_at",
        [(user_id, checksum, file_id, now) for checksum, file_id in deleted],
    )


async def find(conn: Conn, user_id: str, checksum: str) -> Row | None:
    """The tombstone of ``checksum`` (``file_id``, ``deleted_at``), if the user deleted it."""
    return await fetchone(
        conn, "SELECT file_id, deleted_at FROM tombstones WHERE user_id = ? AND checksum = ?",
        (user_id, checksum),
    )


async def clear(tx: Conn, user_id: str, checksum: str) -> None:
    await execute(tx, "DELETE FROM tombstones WHERE user_id = ? AND checksum = ?",
                  (user_id, checksum))
