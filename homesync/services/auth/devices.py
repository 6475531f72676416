"""A user's devices: listing, per-device settings, removal (and the admin's view)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from homesync import clock, paths
from homesync.errors import InvalidPath, NotFound, ValidationError
from homesync.models import DeviceInfo, Principal
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.notifications.events import security_event
from homesync.services.notifications.names import shown
from homesync.store import devices, tokens
from homesync.store.db import Conn, Database, Row

__all__ = [
    "DEFAULT_SETTINGS",
    "UPLOAD_QUALITIES",
    "DeviceRemovalHook",
    "Devices",
    "check_settings",
    "device_info",
]

# Called inside the removal's transaction with (tx, user_id, device_id): other areas
# drop what they keep per device (push registrations, open uploads) atomically with it.
DeviceRemovalHook = Callable[[Conn, str, str], Awaitable[None]]

UPLOAD_QUALITIES = ("original", "high", "medium", "low")
DEFAULT_SETTINGS: dict[str, Any] = {
    "autoUpload": False,
    "backgroundSync": True,
    "wifiOnly": True,
    "uploadQuality": "original",
    "syncFolders": [],
    "maxCacheSize": 1 << 30,
}
_MAX_SYNC_FOLDERS = 100


def device_info(row: Row) -> DeviceInfo:
    stored = msgspec.json.decode(row["settings"]) if row["settings"] else {}
    keys = row.keys()
    return DeviceInfo(
        id=row["id"], user_id=row["user_id"], client_id=row["client_id"], name=row["name"],
        platform=row["platform"], model=row["model"], os_version=row["os_version"],
        app_version=row["app_version"], registered_at=row["registered_at"],
        last_active_at=row["last_active_at"], last_sync_at=row["last_sync_at"],
        settings={**DEFAULT_SETTINGS, **stored}, has_push=bool(row["push_token"]),
        email=row["email"] if "email" in keys else None,
    )


def check_settings(changes: dict[str, Any]) -> dict[str, Any]:
    """Validated, normalised partial settings (the wire layer already checked the types)."""
    out = dict(changes)
    if "uploadQuality" in out and out["uploadQuality"] not in UPLOAD_QUALITIES:
        raise ValidationError(f"uploadQuality must be one of {', '.join(UPLOAD_QUALITIES)}",
                              field="uploadQuality")
    if "maxCacheSize" in out and out["maxCacheSize"] < 0:
        raise ValidationError("maxCacheSize cannot be negative", field="maxCacheSize")
    if "syncFolders" in out:
        folders = out["syncFolders"]
        if len(folders) > _MAX_SYNC_FOLDERS:
            raise ValidationError(f"At most {_MAX_SYNC_FOLDERS} syncFolders", field="syncFolders")
        normal: list[str] = []
        for folder in folders:
            try:
                f = paths.normalize_folder(folder)
            except InvalidPath as exc:
                raise InvalidPath(f"syncFolders: {folder!r}: {exc.message}",
                                  field="syncFolders") from None
            if f not in normal:
                normal.append(f)
        out["syncFolders"] = normal
    return out


class Devices:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.removal_hooks: list[DeviceRemovalHook] = []

    async def list_for(self, principal: Principal) -> list[DeviceInfo]:
        """The caller's registered devices, oldest first."""
        return [device_info(r) for r in await devices.list_for_user(self._db.inline,
                                                                     principal.user_id)]

    async def update_settings(self, principal: Principal, device_id: str,
                              changes: dict[str, Any]) -> DeviceInfo:
        """Merge ``changes`` (camelCase keys, partial) into one of the caller's devices.

        Raises ValidationError/InvalidPath for bad values and NotFound for a device
        that is not the caller's; nothing is stored then.
        """
        changes = check_settings(changes)
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            row = await self._own(tx, principal.user_id, device_id)
            stored = msgspec.json.decode(row["settings"]) if row["settings"] else {}
            stored.update(changes)
            await devices.set_settings(tx, device_id, msgspec.json.encode(stored).decode())
            row = await self._own(tx, principal.user_id, device_id)
        return device_info(row)

    async def remove(self, principal: Principal, device_id: str) -> None:
        """Remove one of the caller's devices: its tokens die at once, its push goes."""
        await self._remove(principal.user_id, device_id, by=principal.device_name,
                           caller=principal)

    async def admin_list(self, user_id: str | None = None) -> list[DeviceInfo]:
        """Every live device (of one account when ``user_id`` is given), for the CLI."""
        rows = await devices.list_all(self._db.reader)
        infos = [device_info(r) for r in rows]
        if user_id is not None:
            infos = [d for d in infos if d.user_id == user_id]
        return infos

    async def admin_revoke(self, device_id: str) -> DeviceInfo:
        """Remove any user's device (CLI), exactly as its owner would."""
        row = await devices.by_id(self._db.reader, device_id)
        if row is None or row["removed_at"] is not None:
            raise NotFound(f"No device {device_id}")
        await self._remove(row["user_id"], device_id, by="the server administrator")
        return device_info(row)

    async def _remove(self, user_id: str, device_id: str, *, by: str,
                      caller: Principal | None = None) -> None:
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            row = await self._own(tx, user_id, device_id)
            await devices.mark_removed(tx, device_id, now)
            await tokens.revoke_device_families(tx, device_id, "device_removed", now)
            for hook in self.removal_hooks:
                await hook(tx, user_id, device_id)
            await security_event(
                tx, user_id=user_id, kind="device_removed", title="Device removed",
                body=f"{shown(row['name'])} was removed by {shown(by)} and signed out.",
                data={"deviceId": device_id}, now=now, except_device_id=device_id,
            )

    @staticmethod
    async def _own(conn: Conn, user_id: str, device_id: str) -> Row:
        row = await devices.by_id(conn, device_id)
        # Another user's device answers exactly like a missing one (no BOLA oracle).
        if row is None or row["user_id"] != user_id or row["removed_at"] is not None:
            raise NotFound("Device not found")
        return row
