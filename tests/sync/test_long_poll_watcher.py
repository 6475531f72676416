"""The journal watcher wakes a poll for a change another process made, however the change,
the poll and the watcher's own look at the journal interleave."""

from __future__ import annotations

import asyncio

from homesync.store import changes
from tests.sync.helpers import change, pull, push


async def test_a_poll_that_parks_while_the_idle_watcher_reads_the_journal_end_is_woken(
        live_client, services, make_user, sign_in, monkeypatch):
    """With no poll parked the watcher only moves its position to the journal's end. A
    poll that read the head and parked while that read was on its way, and a change
    committed elsewhere (the CLI) just before the read, left the position past the change:
    no later look woke the poll, which waited its whole wait (up to 300 s)."""
    await make_user()
    phone = await sign_in()
    token = (await pull(live_client, phone))["nextSyncToken"]
    watcher, notifier = services.sync.watcher, services.sync.notifier
    await watcher.check()  # the watcher knows the journal's end
    read_end = changes.journal_end
    poll: asyncio.Task[dict[str, object]] | None = None
    parks, parked = notifier._park, asyncio.Event()

    def park(subscription):  # a poll waits for a change: it has read the head
        parks(subscription)
        parked.set()

    monkeypatch.setattr(notifier, "_park", park)

    async def end_read_as_a_poll_parks(conn):
        nonlocal poll
        poll = asyncio.create_task(pull(live_client, phone, token, wait=60))
        await parked.wait()
        changed, notifier.changed = notifier.changed, lambda user: None  # as if elsewhere
        try:
            await push(live_client, phone, None, change("mkdir", folder="/quiet"))
        finally:
            notifier.changed = changed
        return await read_end(conn)

    monkeypatch.setattr(changes, "journal_end", end_read_as_a_poll_parks)
    await watcher.check()
    monkeypatch.setattr(changes, "journal_end", read_end)
    assert poll is not None
    await watcher.check()
    await asyncio.wait({poll}, timeout=10)  # a bound: woken, it answers at once
    assert poll.done(), "the watcher never woke the poll"
    data = poll.result()
    assert [e["name"] for e in data["changes"]["created"]] == ["quiet"]
