"""Removing a device (DELETE /devices/{id}): the user's other devices are told at once, even in
quiet hours; the removed device is not, and pushes still waiting for it are cancelled."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.notifications.conftest import Clock, RegisterPush, delivery_rows, shared
from tests.notifications.test_outbox_policy import NIGHT_BERLIN, at, categories
from tests.push.conftest import MakeReceiver


async def test_removed_device_gets_nothing_more_and_the_others_hear_of_it_at_once(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx, tablet_rx = await make_receiver(), await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin: both devices' quiet hours
    await make_user()
    phone = await sign_in()
    frozen.advance(1)  # a device hears of what happens from the millisecond it signs in
    tablet = await sign_in(client_id="tablet")
    await register_push(phone, f"{phone_rx.url}/up/phone", **NIGHT_BERLIN)
    await register_push(tablet, f"{tablet_rx.url}/up/tablet", **NIGHT_BERLIN)
    await services.outbox.drain()
    phone_rx.requests.clear()  # the tablet's sign-in alert
    await shared(services, phone.user_id)
    await services.outbox.drain()
    assert phone_rx.requests == tablet_rx.requests == []  # held till morning

    frozen.advance(60)
    r = await client.delete(f"{API}/devices/{tablet.device_id}", headers=phone.auth)
    assert r.status_code == 200, r.text
    await services.outbox.drain()
    (alert,) = phone_rx.requests  # security: not held by quiet hours
    assert alert.json()["data"] == {"deviceId": tablet.device_id, "kind": "device_removed"}
    assert tablet_rx.requests == []

    frozen.set(at(2024, 6, 4, 5, 0))  # 07:00: the phone's held share goes out, not the tablet's
    await services.outbox.drain()
    assert categories(phone_rx) == ["security", "shares"] and tablet_rx.requests == []
    (cancelled,) = await delivery_rows(services, device_id=tablet.device_id, status="cancelled")
    assert cancelled["category"] == "shares" and cancelled["last_error"] == "device removed"


async def test_pushes_held_for_a_removed_device_are_cancelled_at_once(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    # Held till morning, a removed device's pushes would wait (and count as the outbox's
    # work, in `homesync status` and the metrics) for a device that is gone.
    phone_rx, tablet_rx = await make_receiver(), await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin
    await make_user()
    phone = await sign_in()
    tablet = await sign_in(client_id="tablet")
    await register_push(phone, f"{phone_rx.url}/up/phone", **NIGHT_BERLIN)
    await register_push(tablet, f"{tablet_rx.url}/up/tablet", **NIGHT_BERLIN)
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await services.outbox.drain()
    assert len(await delivery_rows(services, status="pending")) == 2  # held, one each

    frozen.advance(60)
    r = await client.delete(f"{API}/devices/{tablet.device_id}", headers=phone.auth)
    assert r.status_code == 200, r.text
    await services.outbox.drain()  # the phone hears of it (security: not held)

    (cancelled,) = await delivery_rows(services, device_id=tablet.device_id)
    assert (cancelled["status"], cancelled["last_error"]) == ("cancelled", "device removed")
    assert cancelled["finished_at"] == frozen.ms and cancelled["held_until"] is None
    (held,) = await delivery_rows(services, status="pending")
    assert held["device_id"] == phone.device_id
    assert (await services.status.report()).pending_notifications == 1
