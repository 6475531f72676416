"""Queue operations a crash interrupted, when the database is busy at server start (a CLI
command holds it): applied by a later retention round, not left pending until the next
restart."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from homesync.store import connections, journal, queue
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, write_lock_held_elsewhere
from tests.sync.helpers import store
from tests.sync.test_queue import queued


async def test_interrupted_operations_are_applied_by_a_round_once_the_database_is_free(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"delete me", name="d.txt")
    now = clock.now_ms()
    async with services.db.transaction() as tx:  # queued, and then the server crashed
        await queue.insert_if_new(
            tx, device_id=phone.device_id, op_id="del-1", user_id=user_id, type="delete",
            local_path=None, remote_path=None, file_id=file_id, priority="normal",
            created_at=now, base_seq=await journal.newest_seq(tx), shared_seq=None, now=now)
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", 100)  # 5 s otherwise
    caplog.set_level(logging.INFO, logger="homesync.sync")
    retention = services.sync.retention
    with write_lock_held_elsewhere(services.settings.db_path):
        for _ in range(2):  # the first round at start, and the next
            await retention.sweep()
    (waiting,) = caplog.records
    assert (waiting.levelno, waiting.exc_info) == (logging.WARNING, None)
    assert waiting.getMessage().startswith("sync retention waits for the database")
    assert (await queued(client, phone))["del-1"]["status"] == "pending"

    caplog.clear()
    await retention.sweep()
    assert (await queued(client, phone))["del-1"]["status"] == "done"
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.status_code == 404, r.text  # in the trash
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "sync retention: the database is free again")]


async def test_a_recovery_that_fails_otherwise_is_logged_and_the_sweeps_go_on(
    services: Services, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    retention = services.sync.retention
    tries: list[int] = []

    async def broken_once() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("a bug")

    monkeypatch.setattr(retention._queue, "recover", broken_once)
    swept: list[int] = []
    run_once = retention.run_once

    async def counted(now: int | None = None) -> Any:
        swept.append(1)
        return await run_once(now)

    monkeypatch.setattr(retention, "run_once", counted)
    caplog.set_level(logging.INFO, logger="homesync.sync")
    for _ in range(3):
        await retention.sweep()
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        (logging.ERROR, "applying interrupted queue operations failed", True)]
    assert (len(tries), len(swept)) == (2, 3)  # tried again until it worked, then no more
