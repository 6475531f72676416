"""Version history: every replaced version is kept (within retention) and can be restored.

Restoring makes the old content the file's new current version; the version it replaces
joins the history like any other, so restoring never loses anything either. Retention
drops a replaced version once ``sync.keep_versions`` newer replaced versions exist or it
was replaced more than ``sync.version_retention`` ago (0 switches a limit off).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from homesync.errors import Conflict, NotFound
from homesync.models import Principal
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.files.content import ContentPlacer
from homesync.services.files.views import FileInfo, file_info
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.types import Actor
from homesync.store import files, tombstones, trash, tree
from homesync.store.db import Database, Row

__all__ = ["VersionInfo", "Versions"]

_BATCH = 500
# The history is read again while the file changes under it (Versions.list), this often.
_LIST_TRIES = 5


class VersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    size: int
    checksum: str
    mime_type: str
    modified_at: int
    created_at: int
    device_id: str | None
    device_name: str | None
    is_current: bool


class Versions:
    def __init__(self, db: Database, placer: ContentPlacer, notifier: ChangeNotifier, *,
                 keep: int, retention_ms: int) -> None:
        self._db = db
        self._placer = placer
        self._notifier = notifier
        self._keep = keep
        self._retention_ms = retention_ms

    async def list(self, user_id: str, file_id: str) -> tuple[FileInfo, list[VersionInfo]]:
        """The file and its retained versions, newest first; 404 unless it is the user's
        (a file in the trash still has its history). A folder has no history: 404, as
        restoring a version of it is (no version is one of a folder's)."""
        for _ in range(_LIST_TRIES):
            row, rows, unchanged = await self._read_history(user_id, file_id)
            if unchanged:
                break
        return file_info(row), [VersionInfo(
            id=r["id"], size=r["size"], checksum=r["checksum"], mime_type=r["mime_type"],
            modified_at=r["modified_at"], created_at=r["created_at"], device_id=r["device_id"],
            device_name=r["device_name"], is_current=r["id"] == row["version_id"],
        ) for r in rows]

    async def _read_history(self, user_id: str, file_id: str) -> tuple[Row, Sequence[Row], bool]:
        """The file, its versions, and whether the file was still unchanged after they were
        read: apart from it, a version made in between (or the file purged) was listed as
        the newest while the file still named the one before it."""
        row = await tree.get(self._db.reader, user_id, file_id)
        if row is None or row["purged_at"] is not None:
            raise NotFound("No such file")
        if row["kind"] != "file":
            raise NotFound("A folder has no version history")
        rows = await trash.list_versions(self._db.reader, user_id, file_id)
        again = await tree.get(self._db.reader, user_id, file_id)
        return row, rows, again is not None and again["seq"] == row["seq"]

    async def restore(self, actor: Actor, file_id: str, version_id: str,
                      caller: Principal | None = None) -> FileInfo:
        """Make ``version_id`` the content of ``file_id`` again (a new current version,
        unless the file already has that content).

        404 unless both are the user's and belong together; 409 for a file in the trash;
        401 if ``caller``'s sign-in ended before it is restored.
        """
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            row = await tree.get(tx, actor.user_id, file_id)
            version = await files.get_version(tx, actor.user_id, version_id)
            if row is None or row["purged_at"] is not None or version is None \
                    or version["file_id"] != file_id:
                raise NotFound("No such version of this file")
            if row["deleted_at"] is not None:
                raise Conflict("The file is in the trash: restore it from there first",
                               fileId=file_id)
            # Already that content (the version itself, or a retry whose first answer was
            # lost): nothing to do, rather than another identical version.
            if row["checksum"] != version["checksum"]:
                await self._placer.place(tx, actor, file_id=file_id, folder=row["folder"],
                                         name=row["name"], checksum=version["checksum"],
                                         source=version, modified_at=actor.now)
                await tombstones.clear(tx, actor.user_id, version["checksum"])
            fresh = await files.get_file(tx, actor.user_id, file_id)
        assert fresh is not None
        self._notifier.changed(actor.user_id)
        return file_info(fresh)

    async def prune_expired(self, now: int) -> int:
        """Drop replaced versions past retention; bytes freed."""
        replaced_before = now - self._retention_ms if self._retention_ms else None
        if not self._keep and replaced_before is None:
            return 0
        freed = 0
        after = ""  # files in id order: each batch reads on from the last, never again
        while True:
            batch = await trash.versioned_files(self._db.reader, after=after, limit=_BATCH)
            if not batch:
                return freed
            after = batch[-1]
            due = await trash.versions_due(self._db.reader, batch, keep=self._keep,
                                           replaced_before=replaced_before)
            for start in range(0, len(due), _BATCH):  # short transactions
                async with self._db.transaction() as tx:
                    for v in due[start:start + _BATCH]:
                        freed += await trash.delete_version(tx, version_id=v["id"],
                                                            file_id=v["file_id"],
                                                            user_id=v["user_id"], now=now)
