"""Database.inline: lookups on the loop's thread that see commits and never wait on a lock."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from homesync.store.db import Database, InlineReader, fetchall, fetchone


async def test_inline_reads_see_each_commit_at_once(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        await db.fetchone("SELECT 1")
        for n in range(3):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                                 " password_changed_at) VALUES (?, ?, 'U', 'x', 0, 0)",
                                 (f"user_{n}", f"u{n}@example.com"))
            rows = await fetchall(db.inline, "SELECT id FROM users ORDER BY id")
            assert [r["id"] for r in rows] == [f"user_{i}" for i in range(n + 1)]
    finally:
        await db.close()


async def test_inline_reader_is_read_only(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError):
            await fetchone(db.inline, "DELETE FROM users")
    finally:
        await db.close()


class _Busy:
    """A connection whose every statement meets a lock, as a WAL reader rarely may."""

    def execute(self, sql: str, params: Any = ()) -> Any:
        exc = sqlite3.OperationalError("database is locked")
        exc.sqlite_errorcode = sqlite3.SQLITE_BUSY
        raise exc


async def test_a_busy_lookup_goes_to_a_threaded_reader_instead_of_waiting(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        busy = InlineReader(_Busy(), lambda: db.reader)  # type: ignore[arg-type]
        row = await fetchone(busy, "SELECT 41 + 1")
        assert row is not None and row[0] == 42
    finally:
        await db.close()
