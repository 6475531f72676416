"""Garbage collection: expire idle uploads, then free chunks nothing refers to.

A chunk is garbage when no version's manifest and no open upload refers to it *and* it
is older than ``uploads.gc_grace`` — both by its file's mtime, so a chunk being written
(or re-written by a new upload) right now is never collected, and by its row's
``created_at``, which a dropped version moves to the time of the drop
(``chunk_index.let_go_of_versions``), so a download of that version that was under way
keeps its chunks for the grace period after the drop. Rows
and bytes are deleted together inside one write transaction, so an upload can never
count a chunk whose bytes gc is deleting (see ``Uploads._record``). While a backup runs,
or another round (the server's, or ``homesync gc``) is deleting, nothing is deleted
(``store.backup_lock``).

Also removed: temp files of writers that died, and chunk files without a row (a crash
between the rename and the commit) once past the grace period.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from homesync import clock
from homesync.config import Settings, parse_duration
from homesync.services.background_rounds import RoundLog
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.services.notifications.names import shown
from homesync.services.uploads.events import upload_event
from homesync.store import chunk_index, uploads
from homesync.store.backup_lock import gc_lock
from homesync.store.chunks import ChunkStore, StoredChunk, is_chunk_hash
from homesync.store.db import Database

__all__ = ["Collector", "GcReport"]

log = logging.getLogger("homesync.gc")

_BATCH = 200
# Finished uploads (and their sessions) gc forgets per transaction.
_FORGET_BATCH = 1000
# Chunk rows gc reads (on a reader) per page when looking for unreferenced ones.
_SCAN_PAGE = 2000
# Finished upload rows are kept this long, so "complete twice" and GET /upload/{id}
# keep answering for an app that comes back days later.
_KEEP_FINISHED_MS = 30 * 86400 * 1000


class GcReport(msgspec.Struct, kw_only=True, rename="camel"):
    expired_uploads: int = 0
    forgotten_uploads: int = 0
    removed_temp: int = 0
    removed_chunks: int = 0
    freed_bytes: int = 0
    orphan_files: int = 0
    orphan_bytes: int = 0
    backup_running: bool = False  # chunks were left alone this round
    other_gc_running: bool = False  # so were they: another round was deleting them
    # Chunk files were there but the database knows no chunk at all (a new one, made where
    # the old one was lost): none was taken for unknown and deleted.
    unknown_kept: bool = False


class Collector:
    def __init__(self, db: Database, chunks: ChunkStore, settings: Settings) -> None:
        self._db = db
        self._chunks = chunks
        self._data_dir = settings.data_path
        self.grace_ms = parse_duration(settings.uploads.gc_grace) * 1000
        self.interval_s = parse_duration(settings.uploads.gc_interval)
        self._rounds = RoundLog(log, "uploads gc", "gc round failed")

    async def expire_uploads(self, now: int | None = None) -> int:
        """Mark open uploads idle past their expiry as expired and let their chunks go."""
        now = clock.now_ms() if now is None else now
        expired = 0
        while True:
            async with self._db.transaction() as tx:
                rows = await uploads.due_for_expiry(tx, now, _BATCH)
                for row in rows:
                    await uploads.mark_ended(tx, row["id"], "expired", now)
                    if row["status"] == "failed":
                        continue  # its device said it failed, and was told so: once is enough
                    await upload_event(tx, row, "upload_expired", "Upload expired",
                                       f"{shown(row['name'])} was not finished in time; it will start"
                                       " again from the beginning.", now)
            expired += len(rows)
            if len(rows) < _BATCH:
                return expired

    async def collect(self, *, grace_ms: int | None = None,
                      progress: Progress = NO_PROGRESS) -> GcReport:
        """One full round (``homesync gc`` and the background job).

        ``grace_ms`` overrides ``uploads.gc_grace`` (the CLI's ``--grace``).
        """
        now = clock.now_ms()
        cutoff = now - (self.grace_ms if grace_ms is None else grace_ms)
        report = GcReport()
        progress.phase("Expire uploads")
        report.expired_uploads = await self.expire_uploads(now)
        while True:  # a batch per transaction: a month of uploads may be many
            async with self._db.transaction() as tx:
                forgotten, sessions = await uploads.delete_finished_before(
                    tx, now - _KEEP_FINISHED_MS, limit=_FORGET_BATCH)
            report.forgotten_uploads += forgotten
            if forgotten < _FORGET_BATCH and sessions < _FORGET_BATCH:
                break
        progress.phase("Clean tmp/")
        report.removed_temp = await self._chunks.remove_stale_temp()
        with gc_lock(self._data_dir) as turn:
            if not turn:  # the caller says so (the report carries it)
                report.backup_running = turn.blocked_by == "backup"
                report.other_gc_running = turn.blocked_by == "gc"
                return report
            progress.phase("Free chunks")
            await self._unreferenced(cutoff, report, progress)
            progress.phase("Check chunk files")
            await self._orphans(cutoff, report, progress)
        return report

    async def _unreferenced(self, cutoff: int, report: GcReport, progress: Progress) -> None:
        # Looked for on a reader, a page at a time: in the write transaction the scan held
        # up every writer and, in the server, the event loop (seconds at a million chunks).
        after = ""
        while True:
            candidates, last = await chunk_index.unreferenced_in_page(
                self._db.reader, cutoff, after=after, limit=_SCAN_PAGE)
            if last is None:
                return
            for start in range(0, len(candidates), _BATCH):
                await self._drop_unreferenced(
                    [r["hash"] for r in candidates[start:start + _BATCH]], cutoff, report,
                    progress)
            after = last

    async def _drop_unreferenced(self, hashes: list[str], cutoff: int, report: GcReport,
                                 progress: Progress) -> None:
        async with self._db.transaction() as tx:
            # Checked again here: since the reader looked, an upload may have taken one,
            # or a dropped version restarted its grace (chunk_index.let_go_of_versions).
            for row in await chunk_index.still_unreferenced(tx, hashes, cutoff):
                chunk_hash = row["hash"]
                if not is_chunk_hash(chunk_hash):
                    pass  # a row edited in by hand: no chunk file has its name; forgotten
                elif await self._chunks.delete_if_older(chunk_hash, cutoff):
                    report.removed_chunks += 1
                    report.freed_bytes += row["size"]
                elif await self._still_there(chunk_hash):
                    continue  # re-written within the grace period: keep row and bytes
                await chunk_index.delete(tx, chunk_hash)
                progress.advance(nbytes=row["size"], items=1)

    async def _still_there(self, chunk_hash: str) -> bool:
        try:
            return await self._chunks.exists(chunk_hash)
        except PermissionError:  # in a directory we may not enter: cannot tell, so kept
            return True

    async def _orphans(self, cutoff: int, report: GcReport, progress: Progress) -> None:
        if not await chunk_index.any_known(self._db.reader):
            # A database that knows no chunk, beside chunk files, is not theirs: every one
            # would look unknown, and deleting them deleted every stored file.
            async for _ in self._chunks.list_chunks():
                report.unknown_kept = True
                break
            return
        batch: list[StoredChunk] = []
        async for chunk in self._chunks.list_chunks():
            progress.advance(items=1)
            if chunk.mtime_ms < cutoff:
                batch.append(chunk)
            if len(batch) >= _BATCH:
                await self._drop_orphans(batch, cutoff, report)
                batch = []
        if batch:
            await self._drop_orphans(batch, cutoff, report)

    async def _drop_orphans(self, batch: list[StoredChunk], cutoff: int,
                            report: GcReport) -> None:
        async with self._db.transaction() as tx:
            # A file a version uses is never an orphan, even when its row is gone.
            known = await chunk_index.known_or_used(tx, (c.hash for c in batch))
            for chunk in batch:
                if chunk.hash not in known and await self._chunks.delete_if_older(chunk.hash,
                                                                                  cutoff):
                    report.orphan_files += 1
                    report.orphan_bytes += chunk.size

    async def run_forever(self) -> None:
        """The server's background job: a round shortly after start, then every interval.

        An interval of 0 switches it off (``homesync gc`` by hand), as 0 switches off
        the trash and history retentions; it used to run rounds back to back.
        """
        if not self.interval_s:
            log.info("background gc is off (uploads.gc_interval is 0): run `homesync gc`")
            return
        delay = min(60.0, float(self.interval_s))
        while True:
            await asyncio.sleep(delay)
            delay = float(self.interval_s)
            await self.background_round()

    async def background_round(self) -> None:
        """One round as :meth:`run_forever` runs it: what it did is logged, and so is a
        failure (once while the database stays busy: :class:`RoundLog`); it never raises
        but for a cancellation, so the loop goes on and the next round retries."""
        with self._rounds:
            report = await self.collect()
            if report.unknown_kept:
                log.warning("gc: chunk files are there but the database knows no chunk:"
                            " none deleted (was the database replaced by a new one?)")
            if report.removed_chunks or report.orphan_files or report.expired_uploads:
                log.info("gc: %d uploads expired, %d chunks (%d bytes) freed, %d orphan files",
                         report.expired_uploads, report.removed_chunks, report.freed_bytes,
                         report.orphan_files)
