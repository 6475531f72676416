"""The SQLite database: one writer connection, a few readers, WAL and full durability.

Every mutation goes through :meth:`Database.transaction`, which holds the one writer
(an asyncio lock plus ``BEGIN IMMEDIATE``), so writers never meet ``SQLITE_BUSY`` inside
the process; transactions queued behind each other share one commit (group commit).
Reads use separate connections and see the last committed state (WAL): threaded readers
for scans, :attr:`Database.inline` for the hot lookups of a few rows (where each kind of
statement runs, and why, is in :mod:`homesync.store.connections`).

``synchronous=FULL``: once a commit returns, the data survives a power cut; NORMAL
"might roll back following a power loss", which is not acceptable once a client was told
its upload is stored.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homesync import clock
from homesync.store.connections import (
    Conn,
    InlineReader,
    Reads,
    Row,
    WriterConnection,
    close_quietly,
    connect,
    note_change,
    on_its_thread,
)
from homesync.store.migrate import apply_migrations

__all__ = ["Conn", "Database", "InlineReader", "Reads", "Row", "execute", "fetchall", "fetchone",
           "note_change", "on_its_thread"]

log = logging.getLogger("homesync.store")

# Blocks sharing one commit at most: the first of them waits for all the others.
_MAX_BATCH = 64


@dataclass(eq=False)
class _Batch:
    """One open transaction shared by the blocks of a group commit."""

    committed: asyncio.Future[None]
    began_ms: int  # every row it writes is written after this (see Database.writing_since)
    members: int = 0  # blocks whose changes it holds


class Database:
    """An open homesync database. Use ``await Database.open(path)`` and ``await db.close()``."""

    def __init__(self, path: Path, writer: WriterConnection, readers: list[Conn]) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._next_reader = itertools.cycle(readers)
        self._write_lock = asyncio.Lock()
        self._waiting = 0  # transactions queued for the write lock
        self._lock_timeouts = 0  # BEGINs that waited the busy timeout for another process
        self._batch: _Batch | None = None  # the open transaction, shared by a group commit
        self._abandoned_begin: asyncio.Future[Any] | None = None  # see _begin
        self._settling: asyncio.Future[None] | None = None  # the last COMMIT (see _commit)
        self._savepoints = itertools.count()
        self._late_commits: set[asyncio.Future[None]] = set()  # see transaction
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        # Lookups on the loop's thread (see InlineReader); falls back to the readers.
        self.inline = InlineReader.open(path, lambda: self.reader)

    @classmethod
    async def open(cls, path: Path, *, readers: int = 2) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await connect(path)
        assert isinstance(writer, WriterConnection)
        reader_conns: list[Conn] = []
        try:
            await _check_durability(writer)
            await apply_migrations(writer)
            for _ in range(readers):
                reader_conns.append(await connect(path, readonly=True))
            return cls(path, writer, reader_conns)
        except BaseException:  # a full disk, say: close what opened, or the process hangs
            for conn in (*reader_conns, writer):
                await close_quietly(conn)
            raise

    async def close(self) -> None:
        async with self._write_lock:
            await self._finish_batch()
            self.inline.close()
            for conn in (*self._readers, self._writer):
                await conn.close()

    # -- writes ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """The writer connection inside a transaction; commits on success, else rolls back.

        When the block ends without an error, its changes are committed and on disk
        (``synchronous=FULL``). Transactions that queue up behind each other share one
        commit (group commit): each block runs alone in a savepoint of the open
        transaction, and the last one in line commits for all, so a burst of small writes
        pays one fsync instead of one each. A block that fails rolls back to its own
        savepoint and leaves the others' changes alone; if the commit fails, every block
        of the batch sees the error, none is told it is stored.
        """
        timeouts_seen = self._lock_timeouts
        self._waiting += 1
        try:
            await self._write_lock.acquire()
        finally:
            self._waiting -= 1
        try:
            batch = self._batch or await self._begin(
                wait=timeouts_seen == self._lock_timeouts)
            # Only a block joining others' changes needs a savepoint to fail alone.
            savepoint = f"tx{next(self._savepoints)}" if batch.members else None
            if savepoint:
                await self._writer.execute_inline(f"SAVEPOINT {savepoint}")
            self._writer.inline = True
            try:
                yield self._writer
            except BaseException as exc:
                self._writer.inline = False
                await self._undo(batch, savepoint, exc)
                raise
            finally:
                self._writer.inline = False
            if savepoint:
                await self._writer.execute_inline(f"RELEASE {savepoint}")
            batch.members += 1
            if not self._waiting or batch.members >= _MAX_BATCH:
                await self._commit(batch)
        finally:
            self._write_lock.release()
        if not batch.committed.done():
            # Those queued behind us join the batch; then we commit it, unless one of them did.
            try:
                await self._commit_when_free(batch)
            except asyncio.CancelledError:
                if self._batch is batch:
                    # Cancelled waiting for our turn: if the last of them fails, nobody would
                    # commit, and the batch would stay open (our changes unseen, SQLite's
                    # write lock held) until the next write. A task takes our turn.
                    task = asyncio.ensure_future(self._commit_when_free(batch))
                    self._late_commits.add(task)
                    task.add_done_callback(self._late_commits.discard)
                raise
        await batch.committed

    async def bookkeeping(self, write: Callable[[Conn], Awaitable[object]]) -> bool:
        """Run ``write`` in a transaction, for what a read notes on the side (when a device
        last synced). If the database cannot take it — a full disk, storage gone
        read-only — it is logged and skipped (``False``), nothing of it stored, and the
        read still answers."""
        try:
            async with self.transaction() as tx:
                await write(tx)
        except (sqlite3.OperationalError, OSError) as exc:
            log.warning("skipped a bookkeeping write: %s", exc)
            return False
        return True

    @property
    def writing_since(self) -> int | None:
        """When the open write transaction began (clock ms), None without one. What it
        writes is not visible to readers until it commits: a reader that must name a time
        before which it has seen everything takes this one when it is earlier than now
        (``GET /sync/status``'s lastSyncAt; journal entries are stamped when written)."""
        return self._batch.began_ms if self._batch is not None else None

    async def _begin(self, *, wait: bool) -> _Batch:
        """BEGIN the batch. Another process holding SQLite's write lock (a long CLI
        command) is waited for, off the loop, up to the busy timeout; then SQLITE_BUSY
        (the API's 503). Not by a block that queued while an earlier one waited that
        timeout in vain (``wait`` False): it tries once, so a queue of N writes gives up
        together after one timeout, not the N-th after N of them."""
        await self._end_abandoned_begin()
        if self._settling is not None and not self._settling.done():
            # Its committer was cancelled and let us in: on a failed COMMIT, _settle's
            # ROLLBACK would end our transaction instead of its own.
            await asyncio.wait([self._settling])
        began_ms = clock.now_ms()
        if not await self._writer.begin_at_once():
            begin = asyncio.ensure_future(self._writer.execute("BEGIN IMMEDIATE") if wait
                                          else self._writer.begin_without_waiting())
            try:
                await asyncio.shield(begin)
            except asyncio.CancelledError:
                # The BEGIN goes on on the connection's thread, waiting out the other
                # process's lock. Once it gets it, nobody owns that transaction: the next
                # BEGIN would fail "within a transaction" and SQLite's write lock would stay
                # held. The next writer ends it first.
                self._abandoned_begin = begin
                begin.add_done_callback(_mark_retrieved)
                raise
            except sqlite3.OperationalError as exc:
                if wait and exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY,
                                                            sqlite3.SQLITE_LOCKED):
                    self._lock_timeouts += 1
                raise
        committed = asyncio.get_running_loop().create_future()
        # A failed commit whose members were all cancelled has nobody to read it: not an
        # error to log ("never retrieved"); those that wait still get it.
        committed.add_done_callback(_mark_retrieved)
        self._batch = _Batch(committed, began_ms)
        return self._batch

    async def _end_abandoned_begin(self) -> None:
        """Roll back the transaction a cancelled writer's BEGIN opened after it left, if it
        did (the write lock is held). Waits for that BEGIN: at most the busy timeout."""
        begin = self._abandoned_begin
        if begin is None:
            return
        await asyncio.wait([begin])  # if cancelled here, the next writer does this
        self._abandoned_begin = None
        if not begin.cancelled() and begin.exception() is None and self._writer.in_transaction:
            await self._writer.execute("ROLLBACK")

    async def _commit(self, batch: _Batch) -> None:
        """COMMIT ``batch`` (the write lock is held); its members learn the outcome by
        awaiting ``batch.committed``, even when the one committing is cancelled."""
        self._batch = None
        self._settling = asyncio.ensure_future(self._settle(batch))
        await asyncio.shield(self._settling)

    async def _commit_when_free(self, batch: _Batch) -> None:
        """Commit ``batch`` once the write lock is ours, unless someone did meanwhile."""
        async with self._write_lock:
            if self._batch is batch:
                await self._commit(batch)

    async def _settle(self, batch: _Batch) -> None:
        changed, self._writer.changed = self._writer.changed, set()
        try:
            await self._writer.execute("COMMIT")
        except Exception as exc:
            if self._writer.in_transaction:
                await self._writer.execute("ROLLBACK")
            batch.committed.set_exception(exc)
            return
        batch.committed.set_result(None)
        for topic in changed:
            for listener in self._listeners.get(topic, ()):
                listener()

    def when_committed(self, topic: str, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each commit of a transaction that noted a change of
        ``topic`` (:func:`note_change`): the push worker wakes for new notifications at
        once instead of at its next poll. Listeners must be quick and must not raise."""
        self._listeners.setdefault(topic, []).append(listener)

    async def _undo(self, batch: _Batch, savepoint: str | None, exc: BaseException) -> None:
        """Roll a failed block back (the write lock is held)."""
        if not self._writer.in_transaction:
            # SQLite rolled the whole transaction back itself (a full disk, an I/O error):
            # the batch's earlier blocks are lost with it, and must not be told otherwise.
            self._batch = None
            self._writer.changed.clear()
            if batch.members:
                batch.committed.set_exception(
                    exc if isinstance(exc, Exception) else RuntimeError("rolled back"))
            else:
                batch.committed.set_result(None)
            return
        if savepoint is None:  # nobody else's changes in it: end it here
            self._batch = None
            self._writer.changed.clear()
            await self._writer.execute("ROLLBACK")
            batch.committed.set_result(None)
            return
        await self._writer.execute(f"ROLLBACK TO {savepoint}")
        await self._writer.execute(f"RELEASE {savepoint}")

    async def _finish_batch(self) -> None:
        """Commit a batch left open by cancelled members (the write lock is held)."""
        if self._batch is not None:
            await self._commit(self._batch)

    async def in_batches(self, step: Callable[[Conn], Awaitable[int]]) -> int:
        """Run ``step`` (which deletes or changes a bounded batch of rows and returns how
        many) in a transaction of its own until a batch changes nothing; the total. A big
        purge thus never holds the writer for long."""
        total = 0
        while True:
            async with self.transaction() as tx:
                done = await step(tx)
            total += done
            if done == 0:
                return total

    # -- reads ----------------------------------------------------------------------

    @property
    def reader(self) -> Conn:
        """A read-only connection (round-robin); it sees the last committed state."""
        return next(self._next_reader)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        # One trip to the reader's thread (execute + fetch + close would be three).
        return await fetchone(self.reader, sql, params)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return await fetchall(self.reader, sql, params)

    async def ping(self) -> None:
        """Raise if the database cannot answer a query (readiness checks)."""
        await self.fetchone("SELECT 1")

    async def checkpoint(self) -> None:
        """Fold the WAL back into the database file so it does not grow without bound."""
        async with self._write_lock:
            await self._finish_batch()
            await self._end_abandoned_begin()
            # Its answer is read: an unread row left the statement active, and the next
            # SAVEPOINT refused to open ("SQL statements in progress").
            await self._writer.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    """Its error is expected and handled where it matters (by the next writer, or by the
    blocks awaiting it): asyncio must not log it as never retrieved."""
    if not future.cancelled():
        future.exception()


async def _check_durability(conn: Conn) -> None:
    """Refuse to run on a database that silently ignored our durability settings."""
    checks = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}
    for pragma, expected in checks.items():
        async with conn.execute(f"PRAGMA {pragma}") as cur:
            row = await cur.fetchone()
        if row is None or row[0] != expected:
            raise RuntimeError(f"SQLite PRAGMA {pragma} is {row and row[0]!r}, need {expected!r}")


# Each call below is one trip to the connection's thread (aiosqlite): opening a cursor,
# fetching and closing it would be three, and on hot paths (a chunk PUT runs several
# statements) the trips cost more than the SQL.


async def fetchone(conn: Reads, sql: str, params: Iterable[Any] = ()) -> Row | None:
    """One row from ``conn`` (writer or reader); for queries of at most a few rows."""
    rows = await conn.execute_fetchall(sql, tuple(params))
    return next(iter(rows), None)


async def fetchall(conn: Reads, sql: str, params: Iterable[Any] = ()) -> list[Row]:
    return list(await conn.execute_fetchall(sql, tuple(params)))


async def execute(conn: Conn, sql: str, params: Iterable[Any] = ()) -> int:
    """Run one statement; the number of rows it changed."""
    # The finished cursor is released when dropped; closing it would cost another trip.
    cur = await conn.execute(sql, tuple(params))
    return cur.rowcount
