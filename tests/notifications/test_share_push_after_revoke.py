"""A share's push waiting for the recipient (held by quiet hours, say) is not sent once the
share has ended: the owner who shared a file with the wrong person and took it back at
once must not have its name shown on that person's lock screen in the morning."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import Clock, RegisterPush, delivery_rows
from tests.push.receivers import Receiver
from tests.uploads.flow import upload

NIGHT_BERLIN = {"quietHours": {"enabled": True, "start": "22:00", "end": "07:00",
                               "timezone": "Europe/Berlin"}}


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


async def share_at_night(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> tuple[Device, Device, str, str]:
    """Alice shares a file with Bob at 23:30 in Berlin, where Bob's phone is quiet until
    07:00; (alice, bob, the file's id, the share's id)."""
    frozen.set(at(2024, 6, 3, 21, 30))
    await make_user("alice@example.com", "Alice Liddell")
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in("alice@example.com", client_id="alice-phone")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await register_push(bob, f"{receiver.url}/up/bob", **NIGHT_BERLIN)
    file_id = (await upload(client, alice.auth, os.urandom(64), name="lawyer.pdf",
                            folder="/private", mimeType="application/pdf"))["fileId"]
    r = await client.post(f"{API}/shares", headers=alice.auth, json={
        "fileId": file_id, "email": "bob@example.com", "permission": "read"})
    assert r.status_code == 201, r.text
    await services.outbox.drain()
    (held,) = await delivery_rows(services, category="shares")
    assert held["held_until"] is not None and receiver.requests == []
    return alice, bob, file_id, r.json()["data"]["share"]["id"]


async def test_a_share_taken_back_before_its_push_went_out_is_not_pushed(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    alice, _bob, _file_id, share_id = await share_at_night(
        client, services, make_user, sign_in, register_push, receiver, frozen)
    frozen.advance(60)
    r = await client.delete(f"{API}/shares/{share_id}", headers=alice.auth)
    assert r.status_code == 200, r.text

    frozen.set(at(2024, 6, 4, 5, 0))  # 07:00 in Berlin
    await services.outbox.drain()
    assert receiver.requests == []
    (row,) = await delivery_rows(services, category="shares")
    assert (row["status"], row["last_error"]) == ("cancelled", "the share has ended")


async def test_a_share_whose_file_went_to_the_trash_is_not_pushed(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    alice, _bob, file_id, _share_id = await share_at_night(
        client, services, make_user, sign_in, register_push, receiver, frozen)
    r = await client.post(f"{API}/sync/files", headers=alice.auth, json={
        "localChanges": [{"action": "delete", "localId": "d", "fileId": file_id}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text

    frozen.set(at(2024, 6, 4, 5, 0))
    await services.outbox.drain()
    assert receiver.requests == []


async def test_a_share_still_there_in_the_morning_is_pushed(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await share_at_night(client, services, make_user, sign_in, register_push, receiver, frozen)
    frozen.set(at(2024, 6, 4, 5, 0))
    await services.outbox.drain()
    (push,) = receiver.requests
    assert push.json()["title"] == "Alice Liddell shared a file with you"
