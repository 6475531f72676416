"""The offline queue's ``upload`` operations: done once an upload to ``remotePath`` completes.

An answer that the content is there already (``upload/init`` or ``POST /sync/files``
answering ``applied`` or ``deduplicated`` for that place) settles them too: no upload will
come. Settling them runs on every ``GET /queue``, ``POST /queue/add``, cancel and sign-in, so it
is set-based: a few queries for all the device's waiting operations (the finished
uploads, the open ones, where each distinct folder lands, and one query for the files
the device stored there), not a few per operation.
"""

from __future__ import annotations

from collections import defaultdict

from homesync import clock
from homesync.errors import HomesyncError
from homesync.paths import name_key, normalize_folder, normalize_name, place_key, split_path
from homesync.services.sharing.access import is_reserved, resolve_folder
from homesync.services.sync.types import Actor, ChangeResult, LocalChange
from homesync.services.uploads.queued import finish_queued_uploads
from homesync.store import files, queue
from homesync.store.db import Conn, Database, Row

__all__ = ["op_place", "open_places", "settle_answered_uploads", "settle_upload_ops"]

Place = tuple[str, str]  # paths.place_key


def op_place(op: Row) -> Place:
    """Where an upload operation's content goes, compared without case."""
    return place_key(*split_path(op["remote_path"]))


async def open_places(db: Database, device_id: str) -> set[Place]:
    """The places the device has an open upload to (an operation there is ``processing``)."""
    return {place_key(r["folder"], r["name_key"])
            for r in await queue.open_upload_places(db.reader, device_id)}


async def settle_upload_ops(db: Database, device_id: str) -> None:
    """Mark upload operations done whose upload to ``remotePath`` has completed."""
    pending = await queue.pending_uploads(db.reader, device_id)
    if not pending:
        return
    finished: dict[Place, list[Row]] = defaultdict(list)  # earliest first
    for u in await queue.uploads_finished_since(
            db.reader, device_id, min(r["received_at"] for r in pending)):
        finished[place_key(u["folder"], u["name_key"])].append(u)
    done: list[tuple[str, str]] = []
    unmatched: list[Row] = []
    for row in pending:
        # An upload completed since the operation arrived is its upload, even if the
        # file was renamed, moved or deleted since, or the content went elsewhere.
        file_id = _finished_upload(row, finished.get(op_place(row), []))
        if file_id is not None:
            done.append((row["op_id"], file_id))
        else:
            unmatched.append(row)
    done += await _stored_there(db, device_id, unmatched)
    if done:
        async with db.transaction() as tx:
            await queue.finish_uploads(tx, device_id, done, clock.now_ms())


def _finished_upload(op: Row, finished_there: list[Row]) -> str | None:
    """The file of the first of ``finished_there`` (completed uploads to the operation's
    place) that finished after the operation arrived: the upload that made it done,
    however late the queue looks."""
    return next((str(u["file_id"]) for u in finished_there
                 if u["finished_at"] >= op["received_at"]), None)


async def _stored_there(db: Database, device_id: str, ops: list[Row]) -> list[tuple[str, str]]:
    """(op_id, file_id) of the operations whose place holds a file this device stored
    content in after it queued them (an upload the finished list no longer shows)."""
    landing: dict[tuple[str, str], tuple[str, str] | None] = {}
    wanted: list[tuple[str, str, str, int]] = []
    asked: list[str] = []
    for row in ops:
        folder, name = split_path(row["remote_path"])
        where = (row["user_id"], folder)
        if where not in landing:  # a few distinct folders for many operations
            landing[where] = await _landing(db, row["user_id"], folder)
        place = landing[where]
        if place is None:
            continue
        owner_id, canonical = place
        wanted.append((owner_id, canonical, name_key(name), row["base_seq"]))
        asked.append(row["op_id"])
    found = await queue.completed_uploads(db.reader, device_id, wanted)
    return [(asked[i], file_id) for i, file_id in sorted(found.items())]


async def _landing(db: Database, user_id: str, folder: str) -> tuple[str, str] | None:
    """(owner, folder as stored) where an upload to ``folder`` lands; None when it is in
    a share that ended (the operation waits, or is cancelled)."""
    owner_id = user_id
    if is_reserved(folder):  # an upload into a folder shared with the user
        try:
            place = await resolve_folder(db.reader, owner_id, folder)
        except HomesyncError:
            place = None
        if place is None:
            return None
        owner_id, folder = place.owner_id, place.path
    # "/Photos" is "/photos" when that exists.
    return owner_id, await files.canonical_folder(db.reader, owner_id, folder)


async def settle_answered_uploads(tx: Conn, actor: Actor, changes: list[LocalChange],
                                  results: list[ChangeResult]) -> None:
    """The device's upload operations to where ``POST /sync/files`` answered ``applied``
    (that content is there already) or ``deduplicated`` (made without an upload) are done
    with that file: no upload to their ``remotePath`` will come to say so."""
    answered: dict[Place, str] = {}
    for change, result in zip(changes, results, strict=True):
        if (change.action != "upload" or result.file_id is None
                or result.status not in ("applied", "deduplicated")):
            continue
        if change.folder is not None and change.name is not None:
            folder, name = normalize_folder(change.folder), normalize_name(change.name)
        elif result.owner_id in (None, actor.user_id):  # a version by fileId: where it is
            row = await files.get_file(tx, actor.user_id, result.file_id)
            if row is None:
                continue
            folder, name = row["folder"], row["name"]
        else:
            continue  # a shared file by id: its path in the owner's tree is not the app's
        answered[place_key(folder, name)] = result.file_id
    await finish_queued_uploads(tx, actor.device_id, answered, actor.now)
