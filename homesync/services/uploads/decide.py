"""What ``upload/init`` does with one file (steps 1 to 5 of :mod:`.init`'s list), before
the request's new files claim their names (:mod:`.places`) and the plan is applied.

Two answers come from what this device did before: its open upload of the file is
resumed (its bytes are here), and a file whose earlier upload was kept as a conflicted
copy is answered with that copy.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import NamedTuple

from homesync.errors import NotFound
from homesync.paths import name_key
from homesync.services.sharing.access import UploadPlace
from homesync.services.uploads.types import FileRequest
from homesync.store import files, since_token, uploads
from homesync.store.db import Conn, Row

__all__ = ["DecidedFile", "DeletedOnServer", "changed_since", "decide", "entry_here"]

# (tx, user_id, checksum) → True when the user deleted that content on the server and an
# auto-upload must not bring it back. Installed by the sync service (container.py).
DeletedOnServer = Callable[[Conn, str, str], Awaitable[bool]]


class DecidedFile(NamedTuple):
    """What to do with one file, and the row that answer was found with, which the apply
    step uses as it is instead of looking it up again: the upload kept as a conflicted
    copy (``kept``) or the open upload (``resume``)."""

    kind: str | None
    found: Row | None = None


async def decide(tx: Conn, user_id: str, device_id: str, req: FileRequest,
                 place: UploadPlace | None, now: int, *,
                 deleted_on_server: DeletedOnServer) -> DecidedFile:
    """What to do with one file: deleted / same / copy / conflict / stale / gone (a new
    version of a file in the trash) / resume / new."""
    if place is not None:
        return await _decide_shared(tx, user_id, device_id, req, place, now)
    target = None
    if req.file_id is not None:
        target = await files.get_file(tx, user_id, req.file_id)
        if target is None or target["kind"] != "file":
            raise NotFound(f"No such file: {req.file_id}", localId=req.local_id)
        if target["deleted_at"] is not None:
            # Deleted on the server (in the trash, or purged): this file's answer, as
            # sync/files makes it a modify/delete conflict, not a 404 for the whole batch.
            return DecidedFile("gone")
    # The tombstone rule stops auto-uploads of new files; a new version of a known file
    # is the user's edit (sync/files takes it too), whatever content it has.
    if target is None and not req.restore \
            and await deleted_on_server(tx, user_id, req.checksum):
        return DecidedFile("deleted")
    here = target or await entry_here(tx, user_id, req, None)
    if here is not None and here["kind"] == "file" and here["checksum"] == req.checksum:
        return DecidedFile("same")
    if (kept := await kept_copy(tx, user_id, device_id, req)) is not None:
        return DecidedFile("kept", kept)
    if here is not None and target is None:
        return await _resumed_or(tx, user_id, device_id, req, now, "conflict")
    if await changed_since(tx, target, req.base_seq, device_id):
        return await _resumed_or(tx, user_id, device_id, req, now, "stale")
    if await files.find_version_by_checksum(tx, user_id, req.checksum) is not None:
        # This device's open upload of the file is resumed rather than copied: a copy
        # would be charged on top of that upload's reservation and leave it open.
        return await _resumed_or(tx, user_id, device_id, req, now, "copy")
    return await _resumed_or(tx, user_id, device_id, req, now, "new")


async def _decide_shared(tx: Conn, user_id: str, device_id: str, req: FileRequest,
                         place: UploadPlace, now: int) -> DecidedFile:
    """Into the owner's tree: same / conflict / resume / new (never deleted or copy)."""
    here = await entry_here(tx, user_id, req, place)
    if here is not None and here["kind"] == "file" and here["checksum"] == req.checksum:
        return DecidedFile("same")  # the recipient sees this entry anyway
    if (kept := await kept_copy(tx, user_id, device_id, req)) is not None:
        return DecidedFile("kept", kept)
    if here is not None and place.target is None:
        return await _resumed_or(tx, user_id, device_id, req, now, "conflict")
    if await changed_since(tx, place.target, req.shared_base_seq, device_id):
        return await _resumed_or(tx, user_id, device_id, req, now, "stale")
    return await _resumed_or(tx, user_id, device_id, req, now, "new")


async def _resumed_or(tx: Conn, user_id: str, device_id: str, req: FileRequest,
                      now: int, kind: str) -> DecidedFile:
    """``kind``, unless this device's upload of the file is open: that is resumed (its
    bytes are here; after a conflict, complete keeps it as a conflicted copy)."""
    upload = await resumable(tx, user_id, device_id, req, now)
    return DecidedFile("resume", upload) if upload is not None else DecidedFile(kind)


async def entry_here(tx: Conn, user_id: str, req: FileRequest,
                     place: UploadPlace | None) -> Row | None:
    """The live entry the file would replace or collide with."""
    if place is not None:  # the folder as the owner's tree spells it ("TRIP" is "trip")
        return place.target or await files.find_by_name(
            tx, place.owner_id, await files.canonical_folder(tx, place.owner_id, place.folder),
            req.name)
    if req.file_id is not None:
        return await files.get_file(tx, user_id, req.file_id)
    return await files.find_by_name(tx, user_id,
                                    await files.canonical_folder(tx, user_id, req.folder),
                                    req.name)


async def resumable(tx: Conn, user_id: str, device_id: str, req: FileRequest,
                    now: int) -> Row | None:
    """This device's open upload of the same content to the same place, to resume."""
    return await uploads.find_resumable(
        tx, user_id=user_id, device_id=device_id, folder=req.folder,
        name_key=name_key(req.name), checksum=req.checksum, size=req.size,
        target_file_id=req.file_id, now=now)


async def kept_copy(tx: Conn, user_id: str, device_id: str, req: FileRequest) -> Row | None:
    """The conflicted copy an earlier upload of this file by this device was kept as, if
    it is still there with this content (its ``conflicted_with`` is the upload's)."""
    for row in await uploads.find_kept_copies(
            tx, user_id=user_id, device_id=device_id, folder=req.folder,
            name_key=name_key(req.name), checksum=req.checksum, size=req.size,
            target_file_id=req.file_id):
        copy = await files.get_file(tx, row["owner_id"] or user_id, row["file_id"])
        if (copy is not None and copy["deleted_at"] is None and copy["kind"] == "file"
                and copy["checksum"] == req.checksum):
            return row
    return None


async def changed_since(tx: Conn, target: Row | None, base_seq: int | None,
                        device_id: str) -> bool:
    """Whether a device other than ``device_id`` changed ``target``'s content after
    ``base_seq`` (the upload's syncToken position; None: no token, nothing counts)."""
    if target is None or base_seq is None:
        return False
    return await since_token.content_changed_since(tx, target["id"], base_seq, device_id) is not None
