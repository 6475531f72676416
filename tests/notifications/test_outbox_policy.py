"""Who gets which push when: quiet hours (across midnight, across DST changes), security
bypass, category switches, notifications read before their push, upload summaries."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from homesync.services.notifications.service import PreferenceChanges, QuietHoursChanges
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.notifications.conftest import (
    Clock,
    RegisterPush,
    alert,
    delivery_rows,
    device,
    shared,
    uploaded,
)
from tests.push.receivers import Receiver
from tests.uploads.flow import upload

NIGHT_BERLIN = {"quietHours": {"enabled": True, "start": "22:00", "end": "07:00",
                               "timezone": "Europe/Berlin"}}


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def prefs(body: dict[str, Any]) -> PreferenceChanges:
    """Wire-style preferences → the service's PreferenceChanges."""
    quiet = body.get("quietHours")
    return PreferenceChanges(
        **{k: v for k, v in body.items() if k != "quietHours"},
        quiet_hours=QuietHoursChanges(**quiet) if quiet else None,
    )


def categories(receiver: Receiver) -> list[str]:
    return [r.json()["category"] for r in receiver.requests]


async def test_quiet_hours_hold_until_morning_but_security_goes_through(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone", **NIGHT_BERLIN)
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await alert(services, phone.user_id)
    await services.outbox.drain()
    assert categories(receiver) == ["security"]
    held = (await delivery_rows(services, category="shares"))[0]
    assert held["held_until"] == held["next_attempt_at"] == int(at(2024, 6, 4, 5, 0) * 1000)
    assert held["attempts"] == 0  # holding is not an attempt

    frozen.set(at(2024, 6, 4, 4, 59, 59))  # 06:59:59, past midnight, still quiet
    assert await services.outbox.drain() == 0
    frozen.set(at(2024, 6, 4, 5, 0))  # 07:00
    await services.outbox.drain()
    assert categories(receiver) == ["security", "shares"]


async def test_quiet_hours_follow_the_spring_dst_change(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    """Berlin, night of 30→31 March 2024: clocks jump 02:00 → 03:00, so 07:00 local is
    05:00 UTC, not 06:00 as the evening's UTC offset would suggest."""
    frozen.set(at(2024, 3, 30, 22, 0))  # 23:00 CET
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.notifications.update_preferences(phone, prefs(NIGHT_BERLIN))
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await services.outbox.drain()
    assert receiver.requests == []
    frozen.set(at(2024, 3, 31, 4, 59, 59))  # 06:59:59 CEST
    assert await services.outbox.drain() == 0
    frozen.set(at(2024, 3, 31, 5, 0))  # 07:00 CEST
    await services.outbox.drain()
    assert categories(receiver) == ["shares"]


async def test_quiet_hours_follow_the_autumn_dst_change(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    """Berlin, night of 26→27 October 2024: clocks go back 03:00 → 02:00, so 07:00 local
    is 06:00 UTC."""
    frozen.set(at(2024, 10, 26, 21, 0))  # 23:00 CEST
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.notifications.update_preferences(phone, prefs(NIGHT_BERLIN))
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await services.outbox.drain()
    frozen.set(at(2024, 10, 27, 5, 59, 59))  # 06:59:59 CET
    assert await services.outbox.drain() == 0
    frozen.set(at(2024, 10, 27, 6, 0))
    await services.outbox.drain()
    assert categories(receiver) == ["shares"]


async def test_switching_quiet_hours_off_sends_what_they_held(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    frozen.set(at(2024, 6, 3, 21, 30))
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/phone", **NIGHT_BERLIN)
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await services.outbox.drain()
    assert receiver.requests == []
    r = await client.put(f"{API}/notifications/preferences", headers=phone.auth,
                         json={"quietHours": {"enabled": False}})
    assert r.json()["data"]["push"]["pending"] == 1
    await services.outbox.drain()
    assert categories(receiver) == ["shares"]


async def test_each_device_keeps_its_own_quiet_hours(
    services: Services, make_receiver: Any, frozen: Clock,
) -> None:
    frozen.set(at(2024, 6, 3, 21, 30))  # 23:30 in Berlin, 14:30 in Los Angeles
    berlin_rx, la_rx = await make_receiver(), await make_receiver()
    berlin = await device(services, "alice@example.com", "phone",
                          push_token=f"{berlin_rx.url}/up/1")
    frozen.advance(1)
    travel = await device(services, "alice@example.com", "travel-phone",
                          push_token=f"{la_rx.url}/up/2")
    await services.notifications.update_preferences(berlin, prefs(NIGHT_BERLIN))
    await services.notifications.update_preferences(travel, prefs(
        {"quietHours": {"enabled": True, "timezone": "America/Los_Angeles"}}))
    await services.outbox.drain()
    await shared(services, berlin.user_id)
    await services.outbox.drain()
    # Berlin got only the (never held) alert about the travel phone's sign-in.
    assert categories(berlin_rx) == ["security"] and categories(la_rx) == ["shares"]


async def test_switched_off_categories_are_not_pushed(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.notifications.update_preferences(phone, prefs({"shares": False,
                                                                  "security": False}))
    await services.outbox.drain()
    await shared(services, phone.user_id)
    await alert(services, phone.user_id)
    await services.outbox.drain()
    assert receiver.requests == [] and await delivery_rows(services) == []
    # Switched off while a push waits: it is cancelled, not sent.
    await services.notifications.update_preferences(phone, prefs({"shares": True, **NIGHT_BERLIN}))
    frozen.set(at(2024, 6, 3, 21, 30))
    await shared(services, phone.user_id)
    await services.outbox.drain()
    await services.notifications.update_preferences(phone, prefs({"shares": False}))
    await services.outbox.drain()
    (row,) = await delivery_rows(services)
    assert (row["status"], row["last_error"]) == (
        "cancelled", "shares notifications switched off on this device")
    assert receiver.requests == []


async def test_read_in_the_app_before_the_push_means_no_push(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    frozen.set(at(2024, 6, 3, 21, 30))
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    await services.notifications.update_preferences(phone, prefs(NIGHT_BERLIN))
    await services.outbox.drain()
    notification_id = await shared(services, phone.user_id)
    await services.outbox.drain()
    await services.notifications.mark_read(phone, notification_id)
    frozen.set(at(2024, 6, 4, 5, 0))
    await services.outbox.drain()
    assert receiver.requests == []
    assert (await delivery_rows(services))[0]["last_error"] == "read in the app"


async def test_a_photo_backup_is_one_summary_push_on_the_uploading_device(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, make_receiver: Any, frozen: Clock,
) -> None:
    phone_rx, tablet_rx = await make_receiver(), await make_receiver()
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{phone_rx.url}/up/1")
    frozen.advance(1)
    tablet = await sign_in(client_id="tablet")
    await register_push(tablet, f"{tablet_rx.url}/up/2")
    await services.outbox.drain()
    phone_rx.requests.clear()  # the tablet's sign-in alert
    for i in range(37):  # a real backup: init, chunks, complete
        await upload(client, phone.auth, os.urandom(64), name=f"IMG_{i:04d}.jpg",
                     local_id=f"local_{i}")
        frozen.advance(2)
        await services.outbox.drain()
    assert phone_rx.requests == []  # still uploading: nothing yet
    frozen.advance(30)  # uploads_digest_delay after the last one
    await services.outbox.drain()

    (push,) = phone_rx.requests
    newest = (await client.get(f"{API}/notifications", headers=phone.auth,
                               params={"limit": 1})).json()["data"]["notifications"][0]
    assert push.json() == {
        "notificationId": newest["id"], "category": "uploads", "title": "37 photos backed up",
        "body": "Open the app to see them.",
        "data": {"kind": "upload_summary", "count": "37", "failed": "0"},
        "priority": "normal", "collapseKey": "uploads",
    }
    assert tablet_rx.requests == []  # upload news is for the device that uploaded
    rows = await delivery_rows(services, category="uploads")
    assert sorted(r["status"] for r in rows) == ["delivered"] + ["merged"] * 36
    inbox = (await client.get(f"{API}/notifications", headers=tablet.auth,
                              params={"category": "uploads", "limit": 100})).json()["data"]
    assert len(inbox["notifications"]) == 37  # the inbox keeps every one


async def test_summary_counts_failures_and_a_single_upload_is_itself(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/1")
    await upload(client, phone.auth, os.urandom(64), name="clip.mp4", mimeType="video/mp4")
    await upload(client, phone.auth, os.urandom(64), name="IMG_1.jpg", local_id="l2")
    await uploaded(services, phone, "IMG_2.jpg", ok=False)
    frozen.advance(30)
    await services.outbox.drain()
    (summary,) = receiver.requests
    assert summary.json()["title"] == "2 photos and videos backed up"
    assert summary.json()["body"] == "1 failed to upload; open the app to retry it."
    assert summary.json()["data"]["failed"] == "1"

    frozen.advance(600)  # ten minutes later (within the access token's 15)
    done = await upload(client, phone.auth, os.urandom(64), name="report.pdf", local_id="l3",
                        mimeType="application/pdf")
    frozen.advance(30)
    await services.outbox.drain()
    single = receiver.requests[-1].json()
    assert (single["title"], single["body"]) == ("Upload completed",
                                                 "report.pdf is safe on your server.")
    assert single["data"]["fileId"] == done["file"]["id"]
    assert single["data"]["kind"] == "upload_completed"


async def test_a_long_backup_still_reports_within_the_maximum_wait(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    start = frozen.now
    i = 0
    while not receiver.requests:
        i += 1
        await uploaded(services, phone, f"IMG_{i}.jpg")
        frozen.advance(20)  # never pauses for uploads_digest_delay (30 s)
        await services.outbox.drain()
    # Uploads at 0, 20, … 580 s; the summary goes out at uploads_digest_max (10 min).
    assert frozen.now - start == 10 * 60
    summary = receiver.requests[0].json()
    assert (summary["title"], summary["data"]["count"]) == ("30 files backed up", "30")
