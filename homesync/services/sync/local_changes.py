"""``POST /sync/files``: a device's local changes, applied in order, one result each.

The batch runs in one write transaction, each change in its own savepoint (see
:mod:`.engine` for the rules). Long polls of the user wake once it commits.

The answer's ``nextSyncToken`` is the device's own position (:meth:`Changes.token`):
pulling from it brings everything the device has not seen — other devices' changes, and
what its own changes made on the server (ids of new files, parent folders created on the
way).
"""

from __future__ import annotations

import msgspec

from homesync import clock
from homesync.errors import TooManyItems
from homesync.models import Principal
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.sync.changes import Changes
from homesync.services.sync.engine import SyncEngine
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.queue_uploads import settle_answered_uploads
from homesync.services.sync.types import Actor, ChangeResult, LocalChange
from homesync.store import journal
from homesync.store.db import Database

__all__ = ["BatchResult", "LocalChanges"]


class BatchResult(msgspec.Struct, frozen=True):
    results: list[ChangeResult]  # one per change, in order
    next_token: str


class LocalChanges:
    def __init__(self, db: Database, engine: SyncEngine, changes_: Changes,
                 notifier: ChangeNotifier, max_changes: int) -> None:
        self._db = db
        self._engine = engine
        self._changes = changes_
        self._notifier = notifier
        self._max_changes = max_changes

    async def apply(self, principal: Principal, sync_token: str | None,
                    local_changes: list[LocalChange]) -> BatchResult:
        """Apply the device's changes in order; 400 for a bad token, 422 for too many."""
        if len(local_changes) > self._max_changes:
            raise TooManyItems(f"At most {self._max_changes} localChanges per request",
                               field="localChanges", maxItems=self._max_changes)
        base = await self._changes.base_seq(principal.user_id, sync_token)
        shared = await self._changes.shared_seq(principal.user_id, sync_token)
        actor = Actor(user_id=principal.user_id, device_id=principal.device_id,
                      device_name=principal.device_name, base_seq=base, shared_seq=shared,
                      now=clock.now_ms())
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            actor = msgspec.structs.replace(actor, batch_from=await journal.newest_seq(tx))
            results = [await self._engine.apply(tx, actor, change) for change in local_changes]
            await settle_answered_uploads(tx, actor, local_changes, results)
        # Changes in shared items are the owner's: their devices and every recipient wake.
        for tree_owner in {r.owner_id or principal.user_id for r in results
                           if r.status in ("applied", "deduplicated")}:
            self._notifier.changed(tree_owner)
        return BatchResult(results, self._changes.token(principal.user_id, sync_token))
