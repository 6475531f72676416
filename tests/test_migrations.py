"""The schema's numbered migrations: contiguous, and a fresh database gets all of them."""

from __future__ import annotations

from pathlib import Path

from homesync.store.db import Database
from homesync.store.migrate import migrations


def test_migrations_are_numbered_without_gaps() -> None:
    numbers = [number for number, _, _ in migrations()]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_fresh_database_reaches_the_newest_version(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        row = await db.fetchone("PRAGMA user_version")
        assert row is not None and row[0] == migrations()[-1][0]
        check = await db.fetchone("PRAGMA integrity_check")
        assert check is not None and check[0] == "ok"
        assert await db.fetchall("PRAGMA foreign_key_check") == []
    finally:
        await db.close()
