"""``POST /conflicts/resolve``: settle conflicts without destroying content.

- ``keep_remote``: the server's side stays; the device takes it.
- ``keep_local``: the device's side wins. For content, it becomes the file's new current
  version (the server's stays in the version history); a file deleted meanwhile comes
  back from the trash first. For a delete, the file goes to the trash. For a rename onto
  a taken name, the entry in the way goes to the trash and the rename applies.
- ``keep_both``: the server's file stays (back from the trash if it was deleted, where a
  trash restore puts it) and the device's content is stored beside it as
  ``name (conflicted copy <device> <date>).ext``.
  A delete against changed content has nothing of the device's to keep: as keep_remote.

When the device's content is not on the server yet, the answer is ``upload_required``
with ``uploadTo`` (where to upload it); the conflict stays open, and resolving it again
after the upload finishes the job. Nothing else changes then, except for a file deleted
meanwhile that keep_local or keep_both keeps: it is back from the trash at once. For
keep_local ``uploadTo`` names it, so the content becomes its next version rather than a
new file beside it; for keep_both ``uploadTo`` is beside it. Resolving an
already resolved conflict repeats its first answer and changes nothing.

The moves a resolution makes in the tree (renames, trash and back) are in
:mod:`.resolution_moves`.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from homesync.errors import HomesyncError, NotFound, ValidationError
from homesync.models import Principal
from homesync.paths import normalize_folder, normalize_name
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.files.content import ContentPlacer
from homesync.services.files.naming import conflicted_copy_names, find_free_name, restored_names
from homesync.services.sync.conflicts import ConflictSide, ConflictView, conflict_view
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.resolution_moves import (
    conflict_file,
    folder_for_kept_file,
    relocate,
    rename_as_local,
    trash_entry,
    untrash_entry,
)
from homesync.services.sync.types import Actor, ErrorInfo, error_info
from homesync.services.uploads.init import normalize_checksum
from homesync.store import conflicts, files, tombstones, tree, uploads
from homesync.store.db import Conn, Database, Row

__all__ = ["Resolution", "ResolutionResult", "Resolver", "UploadTarget"]

ResolutionChoice = Literal["keep_remote", "keep_local", "keep_both"]
MAX_PER_REQUEST = 500


class Resolution(msgspec.Struct, frozen=True, kw_only=True):
    """One item of ``conflicts[]``; the ``local_*`` fields are the app's ``localData``."""

    conflict_id: str
    resolution: ResolutionChoice
    file_id: str | None = None
    local_name: str | None = None
    local_folder: str | None = None
    local_modified_at: int | None = None
    local_checksum: str | None = None
    local_size: int | None = None


class UploadTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where to upload the device's content so that resolving again can finish."""

    folder: str
    name: str
    file_id: str | None = None  # upload as a new version of this file


class ResolutionResult(msgspec.Struct, frozen=True, kw_only=True):
    conflict_id: str
    status: Literal["resolved", "upload_required", "rejected"]
    resolution: str
    file_id: str | None = None
    copy_file_id: str | None = None
    upload_to: UploadTarget | None = None
    error: ErrorInfo | None = None


class _Pending(Exception):
    """The device's content is needed first (not an error: ``upload_required``).

    Nothing the resolution did before is kept, unless ``keep`` says so: a file the
    device keeps, brought back from the trash so that the content becomes its next
    version (not a new file beside it, with the original left in the trash)."""

    def __init__(self, target: UploadTarget, *, keep: bool = False) -> None:
        self.target = target
        self.keep = keep


class Resolver:
    def __init__(self, db: Database, placer: ContentPlacer, notifier: ChangeNotifier) -> None:
        self._db = db
        self._placer = placer
        self._notifier = notifier

    async def resolve(self, actor: Actor, items: list[Resolution],
                      caller: Principal | None = None) -> list[ResolutionResult]:
        """Resolve each item in order; 404 (and nothing changes) if any conflict id is not
        one of the user's, 401 if ``caller``'s sign-in ended before they are resolved."""
        if len(items) > MAX_PER_REQUEST:
            raise ValidationError(f"At most {MAX_PER_REQUEST} conflicts per request",
                                  field="conflicts")
        results: list[ResolutionResult] = []
        changed = False
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            rows = []
            for item in items:
                row = await conflicts.by_id(tx, actor.user_id, item.conflict_id)
                if row is None:
                    raise NotFound(f"No such conflict: {item.conflict_id}",
                                   conflictId=item.conflict_id)
                rows.append(row)
            for item, row in zip(items, rows, strict=True):
                # Read again: an earlier item of this request may have resolved it since.
                row = await conflicts.by_id(tx, actor.user_id, item.conflict_id) or row
                result, changed_tree = await self._one(tx, actor, item, row)
                results.append(result)
                changed = changed or changed_tree
        if changed:
            self._notifier.changed(actor.user_id)
        return results

    async def _one(self, tx: Conn, actor: Actor, item: Resolution,
                   row: Row) -> tuple[ResolutionResult, bool]:
        """The result, and whether the user's tree changed."""
        conflict = conflict_view(row)
        if conflict.resolved_at is not None:
            return msgspec.convert(msgspec.json.decode(row["outcome"] or "{}"),
                                   ResolutionResult), False
        try:
            if item.file_id is not None and item.file_id not in (conflict.file_id,
                                                                  conflict.local.file_id):
                raise ValidationError("fileId is not the file of this conflict", field="fileId")
            local = _with_local_data(conflict.local, item)
            if local.folder is not None:
                # "/DOCS" is the user's "/docs": names differ in case only (files.canonical_folder).
                local.folder = await files.canonical_folder(tx, actor.user_id, local.folder)
            async with tree.savepoint(tx):
                try:
                    file_id, copy_id = await self._apply(tx, actor, conflict, local, item)
                except _Pending as pending:
                    if not pending.keep:
                        raise
                    return await self._ask_upload(tx, conflict, item, pending), True
                result = ResolutionResult(conflict_id=conflict.id, status="resolved",
                                          resolution=item.resolution, file_id=file_id,
                                          copy_file_id=copy_id)
                await conflicts.mark_resolved(tx, conflict.id, resolution=item.resolution,
                                              outcome=msgspec.to_builtins(result), now=actor.now)
                await _cancel_asked_uploads(tx, actor, conflict, local)
                return result, True
        except _Pending as pending:
            return await self._ask_upload(tx, conflict, item, pending), False
        except HomesyncError as exc:
            return ResolutionResult(conflict_id=conflict.id, status="rejected",
                                    resolution=item.resolution, file_id=conflict.file_id,
                                    error=error_info(exc)), False

    async def _ask_upload(self, tx: Conn, conflict: ConflictView, item: Resolution,
                          pending: _Pending) -> ResolutionResult:
        await conflicts.ask_upload(tx, conflict.id, folder=pending.target.folder,
                                   name=pending.target.name)
        return ResolutionResult(conflict_id=conflict.id, status="upload_required",
                                resolution=item.resolution, file_id=conflict.file_id,
                                upload_to=pending.target)

    async def _apply(self, tx: Conn, actor: Actor, conflict: ConflictView, local: ConflictSide,
                     item: Resolution) -> tuple[str | None, str | None]:
        """Carry out one resolution; (file id, copy id) of the outcome."""
        choice = item.resolution
        if choice == "keep_remote":
            return conflict.file_id, None
        kind, action = conflict.kind, local.action
        if kind == "delete_modify":
            if choice == "keep_both":
                return conflict.file_id, None  # nothing of the device's to keep
            return await trash_entry(tx, actor, local.file_id or conflict.file_id), None
        if kind == "name_collision" and action in ("rename", "move"):
            return await relocate(tx, actor, conflict, local, choice)
        assert local.checksum is not None
        if choice == "keep_both":
            return await self._keep_both(tx, actor, conflict, local, item.local_name)
        if kind == "name_collision":
            return await self._replace_at_path(tx, actor, local), None
        file_id = await self._keep_local_content(tx, actor, conflict, local)
        if item.local_name is not None or item.local_folder is not None:
            await rename_as_local(
                tx, actor, file_id,
                folder=normalize_folder(item.local_folder) if item.local_folder else None,
                name=normalize_name(item.local_name) if item.local_name else None)
        return file_id, None

    # -- content ----------------------------------------------------------------------

    async def _keep_local_content(self, tx: Conn, actor: Actor, conflict: ConflictView,
                                  local: ConflictSide) -> str:
        """The device's content becomes the current version of the conflict's file."""
        assert conflict.file_id is not None and local.checksum is not None
        row = await conflict_file(tx, actor, conflict.file_id)
        if row["deleted_at"] is None:
            await self._put_version(tx, actor, row, local)
            return str(row["id"])
        # Deleted on the server: bring it back (a purged one can only be made anew). An
        # earlier try may have asked the device to upload to the free path: that file counts.
        # (A trashed entry's folder may have been renamed in case since: "/docs" is "/Docs".)
        if row["purged_at"] is not None:
            folder = await folder_for_kept_file(tx, actor, row["folder"])
        else:
            folder = await files.canonical_folder(tx, actor.user_id, row["folder"])
        name, holder = await find_free_name(tx, actor.user_id, folder,
                                            restored_names(row["name"]), holding=local.checksum)
        holder = holder or await _uploaded_as_asked(tx, actor, conflict.id, local.checksum)
        if holder is not None:
            return str(holder["id"])
        if row["purged_at"] is not None:
            return await self._new_file(tx, actor, folder, name, local)
        row = await untrash_entry(tx, actor, row)
        try:
            await self._put_version(tx, actor, row, local)
        except _Pending as pending:
            # Back from the trash now, so the device uploads a new version of the file
            # itself (uploadTo.fileId), and resolving again finds it current.
            pending.keep = True
            raise
        return str(row["id"])

    async def _replace_at_path(self, tx: Conn, actor: Actor, local: ConflictSide) -> str:
        """A new file collided with an entry: the device's content takes that path (the
        entry's content stays in its version history)."""
        assert local.folder is not None and local.name is not None
        folder = await folder_for_kept_file(tx, actor, local.folder)
        here = await files.find_by_name(tx, actor.user_id, folder, local.name)
        if here is None:
            return await self._new_file(tx, actor, folder, local.name, local)
        if here["kind"] != "file":
            raise ValidationError("A folder holds that name: choose keep_both or keep_remote")
        await self._put_version(tx, actor, here, local)
        return str(here["id"])

    async def _keep_both(self, tx: Conn, actor: Actor, conflict: ConflictView,
                         local: ConflictSide,
                         copy_name: str | None) -> tuple[str | None, str | None]:
        """The server's file stays (restored if trashed); the device's content goes beside it."""
        assert local.checksum is not None
        file_id = conflict.file_id
        row = await conflict_file(tx, actor, file_id) if file_id is not None else None
        restored = False
        if conflict.kind == "name_collision" or row is None:
            folder = await folder_for_kept_file(tx, actor, local.folder or "/")
            base = copy_name or local.name or "file"
        else:
            base = copy_name or row["name"]
            if row["deleted_at"] is None and row["checksum"] == local.checksum:
                return file_id, None  # the same content: nothing to keep twice
            if row["deleted_at"] is not None and row["purged_at"] is None:
                # Back from the trash first, and kept even while the copy's content is
                # awaited (as keep_local does): the copy goes beside it where it lands,
                # which is not its old folder when that went too and a file took its name.
                row = await untrash_entry(tx, actor, row)
                restored = True
            if row["purged_at"] is not None:
                folder = await folder_for_kept_file(tx, actor, row["folder"])
            else:  # (its folder may have been renamed in case since it was deleted)
                folder = await files.canonical_folder(tx, actor.user_id, row["folder"])
        # A copy already holding the content (made by an earlier try, or uploaded there by
        # the device after upload_required) is the copy; otherwise the first free name.
        name, holder = await find_free_name(
            tx, actor.user_id, folder,
            conflicted_copy_names(base, local.device_name or actor.device_name,
                                  conflict.created_at),
            holding=local.checksum)
        holder = holder or await _uploaded_as_asked(tx, actor, conflict.id, local.checksum)
        if holder is None and await files.find_version_by_checksum(
                tx, actor.user_id, local.checksum) is None:
            raise _Pending(UploadTarget(folder=folder, name=name), keep=restored)
        if holder is not None:
            return file_id, str(holder["id"])
        return file_id, await self._new_file(tx, actor, folder, name, local)

    async def _put_version(self, tx: Conn, actor: Actor, row: Row, local: ConflictSide) -> None:
        assert local.checksum is not None
        if row["checksum"] == local.checksum:
            return
        placed = await self._placer.place(tx, actor, file_id=row["id"], folder=row["folder"],
                                          name=row["name"], checksum=local.checksum,
                                          size=local.size, modified_at=local.modified_at)
        if placed is None:
            raise _Pending(UploadTarget(folder=row["folder"], name=row["name"],
                                        file_id=row["id"]))
        await tombstones.clear(tx, actor.user_id, local.checksum)

    async def _new_file(self, tx: Conn, actor: Actor, folder: str, name: str,
                        local: ConflictSide) -> str:
        """The device's content as a new file at ``folder``/``name`` (free)."""
        assert local.checksum is not None
        placed = await self._placer.place(tx, actor, file_id=None, folder=folder, name=name,
                                          checksum=local.checksum, size=local.size,
                                          modified_at=local.modified_at)
        if placed is None:
            raise _Pending(UploadTarget(folder=folder, name=name))
        await tombstones.clear(tx, actor.user_id, local.checksum)
        return placed.file_id


async def _cancel_asked_uploads(tx: Conn, actor: Actor, conflict: ConflictView,
                                local: ConflictSide) -> None:
    """Cancel the uploads of the device's content that an earlier try asked for and that
    are still open: the conflict is settled without them. Landing late, one would undo
    the choice (after keep_remote, the device's content made the current version)."""
    checksums = sorted({c for c in (conflict.local.checksum, local.checksum) if c})
    if not checksums:
        return
    for upload_id in await conflicts.open_uploads_asked(
            tx, actor.user_id, file_id=conflict.file_id,
            asked=await conflicts.asked_upload(tx, conflict.id), checksums=checksums):
        await uploads.mark_ended(tx, upload_id, "cancelled", actor.now)


async def _uploaded_as_asked(tx: Conn, actor: Actor, conflict_id: str,
                             checksum: str) -> Row | None:
    """The file an earlier try asked the device to upload (upload_required), if it is
    there with the device's content. Where a try asks for it follows the server's file,
    so once that file has moved, the copy the device uploaded would be missed, and a
    second, identical copy made."""
    asked = await conflicts.asked_upload(tx, conflict_id)
    if asked is None:
        return None
    folder = await files.canonical_folder(tx, actor.user_id, asked[0])
    row = await files.find_by_name(tx, actor.user_id, folder, asked[1])
    if row is None or row["kind"] != "file" or row["checksum"] != checksum:
        return None
    return row


def _with_local_data(side: ConflictSide, item: Resolution) -> ConflictSide:
    """The recorded local side, updated with what the app says in ``localData``."""
    local = msgspec.structs.replace(side)
    if item.local_name is not None:
        local.name = normalize_name(item.local_name)
    if item.local_folder is not None:
        local.folder = normalize_folder(item.local_folder)
    if item.local_modified_at is not None:
        local.modified_at = item.local_modified_at
    if item.local_checksum is not None:
        local.checksum = normalize_checksum(item.local_checksum)
    if item.local_size is not None:
        local.size = item.local_size
    return local

