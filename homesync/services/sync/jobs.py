"""The sync area's background loops: the journal watcher and retention.

:class:`JournalWatcher` is the safety net under the long poll. Writers in this process
wake polls directly (:meth:`ChangeNotifier.changed`); anything that did not — another
process such as the CLI, or a code path that forgot — is still noticed within
``sync.wake_check_interval``: while polls are parked, the watcher looks for journal
entries past the last position it saw and wakes their users, and for share-feed entries
past the last one it saw and wakes their recipients. It also ends the polls of
sign-ins that have ended (a device removed, signed out, a password changed) and of access
tokens whose signing key was retired (``homesync keys retire``): at once when this
process did it (a commit listener nudges it, :meth:`JournalWatcher.nudge`), within the
interval when another process did.

:class:`Retention` purges, every ``sync.retention_interval``: trash groups past
``trash_retention``, replaced versions past ``keep_versions``/``version_retention``,
finished queue operations and resolved conflicts past ``queue_retention`` (the ids of
the pruned operations stay known for ``history_retention``), and then sync
history past ``history_retention`` (:mod:`.horizon`; after the trash, so files it
purged this round are counted from their purge), and the refresh tokens of sign-ins
that ended a while ago (:attr:`Retention.prune_sign_ins`, set by the auth area). Its
first round applies the queue operations a crash interrupted, and each round after it
until that works (the database busy at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import msgspec

from homesync import clock
from homesync.config import SyncSettings, parse_duration
from homesync.services.background_rounds import RoundLog
from homesync.services.files.trash import Trash
from homesync.services.files.versions import Versions
from homesync.services.sync.conflicts import Conflicts
from homesync.services.sync.horizon import CompactionReport, HistoryCompactor
from homesync.services.sync.notifier import ChangeNotifier
from homesync.services.sync.queue import OfflineQueue
from homesync.store import changes, signing_keys, tokens
from homesync.store.busy import is_database_busy
from homesync.store.db import Database

__all__ = ["JournalWatcher", "Retention", "RetentionReport"]

log = logging.getLogger("homesync.sync")


class JournalWatcher:
    def __init__(self, db: Database, notifier: ChangeNotifier, interval_s: float) -> None:
        self._db = db
        self._notifier = notifier
        self._interval = interval_s
        self._seen: int | None = None
        self._fed: int | None = None  # the share feed's end, as _seen is the journal's
        self._nudged = asyncio.Event()

    def nudge(self) -> None:
        """Check now rather than at the next interval (a commit listener: sign-ins ended)."""
        self._nudged.set()

    async def check(self) -> None:
        """One look: end the parked polls of ended sign-ins and retired keys, then wake
        the parked polls of users with new journal entries."""
        # Sign-ins first: a poll woken by a change as well would look again and park.
        await self._end_signed_out()
        if self._seen is None or self._fed is None or not self._notifier.parked():
            # Nobody waits: just keep the positions current (an indexed max() each).
            seen = await changes.journal_end(self._db.reader)
            fed = await changes.feed_end(self._db.reader)
            # Unless a poll came while they were read: it may have read the head before a
            # change that these ends already count (another process's commit in between),
            # and parked. Moving past that change would leave it parked its whole wait;
            # the look below, from the positions before, wakes it.
            if self._seen is None or self._fed is None or not self._notifier.parked():
                self._seen, self._fed = seen, fed
                return
        for row in await changes.users_changed_after(self._db.reader, self._seen):
            self._seen = max(self._seen, int(row["seq"]))
            self._notifier.changed(row["user_id"])
        # What others share may change with no journal entry (``homesync user remove`` of
        # an owner ends their shares in the feed only): the feed wakes its recipients too.
        for row in await changes.recipients_fed_after(self._db.reader, self._fed):
            self._fed = max(self._fed, int(row["pos"]))
            self._notifier.changed(row["recipient_id"])

    async def _end_signed_out(self) -> None:
        parked = self._notifier.parked_sign_ins()
        if not parked:
            return
        live = await tokens.live_sign_ins(self._db.reader, parked)
        for sign_in in parked:
            if sign_in not in live:
                self._notifier.signed_out(sign_in)
        kids = self._notifier.parked_kids()
        live_kids = await signing_keys.live_kids(self._db.reader, kids)
        for kid in kids:
            if kid not in live_kids:
                self._notifier.key_retired(kid)

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # a bad moment of the database must not end the loop
                log.exception("journal watcher check failed")
            # Until the interval passes or a nudge comes (one during the check counts).
            # Not asyncio.wait_for: Python 3.11's returns a nudge that comes with a
            # cancellation and drops the cancellation, and a server's stop waited for ever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._nudged.wait()
            self._nudged.clear()


class RetentionReport(msgspec.Struct, frozen=True, kw_only=True):
    trash_bytes: int
    version_bytes: int
    queue_ops: int
    queue_ids: int  # ids of pruned operations forgotten for good
    conflicts: int
    history: CompactionReport
    refresh_tokens: int  # of ended sign-ins


async def _no_sign_ins(now: int) -> int:
    return 0


class Retention:
    def __init__(self, settings: SyncSettings, trash: Trash, versions: Versions,
                 queue: OfflineQueue, conflicts: Conflicts, history: HistoryCompactor) -> None:
        self._settings = settings
        self._trash = trash
        self._versions = versions
        self._queue = queue
        self._conflicts = conflicts
        self._history = history
        # Set by the services: prunes ended sign-ins' refresh tokens as of ``now``; how many.
        self.prune_sign_ins: Callable[[int], Awaitable[int]] = _no_sign_ins
        self._rounds = RoundLog(log, "sync retention", "retention sweep failed")
        self._recovered = False  # see _recover_once

    async def run_once(self, now: int | None = None) -> RetentionReport:
        """Purge everything past retention as of ``now``."""
        now = clock.now_ms() if now is None else now
        finished_before = now - self._settings.queue_retention_ms
        return RetentionReport(
            trash_bytes=await self._trash.purge_expired(now),
            version_bytes=await self._versions.prune_expired(now),
            queue_ops=await self._queue.prune(finished_before),
            # Past the sync horizon a retry is judged as if nothing was known: see README.
            queue_ids=await self._queue.forget_ids(now - self._settings.history_retention_ms)
            if self._settings.history_retention_ms else 0,
            conflicts=await self._conflicts.prune_resolved(finished_before),
            history=await self._history.compact(now),
            refresh_tokens=await self.prune_sign_ins(now),
        )

    async def run_forever(self) -> None:
        interval = parse_duration(self._settings.retention_interval)
        while True:
            await self.sweep()
            await asyncio.sleep(interval)

    async def sweep(self) -> None:
        """One round as :meth:`run_forever` runs it: what it freed is logged, and so is a
        failure (once while the database stays busy: :class:`RoundLog`)."""
        with self._rounds:
            await self._recover_once()
            report = await self.run_once()
            if report.trash_bytes or report.version_bytes:
                log.info("retention freed %d bytes of trash and %d of old versions",
                         report.trash_bytes, report.version_bytes)
            history = report.history
            if history.journal or history.tombstones or history.feed:
                log.info("sync history compacted: %d journal entries, %d purged files,"
                         " %d share-feed entries", history.journal, history.tombstones,
                         history.feed)
            if report.refresh_tokens:
                log.info("pruned %d refresh tokens of ended sign-ins", report.refresh_tokens)

    async def _recover_once(self) -> None:
        """Apply the queue operations a crash interrupted, before the first sweep; until
        that works (a CLI command holding the database at start), again each round."""
        if self._recovered:
            return
        try:
            await self._queue.recover()
        except Exception as exc:
            if is_database_busy(exc):
                raise  # the sweep would wait in vain too: one warning, tried next round
            self._rounds.failed(exc, "applying interrupted queue operations failed")
            return  # tried again next round; the sweep goes on meanwhile
        self._recovered = True
