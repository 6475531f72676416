"""The retention sweep while another process (a long ``homesync gc``, ``user add``, a
backup) holds the database's write lock: one warning, no traceback each round, and the
trash is purged once the lock is free."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from homesync.store import connections
from tests.conftest import MakeUser, SignIn
from tests.helpers import write_lock_held_elsewhere
from tests.sync.helpers import change, push, store


async def test_a_sweep_the_database_is_busy_for_logs_one_warning_and_recovers(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = await make_user()
    phone = await sign_in()
    trashed = await store(client, phone, b"trash me", name="t.txt")
    await push(client, phone, None, change("delete", fileId=trashed))
    later = clock.now() + 31 * 86400  # past the trash retention
    monkeypatch.setattr(clock, "_now", lambda: later)
    # The server gives up on the lock after this long (5 s otherwise): a 503 for requests.
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", 100)
    caplog.set_level(logging.INFO, logger="homesync.sync")
    retention = services.sync.retention
    with write_lock_held_elsewhere(services.settings.db_path):
        for _ in range(3):
            await retention.sweep()
    (waiting,) = caplog.records
    assert (waiting.levelno, waiting.exc_info) == (logging.WARNING, None)
    assert waiting.getMessage().startswith("sync retention waits for the database")
    assert len(await services.sync.trash.list(user_id, limit=10)) == 1

    caplog.clear()
    await retention.sweep()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "retention freed 8 bytes of trash and 0 of old versions"),
        (logging.INFO, "sync retention: the database is free again")]
    assert await services.sync.trash.list(user_id, limit=10) == []

    # Any other failure keeps its traceback, every round.
    caplog.clear()

    async def broken(now: int | None = None) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(retention, "run_once", broken)
    await retention.sweep()
    await retention.sweep()
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        (logging.ERROR, "retention sweep failed", True)] * 2
