"""Conflict records: what a device wanted, what the server had, and who did each.

Kinds, named local side first:

- ``modify_modify``: the device changed content that another device changed since its
  sync token;
- ``modify_delete``: the device changed a file that was deleted on the server;
- ``delete_modify``: the device deleted a file whose content changed since its token;
- ``name_collision``: a new file, rename or move onto a name another entry holds.

A record keeps both sides' metadata and device names so an app can show the choice.
Recording the same change again (a retried request, a queue replay) finds the open
record instead of making a second one. Resolutions live in :mod:`.resolutions`.
"""

from __future__ import annotations

import hashlib
from typing import Literal

import msgspec

from homesync.errors import InvalidPath
from homesync.ids import new_id
from homesync.paths import name_key, normalize_folder
from homesync.services.sync.types import Actor, LocalChange
from homesync.store import conflicts, devices, since_token
from homesync.store.db import Conn, Database, Row

__all__ = ["ConflictKind", "ConflictSide", "ConflictView", "Conflicts", "record_conflict"]

ConflictKind = Literal["modify_modify", "modify_delete", "delete_modify", "name_collision"]

# Sync status lists at most this many open conflicts (the oldest first).
MAX_LISTED = 200


class ConflictSide(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One side of a conflict as it was when the conflict was found."""

    file_id: str | None = None
    kind: str | None = None  # 'file' or 'folder'
    action: str | None = None  # local side: the change the device made
    local_id: str | None = None
    name: str | None = None
    folder: str | None = None
    size: int | None = None
    checksum: str | None = None
    modified_at: int | None = None
    deleted_at: int | None = None
    version_id: str | None = None
    device_id: str | None = None
    device_name: str | None = None


class ConflictView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    file_id: str | None
    created_at: int
    local: ConflictSide
    remote: ConflictSide
    resolved_at: int | None
    resolution: str | None


def conflict_view(row: Row) -> ConflictView:
    return ConflictView(
        id=row["id"], kind=row["kind"], file_id=row["file_id"], created_at=row["created_at"],
        local=msgspec.json.decode(row["local"], type=ConflictSide),
        remote=msgspec.json.decode(row["remote"], type=ConflictSide),
        resolved_at=row["resolved_at"], resolution=row["resolution"],
    )


def _fingerprint(actor: Actor, change: LocalChange, file_id: str | None) -> str:
    """The change as the server reads it: '/docs/', '/DOCS' and '/docs' are one folder, and
    'sha256:ABC…' is 'sha256:abc…', so a change sent again in another spelling finds its
    open conflict rather than making a second one."""
    folder = change.folder or ""
    try:
        folder = name_key(normalize_folder(folder)) if folder else ""
    except InvalidPath:
        pass  # (such a change is rejected before it can conflict)
    target = f"{folder}\x00{name_key(change.name) if change.name else ''}"
    raw = "\x1f".join((actor.device_id, change.action, file_id or "", target,
                       (change.checksum or "").strip().lower()))
    return hashlib.sha256(raw.encode()).hexdigest()


async def _device_name(conn: Conn, device_id: str | None) -> str | None:
    if device_id is None:
        return None
    row = await devices.by_id(conn, device_id)
    return str(row["name"]) if row else None


async def record_conflict(tx: Conn, actor: Actor, *, kind: ConflictKind, change: LocalChange,
                          local: ConflictSide, remote: Row | None,
                          remote_device_id: str | None = None) -> str:
    """Record (or find the open record of) a conflict; returns its id.

    ``remote`` is the server's entry the change collided with (None when there is none);
    ``remote_device_id`` the device behind the server's side, else the entry's last change.
    """
    file_id = remote["id"] if remote is not None else change.file_id
    fingerprint = _fingerprint(actor, change, file_id)
    existing = await conflicts.open_by_fingerprint(tx, actor.user_id, fingerprint)
    if existing is not None:
        return str(existing["id"])
    remote_side = ConflictSide()
    if remote is not None:
        if remote_device_id is None:
            last = await since_token.last_change(tx, remote["id"])
            remote_device_id = last["device_id"] if last else None
        remote_side = ConflictSide(
            file_id=remote["id"], kind=remote["kind"], name=remote["name"],
            folder=remote["folder"], size=remote["size"], checksum=remote["checksum"],
            modified_at=remote["modified_at"], deleted_at=remote["deleted_at"],
            version_id=remote["version_id"], device_id=remote_device_id,
            device_name=await _device_name(tx, remote_device_id),
        )
    local = msgspec.structs.replace(local, action=change.action, local_id=change.local_id,
                                    device_id=actor.device_id, device_name=actor.device_name)
    conflict_id = new_id("conflict")
    await conflicts.insert(
        tx, conflict_id=conflict_id, user_id=actor.user_id, device_id=actor.device_id,
        file_id=file_id, kind=kind, action=change.action, local_id=change.local_id,
        local=msgspec.to_builtins(local), remote=msgspec.to_builtins(remote_side),
        fingerprint=fingerprint, now=actor.now,
    )
    return conflict_id


class Conflicts:
    """Reading a user's conflicts, and forgetting old resolved ones."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def prune_resolved(self, before: int) -> int:
        """Forget conflicts resolved before ``before`` (resolving them again is then 404)."""
        return await self._db.in_batches(lambda tx: conflicts.prune_resolved(tx, before))

    async def open_for(self, user_id: str, limit: int = MAX_LISTED) -> list[ConflictView]:
        """The user's open conflicts, oldest first (every device's: each names its device)."""
        return [conflict_view(r) for r in await conflicts.list_open(self._db.reader, user_id,
                                                                     limit)]
