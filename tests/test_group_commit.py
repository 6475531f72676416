"""Database.transaction: blocks queued behind each other share one commit (group commit),
and each still succeeds or fails on its own."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from homesync.store import connections
from homesync.store.connections import BUSY_TIMEOUT_MS
from homesync.store.db import Conn, Database, note_change
from homesync.store.tree import savepoint

_ADD = ("INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)"
        " VALUES (?, ?, 'U', 'x', 0, 0)")


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "db.sqlite3")
    yield database
    await database.close()


class _Commits:
    """Counts the writer's COMMITs; ``fail`` makes the next ones raise."""

    def __init__(self, writer: Conn) -> None:
        self.count = 0
        self.fail = False
        self._execute = writer.execute

    def execute(self, sql: str, *args: Any) -> Any:
        if sql == "COMMIT":
            self.count += 1
            if self.fail:
                return self._execute("SELECT no_such_function()")
        return self._execute(sql, *args)


@pytest.fixture
def commits(db: Database, monkeypatch: pytest.MonkeyPatch) -> _Commits:
    counter = _Commits(db._writer)
    monkeypatch.setattr(db._writer, "execute", counter.execute)
    return counter


async def _ids(db: Database) -> set[str]:
    return {r["id"] for r in await db.fetchall("SELECT id FROM users")}


async def _add(db: Database, n: int, *, fail: bool = False) -> None:
    async with db.transaction() as tx:
        await tx.execute(_ADD, (f"user_{n}", f"u{n}@example.com"))
        if fail:
            raise ValueError(f"block {n} fails")


async def test_a_burst_of_blocks_shares_commits_and_each_is_stored_when_it_returns(
        db: Database, commits: _Commits) -> None:
    async def add_and_look(n: int) -> bool:
        await _add(db, n)
        return f"user_{n}" in await _ids(db)  # stored by the time the block returned

    seen = await asyncio.gather(*(add_and_look(n) for n in range(40)))
    assert all(seen)
    assert await _ids(db) == {f"user_{n}" for n in range(40)}
    assert 1 <= commits.count < 40


async def test_one_failing_block_leaves_the_others_of_its_batch_alone(
        db: Database, commits: _Commits) -> None:
    results = await asyncio.gather(*(_add(db, n, fail=n % 3 == 1) for n in range(12)),
                                   return_exceptions=True)
    failed = {n for n, r in enumerate(results) if isinstance(r, ValueError)}
    assert failed == {n for n in range(12) if n % 3 == 1}
    assert await _ids(db) == {f"user_{n}" for n in range(12) if n not in failed}
    assert commits.count < 12


async def test_a_failed_commit_fails_every_block_of_the_batch(
        db: Database, commits: _Commits) -> None:
    commits.fail = True
    results = await asyncio.gather(*(_add(db, n) for n in range(8)), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    commits.fail = False
    assert await _ids(db) == set()
    await _add(db, 99)  # the writer is usable again
    assert await _ids(db) == {"user_99"}


async def test_a_cancelled_block_neither_strands_nor_loses_the_others(db: Database) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction() as tx:
            await tx.execute(_ADD, ("user_slow", "slow@example.com"))
            started.set()
            await asyncio.Event().wait()  # until cancelled

    slow_task = asyncio.create_task(slow())
    await started.wait()
    queued = [asyncio.create_task(_add(db, n)) for n in range(3)]
    await asyncio.sleep(0)  # let them queue behind the slow block
    slow_task.cancel()
    await asyncio.gather(*queued)
    assert await _ids(db) == {"user_0", "user_1", "user_2"}


async def test_statements_in_a_transaction_run_on_the_loops_thread(db: Database) -> None:
    # The writer's statements skip the trip to aiosqlite's thread (store/connections.py);
    # this fails if an aiosqlite upgrade stops routing calls through Connection._execute.
    await db._writer.create_function("thread_id", 0, threading.get_ident)
    async with db.transaction() as tx:
        async with tx.execute("SELECT thread_id()") as cur:
            row = await cur.fetchone()
    assert row is not None and row[0] == threading.get_ident()
    async with db._writer.execute("SELECT thread_id()") as cur:  # outside: its own thread
        row = await cur.fetchone()
    assert row is not None and row[0] != threading.get_ident()


async def test_begin_takes_a_free_lock_at_once_and_waits_for_a_held_one_off_the_loop(
        db: Database) -> None:
    loop_thread = threading.get_ident()
    begins: list[bool] = []  # per BEGIN: did it run on the loop's thread?
    await db._writer.set_trace_callback(
        lambda sql: begins.append(threading.get_ident() == loop_thread)
        if sql.startswith("BEGIN") else None)

    await _add(db, 1)  # the lock is free: no trip to the connection's thread
    assert begins == [True]

    # Another process (the CLI, say) holds the write lock: the loop must not block on it.
    other = sqlite3.connect(db.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    task = asyncio.create_task(_add(db, 2))
    deadline = time.monotonic() + 10
    while begins != [True, True, False]:  # tried at once, then waits on the thread
        assert time.monotonic() < deadline, begins
        await asyncio.sleep(0.01)
    assert not task.done()
    other.execute("COMMIT")
    other.close()
    await task
    assert await _ids(db) == {"user_1", "user_2"}
    async with db._writer.execute("PRAGMA busy_timeout") as cur:  # restored after the try
        row = await cur.fetchone()
    assert row is not None and row[0] == BUSY_TIMEOUT_MS


class _BusyThread:
    """Work held on the writer's thread, as a COMMIT or ROLLBACK whose caller was
    cancelled keeps running there after the write lock is released; ``order`` traces
    where the statements named in ``traced`` ran."""

    def __init__(self, db: Database, *traced: str) -> None:
        self._db = db
        self._traced = ("SELECT 'earlier'", *traced)
        self._loop_thread = threading.get_ident()
        self._release = threading.Event()
        self.order: list[str] = []

    def _trace(self, sql: str) -> None:
        if sql.startswith(self._traced):
            where = "loop" if threading.get_ident() == self._loop_thread else "thread"
            self.order.append(f"{sql} on {where}")

    def _earlier(self) -> None:
        self._release.wait(10)
        self._db._writer._conn.execute("SELECT 'earlier'")

    async def __aenter__(self) -> _BusyThread:
        await self._db._writer.set_trace_callback(self._trace)
        self._busy = asyncio.create_task(self._db._writer._execute(self._earlier))
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        await self._busy

    async def turns(self) -> None:
        """Ample loop turns for anything that would run inline to have run."""
        for _ in range(20):
            await asyncio.sleep(0)


async def test_begin_waits_its_turn_behind_work_still_on_the_connections_thread(
        db: Database) -> None:
    async with _BusyThread(db, "BEGIN") as busy:
        task = asyncio.create_task(_add(db, 1))
        await busy.turns()
        assert not task.done() and busy.order == []
    await task
    assert busy.order == ["SELECT 'earlier' on thread", "BEGIN IMMEDIATE on thread"]
    assert await _ids(db) == {"user_1"}


async def test_inline_statements_queue_behind_work_still_on_the_connections_thread(
        db: Database) -> None:
    async with _BusyThread(db, "SELECT 'after'") as busy:
        task = asyncio.create_task(db._writer.execute_inline("SELECT 'after'"))
        await busy.turns()
        assert not task.done() and busy.order == []
    await task
    assert busy.order == ["SELECT 'earlier' on thread", "SELECT 'after' on thread"]


async def test_commit_listeners_hear_of_committed_changes_only(db: Database) -> None:
    heard: list[str] = []
    db.when_committed("users", lambda: heard.append("users"))

    with pytest.raises(ValueError):
        async with db.transaction() as tx:
            await tx.execute(_ADD, ("user_x", "x@example.com"))
            note_change(tx, "users")
            raise ValueError("rolled back")
    assert heard == []

    async with db.transaction() as tx:
        await tx.execute(_ADD, ("user_y", "y@example.com"))
        note_change(tx, "users")
        assert heard == []  # not before the commit
    assert heard == ["users"]

    async with db.transaction() as tx:  # a transaction that changed nothing of interest
        await tx.execute("SELECT 1")
    assert heard == ["users"]


async def test_a_checkpoint_leaves_no_statement_running(db: Database) -> None:
    """The checkpoint's PRAGMA answers a row; unread, its statement stayed active and the
    next savepoint failed ("cannot open savepoint - SQL statements in progress")."""
    await _add(db, 1)
    await db.checkpoint()
    async with db.transaction() as tx, savepoint(tx):
        await tx.execute(_ADD, ("user_2", "u2@example.com"))
    assert await _ids(db) == {"user_1", "user_2"}


async def test_writes_queued_behind_another_process_s_lock_give_up_together(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A long CLI command holds SQLite's write lock: the first write waits the busy timeout
    and fails (the API's 503 + Retry-After); the writes queued behind it meanwhile fail
    with it, instead of each waiting a whole timeout more (the N-th N times as long)."""
    timeout_s = 0.4
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", int(timeout_s * 1000))
    db = await Database.open(tmp_path / "db.sqlite3")
    other = sqlite3.connect(db.path, isolation_level=None)
    try:
        await _add(db, 0)  # the connection's busy timeout is the patched one from here on
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        results = await asyncio.gather(*(_add(db, n) for n in range(1, 9)),
                                       return_exceptions=True)
        took = time.monotonic() - started
        assert all(isinstance(r, sqlite3.OperationalError)
                   and r.sqlite_errorcode == sqlite3.SQLITE_BUSY for r in results), results
        # One timeout, with room for a busy machine; one each would be 8 × 0.4 s = 3.2 s.
        assert timeout_s <= took < 3 * timeout_s, took
        other.execute("ROLLBACK")
        # Once the lock is free, writes go through, and the next one held up waits again.
        await _add(db, 9)
        other.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError):
            await _add(db, 10)
        assert time.monotonic() - started >= timeout_s
        other.execute("ROLLBACK")
        assert await _ids(db) == {"user_0", "user_9"}
        async with db._writer.execute("PRAGMA busy_timeout") as cur:
            row = await cur.fetchone()
        assert row is not None and row[0] == int(timeout_s * 1000)
    finally:
        other.close()
        await db.close()


async def test_a_write_cancelled_while_waiting_for_another_process_s_lock_leaves_no_transaction(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write cancelled while its BEGIN waits on the connection's thread for a CLI
    command's lock: the BEGIN still goes through there once the lock is free. Nobody owns
    that transaction; the next write must not fail on it ("cannot start a transaction
    within a transaction") nor leave SQLite's write lock held for good."""
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", 5000)
    db = await Database.open(tmp_path / "db.sqlite3")
    other = sqlite3.connect(db.path, isolation_level=None, timeout=0)
    try:
        await _add(db, 0)
        other.execute("BEGIN IMMEDIATE")
        writer, sent_to_thread = db._writer, asyncio.Event()
        execute = writer.execute

        def noting_begin(sql: str, *args: Any) -> Any:
            if sql == "BEGIN IMMEDIATE" and not writer.inline:
                sent_to_thread.set()  # the lock is taken: this one waits on the thread
            return execute(sql, *args)

        monkeypatch.setattr(writer, "execute", noting_begin)
        waiting = asyncio.create_task(_add(db, 1))
        await sent_to_thread.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        other.execute("ROLLBACK")  # the CLI command ends; the abandoned BEGIN gets the lock
        await _add(db, 2)
        assert await _ids(db) == {"user_0", "user_2"}
        other.execute("BEGIN IMMEDIATE")  # the server holds no write lock any more
        other.execute("ROLLBACK")
    finally:
        other.close()
        await db.close()


async def test_a_block_cancelled_while_waiting_to_commit_its_batch_still_gets_it_committed(
        db: Database) -> None:
    """A block that ran lets the blocks queued behind it join its batch, then commits it
    unless one of them did. Cancelled while waiting for that turn (a long poll whose client
    left, say), with the last of them failing: nobody committed, and the batch stayed open
    until the server's next write, its changes unseen and SQLite's write lock held."""
    first_in, go_on, second_in = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.transaction() as tx:
            await tx.execute(_ADD, ("user_first", "first@example.com"))
            first_in.set()
            await go_on.wait()

    async def second() -> None:
        async with db.transaction() as tx:
            await tx.execute(_ADD, ("user_second", "second@example.com"))
            second_in.set()
            await asyncio.Event().wait()  # until cancelled: it fails

    first_task = asyncio.create_task(first())
    await first_in.wait()
    second_task = asyncio.create_task(second())
    await asyncio.sleep(0)  # queued behind the first block: the first leaves it the commit
    go_on.set()
    await second_in.wait()  # the first waits for its turn to commit the batch
    first_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first_task
    second_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second_task
    async with db._write_lock:  # after anything already queued for it
        pass
    assert await _ids(db) == {"user_first"}
    other = sqlite3.connect(db.path, isolation_level=None, timeout=0)
    try:
        other.execute("BEGIN IMMEDIATE")  # the server holds no write lock
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_a_commit_failing_after_its_committer_was_cancelled_ends_no_later_transaction(
        db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A committer cancelled during its COMMIT lets the next writer in at once; that one's
    BEGIN waits on the connection's thread behind the COMMIT. When the COMMIT failed
    (a full disk, SQLite rolling back itself), the ROLLBACK that followed it ended the
    next writer's new transaction instead: its statements then ran in autocommit, each
    stored on its own, while the writer was told it failed."""
    writer, on_thread, release = db._writer, asyncio.Event(), threading.Event()
    loop = asyncio.get_running_loop()
    execute = writer.execute

    def failing_commit(conn: sqlite3.Connection) -> None:
        loop.call_soon_threadsafe(on_thread.set)
        release.wait(10)
        conn.execute("ROLLBACK")  # what SQLite does itself on an I/O error
        raise sqlite3.OperationalError("disk I/O error")

    def commit_once_failing(sql: str, *args: Any) -> Any:
        if sql == "COMMIT" and not release.is_set():
            return writer._execute(failing_commit, writer._conn)
        return execute(sql, *args)

    monkeypatch.setattr(writer, "execute", commit_once_failing)
    committing = asyncio.create_task(_add(db, 0))
    await on_thread.wait()
    committing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await committing
    later = asyncio.create_task(_add(db, 1))
    for _ in range(20):  # it has the write lock and waits for its BEGIN
        await asyncio.sleep(0)
    release.set()
    outcome = await asyncio.gather(later, return_exceptions=True)
    stored = "user_1" in await _ids(db)
    assert stored == (outcome == [None]), outcome  # told it failed: nothing of it stored
    await _add(db, 2)  # the writer is usable again
    assert "user_2" in await _ids(db)
    gc.collect()  # the failed batch's future, which its cancelled committer never read
    assert "never retrieved" not in caplog.text  # expected, so no error in the log
