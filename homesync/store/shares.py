"""Shares: a user's file or folder made readable to another user (``shares``)."""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = ["by_id", "delete", "grant_owner", "incoming", "is_shared", "link", "outgoing",
           "recipients", "upsert", "waiting_for"]

# A share with what the API shows of its file and of both people.
_SELECT = (
    "SELECT s.id, s.owner_id, s.file_id, s.recipient_email, s.recipient_id, s.permission,"
    " s.created_at, s.updated_at, f.kind, f.folder, f.name, f.size, f.mime_type, f.checksum,"
    " f.modified_at, f.deleted_at, f.purged_at, o.name AS owner_name, o.email AS owner_email"
    " FROM shares s JOIN files f ON f.id = s.file_id JOIN users o ON o.id = s.owner_id"
)
# The absolute path of a shared folder ``d`` in its owner's tree.
_PATH = "CASE d.folder WHEN '/' THEN '/' || d.name ELSE d.folder || '/' || d.name END"


async def upsert(conn: Conn, *, share_id: str, owner_id: str, file_id: str, email: str,
                 recipient_id: str | None, permission: str, now: int) -> tuple[str, bool]:
    """Share ``file_id`` with ``email`` (again: only the permission changes).

    Returns the share's id and whether it is new.
    """
    existing = await fetchone(
        conn, "SELECT id FROM shares WHERE file_id = ? AND recipient_email = ?", (file_id, email)
    )
    if existing is not None:
        await execute(conn, "UPDATE shares SET permission = ?, updated_at = ? WHERE id = ?",
                      (permission, now, existing["id"]))
        return str(existing["id"]), False
    await execute(
        conn,
        "INSERT INTO shares (id, owner_id, file_id, recipient_email, recipient_id, permission,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (share_id, owner_id, file_id, email, recipient_id, permission, now, now),
    )
    return share_id, True


async def by_id(conn: Conn, share_id: str) -> Row | None:
    return await fetchone(conn, f"{_SELECT} WHERE s.id = ?", (share_id,))


async def outgoing(conn: Conn, owner_id: str) -> list[Row]:
    """What ``owner_id`` shared and has not deleted for good (in their trash it still
    is: restoring it brings the share back), newest first."""
    return await fetchall(conn, f"{_SELECT} WHERE s.owner_id = ? AND f.purged_at IS NULL"
                                " ORDER BY s.created_at DESC, s.id", (owner_id,))


async def incoming(conn: Conn, recipient_id: str) -> list[Row]:
    """What was shared with ``recipient_id`` and is not in its owner's trash, newest first."""
    return await fetchall(
        conn,
        f"{_SELECT} WHERE s.recipient_id = ? AND f.deleted_at IS NULL"
        " ORDER BY s.created_at DESC, s.id",
        (recipient_id,),
    )


async def recipients(conn: Conn, owner_id: str) -> list[str]:
    """The accounts ``owner_id`` shares something with (in their trash or not)."""
    rows = await fetchall(conn, "SELECT DISTINCT recipient_id FROM shares WHERE owner_id = ?"
                                " AND recipient_id IS NOT NULL", (owner_id,))
    return [str(r["recipient_id"]) for r in rows]


async def waiting_for(conn: Conn, email: str) -> list[Row]:
    """The shares made for ``email`` while no account had it (the email as the users
    table matches it: COLLATE NOCASE), oldest first; none of an item deleted for good."""
    return await fetchall(
        conn,
        f"{_SELECT} WHERE s.recipient_id IS NULL AND s.recipient_email = ?"
        " AND f.purged_at IS NULL ORDER BY s.created_at, s.id",
        (email,),
    )


async def link(conn: Conn, share_id: str, recipient_id: str) -> bool:
    """The share reaches ``recipient_id`` from now on (an account made for its email);
    False when it already reached someone."""
    return await execute(
        conn, "UPDATE shares SET recipient_id = ? WHERE id = ? AND recipient_id IS NULL",
        (recipient_id, share_id)) > 0


async def is_shared(conn: Conn, file_id: str) -> bool:
    """Whether ``file_id`` is the item of a share (one reaching an account or not)."""
    row = await fetchone(conn, "SELECT 1 FROM shares WHERE file_id = ? LIMIT 1", (file_id,))
    return row is not None


async def delete(conn: Conn, share_id: str) -> int:
    return await execute(conn, "DELETE FROM shares WHERE id = ?", (share_id,))


async def grant_owner(conn: Conn, user_id: str, file_id: str) -> str | None:
    """The owner of ``file_id`` if a share lets ``user_id`` read it: the file itself is
    shared with them, or a folder it is in (at any depth, wherever the folder is now)."""
    row = await fetchone(
        conn,
        "WITH roots AS ("
        f" SELECT s.owner_id, s.file_id, d.kind, {_PATH} AS path"
        " FROM shares s JOIN files d ON d.id = s.file_id AND d.user_id = s.owner_id"
        " WHERE s.recipient_id = ?1 AND d.deleted_at IS NULL)"
        " SELECT r.owner_id FROM roots r WHERE r.file_id = ?2 OR (r.kind = 'folder' AND"
        " EXISTS (SELECT 1 FROM files f WHERE f.id = ?2 AND f.user_id = r.owner_id AND"
        " (f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')))"
        " LIMIT 1",
        (user_id, file_id),
    )
    return None if row is None else str(row["owner_id"])
