"""A sign-in also ends on its own: unused for ``auth.refresh_idle_ttl``, or
``auth.refresh_absolute_ttl`` after it began. The server only records that at the
device's next refresh attempt, which a phone nobody uses never makes: pushes must stop
anyway from the moment the sign-in is over (no file names on the lock screen of a phone
left in a drawer), those waiting for it (quiet hours) included, and resume when the
install signs in again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.config import Settings
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device, make_settings
from tests.notifications.conftest import (
    PUSH_SETTINGS,
    Clock,
    RegisterPush,
    alert,
    delivery_rows,
    shared,
)
from tests.notifications.test_outbox_policy import NIGHT_BERLIN, at
from tests.notifications.test_signed_out_push import titles
from tests.push.conftest import MakeReceiver
from tests.push.receivers import Reply

MINUTE = 60.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", notifications=dict(PUSH_SETTINGS),
                         storage={"disk_reserve": "0"},
                         auth={"refresh_idle_ttl": "1h", "refresh_absolute_ttl": "12h"})


async def refreshed(client: AsyncTestClient[Any], dev: Device) -> Device:
    r = await client.post(f"{API}/auth/refresh",
                          json={"refreshToken": dev.refresh, "deviceId": dev.client_id})
    assert r.status_code == 200, r.text
    tokens = r.json()["tokens"]
    return Device(user_id=dev.user_id, email=dev.email, device_id=dev.device_id,
                  client_id=dev.client_id, access=tokens["accessToken"],
                  refresh=tokens["refreshToken"])


async def test_a_phone_left_unused_past_its_idle_lifetime_is_pushed_nothing_more(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    phone_rx, laptop_rx = await make_receiver(), await make_receiver()
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin: the phone's quiet hours
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    await register_push(phone, f"{phone_rx.url}/up/phone", **NIGHT_BERLIN)
    await register_push(laptop, f"{laptop_rx.url}/up/laptop")
    await services.outbox.drain()
    phone_rx.requests.clear()  # the laptop's sign-in alert
    await shared(services, phone.user_id, "before.jpg")
    await services.outbox.drain()
    (held,) = await delivery_rows(services, device_id=phone.device_id, status="pending")

    # The phone goes into a drawer; the laptop is in use (refreshing) until 07:00 in Berlin.
    for _ in range(9):
        frozen.advance(50 * MINUTE)
        laptop = await refreshed(client, laptop)
    await shared(services, phone.user_id, "after.jpg")
    await alert(services, phone.user_id, "new_device", "New device login detected")
    await services.outbox.drain()

    assert titles(phone_rx) == []
    assert sorted(titles(laptop_rx)) == ["John shared a file with you"] * 2 + [
        "New device login detected"]
    (cancelled,) = [r for r in await delivery_rows(services, device_id=phone.device_id)
                    if r["id"] == held["id"]]
    assert (cancelled["status"], cancelled["last_error"]) == ("cancelled", "signed out")

    # Signing in again on the phone (its push token kept) brings its pushes back.
    frozen.advance(1)
    await sign_in(client_id="phone")
    frozen.advance(1)
    await shared(services, phone.user_id, "again.jpg")
    await services.outbox.drain()
    assert titles(phone_rx) == ["John shared a file with you"]


async def test_a_sign_in_past_its_total_lifetime_is_pushed_nothing_more(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    laptop_rx = await make_receiver()
    await make_user()
    laptop = await sign_in(client_id="laptop")
    await register_push(laptop, f"{laptop_rx.url}/up/laptop")
    for _ in range(14):  # in use all along: 11h40m of refreshes within the idle hour
        frozen.advance(50 * MINUTE)
        laptop = await refreshed(client, laptop)
    frozen.advance(19 * MINUTE)
    await shared(services, laptop.user_id, "in time.jpg")
    await services.outbox.drain()
    frozen.advance(2 * MINUTE)  # twelve hours and a minute after signing in
    await shared(services, laptop.user_id, "too late.jpg")
    await services.outbox.drain()

    assert titles(laptop_rx) == ["John shared a file with you"]


async def test_pushes_waiting_for_a_sign_in_that_ran_out_stop_counting_and_are_cancelled(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: MakeReceiver, frozen: Clock,
) -> None:
    """The push service said "come back tomorrow": the push waits a day. The phone's
    sign-in runs out meanwhile (no refresh in the idle hour): its push is not waiting for
    anything any more, in `homesync status` and the metrics, nor in the outbox."""
    phone_rx = await make_receiver()
    phone_rx.script(Reply(429, {"Retry-After": "86400"}))
    await make_user()
    phone = await sign_in(client_id="phone")
    await register_push(phone, f"{phone_rx.url}/up/phone")
    frozen.advance(1)
    await shared(services, phone.user_id, "holiday.jpg")
    await services.outbox.drain()
    (waiting,) = await delivery_rows(services, status="pending")
    assert waiting["next_attempt_at"] == frozen.ms + 86_400_000
    report = await services.status.report()
    assert (report.pending_notifications, report.retrying_pushes) == (1, 1)

    frozen.advance(61 * MINUTE)  # the idle hour is over; nothing has come due
    report = await services.status.report()
    assert (report.pending_notifications, report.retrying_pushes) == (0, 0)
    await services.outbox.drain()  # the worker's hourly housekeeping
    (cancelled,) = await delivery_rows(services)
    assert (cancelled["status"], cancelled["last_error"]) == ("cancelled", "signed out")
    assert len(phone_rx.requests) == 1
