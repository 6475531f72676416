"""``homesync status`` and the metrics gauges: what this server holds, in one report."""

from __future__ import annotations

import asyncio
import shutil

import msgspec

from homesync import __version__, clock
from homesync.config import Settings
from homesync.services.maintenance.backup import Backups, BackupSummary
from homesync.store.backup_lock import backup_running
from homesync.store.db import Database
from homesync.store.stats import store_stats
from homesync.store.tokens import SignInLifetimes

__all__ = ["Status", "StatusReport"]


class StatusReport(msgspec.Struct, kw_only=True, rename="camel"):
    """Counts and sizes of one data dir (also the ``--json`` output of ``homesync status``)."""

    version: str
    data_dir: str
    users: int
    devices: int
    files: int
    trashed_files: int
    versions: int
    logical_bytes: int       # sum of every stored version's size
    stored_bytes: int        # what the chunk pool takes on disk
    saved_bytes: int         # logical - stored: what deduplication saves
    dedup_ratio: float       # logical / stored (1.0 with nothing stored)
    chunks: int
    open_uploads: int
    pending_notifications: int   # the push outbox's depth
    retrying_pushes: int
    failed_pushes: int
    journal_seq: int
    database_bytes: int      # the SQLite file and its WAL
    disk_free_bytes: int
    disk_total_bytes: int
    backup_running: bool
    last_backup: BackupSummary | None


class Status:
    """Builds :class:`StatusReport`; built by :class:`~homesync.services.container.Services`."""

    def __init__(self, db: Database, settings: Settings, backups: Backups) -> None:
        self.db = db
        self.settings = settings
        self.backups = backups

    async def report(self) -> StatusReport:
        """Counts from the database, sizes from the disk, and the last backup."""
        auth = self.settings.auth  # how long sign-ins last, as the push worker reads it
        sign_ins = SignInLifetimes(idle_ms=auth.refresh_idle_s * 1000,
                                   absolute_ms=auth.refresh_absolute_s * 1000)
        stats = await store_stats(self.db.reader, clock.now_ms(), sign_ins)
        last = await self.backups.last()
        data = self.settings.data_path
        disk = await asyncio.to_thread(shutil.disk_usage, data)
        db_bytes = await asyncio.to_thread(self._database_bytes)
        running = await asyncio.to_thread(backup_running, data)
        stored = stats.stored_bytes
        return StatusReport(
            version=__version__, data_dir=str(data.absolute()), users=stats.users, devices=stats.devices,
            files=stats.files, trashed_files=stats.trashed_files, versions=stats.versions,
            logical_bytes=stats.logical_bytes, stored_bytes=stored,
            saved_bytes=max(0, stats.logical_bytes - stored),
            dedup_ratio=round(stats.logical_bytes / stored, 3) if stored else 1.0,
            chunks=stats.chunks, open_uploads=stats.open_uploads,
            pending_notifications=stats.pending_notifications,
            retrying_pushes=stats.retrying_pushes, failed_pushes=stats.failed_pushes,
            journal_seq=stats.journal_seq, database_bytes=db_bytes, disk_free_bytes=disk.free,
            disk_total_bytes=disk.total, backup_running=running, last_backup=last,
        )

    def _database_bytes(self) -> int:
        """The database file with its WAL and shared-memory files."""
        db = self.settings.db_path
        return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())
