"""Reading the notification inbox: listing (newest first, keyset paging), read marks.

A share's notification is left out once the share no longer reaches the user (``_SHOWN``).
"""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = ["get", "list_page", "mark_all_read", "mark_read", "mark_summary_read", "unread_count"]

# rowid orders notifications made in the same millisecond as they were made.
_COLUMNS = "rowid AS position, id, category, kind, title, body, data, created_at, read_at"

# What the inbox shows: a ``shares`` notification only while its share still gives the
# user its item (not revoked, left or ended with its owner's account, and the item not
# in its owner's trash: a restore shows it again), as the push worker decides
# (``store.deliveries``). Every other one always.
_SHOWN = (
    "(category != 'shares' OR EXISTS (SELECT 1 FROM shares s JOIN files f"
    " ON f.id = s.file_id WHERE s.id = json_extract(notifications.data, '$.shareId')"
    " AND s.recipient_id = notifications.user_id AND f.deleted_at IS NULL))"
)


async def list_page(
    conn: Conn, user_id: str, *, limit: int, unread_only: bool = False,
    category: str | None = None, before: tuple[int, int] | None = None,
) -> list[Row]:
    """Up to ``limit`` notifications, newest first, strictly older than ``before``
    (the ``(created_at, position)`` of the previous page's last one)."""
    where = ["user_id = ?", _SHOWN]
    params: list[object] = [user_id]
    if unread_only:
        where.append("read_at IS NULL")
    if category is not None:
        where.append("category = ?")
        params.append(category)
    if before is not None:
        where.append("(created_at < ? OR (created_at = ? AND rowid < ?))")
        params += [before[0], before[0], before[1]]
    return await fetchall(
        conn,
        f"SELECT {_COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, rowid DESC LIMIT ?",
        (*params, limit),
    )


async def get(conn: Conn, user_id: str, notification_id: str) -> Row | None:
    return await fetchone(
        conn, f"SELECT {_COLUMNS} FROM notifications WHERE id = ? AND user_id = ? AND {_SHOWN}",
        (notification_id, user_id),
    )


async def unread_count(conn: Conn, user_id: str, category: str | None = None) -> int:
    """The user's unread notifications (of ``category`` only, when given)."""
    sql = f"SELECT count(*) FROM notifications WHERE user_id = ? AND read_at IS NULL AND {_SHOWN}"
    params: tuple[str, ...] = (user_id,)
    if category is not None:
        sql += " AND category = ?"
        params += (category,)
    row = await fetchone(conn, sql, params)
    return int(row[0]) if row else 0


async def mark_read(conn: Conn, user_id: str, notification_id: str, now: int) -> int:
    """Mark one read (the first read time is kept); 0 when it is not the user's."""
    return await execute(
        conn,
        "UPDATE notifications SET read_at = coalesce(read_at, ?) WHERE id = ? AND user_id = ?"
        f" AND {_SHOWN}",
        (now, notification_id, user_id),
    )


async def mark_summary_read(conn: Conn, user_id: str, notification_id: str, device_id: str,
                            now: int) -> int:
    """Mark read every notification the push to ``device_id`` that carried
    ``notification_id`` told of: an upload summary's parts (the push worker merged their
    deliveries into one, ``push_deliveries.merged_into``), or that one alone. How many."""
    return await execute(
        conn,
        "WITH push AS (SELECT coalesce(merged_into, id) AS id FROM push_deliveries"
        "  WHERE notification_id = ? AND device_id = ?)"
        " UPDATE notifications SET read_at = coalesce(read_at, ?) WHERE user_id = ?"
        " AND id IN (SELECT pd.notification_id FROM push_deliveries pd JOIN push"
        "  ON pd.id = push.id OR pd.merged_into = push.id)"
        f" AND {_SHOWN}",
        (notification_id, device_id, now, user_id),
    )


async def mark_all_read(conn: Conn, user_id: str, now: int) -> int:
    """Mark every unread notification of the user read; how many there were."""
    return await execute(
        conn, "UPDATE notifications SET read_at = ? WHERE user_id = ? AND read_at IS NULL"
              f" AND {_SHOWN}",
        (now, user_id),
    )
