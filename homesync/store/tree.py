"""Moving, renaming, trashing, restoring and purging entries of a user's tree.

Every change appends to the journal and stores its seq in ``files.seq`` (so deltas see
it), in the caller's write transaction. A folder carries its subtree along: moving it
rewrites every descendant's ``folder``; trashing it trashes every live descendant as one
group (``trash_root``), which is restored or purged together.

Folder paths are compared byte-wise: the descendants of ``/a`` are the rows whose
folder is ``/a`` or lies in ``['/a/', '/a0')`` (``0`` follows ``/`` in ASCII), inside
the range ``['/a', '/a0')`` that the ``files_live_name`` index can scan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from homesync.paths import join, name_key
from homesync.store import journal, users
from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.files import FILE_COLUMNS

__all__ = [
    "CONTENT_ACTIONS",
    "TREE_COLUMNS",
    "content_changed_since",
    "descendants_filter",
    "get",
    "group_members",
    "last_change",
    "live_descendants",
    "move",
    "purge_group",
    "restore_group",
    "savepoint",
    "trash",
]

TREE_COLUMNS = f"{FILE_COLUMNS}, trash_root, purged_at, moved_seq"

# Journal actions that change what a file contains (as opposed to where it is).
CONTENT_ACTIONS = ("create", "update")


@asynccontextmanager
async def savepoint(tx: Conn) -> AsyncIterator[None]:
    """A nested transaction: on an exception only what ran inside is rolled back.

    Savepoints of the same name nest (SQLite rolls back to the innermost one).
    """
    await tx.execute("SAVEPOINT homesync_change")
    try:
        yield
    except BaseException:
        await tx.execute("ROLLBACK TO homesync_change")
        await tx.execute("RELEASE homesync_change")
        raise
    else:
        await tx.execute("RELEASE homesync_change")


def descendants_filter(path: str, column: str = "folder") -> tuple[str, list[Any]]:
    """SQL (and params) matching rows whose ``column`` is ``path`` or lies below it.

    The outer range ``[path, path + '0')`` is what an index scans; it also holds siblings
    such as ``/a-b`` (``-`` sorts before ``/``), which the inner test leaves out.
    """
    if path == "/":
        return "1", []
    return (f"({column} >= ? AND {column} < ? AND ({column} = ? OR {column} >= ?))",
            [path, path + "0", path, path + "/"])


async def get(conn: Conn, user_id: str, file_id: str) -> Row | None:
    """An entry of ``user_id`` with the trash columns (live, trashed or purged)."""
    return await fetchone(conn, f"SELECT {TREE_COLUMNS} FROM files WHERE id = ? AND user_id = ?",
                          (file_id, user_id))


async def live_descendants(conn: Conn, user_id: str, path: str) -> list[Row]:
    """Live entries below ``path`` (not the entry at ``path`` itself), shallowest first."""
    where, params = descendants_filter(path)
    return await fetchall(
        conn,
        f"SELECT {TREE_COLUMNS} FROM files WHERE user_id = ? AND deleted_at IS NULL AND {where}"
        " ORDER BY length(folder), folder, name_key",
        [user_id, *params],
    )


async def content_changed_since(conn: Conn, file_id: str, base_seq: int,
                                device_id: str | None) -> Row | None:
    """The latest content change of ``file_id`` after ``base_seq`` made by another device.

    A device's own changes never conflict with it: it knows about them even when its
    sync token is older (two edits queued offline, a retried request).

    Below the owner's sync horizon the journal may be compacted (``store.horizon``), so
    for a ``base_seq`` there, a file that existed before the horizon and changed after
    ``base_seq`` in any way counts as changed by an unknown device (a row with
    ``device_id`` NULL and ``action`` ``update``): whether it was its content, and by whom,
    can no longer be told, and a conflict keeps both sides where an overwrite would lose
    one. Journal entries after the horizon are all there and judge exactly.
    """
    placeholders = ", ".join(f"?{4 + i}" for i in range(len(CONTENT_ACTIONS)))
    return await fetchone(
        conn,
        f"SELECT seq, action, device_id, at FROM journal WHERE file_id = ?1 AND seq > ?2"
        f" AND action IN ({placeholders}) AND (device_id IS NULL OR device_id != ?3)"
        " UNION ALL"
        " SELECT f.seq, 'update', NULL, f.modified_at FROM files f JOIN users u"
        " ON u.id = f.user_id WHERE f.id = ?1 AND ?2 < u.sync_horizon_seq"
        " AND f.created_seq <= u.sync_horizon_seq AND f.seq > ?2"
        " ORDER BY seq DESC LIMIT 1",
        (file_id, base_seq, device_id or "", *CONTENT_ACTIONS),
    )


async def _bump(tx: Conn, *, user_id: str, file_id: str, action: str, device_id: str | None,
                now: int) -> int:
    return await journal.append(tx, user_id=user_id, file_id=file_id, action=action,
                                device_id=device_id, now=now)


async def move(tx: Conn, *, user_id: str, row: Row, folder: str, name: str,
               device_id: str | None, now: int) -> int:
    """Put the live entry ``row`` at ``folder``/``name`` (already checked to be free).

    A folder takes its subtree along. Returns the seq of the entry's own change.
    """
    action = "rename" if folder == row["folder"] else "move"
    seq = await _bump(tx, user_id=user_id, file_id=row["id"], action=action,
                      device_id=device_id, now=now)
    await execute(
        tx,
        "UPDATE files SET folder = ?, name = ?, name_key = ?, seq = ?, moved_seq = ? WHERE id = ?",
        (folder, name, name_key(name), seq, seq, row["id"]),
    )
    if row["kind"] == "folder":
        old_path, new_path = join(row["folder"], row["name"]), join(folder, name)
        if old_path != new_path:
            for child in await live_descendants(tx, user_id, old_path):
                child_seq = await _bump(tx, user_id=user_id, file_id=child["id"], action="move",
                                        device_id=device_id, now=now)
                await execute(
                    tx, "UPDATE files SET folder = ?, seq = ?, moved_seq = ? WHERE id = ?",
                    (new_path + child["folder"][len(old_path):], child_seq, child_seq,
                     child["id"]),
                )
    return seq


async def trash(tx: Conn, *, user_id: str, row: Row, device_id: str | None,
                now: int) -> list[Row]:
    """Move the live entry ``row`` (and, for a folder, everything below it) to the trash.

    Returns the trashed rows as they were, ``row`` first.
    """
    members = [row]
    if row["kind"] == "folder":
        members += await live_descendants(tx, user_id, join(row["folder"], row["name"]))
    for member in members:
        seq = await _bump(tx, user_id=user_id, file_id=member["id"], action="delete",
                          device_id=device_id, now=now)
        await execute(
            tx, "UPDATE files SET deleted_at = ?, trash_root = ?, seq = ? WHERE id = ?",
            (now, row["id"], seq, member["id"]),
        )
    return members


async def group_members(conn: Conn, user_id: str, row: Row) -> list[Row]:
    """The trashed (not purged) entries that go with ``row``: itself and, for a folder,
    the members of its trash group below it. Shallowest first."""
    root = row["trash_root"] or row["id"]
    rows = [row]
    if row["kind"] == "folder":
        where, params = descendants_filter(join(row["folder"], row["name"]))
        rows += await fetchall(
            conn,
            f"SELECT {TREE_COLUMNS} FROM files WHERE user_id = ? AND trash_root = ?"
            f" AND purged_at IS NULL AND deleted_at IS NOT NULL AND id != ? AND {where}"
            " ORDER BY length(folder), folder, name_key",
            [user_id, root, row["id"], *params],
        )
    return rows


async def restore_group(tx: Conn, *, user_id: str, row: Row, folder: str, name: str,
                        device_id: str | None, now: int) -> list[Row]:
    """Bring the trashed ``row`` (and its group below it) back, ``row`` at ``folder``/``name``.

    The caller has checked that ``folder``/``name`` is free and that ``folder`` exists.
    Returns the restored rows as they were in the trash.
    """
    members = await group_members(tx, user_id, row)
    old_path, new_path = join(row["folder"], row["name"]), join(folder, name)
    for member in members:
        seq = await _bump(tx, user_id=user_id, file_id=member["id"], action="restore",
                          device_id=device_id, now=now)
        if member["id"] == row["id"]:
            new_folder, new_name = folder, name
        else:
            new_folder, new_name = new_path + member["folder"][len(old_path):], member["name"]
        moved = new_folder != member["folder"] or new_name != member["name"]
        await execute(
            tx,
            "UPDATE files SET deleted_at = NULL, trash_root = NULL, folder = ?, name = ?,"
            " name_key = ?, seq = ?, moved_seq = CASE WHEN ? THEN ? ELSE moved_seq END"
            " WHERE id = ?",
            (new_folder, new_name, name_key(new_name), seq, int(moved), seq, member["id"]),
        )
    return members


async def purge_group(tx: Conn, *, user_id: str, row: Row, now: int) -> int:
    """Empty ``row`` (and its trash group below it) out of the trash for good.

    The rows stay as deletion tombstones (``purged_at``) so devices still learn of the
    deletion; their versions go, which leaves the chunks to gc. Returns the bytes freed
    from the user's quota.
    """
    freed = 0
    for member in await group_members(tx, user_id, row):
        got = await fetchone(tx, "SELECT coalesce(sum(size), 0) FROM file_versions"
                                 " WHERE file_id = ?", (member["id"],))
        freed += int(got[0]) if got else 0
        await execute(tx, "DELETE FROM file_versions WHERE file_id = ?", (member["id"],))
        await execute(tx, "UPDATE files SET purged_at = ?, version_id = NULL WHERE id = ?",
                      (now, member["id"]))
    if freed:
        await users.add_usage(tx, user_id, -freed)
    return freed


async def last_change(conn: Conn, file_id: str) -> Row | None:
    """The latest journal entry of ``file_id`` (``seq``, ``action``, ``device_id``, ``at``).

    None when the file's entries were compacted past the sync horizon: only a conflict's
    "changed by which device" reads it, and shows no device then.
    """
    return await fetchone(conn, "SELECT seq, action, device_id, at FROM journal WHERE file_id = ?"
                                " ORDER BY seq DESC LIMIT 1", (file_id,))
