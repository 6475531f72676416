"""A device is pushed to only while it is signed in. A password change or a caught
refresh-token theft signs devices out as a logout does: from then on nothing more of the
account (a share's file name, an upload) reaches their lock screens — a stolen phone's
included —, and pushes still waiting for them (quiet hours, retries) are cancelled. The
security notice of that very moment still reaches them (it names no file), and pushes
resume when the install signs in again, without registering its push token anew."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device, device_from, device_info
from tests.notifications.conftest import Clock, RegisterPush, alert, delivery_rows, shared
from tests.notifications.test_outbox_policy import NIGHT_BERLIN, at
from tests.push.conftest import MakeReceiver
from tests.push.receivers import Receiver, Reply

NEW_PASSWORD = "a brand new passphrase"


def titles(rx: Receiver) -> list[str]:
    return [r.json()["title"] for r in rx.requests]


async def test_a_password_change_stops_the_pushes_of_the_devices_it_signs_out(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx, tablet_rx = await make_receiver(), await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin: the tablet's quiet hours
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    await register_push(phone, f"{phone_rx.url}/up/phone")
    await register_push(tablet, f"{tablet_rx.url}/up/tablet", **NIGHT_BERLIN)
    await services.outbox.drain()
    phone_rx.requests.clear()  # the tablet's sign-in alert
    await shared(services, phone.user_id, "before.jpg")
    await services.outbox.drain()
    (held,) = await delivery_rows(services, device_id=tablet.device_id, status="pending")
    phone_rx.requests.clear()

    # The phone was stolen: its owner has the password changed (`homesync user passwd`).
    frozen.advance(1)
    await services.accounts.set_password("alice@example.com", NEW_PASSWORD)
    frozen.advance(1)
    await shared(services, phone.user_id, "after.jpg")
    frozen.set(at(2024, 6, 4, 5, 0))  # 07:00 in Berlin: nothing held comes out either
    await services.outbox.drain()

    # Only the notice of the change itself, which names no file.
    assert titles(phone_rx) == ["Password changed"]
    assert titles(tablet_rx) == ["Password changed"]
    (cancelled,) = [r for r in await delivery_rows(services, device_id=tablet.device_id)
                    if r["id"] == held["id"]]
    assert (cancelled["status"], cancelled["last_error"]) == ("cancelled", "signed out")

    # The owner signs in again on the tablet, with the new password and no push token:
    # its pushes go on; the phone, still signed out, gets nothing.
    r = await client.post(f"{API}/auth/register", json={
        "email": "alice@example.com", "password": NEW_PASSWORD,
        "deviceInfo": device_info("tablet")})
    assert r.status_code == 200, r.text
    assert device_from(r.json(), "alice@example.com", "tablet").device_id == tablet.device_id
    frozen.advance(1)
    await shared(services, phone.user_id, "again.jpg")
    await services.outbox.drain()
    assert titles(tablet_rx) == ["Password changed", "John shared a file with you"]
    assert titles(phone_rx) == ["Password changed"]


async def test_a_device_signed_out_for_a_stolen_refresh_token_is_pushed_nothing_more(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx, laptop_rx = await make_receiver(), await make_receiver()
    await make_user()
    phone: Device = await sign_in(client_id="phone")
    laptop: Device = await sign_in(client_id="laptop")
    await register_push(phone, f"{phone_rx.url}/up/phone")
    await register_push(laptop, f"{laptop_rx.url}/up/laptop")
    await services.outbox.drain()
    phone_rx.requests.clear()  # the laptop's sign-in alert

    frozen.advance(1)
    # The phone's refresh token presented by another install: theft, the phone's sign-in ends.
    r = await client.post(f"{API}/auth/refresh", json={
        "refreshToken": phone.refresh, "deviceId": "someone-elses-phone"})
    assert r.status_code == 401, r.text
    frozen.advance(1)
    await shared(services, phone.user_id)
    await services.outbox.drain()

    assert titles(phone_rx) == ["Suspicious sign-in blocked"]
    assert titles(laptop_rx) == ["Suspicious sign-in blocked", "John shared a file with you"]


async def test_pushes_held_for_a_device_are_cancelled_the_moment_its_refresh_token_is_stolen(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx = await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin: the phone's quiet hours
    await make_user()
    phone: Device = await sign_in(client_id="phone")
    await register_push(phone, f"{phone_rx.url}/up/phone", **NIGHT_BERLIN)
    await shared(services, phone.user_id)
    await services.outbox.drain()
    (held,) = await delivery_rows(services, device_id=phone.device_id, status="pending")

    frozen.advance(1)
    r = await client.post(f"{API}/auth/refresh", json={
        "refreshToken": phone.refresh, "deviceId": "someone-elses-phone"})
    assert r.status_code == 401, r.text

    # At once, not at 07:00 when it would have come due: it is no work of the outbox's.
    (cancelled,) = await delivery_rows(services, device_id=phone.device_id)
    assert (cancelled["id"], cancelled["status"], cancelled["last_error"]) == (
        held["id"], "cancelled", "signed out")
    assert (await services.status.report()).pending_notifications == 1  # the theft notice
    await services.outbox.drain()
    assert titles(phone_rx) == ["Suspicious sign-in blocked"]


async def test_a_password_change_cancels_at_once_the_retries_it_ends_but_not_earlier_alerts(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    laptop_rx = await make_receiver()
    await make_user()
    laptop: Device = await sign_in(client_id="laptop")
    await register_push(laptop, f"{laptop_rx.url}/up/laptop")
    laptop_rx.script(Reply(503), Reply(503))  # the push service is down for a moment
    await shared(services, laptop.user_id)
    await alert(services, laptop.user_id, "token_reuse", "Suspicious sign-in blocked")
    await services.outbox.drain()
    retrying = await delivery_rows(services, device_id=laptop.device_id, status="pending")
    assert sorted(r["category"] for r in retrying) == ["security", "shares"]

    frozen.advance(1)
    await services.accounts.set_password("alice@example.com", NEW_PASSWORD)

    # The share's retry is cancelled with the sign-in; the alert made before still goes.
    rows = {r["category"]: r for r in await delivery_rows(services, device_id=laptop.device_id)}
    assert (rows["shares"]["status"], rows["shares"]["last_error"]) == ("cancelled", "signed out")
    assert rows["security"]["status"] == "pending"
    # The alert's retry and the password change's notice (not yet fanned out).
    assert (await services.status.report()).pending_notifications == 2
    frozen.advance(3600)
    await services.outbox.drain()
    assert sorted(titles(laptop_rx)) == [
        "John shared a file with you", "Password changed", "Suspicious sign-in blocked",
        "Suspicious sign-in blocked"]
