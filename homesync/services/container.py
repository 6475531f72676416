"""All services of one homesync instance, wired together over one database.

The API (``app.py`` lifespan) and the CLI both build one with :meth:`Services.open` and
close it with :meth:`Services.close`; nothing is global, so tests open as many as they like.
"""

from __future__ import annotations

import asyncio
import logging
import stat
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from homesync.config import Settings, parse_size
from homesync.services.auth.accounts import Accounts
from homesync.services.auth.devices import Devices
from homesync.services.auth.passwords import Passwords
from homesync.services.auth.sessions import Sessions
from homesync.services.auth.signing_keys import SigningKeys
from homesync.services.auth.tokens import TokenCodec
from homesync.services.files.downloads import Downloads
from homesync.services.maintenance.backup import Backups
from homesync.services.maintenance.fsck import Fsck
from homesync.services.maintenance.gc import Collector
from homesync.services.maintenance.restore_target import unfinished_restore
from homesync.services.maintenance.status import Status
from homesync.services.notifications.outbox import PushOutbox
from homesync.services.notifications.providers import PushProviders
from homesync.services.notifications.service import Notifications
from homesync.services.sharing.shares import Shares
from homesync.services.sync.area import SyncArea
from homesync.services.uploads.init import UploadPlanner
from homesync.services.uploads.limits import ChunkSlots
from homesync.services.uploads.quota import Quota
from homesync.services.uploads.service import Uploads
from homesync.services.uploads.urls import ChunkUrlSigner
from homesync.store.chunks import ChunkStore
from homesync.store.db import Database
from homesync.store.keys import load_or_create_secret
from homesync.store.local_chunks import LocalChunkStore, holds_chunks
from homesync.store.tokens import SIGN_INS_ENDED, SignInLifetimes
from homesync.to_the_end import run_to_the_end

__all__ = ["Services"]

BackgroundJob = Callable[[], Coroutine[Any, Any, None]]

log = logging.getLogger("homesync.storage")


def _make_private_dir(data: Path) -> None:
    """Create the data dir 0700: it holds people's files, password hashes and the server key.

    An existing one is left as it is (its owner chose its mode), with a warning if others
    can read or enter it.
    """
    try:
        data.mkdir(mode=0o700, parents=True)
        return
    except FileExistsError:
        pass
    mode = stat.S_IMODE(data.stat().st_mode)
    if mode & 0o077:
        log.warning("data dir %s is open to other users (mode %o); it holds everyone's files "
                    "and the server key: chmod 700 it", data, mode)


class Services:
    def __init__(self, settings: Settings, db: Database, secret: bytes) -> None:
        self.settings = settings
        self.db = db
        self.secret = secret
        self.passwords = Passwords(settings.auth)
        self.codec = TokenCodec(secret, settings.auth)
        # Which keys the codec holds: loaded in open(), rotated by `homesync keys`.
        self.signing_keys = SigningKeys(db, self.codec, secret, settings.auth)
        self.accounts = Accounts(db, self.passwords, settings.auth,
                                 default_quota=parse_size(settings.uploads.default_quota))
        self.sessions = Sessions(db, self.accounts, self.codec, self.signing_keys,
                                 settings.auth)
        self.devices = Devices(db)
        # What pushes and signed chunk URLs check, as a refresh would, before one records it.
        sign_ins = SignInLifetimes(idle_ms=settings.auth.refresh_idle_s * 1000,
                                   absolute_ms=settings.auth.refresh_absolute_s * 1000)
        # Content: chunk store, uploads, downloads, gc and fsck (issue 3).
        self.chunks: ChunkStore = LocalChunkStore(settings.data_path, fsync=settings.storage.fsync)
        self.quota = Quota(self.chunks, settings.storage.disk_reserve_bytes)
        self.accounts.quota_set = self.quota.note_quota_change
        self.uploads = Uploads(db, self.chunks, self.quota,
                               UploadPlanner(db, self.quota, settings.uploads),
                               ChunkUrlSigner(secret),
                               ChunkSlots(per_device=settings.uploads.max_chunk_puts_per_device,
                                          total=settings.uploads.max_chunk_puts),
                               sign_ins=sign_ins)
        # Sync: deltas and long polls, local changes, conflicts, the offline queue,
        # versions and trash (issue 4). Uploads consult its tombstones.
        self.sync = SyncArea(db, settings.sync, secret, self.quota)
        self.sync.retention.prune_sign_ins = self.sessions.prune_ended
        # A committed revocation (device removed, sign-out, ...) ends its parked long polls.
        db.when_committed(SIGN_INS_ENDED, self.sync.watcher.nudge)
        self.uploads.planner.deleted_on_server = self.sync.deleted_on_server
        self.uploads.planner.base_seq = self.sync.changes.base_seq
        self.uploads.planner.shared_base_seq = self.sync.changes.shared_seq
        self.uploads.files_changed = self.sync.notifier.changed
        self.sessions.pending_uploads = self.sync.pending_uploads_hook(
            self.uploads.pending_for_device)
        self.downloads = Downloads(db, self.chunks)
        self.gc = Collector(db, self.chunks, settings)
        self.fsck = Fsck(db, self.chunks)
        # Push: the configured providers, the outbox worker, registration and the inbox.
        self.push = PushProviders(settings.notifications)
        self.outbox = PushOutbox(db, settings.notifications, self.push.providers,
                                 sign_ins=sign_ins)
        # Every committed notification (security, uploads, storage, shares) wakes it.
        db.when_committed("notifications", self.outbox.wake)
        self.notifications = Notifications(db, settings.notifications, self.push.providers,
                                           self.outbox.wake, sign_ins=sign_ins)
        self.devices.removal_hooks.append(self.notifications.device_removed)
        self.devices.removal_hooks.append(self.sync.queue.device_removed)
        self.devices.removal_hooks.append(self.uploads.device_removed)
        self.sessions.usable_push_token = self.notifications.usable_token
        self.sessions.logged_out = self.notifications.device_logged_out
        self.sessions.signed_out = self.accounts.signed_out = self.notifications.signed_out
        # Shares (issue 5): shared files are readable through the files API.
        self.shares = Shares(db, self.downloads, self.outbox.wake, self.sync.notifier.changed)
        self.downloads.shared_owner = self.shares.owner_for
        self.downloads.shared_place = self.shares.place
        self.uploads.shared_place = self.shares.place
        self.accounts.removing = self.shares.owner_removing
        self.accounts.created = self.shares.account_created
        self.backups = Backups(db, settings)
        self.status = Status(db, settings, self.backups)
        # Long-running loops (gc, push delivery, ...) started by the server, not the CLI.
        self._jobs: list[tuple[str, BackgroundJob]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.add_background_job("uploads-gc", self.gc.run_forever)
        self.add_background_job("push", self.outbox.run_forever)
        self.add_background_job("sync-retention", self.sync.retention.run_forever)
        self.add_background_job("sync-wake", self.sync.watcher.run_forever)

    @classmethod
    async def open(cls, settings: Settings) -> Services:
        data = settings.data_path
        _make_private_dir(data)
        if unfinished := unfinished_restore(data):
            # Starting here would create an empty database beside half-restored chunks
            # (or serve what --force has not moved aside yet).
            raise RuntimeError(unfinished)
        if not settings.db_path.exists() and holds_chunks(data):
            # The database was moved aside, lost or not restored: a new, empty one would
            # leave every stored file unreachable, and gc delete them all once it knew
            # any chunk of its own (the first new upload).
            raise RuntimeError(
                f"{data} holds stored files (chunks/) but no database"
                f" ({settings.db_path.name}): put it back if it was moved, or restore it"
                " from a backup (`homesync backup restore`); nothing was changed")
        secret = load_or_create_secret(data)
        db = await Database.open(settings.db_path)
        try:
            services = cls(settings, db, secret)
        except BaseException:  # a bad push key file, say: don't leave the database open
            await db.close()
            raise
        try:
            await services.signing_keys.load()
        except BaseException:
            await services.close()
            raise
        return services

    def add_background_job(self, name: str, job: BackgroundJob) -> None:
        """Register a loop to run while the server runs (``job`` loops until cancelled)."""
        self._jobs.append((name, job))

    async def start_background(self) -> None:
        for name, job in self._jobs:
            self._tasks.append(asyncio.create_task(job(), name=f"homesync:{name}"))

    async def close(self) -> None:
        """Stop the background jobs and close everything, the database last.

        A caller cancelled meanwhile (a stop's deadline, a second Ctrl-C) still gets it all
        closed, each job ending as it ends itself; then it sees its cancellation, which a
        job's own CancelledError would otherwise have hidden.
        """
        await run_to_the_end(self._close())

    async def _close(self) -> None:
        for task in self._tasks:
            task.cancel()
        # Their ends (cancelled, or a failure they had) are theirs: nothing to report.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        # Each step even when one before failed (handing back push leases needs a write,
        # which a full disk refuses): the database is closed whatever happens.
        for name, step in (("upload hashing", self.uploads.digests.aclose),
                           ("push outbox", self.outbox.aclose), ("push", self.push.aclose),
                           ("database", self.db.close)):
            try:
                await step()
            except Exception as exc:
                log.error("closing the %s failed: %s", name, exc)
