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

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from homesync.errors import InvalidPath
from homesync.paths import (
    MAX_DEPTH,
    MAX_PATH_BYTES,
    broken_folder_limit,
    check_not_reserved,
    join,
    name_key,
)
from homesync.store import chunk_index, journal, users
from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.files import FILE_COLUMNS

__all__ = [
    "TREE_COLUMNS",
    "close_merged",
    "descendants_filter",
    "get",
    "group_members",
    "live_descendants",
    "move",
    "purge_group",
    "restore_group",
    "restore_groups",
    "savepoint",
    "trash",
]

TREE_COLUMNS = f"{FILE_COLUMNS}, trash_root, purged_at, moved_seq"

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


async def _bump(tx: Conn, *, user_id: str, file_id: str, action: str, device_id: str | None,
                now: int, from_path: str | None = None) -> int:
    return await journal.append(tx, user_id=user_id, file_id=file_id, action=action,
                                device_id=device_id, now=now, from_path=from_path)


# The seq of the journal entry just appended for the row being updated (:func:`_bump_all`).
_LAST_SEQ = "(SELECT max(j.seq) FROM journal j WHERE j.file_id = files.id)"


async def _bump_all(tx: Conn, *, user_id: str, file_ids: list[str], action: str,
                    device_id: str | None, now: int,
                    from_paths: list[str] | None = None) -> None:
    """One journal entry per id, seqs ascending in the order given (``from_paths``: each
    one's path before a move, in the same order).

    A folder's subtree is changed with a few statements, whatever its size: one per entry
    held the writer, and the event loop (which runs a transaction's statements), for
    seconds when a folder of thousands of photos was deleted, moved or restored.
    """
    at = journal.stamp(now)
    froms: list[str | None] = list(from_paths) if from_paths else [None] * len(file_ids)
    await tx.executemany(
        "INSERT INTO journal (user_id, file_id, action, device_id, at, from_path)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(user_id, file_id, action, device_id, at, from_path)
         for file_id, from_path in zip(file_ids, froms, strict=True)],
    )


async def move(tx: Conn, *, user_id: str, row: Row, folder: str, name: str,
               device_id: str | None, now: int) -> int:
    """Put the live entry ``row`` at ``folder``/``name`` (already checked to be free).

    A folder takes its subtree along. Returns the seq of the entry's own change.
    """
    check_not_reserved(folder, name)
    if row["kind"] == "folder":
        await _check_room(tx, user_id, join(row["folder"], row["name"]), join(folder, name))
    action = "rename" if folder == row["folder"] else "move"
    seq = await _bump(tx, user_id=user_id, file_id=row["id"], action=action,
                      device_id=device_id, now=now, from_path=join(row["folder"], row["name"]))
    await execute(
        tx,
        "UPDATE files SET folder = ?, name = ?, name_key = ?, seq = ?, moved_seq = ? WHERE id = ?",
        (folder, name, name_key(name), seq, seq, row["id"]),
    )
    if row["kind"] == "folder":
        old_path, new_path = join(row["folder"], row["name"]), join(folder, name)
        if old_path != new_path:
            children = await live_descendants(tx, user_id, old_path)
            await _bump_all(tx, user_id=user_id, file_ids=[c["id"] for c in children],
                            action="move", device_id=device_id, now=now,
                            from_paths=[join(c["folder"], c["name"]) for c in children])
            await tx.executemany(
                f"UPDATE files SET folder = ?, seq = {_LAST_SEQ}, moved_seq = {_LAST_SEQ}"
                " WHERE id = ?",
                [(new_path + c["folder"][len(old_path):], c["id"]) for c in children],
            )
    return seq


async def _check_room(conn: Conn, user_id: str, old_path: str, new_path: str) -> None:
    """InvalidPath if the folder at ``old_path``, moved to ``new_path``, would make a folder
    path (its own, or a subfolder's) longer or deeper than a request may name: no listing,
    upload or move could reach that folder again."""
    where, params = descendants_filter(old_path)
    row = await fetchone(
        conn,
        "SELECT max(length(CAST(folder AS BLOB)) + 1 + length(CAST(name AS BLOB))),"
        " max(length(folder) - length(replace(folder, '/', '')) + 1) FROM files"
        f" WHERE user_id = ? AND deleted_at IS NULL AND kind = 'folder' AND {where}",
        [user_id, *params],
    )
    old_bytes, old_depth = len(old_path.encode()), old_path.count("/")
    deepest_bytes = (row[0] if row and row[0] is not None else old_bytes) - old_bytes
    deepest_depth = (row[1] if row and row[1] is not None else old_depth) - old_depth
    _check_folder_path(len(new_path.encode()) + deepest_bytes,
                       new_path.count("/") + deepest_depth, "Moved")


def _check_folder_path(size: int, depth: int, how: str) -> None:
    """InvalidPath if a folder ``how`` ("Moved", "Restored") there would get a path of
    ``size`` bytes, ``depth`` levels deep, over the limits a request is held to."""
    broken = broken_folder_limit(size, depth)
    if broken == "bytes":
        raise InvalidPath(f"{how} there, a folder's path would exceed {MAX_PATH_BYTES} bytes")
    if broken == "depth":
        raise InvalidPath(f"{how} there, folders would be more than {MAX_DEPTH} levels deep")


async def trash(tx: Conn, *, user_id: str, row: Row, device_id: str | None,
                now: int) -> list[Row]:
    """Move the live entry ``row`` (and, for a folder, everything below it) to the trash.

    Returns the trashed rows as they were, ``row`` first.
    """
    members = [row]
    if row["kind"] == "folder":
        members += await live_descendants(tx, user_id, join(row["folder"], row["name"]))
    ids = [m["id"] for m in members]
    await _bump_all(tx, user_id=user_id, file_ids=ids, action="delete", device_id=device_id,
                    now=now)
    await tx.executemany(
        f"UPDATE files SET deleted_at = ?, trash_root = ?, seq = {_LAST_SEQ} WHERE id = ?",
        [(now, row["id"], file_id) for file_id in ids],
    )
    return members


async def group_members(conn: Conn, user_id: str, row: Row) -> list[Row]:
    """The trashed (not purged) entries that go with ``row``: itself and, for a folder,
    the members of its trash group below it. Shallowest first."""
    root = row["trash_root"] or row["id"]
    rows = [row]
    if row["kind"] == "folder":
        where, params = descendants_filter(join(row["folder"], row["name"]))
        # "+user_id": found by files_trash_root, the group's own rows; the planner's pick,
        # files_trash, read every row in the user's trash (50 000 after a big delete) for
        # each group restored or purged.
        rows += await fetchall(
            conn,
            f"SELECT {TREE_COLUMNS} FROM files WHERE +user_id = ? AND trash_root = ?"
            f" AND purged_at IS NULL AND deleted_at IS NOT NULL AND id != ? AND {where}"
            " ORDER BY length(folder), folder, name_key",
            [user_id, root, row["id"], *params],
        )
    return rows


async def restore_group(tx: Conn, *, user_id: str, row: Row, folder: str, name: str,
                        device_id: str | None, now: int) -> list[Row]:
    """Bring the trashed ``row`` (and its group below it) back, ``row`` at ``folder``/``name``.

    The caller has checked that ``folder``/``name`` is free and that ``folder`` exists.
    InvalidPath (nothing restored) when a folder would get a path no request can name.
    Returns the restored rows as they were in the trash.
    """
    return await restore_groups(tx, user_id=user_id, places=[(row, folder, name)],
                                device_id=device_id, now=now)


async def restore_groups(tx: Conn, *, user_id: str, places: Sequence[tuple[Row, str, str]],
                         device_id: str | None, now: int) -> list[Row]:
    """:func:`restore_group` for each ``(row, folder, name)`` (disjoint subtrees, a folder
    merged from the trash into a live one: :func:`close_merged`), in a few statements."""
    moves: list[tuple[Row, str, str]] = []  # (member, its folder, its name) once restored
    for row, folder, name in places:
        old_path, new_path = join(row["folder"], row["name"]), join(folder, name)
        # A name taken meanwhile makes "name (restored)" (of the entry or a folder on the
        # way): paths grow. The caller's transaction undoes the folders it made for a
        # refused one.
        _check_restored_path(folder)
        for member in await group_members(tx, user_id, row):
            if member["id"] == row["id"]:
                new_folder, new_name = folder, name
            else:
                new_folder = new_path + member["folder"][len(old_path):]
                new_name = member["name"]
            if member["kind"] == "folder":
                _check_restored_path(join(new_folder, new_name))
            moves.append((member, new_folder, new_name))
    await _bump_all(tx, user_id=user_id, file_ids=[m["id"] for m, _, _ in moves],
                    action="restore", device_id=device_id, now=now)
    updates = []
    for member, new_folder, new_name in moves:
        moved = new_folder != member["folder"] or new_name != member["name"]
        updates.append((new_folder, new_name, name_key(new_name), int(moved), member["id"]))
    await tx.executemany(
        "UPDATE files SET deleted_at = NULL, trash_root = NULL, folder = ?, name = ?,"
        f" name_key = ?, seq = {_LAST_SEQ},"
        f" moved_seq = CASE WHEN ? THEN {_LAST_SEQ} ELSE moved_seq END WHERE id = ?",
        updates,
    )
    return [m for m, _, _ in moves]


async def close_merged(tx: Conn, *, user_id: str, ids: Sequence[str], now: int) -> None:
    """Take trashed folders whose contents were restored into the live folder at their
    place out of the trash: nothing of theirs is left to restore. They stay deleted, as
    purged rows (deletion tombstones): a device still holding one learns it is gone, and
    the live folder is the one devices keep. A folder has no versions to free."""
    if ids:
        await execute(
            tx, "UPDATE files SET purged_at = ? WHERE user_id = ? AND deleted_at IS NOT NULL"
                " AND purged_at IS NULL AND id IN (SELECT value FROM json_each(?))",
            (now, user_id, msgspec.json.encode(list(ids)).decode()))


def _check_restored_path(path: str) -> None:
    """InvalidPath if a folder restored to ``path`` could not be named by a request again."""
    _check_folder_path(len(path.encode()), path.count("/"), "Restored")


async def purge_group(tx: Conn, *, user_id: str, row: Row, now: int) -> int:
    """Empty ``row`` (and its trash group below it) out of the trash for good.

    The rows stay as deletion tombstones (``purged_at``) so devices still learn of the
    deletion; their versions go, which leaves the chunks to gc. Returns the bytes freed
    from the user's quota.
    """
    ids = msgspec.json.encode([m["id"] for m in await group_members(tx, user_id, row)]).decode()
    members = "(SELECT value FROM json_each(?))"
    got = await fetchone(tx, "SELECT coalesce(sum(size), 0) FROM file_versions"
                             f" WHERE file_id IN {members}", (ids,))
    freed = int(got[0]) if got else 0
    await chunk_index.let_go_of_versions(
        tx, f"SELECT id FROM file_versions WHERE file_id IN {members}", (ids,), now)
    await execute(tx, f"DELETE FROM file_versions WHERE file_id IN {members}", (ids,))
    await execute(tx, f"UPDATE files SET purged_at = ?, version_id = NULL WHERE id IN {members}",
                  (now, ids))
    if freed:
        await users.add_usage(tx, user_id, -freed)
    return freed
