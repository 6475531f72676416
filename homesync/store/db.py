"""The SQLite database: one writer connection, a few readers, WAL and full durability.

Every mutation goes through :meth:`Database.transaction`, which holds the one writer
(an asyncio lock plus ``BEGIN IMMEDIATE``), so writers never meet ``SQLITE_BUSY`` inside
the process. Reads use separate connections and see the last committed state (WAL).

``synchronous=FULL``: once a commit returns, the data survives a power cut; NORMAL
"might roll back following a power loss", which is not acceptable once a client was told
its upload is stored.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from homesync.store.migrate import apply_migrations

__all__ = ["Conn", "Database", "InlineReader", "Reads", "Row", "execute", "fetchall", "fetchone"]

Conn = aiosqlite.Connection
Row = sqlite3.Row

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA temp_store=MEMORY",
)


async def _connect(path: Path, *, readonly: bool = False) -> Conn:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, sqlite3 must not add its own.
    conn = await aiosqlite.connect(str(path), isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    for pragma in _PRAGMAS:
        await conn.execute(pragma)
    if readonly:
        await conn.execute("PRAGMA query_only=ON")
    return conn


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
        conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
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


# What read-only store functions accept: a threaded connection (writer or reader), or the
# inline reader for the few lookups that run on the loop.
Reads = Conn | InlineReader


class Database:
    """An open homesync database. Use ``await Database.open(path)`` and ``await db.close()``."""

    def __init__(self, path: Path, writer: Conn, readers: list[Conn]) -> None:
        self.path = path
        self._writer = writer
        self._readers = readers
        self._next_reader = itertools.cycle(readers)
        self._write_lock = asyncio.Lock()
        # Lookups on the loop's thread (see InlineReader); falls back to the readers.
        self.inline = InlineReader.open(path, lambda: self.reader)

    @classmethod
    async def open(cls, path: Path, *, readers: int = 2) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path)
        await _check_durability(writer)
        await apply_migrations(writer)
        reader_conns = [await _connect(path, readonly=True) for _ in range(readers)]
        return cls(path, writer, reader_conns)

    async def close(self) -> None:
        async with self._write_lock:
            self.inline.close()
            for conn in (*self._readers, self._writer):
                await conn.close()

    # -- writes ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """The writer connection inside ``BEGIN IMMEDIATE``; commits on success, else rolls back."""
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            else:
                await self._writer.execute("COMMIT")

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
            await self._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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
