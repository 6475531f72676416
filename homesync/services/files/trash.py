"""The trash: deleted entries kept for ``sync.trash_retention``, then purged.

A delete moves an entry (a folder with everything below it) to the trash as one group.
Restoring brings the group back where it was — under ``name (restored).ext`` if the name
was taken meanwhile; a folder whose place holds a live folder again is merged into it,
as desktop trash bins do (:func:`untrash`) — and purging (by hand or by retention) drops its versions, which
frees the quota and leaves the chunks to gc. A purged entry stays a row with
``purged_at`` so that devices syncing later still learn that it was deleted.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import msgspec

from homesync import clock
from homesync.errors import NameConflict, NotFound
from homesync.models import Principal
from homesync.paths import join, name_key
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.files.naming import restored_names
from homesync.services.files.views import FileInfo, file_info
from homesync.services.sync.notifier import ChangeNotifier
from homesync.store import files, shares, trash, trash_merge, tree
from homesync.store.db import Conn, Database, Row

__all__ = ["Trash", "TrashEntry", "folder_to_restore_into", "untrash"]

_BATCH = 200


class TrashEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    kind: str
    folder: str
    name: str
    size: int
    checksum: str | None
    modified_at: int
    deleted_at: int
    purge_at: int | None  # None: kept until emptied by hand
    items: int  # entries deleted together (a folder and what was in it)
    total_size: int


class Trash:
    def __init__(self, db: Database, retention_ms: int, notifier: ChangeNotifier) -> None:
        self._db = db
        self._retention_ms = retention_ms  # 0: no automatic purge
        self._notifier = notifier

    async def list(self, user_id: str, *, limit: int, offset: int = 0,
                   after: tuple[int, str] | None = None) -> list[TrashEntry]:
        """What the user can still restore, most recently deleted first; with ``after``
        (``(deleted_at, id)`` of the last entry of a page), what comes after it."""
        rows = await trash.list_trash(self._db.reader, user_id, limit=limit, offset=offset,
                                      after=after)
        return [TrashEntry(
            id=r["id"], kind=r["kind"], folder=r["folder"], name=r["name"], size=r["size"],
            checksum=r["checksum"], modified_at=r["modified_at"], deleted_at=r["deleted_at"],
            purge_at=r["deleted_at"] + self._retention_ms if self._retention_ms else None,
            items=r["items"], total_size=r["total_size"] or 0,
        ) for r in rows]

    async def restore(self, user_id: str, device_id: str | None, file_id: str,
                      caller: Principal | None = None) -> FileInfo:
        """Bring an entry (and what was deleted with it below it) back; 404 unless it is in
        this user's trash or live. The entry at its place: for a folder merged into a live
        one, that folder (also when the restore is sent again); for a live one (a retry
        whose first answer was lost), itself.
        401 if ``caller``'s sign-in ended before it is restored."""
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            row = await tree.get(tx, user_id, file_id)
            if row is not None and row["deleted_at"] is None:
                return file_info(row)  # restored already: the phone asks again
            merged = await self._merged_into(tx, user_id, row)
            if merged is not None:
                return file_info(merged)  # merged already: the phone asks again
            row = self._in_trash(row)
            at_place = await untrash(tx, user_id=user_id, row=row, device_id=device_id, now=now)
            restored = await files.get_file(tx, user_id, at_place)
        assert restored is not None
        self._notifier.changed(user_id)
        return file_info(restored)

    async def purge(self, user_id: str, file_id: str, caller: Principal | None = None) -> int:
        """Empty one entry (and its group below it) out of the trash; bytes freed (0 when
        it was purged already: a retry whose first answer was lost). 404 for a live one;
        401 if ``caller``'s sign-in ended before it is purged."""
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, caller)  # it may have ended while we waited
            row = await tree.get(tx, user_id, file_id)
            if row is not None and row["purged_at"] is not None:
                return 0
            row = self._in_trash(row)
            return await tree.purge_group(tx, user_id=user_id, row=row, now=clock.now_ms())

    async def purge_expired(self, now: int) -> int:
        """Purge every trash group deleted longer than the retention ago; bytes freed."""
        if not self._retention_ms:
            return 0
        freed = 0
        while True:
            due = await trash.trash_due(self._db.reader, now - self._retention_ms, _BATCH)
            if not due:
                return freed
            async with self._db.transaction() as tx:
                for row in due:
                    fresh = await tree.get(tx, row["user_id"], row["id"])
                    if fresh is not None and fresh["deleted_at"] is not None \
                            and fresh["purged_at"] is None:
                        freed += await tree.purge_group(tx, user_id=row["user_id"], row=fresh,
                                                        now=now)

    @staticmethod
    async def _merged_into(tx: Conn, user_id: str, row: Row | None) -> Row | None:
        """The live folder the trashed folder ``row`` merged into when it was restored, as
        that restore answered it, while it is still there (else None: 404 as before)."""
        if row is None or row["purged_at"] is None:
            return None
        live_id = await trash_merge.merged_into(tx, user_id=user_id, file_id=row["id"])
        live = await tree.get(tx, user_id, live_id) if live_id is not None else None
        return live if live is not None and live["deleted_at"] is None else None

    @staticmethod
    def _in_trash(row: Row | None) -> Row:
        # Another user's entry reads as None: 404 as for an id that never existed.
        if row is None or row["deleted_at"] is None or row["purged_at"] is not None:
            raise NotFound("Not in the trash")
        return row


async def untrash(tx: Conn, *, user_id: str, row: Row, device_id: str | None, now: int) -> str:
    """Bring the trashed ``row`` (with its group below it) back where it was, under a free
    name (a trash restore, and a conflict resolution that keeps a deleted file). Returns
    the id of the entry at its place: ``row``'s, or that of the live folder it merged into.

    A trashed folder whose place holds a live folder (one restored file made it again, or
    the user did; "name (restored)" when a file took its name) merges into it rather than
    coming back beside it under the next free name: what was in it goes into the live
    folder, a name taken there by a live entry gets the " (restored)" treatment one level
    down, and a sub-folder meeting a live folder merges again. A file in a folder's way, or a folder in a file's, keeps the suffix. A folder
    that is itself shared never merges: its share would end with it (it is restored
    beside, as before, and its share goes on).
    """
    folder = await folder_to_restore_into(tx, user_id, row["folder"], device_id, now)
    name, here = await _place(tx, user_id, folder, row)
    if here is not None:
        pairs = await trash_merge.merging_folders(tx, user_id=user_id, trashed=row, live=here)
        renamed = await _names_for_taken(tx, user_id, row, pairs)
        await trash_merge.restore_merged(tx, user_id=user_id, trashed=row, pairs=pairs,
                                         renamed=renamed, device_id=device_id, now=now)
        return str(here["id"])
    await tree.restore_group(tx, user_id=user_id, row=row, folder=folder, name=name,
                             device_id=device_id, now=now)
    return str(row["id"])


async def _place(tx: Conn, user_id: str, folder: str, row: Row) -> tuple[str, Row | None]:
    """Where the trashed ``row`` comes back in ``folder``: the first of its restored names
    that is free (and None), or that a live folder it merges into holds (and that folder).

    So a folder whose name a file took merges into the "name (restored)" that restoring
    one of its files made (as a folder on the way does, :func:`folder_to_restore_into`),
    rather than coming back as "name (restored 2)", its files in two folders.
    """
    merges = row["kind"] == "folder" and not await shares.is_shared(tx, row["id"])
    for candidate in restored_names(row["name"], is_folder=row["kind"] == "folder"):
        here = await files.find_by_name(tx, user_id, folder, candidate)
        if here is None:
            return candidate, None
        if merges and here["kind"] == "folder":
            return candidate, here
    raise NameConflict(f"No free name in {folder}")


async def _names_for_taken(tx: Conn, user_id: str, trashed: Row,
                           pairs: Sequence[Row]) -> dict[str, tuple[str, str]]:
    """The names (and name_keys) that entries merged into live folders come back under
    when a live entry there holds theirs (the first free of :func:`restored_names`), by id.

    As if each merging folder's entries were put into its live folder one by one in
    name_key order: a name is free unless a live entry, an earlier entry, or a name given
    earlier holds it — which makes an entry whose own name an earlier one was given take
    another too. Only those entries are named here; the trashed folders they are in are
    read once each, only when some name there is taken.
    """
    renamed: dict[str, tuple[str, str]] = {}
    given: dict[str, set[str]] = {}  # live folder → name_keys given to entries put there
    in_trash: dict[str, dict[str, Row]] = {}  # trashed folder → its entries by name_key
    waiting = [(c["lpath"], c["name_key"], c["id"], c["name"], c["kind"], c["tfolder"])
               for c in await trash_merge.colliding(tx, user_id=user_id, trashed=trashed,
                                                    pairs=pairs)]
    heapq.heapify(waiting)
    while waiting:
        target, key, file_id, name, kind, trashed_folder = heapq.heappop(waiting)
        taken = given.setdefault(target, set())
        for candidate in restored_names(name, is_folder=kind == "folder"):
            candidate_key = name_key(candidate)
            if candidate_key in taken \
                    or await files.find_by_name(tx, user_id, target, candidate) is not None:
                continue
            if trashed_folder not in in_trash:
                in_trash[trashed_folder] = {r["name_key"]: r for r in await trash_merge.entries_in(
                    tx, user_id=user_id, trashed=trashed, folder=trashed_folder)}
            sibling = in_trash[trashed_folder].get(candidate_key)
            if sibling is not None and sibling["name_key"] < key:
                continue  # put there before this one, under its own name
            taken.add(candidate_key)
            renamed[file_id] = (candidate, candidate_key)
            if sibling is not None:  # put there after this one: its name is taken now
                heapq.heappush(waiting, (target, sibling["name_key"], sibling["id"],
                                         sibling["name"], sibling["kind"], trashed_folder))
            break
        else:
            raise NameConflict(f"No free name in {target}")
    return renamed


async def folder_to_restore_into(tx: Conn, user_id: str, folder: str, device_id: str | None,
                                 now: int) -> str:
    """``folder`` as the tree spells it now, made if it is gone.

    Renamed in case while the entry was in the trash, "/docs" is "/Docs" (restored into
    "/docs", no folder would hold it). A segment whose name a *file* took meanwhile becomes
    "docs (restored)" (or the first such name that is free or a folder), as a taken name
    does for the entry itself: the restore does not fail on it.
    """
    path = "/"
    for segment in folder.strip("/").split("/") if folder != "/" else ():
        for candidate in restored_names(segment, is_folder=True):
            here = await files.find_by_name(tx, user_id, path, candidate)
            if here is None:
                break  # gone: made below, with everything under it
            if here["kind"] == "folder":
                candidate = here["name"]
                break
        path = join(path, candidate)
    return await files.ensure_folder(tx, user_id=user_id, folder=path, device_id=device_id,
                                     now=now)
