"""Deletion tombstones: content (by checksum) that a user deleted.

An auto-upload of tombstoned content is answered ``deleted_on_server`` rather than
bringing back a photo the user threw away (Immich #10873, seadroid #815). Content that is
deliberately brought back (``restore: true``, a trash restore, a conflict resolution)
clears its tombstone.
"""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchone, on_its_thread

__all__ = ["clear", "find", "record", "record_trashed"]

_UPSERT = (" ON CONFLICT (user_id, checksum) DO UPDATE SET file_id = excluded.file_id,"
           " deleted_at = excluded.deleted_at")


async def record(tx: Conn, *, user_id: str, deleted: list[tuple[str, str]], now: int) -> None:
    """Tombstones for ``deleted`` (checksum, file id) pairs, in one statement (a folder
    of thousands of photos); of two with one checksum, the later pair's file id stays."""
    await tx.executemany(
        "INSERT INTO tombstones (user_id, checksum, file_id, deleted_at) VALUES (?, ?, ?, ?)"
        + _UPSERT,
        [(user_id, checksum, file_id, now) for checksum, file_id in deleted],
    )


async def record_trashed(tx: Conn, *, user_id: str, root: Row, now: int) -> None:
    """Tombstones for the files of the trash group just made by trashing ``root``, in one
    statement (for a folder of 20 000 photos, on the writer's thread); of two with one
    checksum, the file trashed later in the group's order (shallowest first, as its
    journal entries) stays."""
    root_id = root["id"]
    with on_its_thread(tx, root["kind"] == "folder"):
        await execute(
            tx,
            "INSERT INTO tombstones (user_id, checksum, file_id, deleted_at)"
            " SELECT user_id, checksum, id, ? FROM files WHERE +user_id = ? AND trash_root = ?"
            " AND deleted_at IS NOT NULL AND purged_at IS NULL AND kind = 'file'"
            " AND checksum IS NOT NULL ORDER BY id != ?, length(folder), folder, name_key"
            + _UPSERT,
            (now, user_id, root_id, root_id))


async def find(conn: Conn, user_id: str, checksum: str) -> Row | None:
    """The tombstone of ``checksum`` (``file_id``, ``deleted_at``), if the user deleted it."""
    return await fetchone(
        conn, "SELECT file_id, deleted_at FROM tombstones WHERE user_id = ? AND checksum = ?",
        (user_id, checksum),
    )


async def clear(tx: Conn, user_id: str, checksum: str) -> None:
    await execute(tx, "DELETE FROM tombstones WHERE user_id = ? AND checksum = ?",
                  (user_id, checksum))
