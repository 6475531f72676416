"""The connections under :class:`homesync.store.db.Database`, and where their statements run.

aiosqlite gives each connection a thread of its own; a statement is a trip there and
back, about 100 µs, and far more when the loop is busy and the thread waits for the GIL,
while an indexed lookup in SQLite itself costs a few µs (bench/api.py). So:

- the threaded readers (aiosqlite) serve scans and anything whose size grows with a
  user's data: they never hold up the loop;
- :class:`InlineReader` serves the hot lookups of a few rows on the loop's own thread;
- :class:`WriterConnection` runs the statements of an open transaction, and ``BEGIN``
  when SQLite's write lock is free, on the loop's thread; ``COMMIT`` (which waits for
  fsync) and a ``BEGIN`` that must wait for another process's lock run on its own.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import aiosqlite

from homesync.paths import name_key

__all__ = ["Conn", "InlineReader", "Reads", "Row", "WriterConnection", "close_quietly", "connect",
           "note_change", "on_its_thread"]

Conn = aiosqlite.Connection
Row = sqlite3.Row

_ITER_CHUNK = 64  # aiosqlite's default rows per trip when iterating a cursor
BUSY_TIMEOUT_MS = 5000  # how long a statement waits for another process's lock
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}",
    "PRAGMA temp_store=MEMORY",
)


def _open(path: Path) -> Callable[[], sqlite3.Connection]:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, sqlite3 must not add its own.
    return lambda: _with_functions(
        sqlite3.connect(str(path), isolation_level=None, check_same_thread=False))


def _with_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    """``conn`` with the SQL functions queries use: ``path_key(folder)``, a folder path
    compared the way names collide (a device's syncFolders: ``store.changes``)."""
    conn.create_function("path_key", 1, name_key, deterministic=True)
    return conn


async def connect(path: Path, *, readonly: bool = False) -> Conn:
    """A threaded reader (``readonly``) or the one :class:`WriterConnection`."""
    conn = await (aiosqlite.Connection(_open(path), _ITER_CHUNK) if readonly
                  else WriterConnection(_open(path), _ITER_CHUNK))
    try:
        conn.row_factory = sqlite3.Row
        for pragma in _PRAGMAS:  # WAL needs the -shm file: a full disk fails here
            await conn.execute(pragma)
        if readonly:
            await conn.execute("PRAGMA query_only=ON")
    except BaseException:
        await close_quietly(conn)
        raise
    return conn


async def close_quietly(conn: aiosqlite.Connection) -> None:
    """Close a connection that failed to open: its thread would keep the process alive
    (a server that cannot start would hang instead of exiting)."""
    with contextlib.suppress(Exception):
        await conn.close()


class WriterConnection(aiosqlite.Connection):
    """aiosqlite's connection, except that inside a transaction (``inline`` set by
    :meth:`Database.transaction`) statements run on the loop's thread.

    Between ``BEGIN IMMEDIATE`` and ``COMMIT`` this process holds SQLite's write lock: a
    statement never waits for another connection, it only works on pages, mostly in
    memory, so the trip to the thread would cost more than the statement. ``BEGIN`` runs
    here too when the lock is free (:meth:`begin_at_once`); ``COMMIT`` (which waits for
    fsync) still runs on the connection's thread. Bulk statements (a big trash purge, say)
    hold up the loop while they run, as they would hold up every other writer anyway.

    aiosqlite funnels every call through ``_execute`` (tests/test_group_commit.py checks
    that statements in a transaction do run inline, should that ever change).
    """

    inline = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # What the open transaction changed, for commit listeners (see note_change).
        self.changed: set[str] = set()
        # Calls handed to the connection's thread, and those it has finished: each counter
        # is written by one thread only. A call whose caller was cancelled still runs.
        self._sent = 0
        self._finished = 0

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        # While the thread still has work (a statement sent there by on_its_thread whose
        # caller was cancelled), this one queues behind it: order is kept.
        if self.inline and self._finished == self._sent:
            return fn(*args, **kwargs)

        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished += 1

        self._sent += 1
        return await super()._execute(run)  # type: ignore[no-untyped-call]

    async def execute_inline(self, sql: str) -> None:
        """Run ``sql`` on the loop's thread: for statements inside the open transaction
        that neither wait for a lock nor touch the disk (``SAVEPOINT``, ``RELEASE``).

        While the connection's thread still has work (a ``ROLLBACK TO`` whose caller was
        cancelled, say), ``sql`` queues behind it there instead: order is kept.
        """
        if self._finished != self._sent:
            await self.execute(sql)
            return
        was, self.inline = self.inline, True
        try:
            await self.execute(sql)
        finally:
            self.inline = was

    async def begin_at_once(self) -> bool:
        """``BEGIN IMMEDIATE`` on the loop's thread if SQLite's write lock is free now.

        Taking a free lock only touches the WAL index in shared memory, a few µs, where a
        trip to the connection's thread costs ~140 µs of CPU (2-core VM), on every write
        transaction. With busy_timeout 0 a lock held by another process (the CLI, a
        backup) answers SQLITE_BUSY at once instead of blocking the loop: then this
        returns False and the caller waits for the lock on the thread, as before.

        Also False while the thread still has work of this connection (a COMMIT whose
        caller was cancelled, say): statements must run in the order they were sent.
        """
        if self._finished != self._sent:
            return False
        await self.execute_inline("PRAGMA busy_timeout=0")
        try:
            await self.execute_inline("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return False
            raise
        finally:
            await self.execute_inline(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return True

    async def begin_without_waiting(self) -> None:
        """``BEGIN IMMEDIATE`` on the connection's thread (in order behind its other work)
        that does not wait for another process's lock: SQLITE_BUSY at once while it is
        held. One trip: the busy timeout is set back there whatever happens."""
        def begin(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA busy_timeout=0")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

        await self._execute(begin, self._conn)


class InlineReader:
    """A read-only connection queried on the event loop's own thread.

    For indexed lookups of a few rows on hot paths (the access check every authenticated
    request makes, say): such a query costs a few microseconds in SQLite, while a trip to
    an aiosqlite thread and back costs 100 µs or more, and far more when the loop is busy
    and the thread waits for the GIL (bench/api.py). Scans and anything whose size grows
    with the user's data use the threaded readers, which do not hold up the loop.

    A WAL reader almost never waits for a lock; when it would (the WAL being reset), the
    query goes to a threaded reader instead of blocking the loop.
    """

    def __init__(self, conn: sqlite3.Connection, fallback: Callable[[], Conn]) -> None:
        self._conn = conn
        self._fallback = fallback

    @classmethod
    def open(cls, path: Path, fallback: Callable[[], Conn]) -> InlineReader:
        # Not tied to the opening thread: tests serve the app from another thread's loop.
        # SQLite's serialized mode (sqlite3.threadsafety == 3) makes that safe.
        conn = _with_functions(
            sqlite3.connect(str(path), isolation_level=None, check_same_thread=False))
        conn.row_factory = sqlite3.Row
        for pragma in (*_PRAGMAS, "PRAGMA query_only=ON", "PRAGMA busy_timeout=0"):
            conn.execute(pragma)
        return cls(conn, fallback)

    async def execute_fetchall(self, sql: str, parameters: Iterable[Any] = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, tuple(parameters)).fetchall()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
        return list(await self._fallback().execute_fetchall(sql, tuple(parameters)))

    def close(self) -> None:
        self._conn.close()


@contextlib.contextmanager
def on_its_thread(conn: Conn, wanted: bool = True) -> Iterator[None]:
    """Run the statements of the block on the writer's own thread, not the loop's (unless
    not ``wanted``: a single file's change is cheaper inline than the trips there).

    For the few statements of an open transaction that work through a whole subtree (a
    folder of 20 000 photos trashed, moved, restored or purged): SQLite releases the GIL
    while it steps, so the loop goes on serving other requests meanwhile. The transaction
    is the same; only other writers wait, as they would anyway.
    """
    if not wanted or not isinstance(conn, WriterConnection) or not conn.inline:
        yield
        return
    conn.inline = False
    try:
        yield
    finally:
        conn.inline = True


def note_change(conn: Conn, topic: str) -> None:
    """Record that the open transaction on ``conn`` changed ``topic`` (a table, say): once
    it commits, :meth:`Database.when_committed` listeners for ``topic`` are called."""
    if isinstance(conn, WriterConnection):
        conn.changed.add(topic)


# What read-only store functions accept: a threaded connection (writer or reader), or the
# inline reader for the few lookups that run on the loop.
Reads = Conn | InlineReader
