"""``lastSync`` deltas miss nothing that was being written while the last sync read.

A change is stamped in the journal with a time, and ``lastSync=T`` lists the entries
stamped at or after ``T``. A change in a write transaction that was still open while a
device synced was not shown to it, yet was stamped before the ``lastSyncAt`` the device
was given (its time was taken before it waited for the write lock): the next
``lastSync`` delta skipped it, and the device never learnt of the change.
"""

from __future__ import annotations

import asyncio

from homesync import clock
from tests.sync.helpers import change, pull, push


async def test_a_change_committed_after_a_sync_reaches_the_next_last_sync_delta(
        live_client, services, monkeypatch, make_user, sign_in):
    client = live_client  # requests run on the test's loop, one can wait for the lock
    await make_user()
    start = float(int(clock.now()))
    clock.set_now(lambda: start)
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    synced = await pull(client, phone)
    await push(client, laptop, None, change("mkdir", folder="/before"))  # laptop warmed up

    held, release = asyncio.Event(), asyncio.Event()

    async def busy_writer() -> None:  # another write in progress (a big delete, say)
        async with services.db.transaction():
            held.set()
            await release.wait()

    writer = asyncio.create_task(busy_writer())
    await held.wait()
    waiting, transaction = asyncio.Event(), services.db.transaction

    def signalling_transaction():  # the laptop's change has its time, waits for the lock
        waiting.set()
        return transaction()

    monkeypatch.setattr(services.db, "transaction", signalling_transaction)
    clock.set_now(lambda: start + 1)
    laptops = asyncio.create_task(push(client, laptop, None, change("mkdir", folder="/late")))
    await waiting.wait()
    clock.set_now(lambda: start + 2)
    during = await pull(client, phone, lastSync=synced["lastSyncAt"])
    assert "late" not in [e["name"] for e in during["changes"]["created"]]
    release.set()
    await writer
    await laptops
    clock.set_now(lambda: start + 3)
    after = await pull(client, phone, lastSync=during["lastSyncAt"])
    assert "late" in [e["name"] for e in after["changes"]["created"]]
    # With nothing open, lastSyncAt is the time of the answer.
    assert (await pull(client, phone))["lastSyncAt"] == clock.rfc3339(int(start + 3) * 1000)
