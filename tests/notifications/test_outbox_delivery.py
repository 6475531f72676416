"""The push outbox against real local endpoints: delivery, retries with backoff, dropped
endpoints, timeouts, giving up, restarts and crashes, and one user's pushes never reaching
another user's devices."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Literal

import pytest
from litestar.testing import AsyncTestClient

from homesync.config import Settings
from homesync.services.container import Services
from homesync.services.notifications.events import security_event
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, make_settings
from tests.notifications.conftest import (
    PUSH_SETTINGS,
    Clock,
    RegisterPush,
    alert,
    delivery_rows,
    device,
    shared,
    uploaded,
)
from tests.push.receivers import Receiver, Reply


async def test_new_device_login_is_pushed_to_the_other_devices(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone")
    frozen.advance(60)
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab",
                           pushToken=f"{receiver.url}/up/tablet")
    await services.outbox.drain()

    (request,) = receiver.requests  # the phone's own sign-in predates its registration
    assert (request.method, request.path) == ("POST", "/up/phone")
    inbox = (await client.get(f"{API}/notifications", headers=phone.auth)).json()["data"]
    newest = inbox["notifications"][0]
    assert request.json() == {
        "notificationId": newest["id"], "category": "security",
        "title": "New device login detected", "body": newest["body"],
        "data": {"deviceId": tablet.device_id, "kind": "new_device"}, "priority": "high",
    }
    (row,) = await delivery_rows(services, status="delivered")
    assert (row["device_id"], row["provider"], row["attempts"]) == (phone.device_id,
                                                                    "unifiedpush", 1)
    status = (await client.get(f"{API}/notifications/preferences", headers=phone.auth)).json()
    assert status["data"]["push"]["lastDeliveredAt"] == "2024-06-03T10:01:00Z"
    assert await services.outbox.drain() == 0  # nothing left, nothing sent twice
    assert len(receiver.requests) == 1


async def test_500s_are_retried_with_backoff_and_delivered_once(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.outbox.drain()
    receiver.script(Reply(500), Reply(503), Reply(201))
    await alert(services, phone.user_id)

    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 1, "HTTP 500")
    # 15 s initial delay with jitter into its upper half.
    assert frozen.ms + 7_500 <= row["next_attempt_at"] <= frozen.ms + 15_000
    assert await services.outbox.drain() == 0 and len(receiver.requests) == 1  # not due yet

    frozen.set(row["next_attempt_at"] / 1000)
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["attempts"], row["last_error"]) == (2, "HTTP 503")
    assert frozen.ms + 15_000 <= row["next_attempt_at"] <= frozen.ms + 30_000

    frozen.set(row["next_attempt_at"] / 1000)
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["status"], row["attempts"], row["last_error"]) == ("delivered", 3, None)
    assert len({r.json()["notificationId"] for r in receiver.requests}) == 1

    frozen.advance(7 * 86400)
    assert await services.outbox.drain() == 0
    assert len(receiver.requests) == 3


async def test_429_retry_after_is_honoured(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.outbox.drain()
    receiver.script(Reply(429, {"Retry-After": "120"}))
    await alert(services, phone.user_id)
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert row["next_attempt_at"] == frozen.ms + 120_000
    frozen.advance(119)
    assert await services.outbox.drain() == 0
    frozen.advance(1)
    await services.outbox.drain()
    assert (await delivery_rows(services))[0]["status"] == "delivered"


async def test_gone_endpoint_is_dropped_and_not_used_again(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/old")
    await services.outbox.drain()
    receiver.script(Reply(410))
    await alert(services, phone.user_id)
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["status"], row["last_error"]) == ("dropped", "HTTP 410")
    push = (await client.get(f"{API}/notifications/preferences",
                             headers=phone.auth)).json()["data"]["push"]
    assert push["registered"] is False and push["lastError"] == "HTTP 410"

    await alert(services, phone.user_id)
    await services.outbox.drain()
    assert len(receiver.requests) == 1  # the inbox has it; no push to a dead endpoint
    # The app registers its new endpoint: pushes resume.
    await register_push(phone, f"{receiver.url}/up/new")
    await alert(services, phone.user_id)
    await services.outbox.drain()
    assert [r.path for r in receiver.requests] == ["/up/old", "/up/new"]


async def test_registering_again_after_a_dropped_endpoint_clears_its_error(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    """``lastError: "HTTP 410"`` tells the app to register again; once it has, the error
    is about an endpoint that is gone, and an app doing as told must not loop on it."""
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/old")
    receiver.script(Reply(410))
    await alert(services, phone.user_id)
    await services.outbox.drain()
    push = (await register_push(phone, f"{receiver.url}/up/new"))["push"]
    assert (push["registered"], push["lastError"]) == (True, None)
    push = (await client.get(f"{API}/notifications/preferences",
                             headers=phone.auth)).json()["data"]["push"]
    assert (push["registered"], push["lastError"]) == (True, None)


@pytest.mark.parametrize("how", ["register", "sign_in"])
async def test_a_new_push_token_brings_the_waiting_retries_forward(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: Any, frozen: Clock, how: str,
) -> None:
    """The old endpoint kept failing, so the pushes wait out a backoff (up to
    retry_max_delay); the app registers a new one (or signs in again on the same install
    with it in deviceInfo.pushToken): they go to it now, not then."""
    old, new = await make_receiver(), await make_receiver()
    old.default = Reply(503)
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{old.url}/up/old")
    frozen.advance(60)
    await alert(services, phone.user_id)
    await services.outbox.drain()
    for _ in range(2):  # the backoff grows: 15 s, 30 s, then 1 min
        frozen.set((await delivery_rows(services))[0]["next_attempt_at"] / 1000)
        await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["status"], row["attempts"], row["last_error"]) == ("pending", 3, "HTTP 503")
    assert row["next_attempt_at"] > frozen.ms

    async def new_token(token: str) -> None:
        if how == "register":
            await register_push(phone, token)
        else:
            assert (await sign_in(pushToken=token)).device_id == phone.device_id

    await new_token(f"{new.url}/up/new")
    await services.outbox.drain()  # the clock has not moved
    (row,) = await delivery_rows(services)
    assert (row["status"], row["attempts"]) == ("delivered", 4)
    assert [r.json()["notificationId"] for r in new.requests] == [row["notification_id"]]

    # Registering the same token again (apps do, at every start) is not a new one: a
    # failing endpoint's backoff is kept.
    new.default = Reply(503)
    await alert(services, phone.user_id)
    await services.outbox.drain()
    await new_token(f"{new.url}/up/new")
    assert await services.outbox.drain() == 0
    assert len(new.requests) == 2


async def test_slow_endpoint_times_out_and_is_retried(
    tmp_path: Path, receiver: Receiver, frozen: Clock,
) -> None:
    settings = make_settings(tmp_path / "data", storage={"disk_reserve": "0"},
                             notifications={**PUSH_SETTINGS, "send_timeout": "1s"})
    services = await Services.open(settings)
    try:
        phone = await device(services, "alice@example.com", "phone",
                             push_token=f"{receiver.url}/up/1")
        await services.outbox.drain()
        receiver.script(Reply(hang=True))
        await alert(services, phone.user_id)
        await services.outbox.drain()  # gives up after send_timeout (1s)
        (row,) = await delivery_rows(services)
        assert (row["status"], row["last_error"], row["lease_until"]) == (
            "pending", "timeout", None)
        frozen.set(row["next_attempt_at"] / 1000)
        await services.outbox.drain()
        assert (await delivery_rows(services))[0]["status"] == "delivered"
    finally:
        await services.close()
    assert len(receiver.requests) == 2


async def test_gives_up_after_the_configured_time_and_says_why(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.outbox.drain()
    receiver.default = Reply(503)
    await alert(services, phone.user_id)
    await services.outbox.drain()
    frozen.advance(24 * 3600)  # give_up_after
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert row["status"] == "failed"
    assert row["last_error"] == "gave up after 2 attempts: HTTP 503"
    assert len(receiver.requests) == 2
    frozen.advance(24 * 3600)
    assert await services.outbox.drain() == 0


async def test_pending_pushes_survive_a_restart(
    tmp_path: Path, settings: Settings, receiver: Receiver, frozen: Clock,
) -> None:
    first = await Services.open(settings)
    phone = await device(first, "alice@example.com", "phone", push_token=f"{receiver.url}/up/1")
    await first.outbox.drain()
    receiver.script(Reply(500))
    notification_id = await alert(first, phone.user_id)
    await first.outbox.drain()
    await first.close()

    second = await Services.open(settings)
    try:
        frozen.advance(3600)
        await second.outbox.drain()
        (row,) = await delivery_rows(second)
        assert (row["status"], row["attempts"]) == ("delivered", 2)
        assert [r.json()["notificationId"] for r in receiver.requests] == [notification_id] * 2
    finally:
        await second.close()


async def test_a_crash_mid_send_is_redelivered_after_the_lease_once(
    settings: Settings, receiver: Receiver, frozen: Clock,
) -> None:
    first = await Services.open(settings)
    phone = await device(first, "alice@example.com", "phone", push_token=f"{receiver.url}/up/1")
    await first.outbox.drain()
    arrived = asyncio.Event()

    async def hang_after_noting(request: Any) -> Reply:
        arrived.set()
        await asyncio.Event().wait()  # the answer never comes: the process dies first
        raise AssertionError("unreachable")

    receiver.handler = hang_after_noting
    await alert(first, phone.user_id)
    round_ = asyncio.create_task(first.outbox.run_once())
    await arrived.wait()
    # kill -9: the round dies mid-send, nothing is recorded or released.
    round_.cancel()
    await asyncio.gather(round_, return_exceptions=True)
    await first.push.aclose()
    await first.db.close()

    receiver.handler = None
    second = await Services.open(settings)
    try:
        assert await second.outbox.drain() == 0  # still leased by the dead process
        (row,) = await delivery_rows(second)
        assert row["status"] == "pending" and row["lease_until"] > frozen.ms
        frozen.set(row["lease_until"] / 1000)
        await second.outbox.drain()
        (row,) = await delivery_rows(second)
        assert (row["status"], row["attempts"]) == ("delivered", 2)
        assert len(receiver.requests) == 2
        ids = {r.json()["notificationId"] for r in receiver.requests}
        assert len(ids) == 1  # the same id both times: the app drops the duplicate
    finally:
        await second.close()


async def test_a_clean_shutdown_hands_back_its_leases(
    settings: Settings, receiver: Receiver, frozen: Clock,
) -> None:
    first = await Services.open(settings)
    phone = await device(first, "alice@example.com", "phone", push_token=f"{receiver.url}/up/1")
    await first.outbox.drain()
    arrived = asyncio.Event()

    async def hang(request: Any) -> Reply:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    receiver.handler = hang
    await alert(first, phone.user_id)
    await first.start_background()  # the server's push worker
    await arrived.wait()
    await first.close()  # shutdown cancels the worker mid-send

    receiver.handler = None
    second = await Services.open(settings)
    try:
        await second.outbox.drain()  # no lease to wait for
        assert (await delivery_rows(second))[0]["status"] == "delivered"
    finally:
        await second.close()


async def test_one_users_pushes_never_reach_another_user(
    services: Services, make_receiver: Any, frozen: Clock,
) -> None:
    alice_rx, bob_rx = await make_receiver(), await make_receiver()
    alice = await device(services, "alice@example.com", "alice-phone",
                         push_token=f"{alice_rx.url}/up/alice")
    bob = await device(services, "bob@example.com", "bob-phone", name="Bob Builder",
                       push_token=f"{bob_rx.url}/up/bob")
    await services.outbox.drain()
    assert bob_rx.requests == []  # Bob's sign-in did not push to Alice, nor hers to Bob
    assert alice_rx.requests == []

    await alert(services, alice.user_id)
    await shared(services, alice.user_id)
    await uploaded(services, alice, "IMG_1.jpg")
    frozen.advance(600)
    await services.outbox.drain()
    assert bob_rx.requests == []
    assert sorted(r.json()["category"] for r in alice_rx.requests) == [
        "security", "shares", "uploads"]
    assert {r.json()["notificationId"] for r in alice_rx.requests}.isdisjoint(
        {row["id"] for row in await services.db.fetchall(
            "SELECT id FROM notifications WHERE user_id = ?", (bob.user_id,))})


async def test_push_off_keeps_the_inbox(tmp_path: Path, receiver: Receiver, frozen: Clock) -> None:
    settings = make_settings(tmp_path / "data",
                             notifications={**PUSH_SETTINGS, "enabled": False})
    services = await Services.open(settings)
    try:
        phone = await device(services, "alice@example.com", "phone",
                             push_token=f"{receiver.url}/up/1")
        await alert(services, phone.user_id)
        await services.outbox.drain()
        assert receiver.requests == [] and await delivery_rows(services) == []
        page = await services.notifications.inbox(phone)
        assert [i.kind for i in page.items] == ["password_changed", "new_device"]
    finally:
        await services.close()


async def test_a_committed_notification_wakes_the_push_worker(
    services: Services, frozen: Clock,
) -> None:
    # Without this the worker would find it only at its next poll (poll_interval).
    phone = await device(services, "alice@example.com", "phone")
    wake = services.outbox._wake  # the event the idle worker waits on
    wake.clear()
    with contextlib.suppress(ValueError):
        async with services.db.transaction() as tx:
            await security_event(tx, user_id=phone.user_id, kind="password_changed",
                                 title="Password changed", body="-", now=frozen.ms)
            raise ValueError("rolled back: nothing to deliver")
    assert not wake.is_set()
    await alert(services, phone.user_id)
    assert wake.is_set()


async def test_shutdown_stops_the_worker_even_as_a_notification_wakes_it(
    services: Services, frozen: Clock,
) -> None:
    """A stop that comes just as a committed notification wakes the idle worker: the
    worker must end, or closing the services (and `homesync serve`'s stop) waits for ever.
    asyncio.wait_for of Python 3.11 returned the wake-up and dropped the cancellation."""
    worker: asyncio.Task[None] | None = None

    class StopAsWoken(asyncio.Event):
        async def wait(self) -> Literal[True]:
            assert worker is not None
            worker.cancel()  # the shutdown ...
            return True      # ... in the same moment as the wake-up

    services.outbox._wake = StopAsWoken()
    worker = asyncio.create_task(services.outbox.run_forever())
    async with asyncio.timeout(10):  # a bound for the broken worker, which never ends
        await asyncio.gather(worker, return_exceptions=True)
    assert worker.cancelled()
