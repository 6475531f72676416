"""``POST /upload/init``: decide, per file, between dedup, resume and a new upload.

For each file, in order (steps 1 to 5: :mod:`.decide`):

1. the sync engineer's tombstone rule (``deleted_on_server`` unless ``restore``), for new
   files only: a new version (``fileId``) is an edit, as in ``sync/files``;
2. content the user already has at that place → ``deduplicated`` with that file; so is a
   file whose earlier upload by this device was kept as a conflicted copy still holding
   it (:mod:`.service`): with that copy and its ``conflictedWith``;
3. content the user has elsewhere → a new file (or version) made from the stored
   chunks at once, ``deduplicated`` with the new id — no bytes sent (unless this device's
   upload of that very file is open: resumed, step 5). Never across users:
   another user's content is invisible here, so init is no existence oracle;
4. a live entry with that name (no ``fileId``) → ``conflict``, naming it: a new file never
   silently replaces another; so is a new file whose name (without case) another file
   of the same request, with other content, takes: an upload being resumed (its bytes
   may be here already), else the earlier one (upload or copy); or one whose folder
   cannot be made because a file stands in its path (:mod:`.places`); likewise a new version whose ``syncToken`` predates another
   device's change to the file (``complete`` checks again: see :mod:`.service`), and a
   new version of a file in the trash (that file's answer, not a 404 for the request);
5. an open upload of the same content to the same place by the same device → resumed,
   also instead of a conflict of step 4 (its bytes are here: ``complete`` keeps it as a
   conflicted copy, as it would had the app kept the upload id);
6. otherwise a new upload.

A file asked for again in the same request (same place and name without case, same
content) gets the first ask's answer — the same upload, or the same file — and its
bytes count once against the quota.

The quota is checked once for everything the request adds, and the disk for the bytes
still to be sent (507 before anything is written), then the whole plan commits in one
transaction.

A file going into something shared with the user (a ``fileId`` of the owner's, or a
folder under ``/Shared with me``) lands in the owner's tree when a ``write`` share allows
it (:func:`homesync.services.sharing.access.upload_place`; 403 otherwise). Its bytes count
against the owner's quota (a 507 names the owner's space, never their amounts), and steps
1 and 3 are skipped: the owner's tombstones and stored content must not answer the
recipient's questions about what else the owner has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import msgspec

from homesync import clock
from homesync.config import UploadSettings, parse_duration, parse_size
from homesync.errors import (
    Conflict,
    NameConflict,
    PayloadTooLarge,
    QuotaExceeded,
    RateLimited,
    ValidationError,
)
from homesync.ids import new_id
from homesync.models import Principal
from homesync.paths import check_not_reserved, join, name_key, normalize_folder, normalize_name
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.sharing.access import UploadPlace, upload_place
from homesync.services.uploads.decide import DeletedOnServer, decide, entry_here
from homesync.services.uploads.places import (
    claim_names,
    file_in_the_way,
    new_file_folder,
    same_file_key,
)
from homesync.services.uploads.queued import settle_queued_uploads
from homesync.services.uploads.quota import Quota
from homesync.services.uploads.types import FileRequest, InitEntry, InitResult, UploadOptions
from homesync.store import files, uploads
from homesync.store.db import Conn, Database, Row

__all__ = ["MAX_CHUNKS_PER_FILE", "DeletedOnServer", "UploadPlanner", "normalize_checksum"]

# Past this many chunks a file's chunk size grows (within max_chunk_size): a 100 GiB video
# in 1 MiB chunks would otherwise answer init with a 100,000-entry chunk list.
MAX_CHUNKS_PER_FILE = 10_000
_PIECE_ALIGN = 64 * 1024
# A device at its open-session limit frees one when an upload completes: minutes, usually.
_SESSIONS_RETRY_AFTER_S = 60

# (user_id, syncToken) → the journal position a change made with it is judged against
# (for the user's own files, or for what others share with them); ValidationError for a
# token this server did not make. Installed by the sync service.
BaseSeq = Callable[[str, str], Awaitable[int]]


async def _never_deleted(tx: Conn, user_id: str, checksum: str) -> bool:
    return False


async def _knows_nothing(user_id: str, token: str) -> int:
    return 0


def normalize_checksum(value: str) -> str:
    """``sha256:<64 lowercase hex>`` or ValidationError (upper-case hex is accepted)."""
    algo, _, digest = value.strip().partition(":")
    digest = digest.lower()
    if algo.lower() != "sha256" or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValidationError("checksum must be sha256:<64 hex digits>", field="checksum")
    return f"sha256:{digest}"


class UploadPlanner:
    def __init__(self, db: Database, quota: Quota, settings: UploadSettings) -> None:
        self._db = db
        self._quota = quota
        self._settings = settings
        self.ttl_ms = parse_duration(settings.session_ttl) * 1000
        self.min_chunk = parse_size(settings.min_chunk_size)
        self.max_chunk = parse_size(settings.max_chunk_size)
        self.default_chunk = min(max(parse_size(settings.default_chunk_size), self.min_chunk),
                                 self.max_chunk)
        self.max_file = parse_size(settings.max_file_size)
        self.deleted_on_server: DeletedOnServer = _never_deleted
        self.base_seq: BaseSeq = _knows_nothing
        self.shared_base_seq: BaseSeq = _knows_nothing

    def chunk_size_for(self, requested: int | None, size: int) -> int:
        """The asked-for chunk size clamped to the configured range, grown for huge files."""
        chunk = self.default_chunk if not requested else min(max(requested, self.min_chunk),
                                                              self.max_chunk)
        if size > chunk * MAX_CHUNKS_PER_FILE:
            needed = -(-size // MAX_CHUNKS_PER_FILE)
            chunk = min(self.max_chunk, -(-needed // _PIECE_ALIGN) * _PIECE_ALIGN)
        return chunk

    def _check(self, req: FileRequest) -> FileRequest:
        if not 1 <= len(req.local_id) <= 200:
            raise ValidationError("localId must have 1 to 200 characters", field="localId")
        if req.size < 0:
            raise ValidationError("size cannot be negative", field="size")
        if req.size > self.max_file:
            raise PayloadTooLarge(f"Files may be at most {self.max_file} bytes",
                                  localId=req.local_id, maxFileSize=self.max_file)
        try:
            name, folder = normalize_name(req.name), normalize_folder(req.folder)
            checksum = normalize_checksum(req.checksum)
        except ValidationError as exc:  # say which of the files (INVALID_PATH too)
            exc.details.setdefault("localId", req.local_id)
            raise
        if req.file_id is None:
            check_not_reserved(folder, name)
        return FileRequest(
            local_id=req.local_id, name=name, folder=folder, size=req.size,
            checksum=checksum, mime_type=req.mime_type,
            priority=req.priority, file_id=req.file_id, restore=req.restore,
            sync_token=req.sync_token,
        )

    async def init(self, *, user_id: str, device_id: str, requests: list[FileRequest],
                   options: UploadOptions, caller: Principal | None = None) -> InitResult:
        """Plan and record one ``upload/init`` (see the module docstring); 401 if
        ``caller``'s sign-in ended before it is recorded."""
        if not requests:
            raise ValidationError("files must list at least one file", field="files")
        if len(requests) > self._settings.max_files_per_init:
            raise ValidationError(
                f"At most {self._settings.max_files_per_init} files per upload/init",
                field="files", maxFiles=self._settings.max_files_per_init)
        if options.chunk_size is not None and options.chunk_size < 0:
            raise ValidationError("chunkSize cannot be negative", field="chunkSize")
        checked = [await self._with_base(user_id, self._check(r)) for r in requests]
        local_ids = [r.local_id for r in checked]
        if len(set(local_ids)) != len(local_ids):
            raise ValidationError("localId values must be unique within one request",
                                  field="localId")
        now = clock.now_ms()
        expires_at = now + self.ttl_ms
        session_id = new_id("session")
        session_chunk = self.chunk_size_for(options.chunk_size, 0)
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            await uploads.insert_session(
                tx, session_id=session_id, user_id=user_id, device_id=device_id,
                wifi_only=options.wifi_only, max_retries=options.max_retries,
                chunk_size=session_chunk, now=now)
            decided: list[tuple[FileRequest, UploadPlace | None, str | None]] = []
            twin_of: dict[int, int] = {}  # a file asked for again in this request → first ask
            first_ask: dict[tuple[object, ...], int] = {}
            found: dict[int, Row] = {}  # the kept copy / open upload decide found, by file
            for i, req in enumerate(checked):
                place = await upload_place(tx, user_id, folder=req.folder, file_id=req.file_id)
                ask = same_file_key(req)
                if ask in first_ask:  # one answer for both, counted once against the quota
                    twin_of[i] = first_ask[ask]
                    decided.append((req, place, "twin"))
                    continue
                first_ask[ask] = i
                decision = await decide(tx, user_id, device_id, req, place, now,
                                        deleted_on_server=self.deleted_on_server)
                if decision.found is not None:
                    found[i] = decision.found
                decided.append((req, place, decision.kind))
            planned = await claim_names(tx, user_id, decided)
            if any(kind == "new" for _, _, kind in planned):
                await self._check_open_sessions(tx, device_id, session_id, now)
            await self._check_quotas(tx, user_id, planned, now)
            # Only bytes still to be sent need the disk: a file the server has already
            # (deduplicated) or an upload half done must not be refused on a full disk.
            await self._quota.check_disk(_bytes_to_send(planned, found))
            used_before = await self._quota.used_bytes(tx, user_id)
            entries: list[InitEntry] = []
            for i, (req, place, kind) in enumerate(planned):
                entries.append(
                    msgspec.structs.replace(entries[twin_of[i]], local_id=req.local_id)
                    if kind == "twin" else
                    await self._apply(tx, user_id, device_id, session_id, req, place, kind,
                                      found.get(i), options, now, expires_at))
            await settle_queued_uploads(tx, device_id, planned, entries, now)
            await self._quota.note_usage(tx, user_id, used_before, now)
        return InitResult(session_id=session_id, expires_at=expires_at, entries=entries)

    async def _with_base(self, user_id: str, req: FileRequest) -> FileRequest:
        """``req`` with the journal position of its syncToken (new versions only)."""
        if req.sync_token is None or req.file_id is None:
            return req
        return msgspec.structs.replace(
            req, base_seq=await self.base_seq(user_id, req.sync_token),
            shared_base_seq=await self.shared_base_seq(user_id, req.sync_token))

    async def _check_open_sessions(self, tx: Conn, device_id: str, session_id: str,
                                   now: int) -> None:
        """429 when the device already has as many open upload sessions as it may."""
        limit = self._settings.max_open_sessions_per_device
        if await uploads.count_open_sessions_for_device(tx, device_id, now,
                                                        besides=session_id) >= limit:
            raise RateLimited(_SESSIONS_RETRY_AFTER_S,
                              f"This device has {limit} upload sessions open: complete or"
                              " cancel some (or let them expire) before starting more")

    async def _check_quotas(self, tx: Conn, user_id: str,
                            planned: list[tuple[FileRequest, UploadPlace | None, str | None]],
                            now: int) -> None:
        """507 unless what the request adds (new uploads, files made from stored chunks)
        fits the quota of the tree it goes to: the user's, and each sharing owner's."""
        extra: dict[str, int] = {user_id: 0}
        owners: dict[str, str] = {}
        for req, place, kind in planned:
            if kind in ("new", "copy"):
                tree_owner = place.owner_id if place is not None else user_id
                extra[tree_owner] = extra.get(tree_owner, 0) + req.size
                if place is not None:
                    owners[tree_owner] = place.owner_name
        for tree_owner, added in extra.items():
            if tree_owner == user_id:
                await self._quota.check_room(tx, user_id, added, now)
                continue
            try:
                await self._quota.check_room(tx, tree_owner, added, now)
            except QuotaExceeded:  # their amounts are theirs
                raise QuotaExceeded(f"There is not enough room left in {owners[tree_owner]}'s"
                                    " storage for this upload") from None

    async def _apply(self, tx: Conn, user_id: str, device_id: str, session_id: str,
                     req: FileRequest, place: UploadPlace | None, kind: str | None,
                     found: Row | None, options: UploadOptions, now: int,
                     expires_at: int) -> InitEntry:
        """One file's answer; ``found``: the row :func:`.decide` found for ``kept`` and
        ``resume``."""
        if kind == "deleted":
            return InitEntry(local_id=req.local_id, status="deleted_on_server")
        if kind == "same":
            here = await entry_here(tx, user_id, req, place)
            assert here is not None
            return InitEntry(local_id=req.local_id, status="deduplicated", file_id=here["id"])
        if kind == "kept":
            assert found is not None
            return InitEntry(local_id=req.local_id, status="deduplicated",
                             file_id=found["file_id"], conflicted_with=found["conflicted_with"])
        if kind == "conflict":
            here = await entry_here(tx, user_id, req, place)
            assert here is not None
            message = (f"{req.name} in {req.folder} is a folder: send the file under another"
                       " name" if here["kind"] == "folder" else  # it takes no new version
                       f"{req.name} already exists in {req.folder} with other content; send"
                       " its fileId to upload a new version, or another name")
            return InitEntry(local_id=req.local_id, status="conflict", file_id=here["id"],
                             error_code=NameConflict.code, error_message=message)
        if kind == "taken":  # by an earlier file of this request (made already if a copy)
            here = await entry_here(tx, user_id, req, place)
            return InitEntry(
                local_id=req.local_id, status="conflict",
                file_id=here["id"] if here is not None else None,
                error_code=NameConflict.code,
                error_message=f"{req.name} is also the name of another file with other content"
                              f" in {req.folder} in this request; send it under another name")
        if kind == "blocked":
            where = new_file_folder(user_id, req, place)
            blocker = await file_in_the_way(tx, *where) if where is not None else None
            return InitEntry(  # no blocker: a file and a folder of one name in this request
                local_id=req.local_id, status="conflict",
                file_id=blocker["id"] if blocker is not None else None,
                error_code=NameConflict.code,
                error_message=f"{join(req.folder, req.name)} cannot be made: a file stands where"
                              " a folder is needed, or the reverse; use another name")
        if kind == "stale":
            return InitEntry(
                local_id=req.local_id, status="conflict", file_id=req.file_id,
                error_code=Conflict.code,
                error_message=f"{req.name} was changed by another device after your syncToken;"
                              " sync, then decide which version to keep")
        if kind == "gone":
            return InitEntry(
                local_id=req.local_id, status="conflict", file_id=req.file_id,
                error_code=Conflict.code,
                error_message=f"{req.name} was deleted on the server; send it without its"
                              " fileId to keep it as a new file (or restore it from the"
                              " trash first, while it is there)")
        if kind == "copy":
            return await self._copy(tx, user_id, device_id, req, now)
        if kind == "resume":
            assert found is not None
            await uploads.touch(tx, found["id"], now, expires_at)
            # A newer syncToken (the device synced since, and saw what it saw) judges the
            # upload's complete from now on; an older one, or none, never lowers its base.
            later = req.base_seq if found["owner_id"] is None else req.shared_base_seq
            if later is not None:
                await uploads.advance_base(tx, found["id"], later)
            return InitEntry(local_id=req.local_id, status="upload", upload_id=found["id"])
        chunk_size = self.chunk_size_for(options.chunk_size, req.size)
        upload_id = new_id("upload")
        await uploads.insert(
            tx, upload_id=upload_id, session_id=session_id, user_id=user_id,
            device_id=device_id, local_id=req.local_id, folder=req.folder, name=req.name,
            name_key=name_key(req.name), size=req.size, mime_type=req.mime_type,
            checksum=req.checksum, priority=req.priority, target_file_id=req.file_id,
            chunk_size=chunk_size, total_chunks=-(-req.size // chunk_size), now=now,
            expires_at=expires_at, owner_id=place.owner_id if place is not None else None,
            base_seq=req.base_seq if place is None else req.shared_base_seq,
            # A new file's shared folder, by id: its owner may rename it before complete.
            share_root_id=place.seen.file_id if place is not None and req.file_id is None
            else None)
        return InitEntry(local_id=req.local_id, status="upload", upload_id=upload_id)

    async def _copy(self, tx: Conn, user_id: str, device_id: str, req: FileRequest,
                    now: int) -> InitEntry:
        """A new file (or version) from chunks the user already stores."""
        source = await files.find_version_by_checksum(tx, user_id, req.checksum)
        assert source is not None
        if source["size"] != req.size:
            raise ValidationError("size does not match the content with that checksum",
                                  field="size", localId=req.local_id)
        chunk_list = await files.manifest(tx, source["id"])
        try:
            committed = await files.commit_version(
                tx, user_id=user_id, file_id=req.file_id, folder=req.folder, name=req.name,
                size=req.size, checksum=req.checksum, mime_type=req.mime_type, metadata={},
                modified_at=now, chunk_hashes=[h for h, _ in chunk_list], device_id=device_id,
                now=now)
        except NameConflict as exc:  # an earlier file of this same request took the name
            return InitEntry(local_id=req.local_id, status="conflict",
                             file_id=exc.details.get("fileId"), error_code=exc.code,
                             error_message=exc.message)
        return InitEntry(local_id=req.local_id, status="deduplicated", file_id=committed.file_id)


def _bytes_to_send(planned: list[tuple[FileRequest, UploadPlace | None, str | None]],
                   found: dict[int, Row]) -> int:
    """What the phone will still send for a planned init: new uploads whole, resumed ones
    what they lack."""
    total = 0
    for i, (req, _, kind) in enumerate(planned):
        if kind == "new":
            total += req.size
        elif kind == "resume":
            total += max(0, int(found[i]["size"]) - int(found[i]["received_bytes"]))
    return total
