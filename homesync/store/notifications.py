"""The notification inbox/outbox table (written with the event that caused it)."""

from __future__ import annotations

import msgspec

from homesync.store.db import Conn, Row, execute, fetchone, note_change

__all__ = ["enqueue", "latest_in_category"]


async def enqueue(
    conn: Conn, *, notification_id: str, user_id: str, category: str, kind: str, title: str,
    body: str, data: dict[str, str], now: int, only_device_id: str | None = None,
    except_device_id: str | None = None,
) -> None:
    """Add a notification to the user's inbox; the push worker delivers it later.

    Call inside the transaction of the change that caused it, so both or neither persist.
    Its commit wakes the push worker (``Database.when_committed("notifications")``).
    """
    note_change(conn, "notifications")
    await execute(
        conn,
        "INSERT INTO notifications (id, user_id, category, kind, title, body, data,"
        " only_device_id, except_device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (notification_id, user_id, category, kind, title, body,
         msgspec.json.encode(data).decode(), only_device_id, except_device_id, now),
    )


async def latest_in_category(conn: Conn, user_id: str, category: str) -> Row | None:
    """The user's newest notification of ``category`` (its ``data`` and ``created_at``)."""
    return await fetchone(
        conn,
        "SELECT data, created_at FROM notifications WHERE user_id = ? AND category = ?"
        " ORDER BY created_at DESC LIMIT 1",
        (user_id, category),
    )
