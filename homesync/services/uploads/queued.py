"""The offline queue's upload operations that an ``upload/init`` answer settles.

An ``upload`` operation is done once an upload to its ``remotePath`` completes
(services.sync.queue). Content already on the server is never uploaded, so the answer
``deduplicated`` is what makes those operations done.
"""

from __future__ import annotations

from homesync.paths import name_key, split_path
from homesync.services.sharing.access import UploadPlace
from homesync.services.uploads.types import FileRequest, InitEntry
from homesync.store import queue
from homesync.store.db import Conn

__all__ = ["settle_queued_uploads"]


async def settle_queued_uploads(
    tx: Conn, device_id: str, planned: list[tuple[FileRequest, UploadPlace | None, str | None]],
    entries: list[InitEntry], now: int,
) -> None:
    """The device's offline-queue upload operations for files answered ``deduplicated``
    are done: no upload to their ``remotePath`` will come to say so (the content is
    there already), and they would stay pending, and counted as pending, for ever."""
    answered = {(name_key(req.folder), name_key(req.name)): entry.file_id
                for (req, _, _), entry in zip(planned, entries, strict=True)
                if entry.status == "deduplicated"}
    if not answered:
        return
    for op in await queue.pending_uploads(tx, device_id):
        folder, name = split_path(op["remote_path"])
        file_id = answered.get((name_key(folder), name_key(name)))
        if file_id is not None:
            await queue.set_status(tx, device_id, op["op_id"], status="done", now=now,
                                   result_file_id=file_id)
