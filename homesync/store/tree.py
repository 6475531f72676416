"""Moving, renaming, trashing, restoring and purging entries of a user's tree.

Every change appends to the journal and stores its seq in ``files.seq`` (so deltas see
it), in the caller's write transaction. A folder carries its subtree along: moving it
rewrites every descendant's ``folder``; trashing it trashes every live descendant as one
group (``trash_root``), which is restored or purged together. A subtree is changed by a
few set-based statements (journal entries by ``INSERT ... SELECT``, rows by one
``UPDATE``), run on the writer's thread so that the loop serves other requests meanwhile.

Folder paths are compared byte-wise: the descendants of ``/a`` are the rows whose
folder is ``/a`` or lies in ``['/a/', '/a0')`` (``0`` follows ``/`` in ASCII), inside
the range ``['/a', '/a0')`` that the ``files_live_name`` index can scan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

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
from homesync.store.db import Conn, Row, execute, fetchall, fetchone, on_its_thread
from homesync.store.files import FILE_COLUMNS

__all__ = [
    "TREE_COLUMNS",
    "check_restored_folder",
    "descendants_filter",
    "get",
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


async def live_descendants(conn: Conn, user_id: str, path: str, *, kind: str | None = None,
                           after_seq: int = -1) -> list[Row]:
    """Live entries below ``path`` (not the entry at ``path`` itself), shallowest first;
    only those of ``kind`` (``file``, ``folder``) last changed after ``after_seq`` if given
    (a device's delete of a folder asks only for what changed since its token)."""
    where, params = descendants_filter(path)
    if kind is not None:
        where += " AND kind = ?"
        params.append(kind)
    return await fetchall(
        conn,
        f"SELECT {TREE_COLUMNS} FROM files WHERE user_id = ? AND deleted_at IS NULL AND {where}"
        " AND seq > ? ORDER BY length(folder), folder, name_key",
        [user_id, *params, after_seq],
    )


async def _bump(tx: Conn, *, user_id: str, file_id: str, action: str, device_id: str | None,
                now: int, from_path: str | None = None) -> int:
    return await journal.append(tx, user_id=user_id, file_id=file_id, action=action,
                                device_id=device_id, now=now, from_path=from_path)


# The seq of the journal entry just appended for the row being updated.
_LAST_SEQ = "(SELECT max(j.seq) FROM journal j WHERE j.file_id = files.id)"

# Members of a subtree in the order their journal entries are written: shallowest first.
_SHALLOWEST_FIRST = "ORDER BY length(folder), folder, name_key"


async def _journal_all(tx: Conn, *, user_id: str, action: str, device_id: str | None,
                       now: int, where: str, params: Sequence[Any],
                       order: str = _SHALLOWEST_FIRST, with_from_path: bool = False,
                       subtree: bool = True) -> None:
    """One journal entry per row of ``files`` that ``where`` matches, seqs ascending in
    ``order`` (its parameters last in ``params``); ``with_from_path``: each one's path
    now, before a move. ``subtree`` False: one file's, run inline.

    A folder's subtree is changed with a few set-based statements, whatever its size, on
    the writer's thread: one statement per entry (in the savepoint each synced change
    runs in) held the writer and the event loop for minutes when a folder of 20 000
    photos was deleted or moved (bench/folder_ops.py).
    """
    from_path = ("CASE WHEN folder = '/' THEN '/' || name ELSE folder || '/' || name END"
                 if with_from_path else "NULL")
    with on_its_thread(tx, subtree):
        await execute(
            tx,
            "INSERT INTO journal (user_id, file_id, action, device_id, at, from_path)"
            f" SELECT ?, id, ?, ?, ?, {from_path} FROM files WHERE {where} {order}",
            (user_id, action, device_id, journal.stamp(now), *params),
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
            below, params = descendants_filter(old_path)
            where = f"user_id = ? AND deleted_at IS NULL AND {below}"
            await _journal_all(tx, user_id=user_id, action="move", device_id=device_id,
                               now=now, where=where, params=[user_id, *params],
                               with_from_path=True)
            with on_its_thread(tx):
                # substr() counts characters, as len() does: the part below old_path.
                await execute(
                    tx,
                    f"UPDATE files SET folder = ? || substr(folder, ?), seq = {_LAST_SEQ},"
                    f" moved_seq = {_LAST_SEQ} WHERE {where}",
                    (new_path, len(old_path) + 1, user_id, *params),
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
                now: int) -> None:
    """Move the live entry ``row`` (and, for a folder, everything below it) to the trash,
    as one group (``trash_root``: ``row``'s id; ``tombstones.record_trashed`` reads it)."""
    where, params = "id = ?", [row["id"]]
    if row["kind"] == "folder":
        below, below_params = descendants_filter(join(row["folder"], row["name"]))
        where = f"(id = ? OR (user_id = ? AND deleted_at IS NULL AND {below}))"
        params = [row["id"], user_id, *below_params]
    # The entry itself first, then what was below it, shallowest first (as before).
    folder = row["kind"] == "folder"
    await _journal_all(tx, user_id=user_id, action="delete", device_id=device_id, now=now,
                       where=where, params=[*params, row["id"]], subtree=folder,
                       order=f"ORDER BY id != ?, {_SHALLOWEST_FIRST.removeprefix('ORDER BY ')}")
    with on_its_thread(tx, folder):
        await execute(
            tx, f"UPDATE files SET deleted_at = ?, trash_root = ?, seq = {_LAST_SEQ}"
                f" WHERE {where}", (now, row["id"], *params))


def _group_below(user_id: str, row: Row) -> tuple[str, list[Any]]:
    """SQL (and params) matching the members of ``row``'s trash group below it (not purged,
    not ``row`` itself); for a file, nothing."""
    if row["kind"] != "folder":
        return "0", []
    where, params = descendants_filter(join(row["folder"], row["name"]))
    # "+user_id": found by files_trash_root, the group's own rows; the planner's pick,
    # files_trash, read every row in the user's trash (50 000 after a big delete) for
    # each group restored or purged.
    return ("(+user_id = ? AND trash_root = ? AND purged_at IS NULL AND deleted_at IS NOT NULL"
            f" AND id != ? AND {where})",
            [user_id, row["trash_root"] or row["id"], row["id"], *params])


async def restore_group(tx: Conn, *, user_id: str, row: Row, folder: str, name: str,
                        device_id: str | None, now: int) -> None:
    """Bring the trashed ``row`` (and its group below it) back, ``row`` at ``folder``/``name``.

    The caller has checked that ``folder``/``name`` is free and that ``folder`` exists.
    InvalidPath (nothing restored) when a folder would get a path no request can name.
    """
    await restore_groups(tx, user_id=user_id, places=[(row, folder, name)],
                         device_id=device_id, now=now)


async def restore_groups(tx: Conn, *, user_id: str, places: Sequence[tuple[Row, str, str]],
                         device_id: str | None, now: int) -> None:
    """:func:`restore_group` for each ``(row, folder, name)`` (disjoint subtrees), a few
    statements each (a merge into a live folder: :mod:`homesync.store.trash_merge`).
    Journal entries: each place's ``row`` first, then its group below it shallowest first."""
    for row, folder, name in places:
        # A name taken meanwhile makes "name (restored)" (of the entry or a folder on the
        # way): paths grow. The caller's transaction undoes the folders it made for a
        # refused one. Every place is checked before anything is restored.
        _check_restored_path(folder)
        if row["kind"] == "folder":
            _check_restored_path(join(folder, name))
            await _check_restored_below(tx, user_id, row, join(folder, name))
    for row, folder, name in places:
        old_path, new_path = join(row["folder"], row["name"]), join(folder, name)
        seq = await _bump(tx, user_id=user_id, file_id=row["id"], action="restore",
                          device_id=device_id, now=now)
        moved = folder != row["folder"] or name != row["name"]
        await execute(
            tx, "UPDATE files SET deleted_at = NULL, trash_root = NULL, folder = ?, name = ?,"
                " name_key = ?, seq = ?, moved_seq = CASE WHEN ? THEN ? ELSE moved_seq END"
                " WHERE id = ?",
            (folder, name, name_key(name), seq, int(moved), seq, row["id"]))
        if row["kind"] != "folder":
            continue
        below, params = _group_below(user_id, row)
        await _journal_all(tx, user_id=user_id, action="restore", device_id=device_id, now=now,
                           where=below, params=params)
        with on_its_thread(tx):
            # substr() counts characters, as len() does: the part below old_path.
            await execute(
                tx, "UPDATE files SET deleted_at = NULL, trash_root = NULL,"
                    f" folder = ? || substr(folder, ?), seq = {_LAST_SEQ},"
                    f" moved_seq = CASE WHEN ? THEN {_LAST_SEQ} ELSE moved_seq END"
                    f" WHERE {below}",
                (new_path, len(old_path) + 1, int(new_path != old_path), *params))


async def _check_restored_below(conn: Conn, user_id: str, row: Row, new_path: str) -> None:
    """InvalidPath if a folder of ``row``'s group below it, restored with ``row`` to
    ``new_path``, would get a path no request can name (the shallowest such one)."""
    old_path = join(row["folder"], row["name"])
    old_bytes, old_depth = len(old_path.encode()), old_path.count("/")
    new_bytes, new_depth = len(new_path.encode()), new_path.count("/")
    below, params = _group_below(user_id, row)
    size = "length(CAST(folder AS BLOB)) + 1 + length(CAST(name AS BLOB))"
    depth = "length(folder) - length(replace(folder, '/', '')) + 1"
    found = await fetchone(
        conn, f"SELECT {size}, {depth} FROM files WHERE kind = 'folder' AND {below}"
              f" AND ({size} > ? OR {depth} > ?) {_SHALLOWEST_FIRST} LIMIT 1",
        (*params, MAX_PATH_BYTES - new_bytes + old_bytes, MAX_DEPTH - new_depth + old_depth))
    if found is not None:
        _check_folder_path(new_bytes + found[0] - old_bytes, new_depth + found[1] - old_depth,
                           "Restored")


def _check_restored_path(path: str) -> None:
    """InvalidPath if a folder restored to ``path`` could not be named by a request again."""
    check_restored_folder(len(path.encode()), path.count("/"))


def check_restored_folder(size: int, depth: int) -> None:
    """InvalidPath if a folder restored at a path of ``size`` bytes, ``depth`` levels deep,
    could not be named by a request again."""
    _check_folder_path(size, depth, "Restored")


async def purge_group(tx: Conn, *, user_id: str, row: Row, now: int) -> int:
    """Empty ``row`` (and its trash group below it) out of the trash for good.

    The rows stay as deletion tombstones (``purged_at``) so devices still learn of the
    deletion; their versions go, which leaves the chunks to gc. Returns the bytes freed
    from the user's quota. The statements over the group run on the writer's thread.
    """
    below, params = _group_below(user_id, row)
    with on_its_thread(tx, row["kind"] == "folder"):
        # The group's ids, as one JSON array built by SQLite (not 20 000 rows in Python).
        got = await fetchone(tx, "SELECT json_insert(json_group_array(id), '$[#]', ?)"
                                 f" FROM files WHERE {below}", (row["id"], *params))
        assert got is not None
        ids = str(got[0])
        members = "(SELECT value FROM json_each(?))"
        got = await fetchone(tx, "SELECT coalesce(sum(size), 0) FROM file_versions"
                                 f" WHERE file_id IN {members}", (ids,))
        freed = int(got[0]) if got else 0
        await chunk_index.let_go_of_versions(
            tx, f"SELECT id FROM file_versions WHERE file_id IN {members}", (ids,), now)
        await execute(tx, f"DELETE FROM file_versions WHERE file_id IN {members}", (ids,))
        await execute(tx, "UPDATE files SET purged_at = ?, version_id = NULL"
                          f" WHERE id IN {members}", (now, ids))
    if freed:
        await users.add_usage(tx, user_id, -freed)
    return freed
