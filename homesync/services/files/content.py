"""Putting content the user already stores into their tree without an upload.

Sync changes, conflict resolutions and version restores all name content by checksum.
When any retained version of the user has it (current, older, or in the trash), its
chunk manifest makes the new version at once; otherwise the device has to upload it.
Content is looked up per user only, so no device learns what another user stores.
"""

from __future__ import annotations

from typing import Any

import msgspec

from homesync.errors import ValidationError
from homesync.services.sync.types import Actor
from homesync.services.uploads.quota import Quota
from homesync.store import files, tombstones
from homesync.store.db import Conn, Row
from homesync.store.files import CommittedVersion

__all__ = ["ContentPlacer", "is_tombstoned"]


async def is_tombstoned(conn: Conn, user_id: str, checksum: str) -> bool:
    """True when the user deleted this content and keeps no live copy of it anywhere.

    A live copy voids the tombstone: content the user brought back (``restore: true``,
    a trash restore) or kept in another folder is not content they threw away.
    """
    if await tombstones.find(conn, user_id, checksum) is None:
        return False
    return await files.find_by_checksum(conn, user_id, checksum) is None


class ContentPlacer:
    """Commits stored content as a new file or version, charging the user's quota."""

    def __init__(self, quota: Quota) -> None:
        self._quota = quota

    async def place(self, tx: Conn, actor: Actor, *, file_id: str | None, folder: str,
                    name: str, checksum: str, size: int | None = None,
                    modified_at: int | None = None, mime_type: str | None = None,
                    source: Row | None = None) -> CommittedVersion | None:
        """A new file at ``folder``/``name`` (``file_id`` None) or a new version of
        ``file_id``, made from stored content; None when the user stores no such content.

        ``source`` is a version row to copy (a version restore); otherwise any retained
        version with ``checksum``. A ``size`` that disagrees with the stored content is
        refused (400). 507 when the quota cannot take another copy. ``mime_type`` (what
        the device says the file is) defaults to the stored version's.
        """
        found = source or await files.find_version_by_checksum(tx, actor.user_id, checksum)
        if found is None:
            return None
        if size is not None and size != found["size"]:
            raise ValidationError("size does not match the stored content with this checksum",
                                  field="size", storedSize=found["size"])
        version = await files.get_version(tx, actor.user_id, found["id"])
        assert version is not None
        chunks = await files.manifest(tx, found["id"])
        metadata: dict[str, Any] = msgspec.json.decode(version["metadata"] or "{}")
        used_before = await self._quota.used_bytes(tx, actor.user_id)
        await self._quota.check_room(tx, actor.user_id, int(version["size"]), actor.now)
        committed = await files.commit_version(
            tx, user_id=actor.user_id, file_id=file_id, folder=folder, name=name,
            size=int(version["size"]), checksum=version["checksum"],
            mime_type=mime_type or version["mime_type"], metadata=metadata,
            modified_at=modified_at if modified_at is not None else actor.now,
            chunk_hashes=[h for h, _ in chunks], device_id=actor.device_id, now=actor.now)
        await self._quota.note_usage(tx, actor.user_id, used_before, actor.now)
        return committed
