"""log_level = "debug" must not put what the database is handed (hashes, tokens) in the log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from homesync.logs import configure_logging
from homesync.store.db import Database, execute


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root, sqlite_log = logging.getLogger(), logging.getLogger("aiosqlite")
    saved = (list(root.handlers), root.level, sqlite_log.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    sqlite_log.setLevel(saved[2])


@pytest.mark.parametrize(("level", "expected"), [
    ("debug", logging.INFO), ("info", logging.INFO), ("warning", logging.WARNING)])
def test_aiosqlite_is_never_below_info(restore_logging: None, level: str, expected: int) -> None:
    configure_logging(level)
    assert logging.getLogger("aiosqlite").getEffectiveLevel() == expected


async def test_debug_logging_does_not_show_sql_parameters(
    restore_logging: None, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("debug")
    logging.getLogger("homesync.test").debug("debug lines still show")
    db = await Database.open(tmp_path / "t.sqlite3")
    try:
        async with db.transaction() as tx:
            await execute(tx, "CREATE TABLE secrets (value TEXT)")
            await execute(tx, "INSERT INTO secrets VALUES (?)", ("argon2-hash-of-a-password",))
        assert await db.fetchone("SELECT value FROM secrets") is not None
    finally:
        await db.close()
    logged = capsys.readouterr().err
    assert "debug lines still show" in logged
    assert "argon2-hash-of-a-password" not in logged
