"""Applying one local change to the server's tree: the rules of ``POST /sync/files``.

The offline queue applies its server-side operations through this same code, so both
make conflicts the same way. The rules, per action:

``upload`` (new content at ``folder``/``name``, or for ``fileId``)
    Same content as the server's → ``applied`` (no conflict, ever). A new file whose
    content the user deleted → ``deleted_on_server`` unless ``restore``. A name held by
    other content → ``name_collision``. A known file whose content another device
    changed after the device's token → ``modify_modify``; one deleted on the server →
    ``modify_delete`` (or ``deleted_on_server`` if the device holds the deleted content),
    unless the device's own delete earlier in the batch trashed it: it comes back from the
    trash and takes the content (the same content too: ``applied``).
    Otherwise the content is committed at once if the user stores it anywhere
    (``deduplicated``), else ``upload_required``.
``delete``
    To the trash (a folder with everything below it). Content another device changed
    after the token → ``delete_modify``; for a folder, also a file below it that was not
    there at the token and that another device moved in since (itself, or in a folder it
    moved; or restored from the trash) — the device never saw it there, as it never saw a
    file created there. Moves that kept a file inside the folder (the folder renamed or
    moved, files moved about within it) bring nothing new; the device's own moves never
    count. Already deleted → ``applied``.
``rename`` / ``move``
    Never conflict on content: only a taken target name (``name_collision``). A folder
    carries its subtree. On a deleted entry → ``deleted_on_server``.
``mkdir``
    ``mkdir -p``; an existing folder → ``applied``; a file in the way → ``rejected``.

Each change runs in a savepoint: a change that fails (``rejected``, with the error)
leaves nothing behind, and the others still apply.

Changes to what others shared with the user are made in the owner's tree when a
``write`` share allows them (:mod:`homesync.services.sharing.access` decides, 403
otherwise), judged against what the device had seen of the shared entries. Unlike the
user's own changes there, the server never answers ``deduplicated`` (that would tell the
recipient what else the owner stores) nor ``deleted_on_server`` (what the owner deleted),
and a ``conflict`` comes without a conflict record, with an ``error`` saying what works
instead: a stale change, the device pulls the server's side and sends it again; a taken
name (``NAME_CONFLICT``), which pulling does not free, it sends under another name.
"""

from __future__ import annotations

import msgspec

from homesync.errors import HomesyncError, InvalidPath, NameConflict, NotFound, ValidationError
from homesync.paths import check_not_reserved, is_under, join, normalize_folder, normalize_name
from homesync.services.files.content import ContentPlacer, is_tombstoned
from homesync.services.files.trash import untrash
from homesync.services.sharing.access import as_seen, route_change
from homesync.services.sync.conflicts import ConflictKind, ConflictSide, record_conflict
from homesync.services.sync.types import (
    Actor,
    ChangeResult,
    ChangeStatus,
    ErrorInfo,
    LocalChange,
    error_info,
)
from homesync.services.uploads.init import normalize_checksum
from homesync.store import files, since_token, tombstones, tree
from homesync.store.db import Conn, Row, on_its_thread

__all__ = ["SyncEngine", "move_to_trash"]


def _result(change: LocalChange, status: ChangeStatus, file_id: str | None = None,
            conflict_id: str | None = None) -> ChangeResult:
    return ChangeResult(local_id=change.local_id, status=status, file_id=file_id,
                        conflict_id=conflict_id)


# A conflict in a shared item has no record to resolve (``_conflict``): its error says
# what the device does instead. Pulling settles a stale change, not a taken name.
_SHARED_STALE = ErrorInfo("CONFLICT", "Changed in the owner's folder after your sync token:"
                          " pull, then send the change again")
_SHARED_NAME_TAKEN = ErrorInfo(
    "NAME_CONFLICT", "The owner's folder has an entry with that name (fileId): sending the"
    " change again gets this same answer; send it under another name, or an upload as a"
    " new version of that entry (with its fileId)")
_SHARED_DELETED = ErrorInfo(
    "CONFLICT", "The owner deleted this file (it is in their trash): sending the change"
    " again gets this same answer; to keep your content, upload it as a new file (without"
    " a fileId)")


def _conflicted(actor: Actor, change: LocalChange, kind: ConflictKind, file_id: str,
                conflict_id: str | None) -> ChangeResult:
    error = None
    if actor.via_share:
        # Pulling frees no name and brings no deleted file back: those say what works.
        error = {"name_collision": _SHARED_NAME_TAKEN,
                 "modify_delete": _SHARED_DELETED}.get(kind, _SHARED_STALE)
    return ChangeResult(local_id=change.local_id, status="conflict", file_id=file_id,
                        conflict_id=conflict_id, error=error)


def _local_side(change: LocalChange, checksum: str | None = None,
                folder: str | None = None, name: str | None = None) -> ConflictSide:
    return ConflictSide(file_id=change.file_id, name=name or change.name,
                        folder=folder or change.folder, size=change.size,
                        checksum=checksum or change.checksum, modified_at=change.modified_at)


async def move_to_trash(tx: Conn, actor: Actor, row: Row) -> None:
    """Trash a live entry (a folder with everything below it) and remember its files'
    content as deleted by the user (tombstones)."""
    await tree.trash(tx, user_id=actor.user_id, row=row, device_id=actor.device_id,
                     now=actor.now)
    await tombstones.record_trashed(tx, user_id=actor.user_id, root=row, now=actor.now)


class SyncEngine:
    def __init__(self, placer: ContentPlacer) -> None:
        self._placer = placer

    async def apply(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        """Apply ``change`` inside the caller's transaction; never raises a HomesyncError."""
        if change.invalid is not None:
            return ChangeResult(local_id=change.local_id, status="rejected",
                                file_id=change.file_id, error=change.invalid)
        try:
            async with tree.savepoint(tx):
                routed = await route_change(tx, actor, change)
                if routed is None:
                    return await self._dispatch(tx, actor, change)
                try:
                    result = await self._dispatch(tx, routed.actor, routed.change)
                except HomesyncError as exc:
                    raise as_seen(exc, routed.seen) from None
                return msgspec.structs.replace(result, owner_id=routed.actor.user_id)
        except HomesyncError as exc:
            return ChangeResult(local_id=change.local_id, status="rejected",
                                file_id=change.file_id, error=error_info(exc))

    async def _dispatch(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        if change.action == "upload":
            return await self._upload(tx, actor, change)
        if change.action == "delete":
            return await self._delete(tx, actor, change)
        if change.action in ("rename", "move"):
            return await self._relocate(tx, actor, change)
        return await self._mkdir(tx, actor, change)

    @staticmethod
    async def _conflict(tx: Conn, actor: Actor, *, kind: ConflictKind, change: LocalChange,
                        local: ConflictSide, remote: Row | None,
                        remote_device_id: str | None = None) -> str | None:
        """Record the conflict; none for a change in a shared item (the user's conflict
        records and resolutions work in their own tree)."""
        if actor.via_share:
            return None
        return await record_conflict(tx, actor, kind=kind, change=change, local=local,
                                     remote=remote, remote_device_id=remote_device_id)

    async def _entry(self, tx: Conn, actor: Actor, change: LocalChange) -> Row:
        if not change.file_id:
            raise ValidationError(f"{change.action} needs fileId", field="fileId")
        row = await tree.get(tx, actor.user_id, change.file_id)
        if row is None:  # also another user's id: the same answer (no BOLA oracle)
            raise NotFound(f"No such file: {change.file_id}", fileId=change.file_id)
        return row

    # -- upload ---------------------------------------------------------------------

    async def _upload(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        if change.checksum is None or change.size is None:
            raise ValidationError("upload needs checksum and size", field="checksum")
        if change.size < 0:
            raise ValidationError("size cannot be negative", field="size")
        checksum = normalize_checksum(change.checksum)
        if change.file_id is not None:
            return await self._upload_version(tx, actor, change, checksum)
        if change.folder is None or change.name is None:
            raise ValidationError("upload of a new file needs folder and name", field="name")
        folder, name = normalize_folder(change.folder), normalize_name(change.name)
        check_not_reserved(folder, name)  # also before answering upload_required
        folder = await files.canonical_folder(tx, actor.user_id, folder)
        here = await files.find_by_name(tx, actor.user_id, folder, name)
        if here is not None and here["kind"] == "file" and here["checksum"] == checksum:
            return _result(change, "applied", here["id"])
        if actor.via_share:
            pass  # the owner's tombstones are theirs: no oracle of what they deleted
        elif change.restore:
            await tombstones.clear(tx, actor.user_id, checksum)
        elif await is_tombstoned(tx, actor.user_id, checksum):
            return _result(change, "deleted_on_server")
        if here is not None:
            conflict_id = await self._conflict(
                tx, actor, kind="name_collision", change=change,
                local=_local_side(change, checksum, folder, name), remote=here)
            return _conflicted(actor, change, "name_collision", here["id"], conflict_id)
        if actor.via_share:  # never from the owner's store: that would be an oracle
            return _result(change, "upload_required")
        placed = await self._placer.place(tx, actor, file_id=None, folder=folder, name=name,
                                          checksum=checksum, size=change.size,
                                          modified_at=change.modified_at,
                                          mime_type=change.mime_type)
        if placed is None:
            return _result(change, "upload_required")
        return _result(change, "deduplicated", placed.file_id)

    async def _upload_version(self, tx: Conn, actor: Actor, change: LocalChange,
                              checksum: str) -> ChangeResult:
        row = await self._entry(tx, actor, change)
        if row["kind"] != "file":
            raise ValidationError("A folder has no content to upload", field="fileId")
        if row["checksum"] == checksum:
            if row["deleted_at"] is not None:
                if not await self._deleted_in_this_batch(tx, actor, row):
                    return _result(change, "deleted_on_server", row["id"])
                # Its own delete earlier in this batch, then the same content again (thrown
                # away, saved again unchanged): back from the trash, as with new content.
                await untrash(tx, user_id=actor.user_id, row=row, device_id=actor.device_id,
                              now=actor.now)
            return _result(change, "applied", row["id"])
        kind: ConflictKind | None = None
        remote_device = None
        if row["deleted_at"] is not None \
                and not await self._deleted_in_this_batch(tx, actor, row):
            kind = "modify_delete"
        else:
            foreign = await since_token.content_changed_since(tx, row["id"], actor.base_seq,
                                                              actor.device_id)
            if foreign is not None:
                kind, remote_device = "modify_modify", foreign["device_id"]
            elif row["deleted_at"] is not None:
                # The device deleted it earlier in this batch and now sends new content:
                # the file lives on with it, as a trash restore and then an edit (its own
                # delete never conflicts with its later change). Across batches it stays
                # modify_delete: resolving keep_local brings it back the same way.
                await untrash(tx, user_id=actor.user_id, row=row, device_id=actor.device_id,
                              now=actor.now)
                row = await self._entry(tx, actor, change)
        if kind is not None:
            conflict_id = await self._conflict(
                tx, actor, kind=kind, change=change, local=_local_side(change, checksum),
                remote=row, remote_device_id=remote_device)
            return _conflicted(actor, change, kind, row["id"], conflict_id)
        if actor.via_share:
            return _result(change, "upload_required", row["id"])
        placed = await self._placer.place(tx, actor, file_id=row["id"], folder=row["folder"],
                                          name=row["name"], checksum=checksum, size=change.size,
                                          modified_at=change.modified_at,
                                          mime_type=change.mime_type)
        if placed is None:
            return _result(change, "upload_required", row["id"])
        return _result(change, "deduplicated", row["id"])

    @staticmethod
    async def _deleted_in_this_batch(tx: Conn, actor: Actor, row: Row) -> bool:
        """Whether the trashed ``row``'s last change is its delete by the device earlier in
        this ``POST /sync/files`` batch."""
        if actor.batch_from is None or row["purged_at"] is not None:
            return False
        last = await since_token.last_change(tx, row["id"])
        return last is not None and last["action"] == "delete" \
            and last["seq"] > actor.batch_from and last["device_id"] == actor.device_id

    # -- delete ---------------------------------------------------------------------

    async def _delete(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        row = await self._entry(tx, actor, change)
        if row["deleted_at"] is not None:
            return _result(change, "applied", row["id"])
        changed = await self._changed_under(tx, actor, row, change)
        if changed is not None:
            conflict_id = await self._conflict(
                tx, actor, kind="delete_modify", change=change,
                local=ConflictSide(file_id=row["id"], name=row["name"], folder=row["folder"]),
                remote=changed, remote_device_id=None)
            return _conflicted(actor, change, "delete_modify", row["id"], conflict_id)
        await move_to_trash(tx, actor, row)
        return _result(change, "applied", row["id"])

    async def _changed_under(self, tx: Conn, actor: Actor, row: Row,
                             change: LocalChange) -> Row | None:
        """The file (``row`` or one below a folder) whose content another device changed
        after the device's token, or that another device moved into the folder since,
        which deleting would throw away unseen; of a folder's, the shallowest (a retried
        delete names the same one in its conflict)."""
        if row["kind"] == "file":
            if change.checksum is not None \
                    and normalize_checksum(change.checksum) == row["checksum"]:
                return None  # the device deletes exactly the content the server has
            found = await since_token.content_changed_since(tx, row["id"], actor.base_seq,
                                                     actor.device_id)
            return row if found is not None else None
        # One statement over the whole folder (20 000 photos, say), on the writer's thread:
        # with an old token every file below is a candidate, and each was brought back and
        # judged in Python on the event loop (bench/folder_ops.py, "stale delete").
        with on_its_thread(tx):
            return await since_token.first_changed_below(tx, actor.user_id, row,
                                                         actor.base_seq, actor.device_id)

    # -- rename / move ----------------------------------------------------------------

    async def _relocate(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        row = await self._entry(tx, actor, change)
        if change.action == "rename" and change.name is None:
            raise ValidationError("rename needs name", field="name")
        if change.action == "move" and change.folder is None:
            raise ValidationError("move needs folder", field="folder")
        folder = normalize_folder(change.folder) if change.folder is not None else row["folder"]
        folder = await files.canonical_folder(tx, actor.user_id, folder)
        name = normalize_name(change.name) if change.name is not None else row["name"]
        if row["deleted_at"] is not None:
            return _result(change, "deleted_on_server", row["id"])
        if folder == row["folder"] and name == row["name"]:
            return _result(change, "applied", row["id"])
        if row["kind"] == "folder" and is_under(folder, join(row["folder"], row["name"])):
            raise InvalidPath("A folder cannot move into itself")
        target = await files.find_by_name(tx, actor.user_id, folder, name)
        if target is not None and target["id"] != row["id"]:
            conflict_id = await self._conflict(
                tx, actor, kind="name_collision", change=change,
                local=ConflictSide(file_id=row["id"], kind=row["kind"], name=name, folder=folder,
                                   size=row["size"], checksum=row["checksum"]),
                remote=target)
            return _conflicted(actor, change, "name_collision", target["id"], conflict_id)
        await files.ensure_folder(tx, user_id=actor.user_id, folder=folder,
                                  device_id=actor.device_id, now=actor.now)
        await tree.move(tx, user_id=actor.user_id, row=row, folder=folder, name=name,
                        device_id=actor.device_id, now=actor.now)
        return _result(change, "applied", row["id"])

    # -- mkdir ----------------------------------------------------------------------

    async def _mkdir(self, tx: Conn, actor: Actor, change: LocalChange) -> ChangeResult:
        if change.folder is None:
            raise ValidationError("mkdir needs folder (and name, or a folder path)",
                                  field="folder")
        folder = normalize_folder(change.folder)
        if change.name is not None:  # the joined path is held to a folder's limits too
            path = normalize_folder(join(folder, normalize_name(change.name)))
        else:
            path = folder
        path = await files.canonical_folder(tx, actor.user_id, path)
        if path == "/":
            return _result(change, "applied")
        parent, _, name = path.rpartition("/")
        here = await files.find_by_name(tx, actor.user_id, parent or "/", name)
        if here is not None and here["kind"] == "folder":
            return _result(change, "applied", here["id"])
        if here is not None:
            raise NameConflict(f"{path} is a file", fileId=here["id"])
        await files.ensure_folder(tx, user_id=actor.user_id, folder=path,
                                  device_id=actor.device_id, now=actor.now)
        made = await files.find_by_name(tx, actor.user_id, parent or "/", name)
        assert made is not None
        return _result(change, "applied", made["id"])
