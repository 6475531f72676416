"""Shared items in the recipient's ``GET /sync/status`` (issue 5).

A sync token holds two positions: the user's own journal position and their share-feed
position (:mod:`homesync.store.share_feed`). After the own changes, a delta lists each
file with feed entries after the second position once, judged as it is now against the
recipient's live shares: covered and live → ``created`` (new to the device) or
``updated``, at the place :mod:`.view` gives it; otherwise → ``deleted`` (revoked,
trashed by its owner, moved out of the shared folder), or left out if the device never had
it (neither listed to it before, nor made or changed by it through a write share). A user nobody shares with pays one index lookup per delta.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from homesync.paths import is_under, join, name_key
from homesync.services.sharing.view import SharedRoot, locate, shared_roots
from homesync.store import share_feed, shares
from homesync.store.changes import DeltaRow
from homesync.store.db import Database, Row

__all__ = ["SharedChanges", "SharedDelta"]


class SharedDelta(msgspec.Struct, frozen=True, kw_only=True):
    """Rows shaped like ``store.changes.DELTA_COLUMNS``; ``next_pos`` continues."""

    created: list[DeltaRow]
    updated: list[DeltaRow]
    deleted: list[DeltaRow]
    has_more: bool
    next_pos: int


class SharedChanges:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def delta(self, recipient_id: str, *, after: int, head: int, limit: int,
                    folders: Sequence[str] = (), device_id: str = "") -> SharedDelta:
        """Up to ``limit`` shared entries with feed entries after ``after`` (see the module
        docstring); ``head`` is their latest feed position, read before (so nothing up to it is missed).
        With ``folders`` (the device's syncFolders) only entries in them come."""
        if head <= after or limit < 1:
            return SharedDelta(created=[], updated=[], deleted=[], has_more=head > after,
                               next_pos=after)
        conn = self._db.reader
        changed = await share_feed.changed_files(conn, recipient_id, after=after,
                                                 limit=limit + 1, device_id=device_id)
        more = len(changed) > limit
        changed = changed[:limit]
        roots = shared_roots(await shares.incoming(conn, recipient_id))
        rows = await share_feed.rows_by_id(conn, [c["file_id"] for c in changed])
        out = SharedDelta(created=[], updated=[], deleted=[], has_more=more,
                          next_pos=changed[-1]["pos"] if more else max(after, head))
        # syncFolders match the way names collide, as for the user's own entries.
        keys = [name_key(f) for f in folders]
        for entry in changed:
            row = rows.get(entry["file_id"])
            seen = _as_seen(roots, row, entry["pos"]) if row is not None else None
            if seen is not None and keys \
                    and not any(is_under(name_key(join(seen[3], seen[2])), k) for k in keys):
                seen = None  # not synced to this device: like a deletion (it may have had it)
            if seen is not None:
                (out.updated if entry["known"] else out.created).append(seen)
            elif entry["known"] or entry["touched"]:  # the device may hold it
                deleted_at = row["deleted_at"] if row is not None else None
                out.deleted.append((entry["file_id"], None, None, None, None, None, None, None,
                                    deleted_at, None, entry["pos"], 0))
        return out


def _as_seen(roots: list[SharedRoot], row: Row, pos: int) -> DeltaRow | None:
    """The entry as the recipient sees it, or None when no live share covers it."""
    if row["deleted_at"] is not None:
        return None
    place = locate(roots, owner_id=row["user_id"], file_id=row["id"], folder=row["folder"],
                   name=row["name"])
    if place is None:
        return None
    folder, name = place
    return (row["id"], row["kind"], name, folder, row["size"], row["modified_at"],
            row["checksum"], row["mime_type"], None, pos, pos, 1)
