"""The push worker while another process (a long ``homesync gc``, ``user add``, a backup)
holds the database's write lock: one warning, no traceback each round, and it goes on
once the lock is free."""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from homesync.store import connections, deliveries
from tests.conftest import MakeUser, SignIn
from tests.helpers import write_lock_held_elsewhere
from tests.notifications.conftest import Clock, RegisterPush, delivery_rows
from tests.push.receivers import Receiver


async def test_a_round_the_database_is_busy_for_logs_one_warning_and_recovers(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone")
    await services.outbox.drain()
    frozen.advance(3600)  # the round's hourly inbox pruning writes too
    await sign_in(client_id="tablet", model="Galaxy Tab")  # a new-device alert for the phone
    # The server gives up on the lock after this long (5 s otherwise): a 503 for requests.
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", 100)
    caplog.set_level(logging.INFO, logger="homesync.push")
    with write_lock_held_elsewhere(services.settings.db_path):
        for _ in range(3):
            assert await services.outbox.worker_round() == 0
    (waiting,) = caplog.records
    assert (waiting.levelno, waiting.exc_info) == (logging.WARNING, None)
    assert waiting.getMessage().startswith("push worker waits for the database")
    assert receiver.requests == [] and await delivery_rows(services) == []

    caplog.clear()
    assert await services.outbox.worker_round() > 0  # the alert, fanned out and sent
    await services.outbox.drain()
    (free,) = caplog.records
    assert (free.levelno, free.getMessage()) == (logging.INFO,
                                                 "push worker: the database is free again")
    (request,) = receiver.requests
    assert request.path == "/up/phone"
    assert [r["status"] for r in await delivery_rows(services)] == ["delivered"]


async def test_an_hourly_cleanup_the_database_was_busy_for_runs_the_next_round(
    services: Services, make_user: MakeUser, sign_in: SignIn, frozen: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user_id = await make_user()
    await sign_in()
    await sign_in(client_id="tablet", model="Galaxy Tab")  # a new-device alert for the phone
    await services.outbox.drain()
    kept = await _inbox_size(services, user_id)
    assert kept > 0
    frozen.advance(91 * 24 * 3600)  # past inbox_retention (90 days)

    def busy(*_: object, **__: object) -> None:
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        raise error

    with monkeypatch.context() as patched:  # another process takes the lock just then
        patched.setattr(deliveries, "cancel_run_out", busy)
        assert await services.outbox.worker_round() == 0
    assert await _inbox_size(services, user_id) == kept

    await services.outbox.worker_round()  # the cleanup is not put off for an hour
    assert await _inbox_size(services, user_id) == 0


async def _inbox_size(services: Services, user_id: str) -> int:
    row = await services.db.fetchone(
        "SELECT count(*) AS n FROM notifications WHERE user_id = ?", (user_id,))
    assert row is not None
    return int(row["n"])
