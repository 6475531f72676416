"""What an upload summary push says: one photo is "1 photo", and photos a user uploads
into a folder shared with them are photos too."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import Clock, RegisterPush, device, uploaded
from tests.push.receivers import Receiver
from tests.shares.test_shares_api import World, share, world  # noqa: F401  (fixture)
from tests.uploads.flow import complete, file_entry, init, put_chunks, upload

BOBS = "/Shared with me/Alice Liddell"


@pytest.fixture
async def phone(frozen: Clock, make_user: MakeUser, sign_in: SignIn,
                register_push: RegisterPush, receiver: Receiver) -> Device:
    """Alice's phone, its pushes sent to ``receiver``: signed in on the frozen clock, or
    its access token would be from the future once the test sets it."""
    await make_user()
    phone = await sign_in()
    await register_push(phone, f"{receiver.url}/up/1")
    return phone


async def the_push(services: Services, receiver: Receiver, frozen: Clock) -> dict[str, Any]:
    """The one push sent once the uploads' 30 seconds of quiet have passed: its JSON."""
    frozen.advance(30)
    await services.outbox.drain()
    (push,) = receiver.requests
    sent: dict[str, Any] = push.json()
    return sent


async def test_one_photo_backed_up_and_one_failed_is_said_in_the_singular(
    client: AsyncTestClient[Any], services: Services, phone: Device, receiver: Receiver,
    frozen: Clock,
) -> None:
    await upload(client, phone.auth, os.urandom(64), name="IMG_1.jpg", local_id="l1")
    r = await init(client, phone.auth, file_entry(os.urandom(64), name="IMG_2.jpg",
                                                  local_id="l2"))
    upload_id = r.json()["data"]["files"][0]["uploadId"]
    r = await client.post(f"{API}/upload/progress", headers=phone.auth, json={
        "uploadId": upload_id, "completedChunks": [], "bytesUploaded": 0, "status": "failed"})
    assert r.status_code == 200, r.text

    push = await the_push(services, receiver, frozen)
    assert (push["title"], push["body"]) == (
        "1 photo backed up", "1 failed to upload; open the app to retry it.")
    assert push["data"] == {"kind": "upload_summary", "count": "2", "failed": "1"}


async def test_photos_uploaded_into_a_shared_folder_are_photos(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    register_push: RegisterPush, receiver: Receiver, frozen: Clock,
) -> None:
    await make_user("alice@example.com", "Alice Liddell")
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in("alice@example.com", client_id="alice-phone")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    r = await client.post(f"{API}/sync/files", headers=alice.auth, json={
        "localChanges": [{"action": "mkdir", "localId": "m", "name": "album", "folder": "/"}]})
    album_id = r.json()["data"]["results"][0]["fileId"]
    r = await client.post(f"{API}/shares", headers=alice.auth, json={
        "fileId": album_id, "email": "bob@example.com", "permission": "write"})
    assert r.status_code == 201, r.text
    await register_push(bob, f"{receiver.url}/up/bob")
    await services.outbox.drain()
    receiver.requests.clear()  # Alice's share

    for i in range(2):
        await upload(client, bob.auth, os.urandom(64), name=f"IMG_{i}.jpg", local_id=f"l{i}",
                     folder="/Shared with me/Alice Liddell/album")

    push = await the_push(services, receiver, frozen)
    assert (push["title"], push["body"]) == ("2 photos backed up",
                                             "Open the app to see them.")


async def test_an_upload_that_failed_and_then_completed_is_told_as_completed(
    client: AsyncTestClient[Any], services: Services, phone: Device, receiver: Receiver,
    frozen: Clock,
) -> None:
    data = os.urandom(64)
    r = await init(client, phone.auth, file_entry(data, name="IMG_1.jpg"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, bytes(64))  # damaged on the way
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 422, r.text  # "arrived damaged and is being re-sent"
    await put_chunks(client, item, data)
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text

    push = await the_push(services, receiver, frozen)
    assert (push["title"], push["body"]) == (
        "Upload completed", "IMG_1.jpg is safe on your server.")
    assert push["data"]["kind"] == "upload_completed"
    kinds = [n["kind"] for n in (await client.get(f"{API}/notifications", headers=phone.auth,
                                                  params={"category": "uploads"})
                                 ).json()["data"]["notifications"]]
    assert kinds == ["upload_completed", "upload_failed"]  # the inbox keeps both


async def test_a_summary_of_more_uploads_than_sqlite_takes_parameters_is_sent(
    services: Services, receiver: Receiver, frozen: Clock,
) -> None:
    # A night of photos held by quiet hours can be more uploads than SQLite binds
    # parameters (32 766 by default, more in some builds): merging them must not bind one
    # per upload. The writer's limit is lowered so a dozen uploads show it.
    phone = await device(services, "alice@example.com", "phone",
                         push_token=f"{receiver.url}/up/1")
    for i in range(12):
        await uploaded(services, phone, f"IMG_{i}.jpg")
    writer = services.db._writer._conn  # the sqlite3 connection (check_same_thread off)
    writer.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 8)

    push = await the_push(services, receiver, frozen)
    assert (push["title"], push["data"]["count"]) == ("12 files backed up", "12")


@pytest.mark.parametrize("one_completes", [True, False])
async def test_uploads_a_share_ending_stopped_are_not_told_to_be_retried(
    frozen: Clock, client: AsyncTestClient[Any], services: Services,
    world: World,  # noqa: F811
    register_push: RegisterPush, receiver: Receiver, one_completes: bool,
) -> None:
    # The owner turning the share to read cancels the uploads going into it
    # (upload_cancelled): retrying them is refused, so the summary may not say to.
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    await register_push(w.bob, f"{receiver.url}/up/bob")
    await services.outbox.drain()
    receiver.requests.clear()  # Alice's share
    if one_completes:
        await upload(client, w.bob.auth, os.urandom(64), name="IMG_0.jpg", local_id="l0",
                     folder=f"{BOBS}/photos")
    for i in (1, 2):
        r = await init(client, w.bob.auth, file_entry(os.urandom(9000), name=f"IMG_{i}.jpg",
                                                      local_id=f"l{i}",
                                                      folder=f"{BOBS}/photos"))
        assert r.status_code == 200, r.text
    await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)

    push = await the_push(services, receiver, frozen)
    if one_completes:
        assert (push["title"], push["body"]) == (
            "1 photo backed up",
            "2 stopped: the share they were going into no longer lets you add to it.")
        assert push["data"] == {"kind": "upload_summary", "count": "3", "failed": "0",
                                "stopped": "2"}
    else:
        assert (push["title"], push["body"]) == (
            "2 uploads stopped", "The share they were going into no longer lets you add to it.")
        assert push["data"] == {"kind": "upload_summary", "count": "2", "failed": "0",
                                "stopped": "2"}
