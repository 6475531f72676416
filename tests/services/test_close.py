"""Closing the services (the end of every graceful stop) closes the database even when
a step before it fails: handing back push leases is a write, which a full disk refuses."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from homesync.services.container import Services
from tests.helpers import make_settings


async def test_the_database_is_closed_even_when_closing_the_push_outbox_fails(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path / "data")
    services = await Services.open(settings)
    async with services.db.transaction() as tx:  # something in the WAL
        await tx.execute("PRAGMA user_version")

    async def refused() -> None:
        raise sqlite3.OperationalError("database or disk is full")

    services.outbox.aclose = refused  # type: ignore[method-assign]
    await services.close()
    # SQLite checkpoints and removes the WAL when the last connection closes.
    assert not (settings.data_path / "homesync.sqlite3-wal").exists()
    assert "closing the push outbox failed: database or disk is full" in caplog.text
