"""The sync area's services, built together over one database (``services.sync``).

- :attr:`SyncArea.changes`: ``GET /sync/status`` (deltas, long poll);
- :attr:`SyncArea.local`: ``POST /sync/files``;
- :attr:`SyncArea.conflicts` / :attr:`SyncArea.resolver`: listing and resolving conflicts;
- :attr:`SyncArea.queue`: the offline queue;
- :attr:`SyncArea.trash` / :attr:`SyncArea.versions`: restore and purge;
- :attr:`SyncArea.history`: compacting sync history past the horizon;
- :attr:`SyncArea.notifier`: call ``changed(user_id)`` after committing a change to a
  user's files so their long polls answer at once;
- :attr:`SyncArea.retention` / :attr:`SyncArea.watcher`: the background loops.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from homesync.config import SyncSettings, parse_duration
from homesync.services.files.content import ContentPlacer, is_tombstoned
from homesync.services.files.trash import Trash
from homesync.services.files.versions import Versions
from homesync.services.sharing.sync import SharedChanges
from homesync.services.sync.changes import Changes
from homesync.services.sync.conflicts import Conflicts
from homesync.services.sync.engine import SyncEngine
from homesync.services.sync.horizon import HistoryCompactor
from homesync.services.sync.jobs import JournalWatcher, Retention
from homesync.services.sync.local_changes import LocalChanges
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.queue import OfflineQueue
from homesync.services.sync.resolutions import Resolver
from homesync.services.sync.tokens import SyncTokens
from homesync.services.uploads.quota import Quota
from homesync.store.db import Conn, Database

__all__ = ["PendingUploads", "SyncArea"]

PendingUploads = Callable[[str], Awaitable[int]]


class SyncArea:
    def __init__(self, db: Database, settings: SyncSettings, secret: bytes, quota: Quota) -> None:
        self.notifier = ChangeNotifier(settings.max_polls_per_device)
        self.tokens = SyncTokens(secret)
        self.conflicts = Conflicts(db)
        self.changes = Changes(db, settings, self.tokens, self.notifier, self.conflicts,
                               SharedChanges(db))
        placer = ContentPlacer(quota)
        engine = SyncEngine(placer)
        self.local = LocalChanges(db, engine, self.changes, self.notifier,
                                  settings.max_local_changes)
        self.resolver = Resolver(db, placer, self.notifier)
        self.queue = OfflineQueue(db, engine, self.changes, self.notifier,
                                  settings.max_queue_ops)
        self.trash = Trash(db, settings.trash_retention_ms, self.notifier)
        self.versions = Versions(db, placer, self.notifier, keep=settings.keep_versions,
                                 retention_ms=settings.version_retention_ms)
        self.history = HistoryCompactor(db, settings.history_retention_ms)
        self.retention = Retention(settings, self.trash, self.versions, self.queue,
                                   self.conflicts, self.history)
        self.watcher = JournalWatcher(db, self.notifier,
                                      parse_duration(settings.wake_check_interval))

    def pending_uploads_hook(self, open_uploads: PendingUploads) -> PendingUploads:
        """Register's ``syncData.pendingUploads``: the device's open uploads plus its
        upload operations still waiting for one."""

        async def pending(device_id: str) -> int:
            return await open_uploads(device_id) + await self.queue.pending_uploads(device_id)

        return pending

    @staticmethod
    async def deleted_on_server(tx: Conn, user_id: str, checksum: str) -> bool:
        """The tombstone rule, for ``upload/init``: the user deleted this content."""
        return await is_tombstoned(tx, user_id, checksum)
