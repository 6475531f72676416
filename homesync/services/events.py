"""Notifications that services raise: written to the outbox in the caller's transaction."""

from __future__ import annotations

from homesync.ids import new_id
from homesync.store import notifications
from homesync.store.db import Conn

__all__ = ["security_event"]


async def security_event(
    conn: Conn, *, user_id: str, kind: str, title: str, body: str, now: int,
    data: dict[str, str] | None = None, except_device_id: str | None = None,
) -> str:
    """A ``security`` notification (new device, token reuse, device removed, password)."""
    notification_id = new_id("notif")
    await notifications.enqueue(
        conn, notification_id=notification_id, user_id=user_id, category="security", kind=kind,
        title=title, body=body, data=data or {}, now=now, except_device_id=except_device_id,
    )
    return notification_id
