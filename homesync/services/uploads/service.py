"""Resumable background uploads: init, status, progress, complete, cancel; chunk PUTs
are :mod:`.chunks`' (``Uploads.receiver``).

Protocol checks live here; bytes go to the chunk store. What the server reports as
received is exactly the set of committed ``upload_chunks`` rows, each written only after
its chunk was durable, so after a crash ``GET /upload/{id}`` tells the truth (tusd#376).

``complete`` checks the content's sha256, read back from storage, before the file exists
(owncloud/core#26988, #32567; most of it hashed while the chunks arrived, see
:mod:`.digest`), then creates the file or its new version, the journal entry
and the ``uploads`` notification in one transaction. A new version based on a syncToken
that another device's change has overtaken becomes a conflicted copy beside the file.

An upload into something shared with the uploader (see :mod:`.init`) stays the
uploader's (their chunk PUTs, status and notification) but completes into the owner's
tree, after the ``write`` grant is checked again in the committing transaction: revoked
since init is 404, downgraded to read 403, and nothing is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from homesync import clock
from homesync.errors import (
    ChecksumMismatch,
    MissingChunks,
    NameConflict,
    NotFound,
    UploadExpired,
    ValidationError,
)
from homesync.models import Principal
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.files.downloads import SharedPlace
from homesync.services.files.naming import conflicted_copy_names, find_free_name
from homesync.services.files.views import FileInfo, file_info
from homesync.services.notifications.names import shown
from homesync.services.sharing.access import as_seen, upload_place_now
from homesync.services.uploads.chunks import ChunkReceiver, check_open, check_still_shared
from homesync.services.uploads.decide import changed_since
from homesync.services.uploads.digest import RunningDigests
from homesync.services.uploads.events import upload_event
from homesync.services.uploads.init import UploadPlanner, normalize_checksum
from homesync.services.uploads.limits import ChunkSlots
from homesync.services.uploads.quota import Quota
from homesync.services.uploads.types import (
    CompleteResult,
    FileRequest,
    InitResult,
    UploadOptions,
    UploadState,
    upload_state,
)
from homesync.services.uploads.urls import ChunkUrlSigner
from homesync.store import devices, files, uploads
from homesync.store.chunks import ChunkStore
from homesync.store.db import Conn, Database, Row
from homesync.store.tokens import SignInLifetimes

__all__ = ["Uploads"]

_REPORTABLE = ("uploading", "paused", "failed", "cancelled")


class Uploads:
    def __init__(self, db: Database, chunks: ChunkStore, quota: Quota, planner: UploadPlanner,
                 signer: ChunkUrlSigner, chunk_slots: ChunkSlots, *,
                 sign_ins: SignInLifetimes) -> None:
        self._db = db
        self._chunks = chunks
        self._quota = quota
        self.planner = planner
        self._signer = signer
        # The whole file's sha256, worked out while the chunks arrive (complete's check).
        self.digests = RunningDigests(db, chunks)
        # Chunk PUTs: authorised, streamed into the store, counted once durable.
        self.receiver = ChunkReceiver(db, chunks, quota, signer, chunk_slots, self.digests,
                                      session_ttl_ms=planner.ttl_ms, sign_ins=sign_ins)
        # Told the user id after a commit that changed their files (wakes sync long polls).
        self.files_changed: Callable[[str], None] = _ignore_change
        # Set by the shares service: where an entry of a sharing owner sits for the
        # uploader (under /Shared with me), never the owner's path.
        self.shared_place: SharedPlace = _as_is

    # -- init -----------------------------------------------------------------------

    async def init(self, *, user_id: str, device_id: str, requests: list[FileRequest],
                   options: UploadOptions, caller: Principal | None = None) -> InitResult:
        """``POST /upload/init``: see :mod:`.init` for the rules. ``caller``, the signed-in
        device asking: 401 if its sign-in ended before anything is recorded."""
        result = await self.planner.init(user_id=user_id, device_id=device_id,
                                         requests=requests, options=options, caller=caller)
        if any(entry.status == "deduplicated" for entry in result.entries):
            self.files_changed(user_id)
        now = clock.now_ms()
        entries = []
        for entry in result.entries:
            if entry.upload_id is not None:
                row = await uploads.get(self._db.reader, entry.upload_id)
                assert row is not None
                entry = msgspec.structs.replace(entry, upload=await self._state(row, now))
            entries.append(entry)
        return InitResult(session_id=result.session_id, expires_at=result.expires_at,
                          entries=entries)

    # -- status and progress --------------------------------------------------------

    async def status(self, user_id: str, upload_id: str) -> UploadState:
        """``GET /upload/{id}``: the server's truth, for resuming after any restart."""
        row = await self._owned(self._db.reader, user_id, upload_id)
        return await self._state(row, clock.now_ms())

    async def progress(self, user_id: str, upload_id: str, *, status: str,
                       bytes_uploaded: int | None, caller: Principal | None = None) -> UploadState:
        """``POST /upload/progress``: record what the app says, answer with what the server has.

        ``paused``/``uploading``/``failed`` are recorded (and keep the upload alive);
        ``cancelled`` ends it and lets its chunks go. A finished upload is reported as is.
        Into a share since revoked (404) or turned to read (403), only cancelling is taken.
        ``caller``, the signed-in device asking: 401 if its sign-in ended before this.
        """
        if status not in _REPORTABLE:
            raise ValidationError(f"status must be one of {', '.join(_REPORTABLE)}",
                                  field="status")
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            row = await self._owned(tx, user_id, upload_id)
            if row["status"] in uploads.OPEN_STATUSES:
                if row["expires_at"] <= now:
                    raise UploadExpired()
                if status == "cancelled":
                    await uploads.mark_ended(tx, upload_id, "cancelled", now)
                else:
                    await check_still_shared(tx, row)  # a sign of life holds the owner's room
                    await uploads.set_status(tx, upload_id, status=status,
                                             reported_bytes=bytes_uploaded, now=now,
                                             expires_at=now + self.planner.ttl_ms)
                    if status == "failed" and row["status"] != "failed":
                        await upload_event(tx, row, "upload_failed", "Upload failed",
                                            f"{shown(row['name'])} could not be uploaded.", now)
            elif row["status"] == "expired":
                raise UploadExpired()
            row = await self._owned(tx, user_id, upload_id)
        if row["status"] == "cancelled":
            await self.digests.forget(upload_id)  # nothing will complete it: stop hashing
        return await self._state(row, now)

    async def cancel(self, user_id: str, upload_id: str,
                     caller: Principal | None = None) -> UploadState:
        """End an open upload (its chunks become garbage unless something else uses them)."""
        return await self.progress(user_id, upload_id, status="cancelled", bytes_uploaded=None,
                                   caller=caller)

    # -- complete -------------------------------------------------------------------

    async def complete(self, *, user_id: str, device_id: str, upload_id: str, checksum: str,
                       metadata: dict[str, Any], caller: Principal | None = None) -> CompleteResult:
        """``POST /upload/complete``: verify everything, then make the file exist.

        409 MISSING_CHUNKS (with their indexes), 422 CHECKSUM_MISMATCH (the upload stays
        open: re-sent chunks may then replace stored ones), 410 when expired as it is asked
        (hashing may outlast the expiry). Completing again with the same checksum answers
        as the first time (:meth:`_completed_result`); with another checksum, 422.
        ``caller``, the signed-in device asking: 401 if its sign-in ended before the file
        is made (it may wait for the write lock).
        """
        declared = normalize_checksum(checksum)
        asked_at = clock.now_ms()
        row = await self._owned(self._db.reader, user_id, upload_id)
        if row["status"] != "completed":
            check_open(row, asked_at)
        if declared != row["checksum"]:  # also on a retry: it names other content
            raise ChecksumMismatch("checksum differs from the one given at upload/init",
                                   expected=row["checksum"], actual=declared)
        if row["status"] == "completed":
            return await self._completed_result(row)
        received = await uploads.received(self._db.reader, upload_id)
        have = {r["idx"] for r in received}
        missing = [i for i in range(row["total_chunks"]) if i not in have]
        if missing:
            row = await self._owned(self._db.reader, user_id, upload_id)
            if row["status"] == "completed":  # another complete committed (and let them go)
                return await self._completed_result(row)
            raise MissingChunks(f"{len(missing)} of {row['total_chunks']} chunks are missing",
                                missingChunks=missing)
        hashes = [r["chunk_hash"] for r in received]
        await self._keep_open_while_hashing(row, asked_at)
        try:
            digest, size = await self.digests.finish(upload_id, hashes)
        except FileNotFoundError:
            raise await self._forget_lost_chunks(upload_id, received) from None
        if f"sha256:{digest}" != row["checksum"] or size != row["size"]:
            now = clock.now_ms()
            async with self._db.transaction() as tx:
                # Told once: a complete asked again (its 422 lost) finds the same damage.
                told = (await self._owned(tx, user_id, upload_id))["checksum_failed"]
                await uploads.mark_checksum_failed(tx, upload_id, now)
                if not told:
                    await upload_event(tx, row, "upload_failed", "Upload failed verification",
                                        f"{shown(row['name'])} arrived damaged and is being re-sent.", now)
            raise ChecksumMismatch("The uploaded content does not match its checksum; send the"
                                   " chunks again and complete", expected=row["checksum"],
                                   actual=f"sha256:{digest}")
        return await self._commit(row, hashes, metadata, device_id, asked_at, caller)

    async def _keep_open_while_hashing(self, row: Row, now: int) -> None:
        """Asking to complete is a sign of life: an upload near its expiry gets a fresh
        ``session_ttl``, so a gc round (the server's, or ``homesync gc``) while its content
        is hashed does not expire it and let its chunks go. Only then: one write more."""
        if row["expires_at"] - now < self.planner.ttl_ms // 2:
            async with self._db.transaction() as tx:
                await uploads.keep_open(tx, row["id"], now, now + self.planner.ttl_ms)

    async def _commit(self, row: Row, hashes: list[str], metadata: dict[str, Any],
                      device_id: str, asked_at: int, caller: Principal | None) -> CompleteResult:
        now = clock.now_ms()
        upload_id, user_id = row["id"], row["user_id"]
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)
            row = await self._owned(tx, user_id, upload_id)
            if row["status"] == "completed":  # a concurrent complete won the writer first
                return await self._completed_result(row, tx)
            # Open when the phone asked is enough: hashing a big file may outlast the expiry.
            check_open(row, asked_at)
            tree_owner, folder, target, seen = user_id, row["folder"], None, None
            if row["owner_id"] is not None:
                place = await upload_place_now(
                    tx, row["user_id"], owner_id=row["owner_id"], folder=row["folder"],
                    file_id=row["target_file_id"], root_id=row["share_root_id"])
                tree_owner, folder, target = place.owner_id, place.folder, place.target
                seen = place.seen
            elif row["target_file_id"] is not None:
                target = await files.get_file(tx, user_id, row["target_file_id"])
                if target is not None and (target["deleted_at"] is not None
                                           or target["kind"] != "file"):
                    target = None  # deleted meanwhile: the upload becomes a new file, never lost
            folder = await files.canonical_folder(tx, tree_owner, folder)
            name, conflicted_with = row["name"], None
            if target is not None and await changed_since(tx, target, row["base_seq"],
                                                          row["device_id"]):
                # Never a silent overwrite: the device's version goes beside it, as keep_both
                # (in its folder now, wherever the init said it was: it may have moved since).
                conflicted_with, folder, target = target["id"], target["folder"], None
                name = await self._conflicted_copy_name(tx, row, tree_owner, folder, now)
            here = target or await files.find_by_name(tx, tree_owner, folder, name)
            if here is not None and target is None and not _holds(here, row["checksum"]):
                # Another device made something else of this name after our init: keep
                # both, rather than refuse a file whose every byte the phone has sent.
                conflicted_with = here["id"]
                name = await self._conflicted_copy_name(tx, row, tree_owner, folder, now)
                here = await files.find_by_name(tx, tree_owner, folder, name)
            if here is not None and _holds(here, row["checksum"]):
                # Same content already there (another device got there first, D7).
                await uploads.mark_completed(tx, upload_id, file_id=here["id"],
                                             version_id=here["version_id"], now=now,
                                             conflicted_with=conflicted_with)
                created, file_id = False, here["id"]
            else:
                used_before = await self._quota.used_bytes(tx, tree_owner)
                try:
                    committed = await files.commit_version(
                        tx, user_id=tree_owner, file_id=target["id"] if target else None,
                        folder=folder, name=name, size=row["size"],
                        checksum=row["checksum"], mime_type=row["mime_type"],
                        metadata=metadata, modified_at=_modified_at(metadata, now),
                        chunk_hashes=hashes, device_id=device_id, now=now)
                except NameConflict as exc:  # a file where a folder is needed
                    raise (as_seen(exc, seen) if seen is not None else exc) from None
                await uploads.mark_completed(tx, upload_id, file_id=committed.file_id,
                                             version_id=committed.version_id, now=now,
                                             conflicted_with=conflicted_with)
                await self._quota.note_usage(tx, tree_owner, used_before, now)
                created, file_id = committed.created, committed.file_id
            await upload_event(tx, row, "upload_completed", "Upload completed",
                                f"{shown(row['name'])} is safe on your server.", now, file_id=file_id)
            file_row = await files.get_file(tx, tree_owner, file_id)
        assert file_row is not None
        self.files_changed(tree_owner)
        return CompleteResult(upload_id=upload_id, file=await self._seen(row, file_row),
                              created=created, conflicted_with=conflicted_with)

    @staticmethod
    async def _conflicted_copy_name(tx: Conn, row: Row, tree_owner: str, folder: str,
                                    now: int) -> str:
        device = await devices.by_id(tx, row["device_id"])
        label = device["name"] if device is not None else "another device"
        name, _ = await find_free_name(tx, tree_owner, folder,
                                       conflicted_copy_names(row["name"], label, now),
                                       holding=row["checksum"])
        return name

    async def _seen(self, row: Row, file_row: Row) -> FileInfo:
        """The upload's file as its uploader sees it (under /Shared with me if shared)."""
        info = file_info(file_row)
        if file_row["user_id"] != row["user_id"]:
            try:
                info = await self.shared_place(row["user_id"], file_row["user_id"], info)
            except NotFound:  # the share ended just after the commit: where it was sent
                info = msgspec.structs.replace(info, folder=row["folder"], name=row["name"])
        return info

    async def _forget_lost_chunks(self, upload_id: str, received: list[Row]) -> MissingChunks:
        """Chunks whose bytes are gone (disk damage): uncount them so the app re-sends them."""
        lost = [r["idx"] for r in received if not await self._chunks.exists(r["chunk_hash"])]
        async with self._db.transaction() as tx:
            await uploads.forget_chunks(tx, upload_id, lost)
        return MissingChunks(f"{len(lost)} chunks were lost by the server; send them again",
                             missingChunks=lost)

    async def _completed_result(self, row: Row, conn: Conn | None = None) -> CompleteResult:
        """What the first complete answered (its answer may have been lost): the file
        with the version this upload made, not one another device made since (the phone
        would take that content for its own), and the same ``conflictedWith``."""
        conn = conn or self._db.reader
        tree_owner = row["owner_id"] or row["user_id"]
        file_row = await files.get_file(conn, tree_owner, row["file_id"])
        if file_row is None:
            raise NotFound("The file of this upload no longer exists")
        info = await self._seen(row, file_row)
        made = row["version_id"]
        if made is not None and made != file_row["version_id"]:
            version = await files.get_version(conn, tree_owner, made)
            if version is not None:  # None once pruned: then the file as it is
                info = msgspec.structs.replace(
                    info, version_id=made, size=version["size"], checksum=version["checksum"],
                    mime_type=version["mime_type"], modified_at=version["modified_at"],
                    metadata=msgspec.json.decode(version["metadata"] or "{}"))
        return CompleteResult(upload_id=row["id"], file=info, created=False,
                              conflicted_with=row["conflicted_with"])

    # -- helpers --------------------------------------------------------------------

    async def device_removed(self, tx: Conn, user_id: str, device_id: str) -> None:
        """A device removal hook (``Devices.removal_hooks``, in the removal's transaction):
        its open uploads are cancelled. Its chunk PUTs are refused from now on and its
        install signed in again is a new device that never finds them, so nothing could
        finish them, yet they would hold the quota (theirs or a sharing owner's) until
        they expire. Expired ones already hold nothing: gc marks them as usual."""
        now = clock.now_ms()
        for upload_id in await uploads.open_of_device(tx, device_id, now):
            await uploads.mark_ended(tx, upload_id, "cancelled", now)

    async def pending_for_device(self, device_id: str) -> int:
        """Open uploads of a device (register's ``syncData.pendingUploads``)."""
        return await uploads.count_open_for_device(self._db.reader, device_id, clock.now_ms())

    async def _owned(self, conn: Conn, user_id: str, upload_id: str) -> Row:
        row = await uploads.get(conn, upload_id) if upload_id.isascii() else None
        if row is None or row["user_id"] != user_id:
            raise NotFound("No such upload")
        return row

    async def _state(self, row: Row, now: int) -> UploadState:
        received = [r["idx"] for r in await uploads.received(self._db.reader, row["id"])]
        exp = row["expires_at"] // 1000
        return upload_state(row, received, now=now, url_exp=exp,
                            url_sig=self._signer.sign(row["id"], exp))


def _ignore_change(user_id: str) -> None:
    pass


async def _as_is(user_id: str, owner_id: str, info: FileInfo) -> FileInfo:
    return info


def _holds(entry: Row, checksum: str) -> bool:
    return bool(entry["kind"] == "file" and entry["checksum"] == checksum)


def _modified_at(metadata: dict[str, Any], now: int) -> int:
    """The client's own mtime when the metadata carries one (``modifiedAt``/``lastModified``)."""
    for key in ("modifiedAt", "lastModified"):
        value = metadata.get(key)
        if isinstance(value, str):
            try:
                return clock.from_rfc3339(value)
            except ValueError:
                continue
    return now
