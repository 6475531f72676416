"""Room for uploads: the user's quota, the server's disk, and storage notifications.

Quota counts every retained version (``users.used_bytes``) plus the bytes promised to
open uploads, so two uploads started at once cannot both squeeze into the last gigabyte.
The disk check keeps ``storage.disk_reserve`` free for the database and the system.
"""

from __future__ import annotations

import msgspec

from homesync.errors import DiskFull, NotFound, QuotaExceeded
from homesync.ids import new_id
from homesync.sizes import human_bytes
from homesync.store import notifications, uploads, users
from homesync.store.chunks import ChunkStore
from homesync.store.db import Conn

__all__ = ["STORAGE_THRESHOLDS", "Quota", "crossed_thresholds"]

STORAGE_THRESHOLDS = (80, 90, 100)
# A threshold already announced this recently is not announced again: usage hovering
# around 80 % (a delete, an upload, a delete …) would otherwise alert every time.
_REPEAT_AFTER_MS = 24 * 3600 * 1000


def crossed_thresholds(before: int, after: int, quota: int) -> list[int]:
    """The percentages of ``quota`` that usage went past going from ``before`` to ``after``."""
    if quota <= 0 or after <= before:
        return []
    return [p for p in STORAGE_THRESHOLDS if before * 100 < p * quota <= after * 100]


def storage_body(used: int, quota: int) -> str:
    """"You are using 7.8 KiB of your 9.8 KiB quota (80%)." The percentage is said, not
    left to the reader: sizes rounded to a decimal can read as less than the title's
    level (7.8 of 9.8 is 79.6 %, under "Storage 80% full"). Rounded down, so that it is
    never more than the usage, and never under the level crossed (``quota`` > 0 there)."""
    return (f"You are using {human_bytes(used)} of your {human_bytes(quota)} quota"
            f" ({used * 100 // quota}%).")


class Quota:
    def __init__(self, chunks: ChunkStore, disk_reserve: int) -> None:
        self._chunks = chunks
        self._disk_reserve = disk_reserve

    async def check_room(self, tx: Conn, user_id: str, extra: int, now: int) -> None:
        """507 QUOTA_EXCEEDED unless ``extra`` more bytes fit the user's quota."""
        if extra <= 0:
            return
        user = await users.by_id(tx, user_id)
        if user is None:
            raise NotFound("No such account")
        quota = int(user["quota_bytes"])
        if quota == 0:
            return
        used = int(user["used_bytes"])
        reserved = await uploads.reserved_bytes(tx, user_id, now)
        if used + reserved + extra > quota:
            raise QuotaExceeded(
                f"Needs {human_bytes(extra)}, but only {human_bytes(max(0, quota - used - reserved))}"
                f" of the {human_bytes(quota)} quota is free",
                quotaBytes=quota, usedBytes=used, reservedBytes=reserved, requiredBytes=extra,
            )

    @staticmethod
    async def used_bytes(conn: Conn, user_id: str) -> int:
        """Bytes charged to the user now (read this before a change, for :meth:`note_usage`)."""
        user = await users.by_id(conn, user_id)
        return int(user["used_bytes"]) if user else 0

    async def check_disk(self, needed: int) -> None:
        """507 DISK_FULL unless ``needed`` bytes fit on the disk above the reserve."""
        if needed <= 0:
            return
        free = await self._chunks.free_bytes()
        if free - self._disk_reserve < needed:
            raise DiskFull(
                "The server's disk does not have room for this upload",
                freeBytes=max(0, free - self._disk_reserve), requiredBytes=needed,
            )

    async def note_usage(self, tx: Conn, user_id: str, used_before: int, now: int) -> None:
        """After usage grew from ``used_before``: a ``storage`` notification for the highest
        threshold crossed, unless that one (or a higher one) was announced within a day.

        Call in the transaction that changed the usage (the event is written with it).
        """
        user = await users.by_id(tx, user_id)
        if user is None:
            return
        quota, used = int(user["quota_bytes"]), int(user["used_bytes"])
        await self._announce(tx, user_id, crossed_thresholds(used_before, used, quota),
                             used, quota, now)

    async def note_quota_change(self, tx: Conn, user_id: str, old_quota: int,
                                now: int) -> None:
        """After the quota was set (``homesync user quota``): as :meth:`note_usage`, for
        thresholds the usage is past under the new quota and was not under ``old_quota``
        (0: unlimited). A quota lowered under a user's files is news before uploads fail."""
        user = await users.by_id(tx, user_id)
        if user is None:
            return
        quota, used = int(user["quota_bytes"]), int(user["used_bytes"])
        crossed = [p for p in STORAGE_THRESHOLDS
                   if 0 < p * quota <= used * 100 and not 0 < p * old_quota <= used * 100]
        await self._announce(tx, user_id, crossed, used, quota, now)

    async def _announce(self, tx: Conn, user_id: str, crossed: list[int], used: int,
                        quota: int, now: int) -> None:
        """A ``storage`` notification for the highest of ``crossed``, unless that one (or
        a higher one) was announced within a day."""
        if not crossed:
            return
        percent = crossed[-1]  # several at once (a big file): the highest one says it all
        if await self._announced_lately(tx, user_id, percent, quota, now):
            return
        title = "Storage full" if percent >= 100 else f"Storage {percent}% full"
        await notifications.enqueue(
            tx, notification_id=new_id("notif"), user_id=user_id, category="storage",
            kind="quota_full" if percent >= 100 else "quota_warning", title=title,
            body=storage_body(used, quota),
            data={"percent": str(percent), "usedBytes": str(used), "quotaBytes": str(quota)},
            now=now,
        )

    @staticmethod
    async def _announced_lately(tx: Conn, user_id: str, percent: int, quota: int,
                                now: int) -> bool:
        """Whether ``percent`` (or more) of this same ``quota`` was announced within the
        last day. Of another quota it is news: "Storage full" and the admin raising the
        quota are often followed, within the hour, by the phone's refused uploads filling
        the new one, and they fail again unless the user hears of it."""
        last = await notifications.latest_in_category(tx, user_id, "storage")
        if last is None or now - int(last["created_at"]) >= _REPEAT_AFTER_MS:
            return False
        announced = msgspec.json.decode(last["data"])
        return (int(announced.get("percent", "0")) >= percent
                and announced.get("quotaBytes", str(quota)) == str(quota))
