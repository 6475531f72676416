"""``uploads`` notifications: written to the outbox in the transaction of the change."""

from __future__ import annotations

from homesync.ids import new_id
from homesync.store import notifications
from homesync.store.db import Conn, Row

__all__ = ["upload_event"]


async def upload_event(tx: Conn, row: Row, kind: str, title: str, body: str, now: int,
                       file_id: str | None = None) -> None:
    """Tell the device that uploaded (``row`` is the uploads row) that it completed or failed.

    Kinds: ``upload_completed``, ``upload_failed``, ``upload_expired``, ``upload_cancelled``
    (the share it went into no longer lets the user write there). The data carries ids
    only (never content), including the session so a client or push provider can group a
    batch of photos into one message.
    """
    data = {"uploadId": row["id"], "uploadSession": row["session_id"], "localId": row["local_id"]}
    if file_id:
        data["fileId"] = file_id
    await notifications.enqueue(
        tx, notification_id=new_id("notif"), user_id=row["user_id"], category="uploads",
        kind=kind, title=title, body=body, data=data, now=now, only_device_id=row["device_id"])
