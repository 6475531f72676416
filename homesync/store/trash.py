"""The trash, version history and their retention: what is kept and what is let go.

Purging a version deletes its ``file_versions`` row (and, by cascade, its manifest) and
gives its size back to the user's quota; the chunks stay until gc finds no version or
upload refers to them.
"""

from __future__ import annotations

import msgspec

from homesync.store import chunk_index, users
from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.tree import TREE_COLUMNS

__all__ = [
    "delete_version",
    "list_trash",
    "list_versions",
    "trash_due",
    "versioned_files",
    "versions_due",
]


async def list_trash(conn: Conn, user_id: str, *, limit: int, offset: int = 0,
                     after: tuple[int, str] | None = None) -> list[Row]:
    """What the user deleted and can still restore, newest first: one row per delete (a
    folder stands for everything trashed with it), with ``items`` and ``total_size``;
    from after the entry ``after`` (its ``(deleted_at, id)``) when given.

    Walks the groups' roots in files_trash_roots (the page's order) and counts only the
    listed roots' groups (files_trash_root): a page reads its own rows, not the whole trash.
    """
    group = ("FROM files m WHERE m.trash_root = r.id AND +m.user_id = r.user_id"
             " AND m.deleted_at IS NOT NULL AND m.purged_at IS NULL")
    return await fetchall(
        conn,
        f"SELECT {', '.join('r.' + c.strip() for c in TREE_COLUMNS.split(','))},"
        f" (SELECT count(*) {group}) AS items, (SELECT sum(m.size) {group}) AS total_size"
        " FROM files r WHERE r.user_id = ? AND r.deleted_at IS NOT NULL"
        " AND r.purged_at IS NULL AND r.trash_root = r.id"
        # "deleted_at <= ?" too: the index's range then starts at the cursor.
        + (" AND r.deleted_at <= ? AND (r.deleted_at < ? OR (r.deleted_at = ? AND r.id > ?))"
           if after else "")
        + " ORDER BY r.deleted_at DESC, r.id LIMIT ? OFFSET ?",
        (user_id, *((after[0], after[0], after[0], after[1]) if after else ()), limit, offset),
    )


async def trash_due(conn: Conn, before: int, limit: int) -> list[Row]:
    """Trash groups deleted before ``before`` (their root entries), oldest first."""
    return await fetchall(
        conn,
        f"SELECT {TREE_COLUMNS} FROM files WHERE deleted_at < ? AND purged_at IS NULL"
        " AND deleted_at IS NOT NULL AND coalesce(trash_root, id) = id"
        " ORDER BY deleted_at LIMIT ?",
        (before, limit),
    )


async def list_versions(conn: Conn, user_id: str, file_id: str) -> list[Row]:
    """Every retained version of a file, newest first, with the uploading device's name."""
    return await fetchall(
        conn,
        "SELECT v.id, v.size, v.checksum, v.mime_type, v.metadata, v.modified_at,"
        " v.created_at, v.device_id, d.name AS device_name"
        " FROM file_versions v LEFT JOIN devices d ON d.id = v.device_id"
        " WHERE v.file_id = ? AND v.user_id = ? ORDER BY v.created_at DESC, v.rowid DESC",
        (file_id, user_id),
    )


async def versioned_files(conn: Conn, *, after: str, limit: int) -> list[str]:
    """Up to ``limit`` ids of files with more than one version, in id order, after
    ``after`` (""): a retention sweep walks file_versions_file once, a batch at a time."""
    rows = await fetchall(
        conn,
        "SELECT file_id FROM file_versions WHERE file_id > ? GROUP BY file_id"
        " HAVING count(*) > 1 ORDER BY file_id LIMIT ?",
        (after, limit),
    )
    return [str(r[0]) for r in rows]


async def versions_due(conn: Conn, file_ids: list[str], *, keep: int,
                       replaced_before: int | None) -> list[Row]:
    """Replaced versions of ``file_ids`` past retention: beyond the ``keep`` newest
    replaced versions of their file (``keep`` 0: no count limit), or replaced (superseded
    by a newer version) before ``replaced_before`` (None: no age limit). Never a file's
    current version."""
    conditions = []
    params: list[int] = []
    if keep > 0:
        conditions.append("rn > ?")
        params.append(keep + 1)  # rn 1 is the current version
    if replaced_before is not None:
        conditions.append("replaced_at < ?")
        params.append(replaced_before)
    if not conditions or not file_ids:
        return []
    return await fetchall(
        conn,
        "SELECT id, file_id, user_id, size FROM ("
        "  SELECT v.id, v.file_id, v.user_id, v.size, f.version_id AS current_id,"
        "   row_number() OVER w AS rn, lag(v.created_at) OVER w AS replaced_at"
        "  FROM file_versions v JOIN files f ON f.id = v.file_id"
        "  WHERE v.file_id IN (SELECT value FROM json_each(?))"
        "  WINDOW w AS (PARTITION BY v.file_id ORDER BY v.created_at DESC, v.rowid DESC))"
        f" WHERE id IS NOT current_id AND rn > 1 AND ({' OR '.join(conditions)})",
        (msgspec.json.encode(file_ids).decode(), *params),
    )


async def delete_version(tx: Conn, *, version_id: str, file_id: str, user_id: str,
                         now: int) -> int:
    """Drop a replaced version; its size leaves the user's quota. 0 when it is gone or
    became current meanwhile."""
    row = await fetchone(
        tx,
        "SELECT v.size FROM file_versions v JOIN files f ON f.id = v.file_id"
        " WHERE v.id = ? AND v.file_id = ? AND f.version_id IS NOT v.id",
        (version_id, file_id),
    )
    if row is None:
        return 0
    await chunk_index.let_go_of_versions(tx, "?", (version_id,), now)
    await execute(tx, "DELETE FROM file_versions WHERE id = ?", (version_id,))
    await users.add_usage(tx, user_id, -int(row[0]))
    return int(row[0])
