"""The schema's numbered migrations: contiguous, never edited once landed, and every
database, fresh or of any older version, reaches the newest."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from homesync.store.db import Database
from homesync.store.migrate import migrations

# sha256 (first 16 hex digits) of every migration that has been on main: a database that
# ran one never runs it again, so changing it changes nothing there. Add a new migration
# instead, and its hash here.
_LANDED = {
    1: "e1e8fce054eefafa", 2: "16306b025f00bd9b", 3: "1ba7ba6c435c12fa",
    4: "76b8c702bf04b237", 5: "15ebd37f81cba41e", 6: "bbdc1befbf6b4f5c",
    7: "79eaafc3ec2d3079", 8: "3a014ac2b03452ee", 9: "014e3bcee02d972f",
}


def test_landed_migrations_are_never_edited() -> None:
    found = {number: hashlib.sha256(sql.encode()).hexdigest()[:16]
             for number, _name, sql in migrations()}
    assert {n: found.get(n) for n in _LANDED} == _LANDED
    assert set(found) <= set(_LANDED), "add the new migration's hash to _LANDED"


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


@pytest.mark.parametrize("older", range(1, len(migrations())))
async def test_a_database_of_an_older_version_upgrades_with_its_data(tmp_path: Path,
                                                                     older: int) -> None:
    """Each migration applies on top of the one before (a server upgraded in place), not
    only to a fresh database, and keeps the data."""
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    for number, _name, sql in migrations()[:older]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                 " password_changed_at) VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0)")
    conn.close()
    db = await Database.open(path)
    try:
        row = await db.fetchone("PRAGMA user_version")
        assert row is not None and row[0] == migrations()[-1][0]
        assert await db.fetchall("PRAGMA foreign_key_check") == []
        assert [r["id"] for r in await db.fetchall("SELECT id FROM users")] == ["user_1"]
    finally:
        await db.close()
