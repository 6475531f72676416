"""The offline queue's ``upload`` operations: done once an upload to ``remotePath`` completes.

Matched to their upload by place (folder and name, without case) and time: an upload the
device completed there after the operation arrived, or before it but after what the app
had seen when it queued it (``base_seq``: the file holds this device's content from
after it), wherever that file is now; else the file there now, if this device stored
content in it after ``base_seq``.

An answer that the content is there already (``upload/init`` or ``POST /sync/files``
answering ``applied`` or ``deduplicated`` for that place) settles them too: no upload will
come. One that no upload will come there (``conflict``: another file has the name, or
changed since; ``deleted_on_server``) makes them ``conflict`` or ``failed``, with the
answer's reason: the app keeps the server's file, or sends its own under another name.
An upload that still completes there (the app kept its own) makes them done all the same.
One of a new file (no ``fileId``) to a name taken by an entry the app did not mean is
``conflict`` at once, as upload/init answers it (that answer may have come before the
operation did): in a folder shared with the user, any entry of the owner's folder; in
the user's own, a folder, or a file another device put there after what the app had
seen (a file there before is the one the app edited offline: its version is to come).
Settling them runs on every ``GET /queue``, ``POST /queue/add`` and cancel (sign-in counts
what it would settle without writing), so it is set-based: a few queries for all the
device's waiting operations (the finished uploads, the open ones, where each distinct
folder lands, and one query for the files the device stored there), not a few per
operation.
"""

from __future__ import annotations

from collections import defaultdict

from homesync import clock
from homesync.errors import HomesyncError
from homesync.paths import name_key, normalize_folder, normalize_name, place_key, split_path
from homesync.services.sharing.access import is_reserved, resolve_entry, resolve_folder
from homesync.services.sharing.view import locate
from homesync.services.sync.types import Actor, ChangeResult, ErrorInfo, LocalChange
from homesync.services.uploads.queued import (
    DELETED_ON_SERVER,
    Ended,
    end_queued_uploads,
    finish_queued_uploads,
)
from homesync.store import files, queue
from homesync.store.db import Conn, Database, Row

__all__ = ["op_place", "open_places", "settle_answered_uploads", "settle_upload_ops",
           "settled_op_ids", "upload_outcomes"]

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
    done, taken = await upload_outcomes(db, device_id)
    if done or taken:
        async with db.transaction() as tx:
            await queue.finish_uploads(tx, device_id, done, clock.now_ms())
            await queue.settle_uploads(tx, device_id, taken, clock.now_ms())


async def settled_op_ids(db: Database, device_id: str) -> set[str]:
    """The upload operations :func:`settle_upload_ops` would end now, found without
    writing: sign-in counts what still waits after its commit, where a write that fails
    (a full disk) would turn a sign-in that happened into an error."""
    done, taken = await upload_outcomes(db, device_id)
    return {op_id for op_id, _ in done} | {row[0] for row in taken}


async def upload_outcomes(
        db: Database, device_id: str,
) -> tuple[list[tuple[str, str]],
           list[tuple[str, str, dict[str, str] | None, str | None, str | None]]]:
    """What settles the device's upload operations, read only: ``(op_id, file_id)`` of
    those done, and ``queue.settle_uploads``' rows of those ended as conflicts."""
    pending = await queue.unsettled_uploads(db.reader, device_id)
    if not pending:
        return [], []
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
    found = await _stored_there(db, device_id, unmatched)
    done += found
    matched = {op_id for op_id, _ in found}
    done += await _uploaded_before(db, device_id,
                                   [r for r in unmatched if r["op_id"] not in matched])
    settled = {op_id for op_id, _ in done}
    taken = await _names_taken(
        db, device_id, [r for r in unmatched if r["op_id"] not in settled])
    return done, taken


def _finished_upload(op: Row, finished_there: list[Row]) -> str | None:
    """The file of the first of ``finished_there`` (completed uploads to the operation's
    place) that finished after the operation arrived: the upload that made it done,
    however late the queue looks."""
    return next((str(u["file_id"]) for u in finished_there
                 if u["finished_at"] >= op["received_at"]), None)


async def _uploaded_before(db: Database, device_id: str,
                           ops: list[Row]) -> list[tuple[str, str]]:
    """(op_id, file_id) of the operations whose place this device completed an upload to
    before they arrived but after what the app had seen when it queued them (its file
    holds this device's content from after ``base_seq``), wherever that file is now: the
    app uploaded once back online and sent its queue after that."""
    found = await queue.uploads_stored_after(
        db.reader, device_id, [(op_place(row)[1], row["base_seq"]) for row in ops])
    done: dict[str, str] = {}
    for u in found:  # earliest first: the first upload there is the operation's
        op = ops[int(u["i"])]
        if op["op_id"] not in done and place_key(u["folder"], u["name_key"]) == op_place(op):
            done[op["op_id"]] = str(u["file_id"])
    return list(done.items())


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


async def _names_taken(
        db: Database, device_id: str, ops: list[Row],
) -> list[tuple[str, str, dict[str, str] | None, str | None, str | None]]:
    """``queue.settle_uploads``' rows for the pending operations uploading a new file (no
    ``fileId``) to a name that another entry holds, one the app did not mean (this
    device stored no content in it since the app queued them: :func:`_stored_there`
    found none), with no upload of the device open there: in a folder shared with the
    user, any entry of the owner's folder; in the user's own, a folder, or a file another
    device made, moved, renamed or restored there after what the app had seen
    (``base_seq``). A new file there is answered ``NAME_CONFLICT`` (upload/init,
    sync/files), which pulling does not change, and the operation may have come after
    that answer: it would wait for an upload that never comes. It ends as that answer
    says, with the entry in the way as its file; an upload there that completes after
    all still makes it done. A file of the user's that was there already is the one the
    app edited offline: its new version, by ``fileId``, is still to come."""
    asked = [r for r in ops if r["status"] == "pending" and r["file_id"] is None]
    if not asked:
        return []
    uploading = await open_places(db, device_id)
    landing: dict[tuple[str, str], tuple[str, str] | None] = {}
    wanted: list[tuple[str, str, str, int | None]] = []
    waiting: list[Row] = []
    for row in asked:
        folder, name = split_path(row["remote_path"])
        if op_place(row) in uploading:
            continue  # processing: its upload says how it ends
        where = (row["user_id"], folder)
        if where not in landing:
            landing[where] = await _landing(db, row["user_id"], folder)
        if (place := landing[where]) is not None:
            wanted.append((*place, name_key(name),
                           None if is_reserved(folder) else row["base_seq"]))
            waiting.append(row)
    found = await queue.entries_in_the_way(db.reader, device_id, wanted)
    return [(waiting[i]["op_id"], "conflict", _name_taken(waiting[i]), file_id, None)
            for i, file_id in sorted(found.items())]


def _name_taken(op: Row) -> dict[str, str]:
    folder, name = split_path(op["remote_path"])
    whose = " (the owner's folder;" if is_reserved(folder) else " ("
    return {"code": "NAME_CONFLICT",
            "message": f"{name} is taken in {folder}{whose} the entry is resultFileId):"
                       " send the file under another name, or as a new version of that"
                       " entry (with its fileId)"}


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
    with that file: no upload to their ``remotePath`` will come to say so. Where it
    answered ``conflict`` or ``deleted_on_server`` they are ``conflict`` (with its
    ``conflictId``) or ``failed``: no upload may come there either."""
    answered: dict[Place, str] = {}
    ended: dict[Place, Ended] = {}
    for change, result in zip(changes, results, strict=True):
        if change.action != "upload":
            continue
        if result.status in ("applied", "deduplicated") and result.file_id is not None:
            place = await _answered_place(tx, actor, change, result.file_id, result.owner_id)
            if place is not None:
                answered[place] = result.file_id
        elif result.status in ("conflict", "deleted_on_server"):
            place = await _answered_place(tx, actor, change, change.file_id, result.owner_id)
            if place is None:
                continue
            if result.status == "deleted_on_server":
                ended[place] = ("failed", DELETED_ON_SERVER, None, None)
            else:
                error = result.error or ErrorInfo(
                    "CONFLICT", "The upload conflicts with the server's file" + (
                        ": see conflictId" if result.conflict_id else ": pull, then send it"
                        " again"))
                ended[place] = ("conflict", {"code": error.code, "message": error.message},
                                result.file_id, result.conflict_id)
    await finish_queued_uploads(tx, actor.device_id, answered, actor.now)
    await end_queued_uploads(tx, actor.device_id, ended, actor.now)


async def _answered_place(tx: Conn, actor: Actor, change: LocalChange, file_id: str | None,
                          owner_id: str | None) -> Place | None:
    """The place ``change`` (an upload of ``POST /sync/files``) went to, as the app names it:
    its folder and name, or for a version by ``fileId`` where that file is — for a file
    shared with the user, where they see it under /Shared with me (the owner's path is
    not the app's); None when the app sees it nowhere."""
    if change.folder is not None and change.name is not None:
        return place_key(normalize_folder(change.folder), normalize_name(change.name))
    if file_id is None:
        return None
    if owner_id in (None, actor.user_id):
        row = await files.get_file(tx, actor.user_id, file_id)
        return place_key(row["folder"], row["name"]) if row is not None else None
    entry = await resolve_entry(tx, actor.user_id, file_id)
    seen = None if entry is None else locate(
        [entry.seen], owner_id=entry.owner_id, file_id=file_id, folder=entry.row["folder"],
        name=entry.row["name"])
    return place_key(*seen) if seen is not None else None
