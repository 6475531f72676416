"""The long poll: answers at once with changes, wakes on the next change, times out empty."""

from __future__ import annotations

import asyncio
import time
from typing import Literal

from homesync.app import create_app
from homesync.services.auth.sessions import DeviceRegistration
from homesync.services.container import Services
from tests.helpers import API, PASSWORD, make_settings
from tests.shares.test_shares_api import share
from tests.sync.helpers import change, parked, pull, push, store


async def test_returns_at_once_when_changes_exist(live_client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    token = (await pull(live_client, phone))["nextSyncToken"]
    await store(live_client, phone, b"new", name="n.txt")
    started = time.monotonic()
    data = await pull(live_client, phone, token, wait=30)
    assert data["hasChanges"] and time.monotonic() - started < 5


async def test_woken_by_another_devices_change(live_client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    token = (await pull(live_client, phone))["nextSyncToken"]
    poll = asyncio.create_task(pull(live_client, phone, token, wait=60))
    await parked(services, user_id)
    await push(live_client, laptop, None, change("mkdir", folder="/from-laptop"))
    data = await asyncio.wait_for(poll, 10)
    assert [e["name"] for e in data["changes"]["created"]] == ["from-laptop"]
    assert services.sync.notifier.parked() == 0


async def test_woken_by_an_upload_completing(live_client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    token = (await pull(live_client, phone))["nextSyncToken"]
    polls = [asyncio.create_task(pull(live_client, phone, token, wait=60)) for _ in range(3)]
    await parked(services, user_id, 3)
    file_id = await store(live_client, laptop, b"uploaded from the laptop", name="up.txt")
    for data in await asyncio.wait_for(asyncio.gather(*polls), 10):
        assert file_id in [e["id"] for e in data["changes"]["created"]]


async def test_times_out_empty_and_other_users_do_not_wake_it(live_client, services,
                                                              make_user, sign_in):
    user_id = await make_user()
    await make_user("bob@example.com", "Bob")
    phone = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    token = (await pull(live_client, phone))["nextSyncToken"]
    poll = asyncio.create_task(pull(live_client, phone, token, wait=1))
    await parked(services, user_id)
    await push(live_client, bob, None, change("mkdir", folder="/bobs"))
    data = await asyncio.wait_for(poll, 10)
    assert data["hasChanges"] is False and data["nextSyncToken"] == token


async def test_parked_polls_hold_no_database_connection(live_client, services, make_user,
                                                        sign_in):
    user_id = await make_user()
    # Five devices, four polls each (a device may park only so many).
    devices = [await sign_in(client_id=f"device-{n}") for n in range(5)]
    phone = devices[0]
    token = (await pull(live_client, phone))["nextSyncToken"]
    polls = [asyncio.create_task(pull(live_client, device, token, wait=60))
             for device in devices for _ in range(4)]
    await parked(services, user_id, 20)
    # Twenty parked polls, yet reads and writes go on as usual.
    for i in range(3):
        await push(live_client, phone, None, change("mkdir", f"m{i}", folder=f"/busy{i}"))
    results = await asyncio.wait_for(asyncio.gather(*polls), 10)
    assert all(r["hasChanges"] for r in results)


async def test_one_poll_past_the_devices_cap_answers_its_oldest_poll(live_client, services,
                                                                    make_user, sign_in):
    """An app polling in a loop cannot park a poll (a socket) per call: one more than the
    cap answers the device's oldest parked poll at once, as if its wait had run out."""
    user_id = await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    cap = services.settings.sync.max_polls_per_device
    token = (await pull(live_client, phone))["nextSyncToken"]
    # The laptop's poll is the oldest of all, but another device's cap is not its concern.
    polls = [asyncio.create_task(pull(live_client, laptop, token, wait=60))]
    await parked(services, user_id)
    for n in range(cap):  # one at a time, so that which is oldest is known
        polls.append(asyncio.create_task(pull(live_client, phone, token, wait=60)))
        await parked(services, user_id, 2 + n)
    assert not any(poll.done() for poll in polls)
    polls.append(asyncio.create_task(pull(live_client, phone, token, wait=60)))
    oldest = await asyncio.wait_for(polls[1], 10)  # answered once the newest parks
    assert oldest["hasChanges"] is False and oldest["nextSyncToken"] == token
    assert oldest["changes"] == {"created": [], "updated": [], "deleted": []}
    assert services.sync.notifier.parked(user_id) == 1 + cap  # the newest parked instead
    assert not any(poll.done() for poll in polls[:1] + polls[2:])
    await push(live_client, laptop, None, change("mkdir", folder="/woken"))
    rest = await asyncio.wait_for(asyncio.gather(*polls[:1], *polls[2:]), 10)
    assert all([e["name"] for e in r["changes"]["created"]] == ["woken"] for r in rest)
    assert services.sync.notifier.parked() == 0


async def test_wait_is_capped(tmp_path):
    services = await Services.open(make_settings(tmp_path / "capped", sync={"max_wait": 1}))
    try:
        await services.accounts.create_user("carol@example.com", PASSWORD, name="Carol")
        signed = await services.sessions.register(
            "carol@example.com", PASSWORD,
            DeviceRegistration(platform="ios", model="iPhone", os_version="17",
                               app_version="1", client_id="c"), "127.0.0.1")
        principal = await services.sessions.principal(signed.tokens.access_token)
        first = await services.sync.changes.status(principal)
        started = time.monotonic()
        status = await services.sync.changes.status(principal, sync_token=first.next_token,
                                                    wait=300)
        assert not status.created and 0.9 < time.monotonic() - started < 5
    finally:
        await services.close()


async def test_journal_watcher_wakes_polls_for_changes_made_elsewhere(live_client, services,
                                                                      make_user, sign_in):
    """A change that did not wake the polls itself (another process wrote it) still does."""
    user_id = await make_user()
    phone = await sign_in()
    token = (await pull(live_client, phone))["nextSyncToken"]
    await services.sync.watcher.check()  # the watcher knows the journal's end
    poll = asyncio.create_task(pull(live_client, phone, token, wait=60))
    await parked(services, user_id)
    notifier = services.sync.notifier
    changed, notifier.changed = notifier.changed, lambda user: None  # as if from elsewhere
    try:
        await push(live_client, phone, None, change("mkdir", folder="/quiet"))
    finally:
        notifier.changed = changed
    assert not poll.done()
    await services.sync.watcher.check()
    data = await asyncio.wait_for(poll, 10)
    assert [e["name"] for e in data["changes"]["created"]] == ["quiet"]


async def test_journal_watcher_wakes_recipients_whose_sharer_was_removed_elsewhere(
        live_client, services, make_user, sign_in):
    """`homesync user remove` (another process) of someone who shared ends their shares in
    the share feed alone: their journal goes with them, and the watcher, which looked at
    the journal only, left the recipients' polls parked until their wait ran out."""
    await make_user()
    bob_id = await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    shared = await store(live_client, alice, b"for bob", name="x.txt", folder="/shared")
    folder = await services.db.fetchone("SELECT id FROM files WHERE name = 'shared'")
    await share(live_client, alice, folder["id"], "bob@example.com")
    token = (await pull(live_client, bob))["nextSyncToken"]
    await services.sync.watcher.check()  # the watcher knows where the journal and feed end
    poll = asyncio.create_task(pull(live_client, bob, token, wait=60))
    await parked(services, bob_id)
    wake, services.shares._changed = services.shares._changed, lambda user: None  # elsewhere
    try:
        await services.accounts.remove_user("alice@example.com")
    finally:
        services.shares._changed = wake
    assert not poll.done()
    await services.sync.watcher.check()
    data = await asyncio.wait_for(poll, 10)
    assert {e["id"] for e in data["changes"]["deleted"]} == {folder["id"], shared}


async def test_a_poll_whose_client_hung_up_is_dropped(live_client, services, make_user,
                                                      sign_in):
    """Servers do not cancel requests of vanished clients; the parked poll must not linger."""
    user_id = await make_user()
    phone = await sign_in()
    token = (await pull(live_client, phone))["nextSyncToken"]
    app = create_app(services.settings, services)
    app.state.services = services
    inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": b"", "more_body": False})
    sent: list[dict[str, object]] = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"{API}/sync/status", "raw_path": f"{API}/sync/status".encode(),
        "root_path": "", "query_string": f"syncToken={token}&wait=60".encode(),
        "headers": [(b"host", b"testserver.local"),
                    (b"authorization", f"Bearer {phone.access}".encode())],
        "client": ("127.0.0.1", 5555), "server": ("testserver.local", 80),
    }
    request = asyncio.create_task(app(scope, inbox.get, send))
    await parked(services, user_id)
    await inbox.put({"type": "http.disconnect"})
    await asyncio.wait_for(request, 5)
    assert services.sync.notifier.parked() == 0


async def test_a_poll_parked_before_its_device_was_removed_answers_401(live_client, services,
                                                                      make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    token = (await pull(live_client, phone))["nextSyncToken"]
    poll = asyncio.create_task(live_client.get(
        f"{API}/sync/status", params={"syncToken": token, "wait": 60}, headers=phone.auth))
    await parked(services, user_id)
    r = await live_client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200
    await push(live_client, laptop, None, change("mkdir", folder="/after-removal"))
    answer = await asyncio.wait_for(poll, 10)
    assert answer.status_code == 401


async def test_a_stop_ends_the_journal_watcher_even_as_a_nudge_wakes_it(services) -> None:
    """A stop that comes just as a nudge wakes the idle watcher: the watcher must end, or
    closing the services (and `homesync serve`'s stop) waits for ever. asyncio.wait_for of
    Python 3.11 returned the nudge and dropped the cancellation."""
    watcher = services.sync.watcher
    task: asyncio.Task[None] | None = None

    class StopAsNudged(asyncio.Event):
        async def wait(self) -> Literal[True]:
            assert task is not None
            task.cancel()  # the stop ...
            return True    # ... in the same moment as the nudge

    watcher._nudged = StopAsNudged()
    task = asyncio.create_task(watcher.run_forever())
    async with asyncio.timeout(10):  # a bound for the broken watcher, which never ends
        await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()
