"""Closing the services (the end of every graceful stop) closes the database even when
a step before it fails: handing back push leases is a write, which a full disk refuses."""

from __future__ import annotations

import asyncio
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


async def test_a_close_cancelled_while_a_job_stops_lets_it_finish_then_is_cancelled(
        tmp_path: Path) -> None:
    """A caller cancelled during close (a deadline, a second Ctrl-C) is not forgotten: close
    lets the jobs end as they do, closes the database, and then raises the cancellation."""
    settings = make_settings(tmp_path / "data")
    services = await Services.open(settings)
    stopping, release = asyncio.Event(), asyncio.Event()
    ended: list[str] = []

    async def slow_to_stop() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
            await release.wait()  # hands back what it holds
            ended.append("cleanly")
            raise

    services.add_background_job("slow", slow_to_stop)
    await services.start_background()
    async with services.db.transaction() as tx:
        await tx.execute("PRAGMA user_version")
    closing = asyncio.create_task(services.close())
    await stopping.wait()
    closing.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert ended == ["cleanly"]
    assert not (settings.data_path / "homesync.sqlite3-wal").exists()


async def test_a_close_cancelled_during_a_step_still_closes_the_database(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data")
    services = await Services.open(settings)
    async with services.db.transaction() as tx:
        await tx.execute("PRAGMA user_version")
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow_aclose() -> None:
        entered.set()
        await release.wait()

    services.outbox.aclose = slow_aclose  # type: ignore[method-assign]
    closing = asyncio.create_task(services.close())
    await entered.wait()
    closing.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert not (settings.data_path / "homesync.sqlite3-wal").exists()
