"""D2, the database half: a 2xx is durable only if SQLite runs with WAL, ``synchronous=FULL``
(NORMAL may lose the last commits to a power cut) and foreign keys on. The server's
connections have them, and it refuses to start on a database that silently ignored one
(a WAL on a filesystem without shared memory, say) instead of serving without it."""

from __future__ import annotations

from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.store import connections
from homesync.store.db import Database, fetchone

DURABLE = {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1}


async def test_the_servers_writer_runs_with_wal_full_sync_and_foreign_keys(
        services: Services) -> None:
    writer = services.db._writer
    for pragma, expected in DURABLE.items():
        row = await fetchone(writer, f"PRAGMA {pragma}")
        assert row is not None and row[0] == expected, pragma


@pytest.mark.parametrize(("strong", "weak", "named"), [
    ("PRAGMA journal_mode=WAL", "PRAGMA journal_mode=DELETE", "journal_mode"),
    ("PRAGMA synchronous=FULL", "PRAGMA synchronous=NORMAL", "synchronous"),
    ("PRAGMA foreign_keys=ON", "PRAGMA foreign_keys=OFF", "foreign_keys"),
])
async def test_a_database_that_ignored_a_durability_setting_is_refused_at_startup(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, strong: str, weak: str,
        named: str) -> None:
    assert strong in connections._PRAGMAS
    monkeypatch.setattr(connections, "_PRAGMAS",
                        tuple(weak if p == strong else p for p in connections._PRAGMAS))
    with pytest.raises(RuntimeError, match=named):
        db = await Database.open(tmp_path / "homesync.sqlite3")
        await db.close()  # opened after all: close it, or its threads hang the test run
