"""The offline queue's upload operations that an ``upload/init`` answer settles.

An ``upload`` operation is done once an upload to its ``remotePath`` completes
(services.sync.queue_uploads). Content already on the server is never uploaded, so the answer
``deduplicated`` is what makes those operations done. After ``conflict`` (another file has
the name, or changed since) or ``deleted_on_server`` no upload may come there either: the
app keeps the server's file, or sends its own under another name. Those answers make the
operations ``conflict`` or ``failed`` with the answer's reason, instead of pending for good
(an upload that completes there later still makes them done).
"""

from __future__ import annotations

from homesync.paths import place_key, split_path
from homesync.services.sharing.access import UploadPlace
from homesync.services.uploads.types import FileRequest, InitEntry
from homesync.store import queue
from homesync.store.db import Conn

__all__ = ["DELETED_ON_SERVER", "Ended", "end_queued_uploads", "finish_queued_uploads", "settle_queued_uploads"]

# How an answer ended the operations to its place: (status, error {code, message},
# result file id, conflict id).
Ended = tuple[str, dict[str, str], str | None, str | None]
DELETED_ON_SERVER = {"code": "DELETED_ON_SERVER",
                     "message": "This content, or the file, was deleted on the server"}


async def settle_queued_uploads(
    tx: Conn, device_id: str, planned: list[tuple[FileRequest, UploadPlace | None, str | None]],
    entries: list[InitEntry], now: int,
) -> None:
    """The device's offline-queue upload operations for files answered ``deduplicated``
    are done: no upload to their ``remotePath`` will come to say so (the content is
    there already), and they would stay pending, and counted as pending, for ever."""
    answered = {place_key(req.folder, req.name): entry.file_id
                for (req, _, _), entry in zip(planned, entries, strict=True)
                if entry.status == "deduplicated" and entry.file_id is not None}
    await finish_queued_uploads(tx, device_id, answered, now)
    ended: dict[tuple[str, str], Ended] = {}
    for (req, _, _), entry in zip(planned, entries, strict=True):
        if entry.status == "conflict":
            error = {"code": entry.error_code or "CONFLICT",
                     "message": entry.error_message or "Another file is in the way"}
            ended[place_key(req.folder, req.name)] = ("conflict", error, entry.file_id, None)
        elif entry.status == "deleted_on_server":
            ended[place_key(req.folder, req.name)] = ("failed", DELETED_ON_SERVER, None, None)
    await end_queued_uploads(tx, device_id, ended, now)


async def finish_queued_uploads(tx: Conn, device_id: str, answered: dict[tuple[str, str], str],
                                now: int) -> None:
    """The device's pending upload operations to a place of ``answered`` (its
    :func:`~homesync.paths.place_key` → the file there) are done with that file."""
    if not answered:
        return
    done = [(op["op_id"], file_id) for op in await queue.unsettled_uploads(tx, device_id)
            if (file_id := answered.get(place_key(*split_path(op["remote_path"])))) is not None]
    if done:
        await queue.finish_uploads(tx, device_id, done, now)


async def end_queued_uploads(tx: Conn, device_id: str, ended: dict[tuple[str, str], Ended],
                             now: int) -> None:
    """The device's pending upload operations to a place of ``ended`` (its
    :func:`~homesync.paths.place_key` → how the answer there ended them) take that state."""
    if not ended:
        return
    settled = [(op["op_id"], *outcome) for op in await queue.pending_uploads(tx, device_id)
               if (outcome := ended.get(place_key(*split_path(op["remote_path"])))) is not None]
    if settled:
        await queue.settle_uploads(tx, device_id, settled, now)
