"""Marking an upload summary push read over HTTP: "3 photos backed up" carries one
notification id, and ``POST /notifications/{id}/read?summary=true`` marks every upload
notification that push told of, so the app needs no read-all for it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import Clock, RegisterPush
from tests.push.receivers import Receiver
from tests.uploads.flow import upload


@pytest.fixture
async def phone(frozen: Clock, make_user: MakeUser, sign_in: SignIn,
                register_push: RegisterPush, receiver: Receiver) -> Device:
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/1")
    return phone


async def summary_push(client: AsyncTestClient[Any], services: Services, phone: Device,
                       receiver: Receiver, frozen: Clock, names: list[str]) -> dict[str, Any]:
    """The one push for uploads of ``names`` made close together: its JSON."""
    for i, name in enumerate(names):
        await upload(client, phone.auth, os.urandom(64), name=name, local_id=f"{name}-{i}")
    frozen.advance(30)  # the uploads' 30 seconds of quiet
    await services.outbox.drain()
    (push,) = receiver.requests
    receiver.requests.clear()
    sent: dict[str, Any] = push.json()
    assert sent["data"]["kind"] == "upload_summary"
    return sent


async def unread_uploads(client: AsyncTestClient[Any], dev: Device) -> list[str]:
    r = await client.get(f"{API}/notifications", headers=dev.auth,
                         params={"category": "uploads", "unread": "true"})
    assert r.status_code == 200, r.text
    return [n["body"] for n in r.json()["data"]["notifications"]]


async def test_a_summary_is_marked_read_whole_with_the_id_its_push_carries(
    client: AsyncTestClient[Any], services: Services, phone: Device, receiver: Receiver,
    frozen: Clock,
) -> None:
    push = await summary_push(client, services, phone, receiver, frozen,
                              ["IMG_1.jpg", "IMG_2.jpg", "IMG_3.jpg"])
    assert push["data"]["count"] == "3"
    r = await client.post(f"{API}/notifications/{push['notificationId']}/read",
                          headers=phone.auth, params={"summary": "true"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["notification"]["id"] == push["notificationId"]
    assert await unread_uploads(client, phone) == []


async def test_only_the_summary_told_of_is_marked_and_only_with_summary(
    client: AsyncTestClient[Any], services: Services, phone: Device, receiver: Receiver,
    frozen: Clock,
) -> None:
    """Uploads after the summary (the next one's) stay unread, and without ``summary``
    the read mark is the one notification's, as ever."""
    first = await summary_push(client, services, phone, receiver, frozen,
                               ["IMG_1.jpg", "IMG_2.jpg"])
    second = await summary_push(client, services, phone, receiver, frozen,
                                ["IMG_3.jpg", "IMG_4.jpg"])
    r = await client.post(f"{API}/notifications/{second['notificationId']}/read",
                          headers=phone.auth)
    assert r.status_code == 200, r.text
    assert sorted(await unread_uploads(client, phone)) == [
        "IMG_1.jpg is safe on your server.", "IMG_2.jpg is safe on your server.",
        "IMG_3.jpg is safe on your server."]
    r = await client.post(f"{API}/notifications/{first['notificationId']}/read",
                          headers=phone.auth, params={"summary": "true"})
    assert r.status_code == 200, r.text
    assert await unread_uploads(client, phone) == ["IMG_3.jpg is safe on your server."]


async def test_a_summary_read_mark_of_another_users_notification_is_404(
    client: AsyncTestClient[Any], services: Services, phone: Device, receiver: Receiver,
    frozen: Clock, make_user: MakeUser, sign_in: SignIn,
) -> None:
    push = await summary_push(client, services, phone, receiver, frozen, ["a.jpg", "b.jpg"])
    await make_user("bob@example.com", "Bob Builder")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    r = await client.post(f"{API}/notifications/{push['notificationId']}/read",
                          headers=bob.auth, params={"summary": "true"})
    assert r.status_code == 404, r.text
    assert len(await unread_uploads(client, phone)) == 2
