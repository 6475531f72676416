"""Notifications that services raise: written to the outbox in the caller's transaction."""

from __future__ import annotations

from typing import Literal

from homesync.ids import new_id
from homesync.services.notifications.names import shown
from homesync.store import notifications
from homesync.store.db import Conn

__all__ = [
    "security_event",
    "share_event",
]

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


async def share_event(
    conn: Conn, *, recipient_id: str, owner_name: str, item: Literal["file", "folder"],
    name: str, share_id: str, now: int, file_id: str | None = None,
) -> str:
    """A ``shares`` notification for the user something was shared with."""
    notification_id = new_id("notif")
    data = {"shareId": share_id, **({"fileId": file_id} if file_id else {})}
    owner_name, name = shown(owner_name), shown(name)
    await notifications.enqueue(
        conn, notification_id=notification_id, user_id=recipient_id, category="shares",
        kind="shared_with_you", title=f"{owner_name} shared a {item} with you",
        body=f"{owner_name} shared “{name}” with you.", data=data, now=now,
    )
    return notification_id

