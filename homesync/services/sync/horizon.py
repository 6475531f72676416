"""Compacting sync history past ``sync.history_retention`` (the sync horizon).

Run by the retention sweep (:class:`.jobs.Retention`) and by ``homesync gc``. Per
user, oldest first: the horizon is raised (``users.sync_horizon_*``, committed first), then
what lies at or below it goes in batches of short write transactions — purged files'
tombstones, journal entries but the user's latest, share-feed entries nothing needs (the
rules are in :mod:`homesync.store.horizon`).

What a position below the horizon gets:

- ``GET /sync/status`` answers a full listing with ``reset: true`` (:mod:`.changes`),
  as for a token from before a backup restore: its deletions may be gone.
- A change it makes (``POST /sync/files``, the queue, ``upload/init``) is judged
  conservatively: a file changed since the position is a conflict, because which device
  changed it, and whether its content changed at all, may no longer be known
  (``store.since_token.content_changed_since``). A conflict keeps both sides; an overwrite
  would lose one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from homesync.store import horizon
from homesync.store.db import Database

__all__ = ["CompactionReport", "HistoryCompactor"]

# Rows per write transaction: a few milliseconds of the single writer each.
BATCH = 2000


class CompactionReport(msgspec.Struct, kw_only=True):
    kept: bool = False  # the retention was 0: history is kept for good, nothing was looked at
    journal: int = 0  # journal entries deleted
    tombstones: int = 0  # purged files forgotten
    feed: int = 0  # share-feed entries deleted


class HistoryCompactor:
    def __init__(self, db: Database, retention_ms: int, batch: int = BATCH) -> None:
        self._db = db
        self._retention_ms = retention_ms  # 0: history is kept for good
        self._batch = batch

    async def compact(self, now: int, *, older_than_ms: int | None = None) -> CompactionReport:
        """Compact every user's history older than the retention as of ``now``.

        ``older_than_ms`` overrides the retention (``homesync gc --history-retention``).
        0 keeps history for good, there as in the setting ("0d"): an operator copying the
        setting to the flag must not wipe the history. Compacting nearly all of it is
        ``1s`` (everything older than a second).
        """
        if not self._keep_ms(older_than_ms):
            return CompactionReport(kept=True)
        totals = CompactionReport()
        async for running in self.batches(now, older_than_ms=older_than_ms):
            totals = running
        return totals

    def _keep_ms(self, older_than_ms: int | None) -> int:
        return self._retention_ms if older_than_ms is None else older_than_ms

    async def batches(self, now: int, *,
                      older_than_ms: int | None = None) -> AsyncIterator[CompactionReport]:
        """:meth:`compact`, one committed write transaction at a time: yields the running
        totals after each, with the writer free until the next step is asked for."""
        report = CompactionReport()
        keep = self._keep_ms(older_than_ms)
        if not keep:
            return
        cutoff = now - keep
        reader = self._db.reader
        feed_seq = await horizon.global_cut(reader, cutoff)
        for user_id in await horizon.user_ids(reader):
            cut, head = await horizon.journal_cut(reader, user_id, cutoff)
            pos_cut, pos_head = await horizon.feed_cut(reader, user_id, feed_seq)
            async with self._db.transaction() as tx:
                await horizon.raise_horizon(tx, user_id, seq=cut, at=cutoff, pos=pos_cut)
            mark = await horizon.horizon(reader, user_id)
            if mark is None:  # the account was just deleted (and its history with it)
                continue
            upto, pos_upto = int(mark["horizon_seq"]), int(mark["shared_horizon"])
            yield report
            # Tombstones before journal entries: a tombstone is found by its seq, and both
            # are at or below the horizon already committed.
            while ids := await horizon.old_tombstones(reader, user_id, purged_before=cutoff,
                                                      upto=upto, limit=self._batch):
                async with self._db.transaction() as tx:
                    report.tombstones += await horizon.delete_tombstones(
                        tx, user_id, ids, purged_before=cutoff, upto=upto)
                yield report
                if len(ids) < self._batch:
                    break
            while seqs := await horizon.old_journal(reader, user_id, upto=upto, head=head,
                                                    limit=self._batch):
                async with self._db.transaction() as tx:
                    report.journal += await horizon.delete_journal(tx, user_id, seqs,
                                                                   head=head)
                yield report
                if len(seqs) < self._batch:
                    break
            after = 0
            while positions := await horizon.old_feed(reader, user_id, after=after,
                                                      upto=pos_upto, head=pos_head,
                                                      limit=self._batch):
                async with self._db.transaction() as tx:
                    report.feed += await horizon.delete_feed(tx, user_id, positions,
                                                             head=pos_head)
                yield report
                if len(positions) < self._batch:
                    break
                after = positions[-1]
