"""The server's gc round while another process (a long ``homesync gc``, ``user add``, a
backup) holds the database's write lock: one warning, no traceback each round, and it
goes on once the lock is free; any other failure keeps its traceback, every round."""

from __future__ import annotations

import logging

import pytest

from homesync.services.container import Services
from homesync.store import connections
from tests.helpers import write_lock_held_elsewhere


async def test_a_gc_round_the_database_is_busy_for_logs_one_warning_and_recovers(
    services: Services, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server gives up on the lock after this long (5 s otherwise): a 503 for requests.
    monkeypatch.setattr(connections, "BUSY_TIMEOUT_MS", 100)
    caplog.set_level(logging.INFO, logger="homesync.gc")
    with write_lock_held_elsewhere(services.settings.db_path):
        for _ in range(3):
            await services.gc.background_round()
    (waiting,) = caplog.records
    assert (waiting.levelno, waiting.exc_info) == (logging.WARNING, None)
    assert waiting.getMessage().startswith("uploads gc waits for the database")

    caplog.clear()
    await services.gc.background_round()
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "uploads gc: the database is free again")]

    caplog.clear()

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.gc, "collect", broken)
    await services.gc.background_round()
    await services.gc.background_round()
    assert [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        (logging.ERROR, "gc round failed", True)] * 2
