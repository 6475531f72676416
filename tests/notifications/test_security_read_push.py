"""A security alert is pushed even when it was read in the app first: the inbox is the
account's, and whoever signed in on a new device can read it there, so a read mark must
not be able to stop the alert about that very sign-in from reaching the owner's phone."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.notifications.conftest import Clock, RegisterPush, delivery_rows, shared
from tests.push.receivers import Receiver, Reply


async def test_an_alert_read_by_the_new_device_still_reaches_the_phone(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone")
    await services.outbox.drain()
    receiver.script(Reply(503))  # the phone's push service is down for a moment
    frozen.advance(60)
    intruder = await sign_in(client_id="intruder", model="Laptop")
    await services.outbox.drain()
    (waiting,) = await delivery_rows(services, status="pending")

    r = await client.post(f"{API}/notifications/read-all", headers=intruder.auth)
    assert r.status_code == 200 and r.json()["data"]["markedRead"] == 2
    frozen.set(waiting["next_attempt_at"] / 1000)
    await services.outbox.drain()

    kinds = [r.json()["data"]["kind"] for r in receiver.requests]
    assert kinds == ["new_device", "new_device"]  # the 503, then the retry
    (row,) = await delivery_rows(services)
    assert (row["status"], row["attempts"]) == ("delivered", 2)


async def test_other_notifications_read_first_are_still_not_pushed(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone")
    await services.outbox.drain()
    receiver.script(Reply(503))
    frozen.advance(60)
    await shared(services, phone.user_id)
    await services.outbox.drain()
    (waiting,) = await delivery_rows(services, status="pending")

    await client.post(f"{API}/notifications/read-all", headers=phone.auth)
    frozen.set(waiting["next_attempt_at"] / 1000)
    await services.outbox.drain()

    assert len(receiver.requests) == 1  # only the attempt that met the 503
    (row,) = await delivery_rows(services)
    assert (row["status"], row["last_error"]) == ("cancelled", "read in the app")
