"""Logging out (POST /auth/logout) stops the device's pushes: a phone signed out and handed
on must not show the account's shares and alerts on its lock screen."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.notifications.conftest import Clock, RegisterPush, delivery_rows, shared
from tests.notifications.test_outbox_policy import NIGHT_BERLIN, at
from tests.push.conftest import MakeReceiver


async def test_a_logged_out_device_gets_no_more_pushes(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx, tablet_rx = await make_receiver(), await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin: the tablet's quiet hours
    await make_user()
    phone = await sign_in()
    tablet = await sign_in(client_id="tablet")
    await register_push(phone, f"{phone_rx.url}/up/phone")
    await register_push(tablet, f"{tablet_rx.url}/up/tablet", **NIGHT_BERLIN)
    await services.outbox.drain()
    phone_rx.requests.clear()  # the tablet's sign-in alert
    await shared(services, phone.user_id)
    await services.outbox.drain()
    (held,) = await delivery_rows(services, device_id=tablet.device_id, status="pending")

    r = await client.post(f"{API}/auth/logout", headers=tablet.auth)
    assert r.status_code == 200, r.text
    (cancelled,) = await delivery_rows(services, device_id=tablet.device_id)
    assert (cancelled["id"], cancelled["status"], cancelled["last_error"]) == (
        held["id"], "cancelled", "signed out")

    await shared(services, phone.user_id)  # after the logout: not for the tablet at all
    frozen.set(at(2024, 6, 4, 5, 0))  # 07:00 in Berlin: nothing held comes out either
    await services.outbox.drain()
    assert tablet_rx.requests == []
    assert [r.json()["category"] for r in phone_rx.requests] == ["shares", "shares"]
    rows = await services.db.fetchall("SELECT id, push_token FROM devices ORDER BY id")
    assert {r["id"]: r["push_token"] is not None for r in rows} == {
        phone.device_id: True, tablet.device_id: False}


async def test_signing_in_again_with_a_push_token_starts_pushes_anew(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    rx = await make_receiver()
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{rx.url}/up/phone")
    assert (await client.post(f"{API}/auth/logout", headers=phone.auth)).status_code == 200
    frozen.advance(1)
    again = await sign_in(pushToken=f"{rx.url}/up/phone")
    assert again.device_id == phone.device_id
    frozen.advance(1)
    await shared(services, phone.user_id)
    await services.outbox.drain()
    assert [r.json()["category"] for r in rx.requests] == ["shares"]
