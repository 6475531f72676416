"""Sharing over HTTP: share by email, list, browse a shared folder, download shared files,
revoke (immediately), unknown emails answered like known ones, nobody else gets in."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import RegisterPush
from tests.push.receivers import Receiver
from tests.uploads.flow import upload

SHARE_KEYS = {"id", "fileId", "type", "name", "size", "mimeType", "checksum", "modifiedAt",
              "permission", "email", "owner", "createdAt", "path"}


class World:
    """Alice with some photos and a private document; Bob and Carol, other users."""

    alice: Device
    bob: Device
    carol: Device
    photos_id: str
    a_jpg: dict[str, Any]
    b_jpg: dict[str, Any]
    secret: dict[str, Any]
    a_bytes: bytes


@pytest.fixture
async def world(client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn) -> World:
    w = World()
    await make_user("alice@example.com", "Alice Liddell")
    await make_user("bob@example.com", "Bob Builder")
    await make_user("carol@example.com", "Carol Danvers")
    w.alice = await sign_in("alice@example.com", client_id="alice-phone")
    w.bob = await sign_in("bob@example.com", client_id="bob-phone")
    w.carol = await sign_in("carol@example.com", client_id="carol-phone")
    w.a_bytes = os.urandom(3000)
    w.a_jpg = (await upload(client, w.alice.auth, w.a_bytes, name="a.jpg",
                            folder="/photos/2024", local_id="1"))["file"]
    w.b_jpg = (await upload(client, w.alice.auth, os.urandom(100), name="b.jpg",
                            folder="/photos/2024/trip", local_id="2"))["file"]
    w.secret = (await upload(client, w.alice.auth, os.urandom(100), name="taxes.pdf",
                             folder="/documents", local_id="3",
                             mimeType="application/pdf"))["file"]
    root = (await client.get(f"{API}/files", headers=w.alice.auth)).json()["data"]["files"]
    w.photos_id = next(f["id"] for f in root if f["name"] == "photos")
    return w


async def share(client: AsyncTestClient[Any], owner: Device, file_id: str, email: str,
                permission: str = "read", status: int = 201) -> dict[str, Any]:
    r = await client.post(f"{API}/shares", headers=owner.auth,
                          json={"fileId": file_id, "email": email, "permission": permission})
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()["data"]["share"]
    return data


async def shared_folder(client: AsyncTestClient[Any], who: Device, share_id: str,
                        folder: str = "/") -> Any:
    return await client.get(f"{API}/shares/{share_id}/files", headers=who.auth,
                            params={"folder": folder})


async def test_share_a_folder_browse_and_download(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "Bob@Example.com")
    assert set(made) == SHARE_KEYS
    assert (made["type"], made["name"], made["path"], made["permission"]) == (
        "folder", "photos", "/photos", "read")
    assert made["owner"] == {"name": "Alice Liddell", "email": "alice@example.com"}

    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    assert listed["shared"] == []
    (incoming,) = listed["sharedWithMe"]
    # Bob sees it in his "Shared with me" folder: nothing of Alice's tree above it.
    assert incoming["id"] == made["id"]
    assert incoming["path"] == "/Shared with me/Alice Liddell/photos"

    top = (await shared_folder(client, w.bob, made["id"])).json()["data"]
    assert [(f["type"], f["path"]) for f in top["files"]] == [("folder", "/2024")]
    inner = (await shared_folder(client, w.bob, made["id"], "/2024")).json()["data"]
    assert [(f["type"], f["path"]) for f in inner["files"]] == [
        ("folder", "/2024/trip"), ("file", "/2024/a.jpg")]

    r = await client.get(f"{API}/files/{w.a_jpg['id']}/content", headers=w.bob.auth)
    assert r.status_code == 200 and r.content == w.a_bytes
    r = await client.get(f"{API}/files/{w.a_jpg['id']}/content", headers={
        **w.bob.auth, "Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == w.a_bytes[10:20]
    r = await client.get(f"{API}/files/{w.b_jpg['id']}", headers=w.bob.auth)
    assert r.status_code == 200 and r.json()["data"]["name"] == "b.jpg"

    # Outside the shared folder, and for anyone else, nothing changed.
    for who, file_id in ((w.bob, w.secret["id"]), (w.carol, w.a_jpg["id"])):
        r = await client.get(f"{API}/files/{file_id}/content", headers=who.auth)
        assert r.status_code == 404, r.text
    assert (await shared_folder(client, w.carol, made["id"])).status_code == 404
    assert (await shared_folder(client, w.bob, made["id"], "/../documents")).status_code == 400
    # Bob's own tree does not show Alice's files.
    mine = (await client.get(f"{API}/files", headers=w.bob.auth)).json()["data"]["files"]
    assert mine == []


async def test_revoking_ends_access_at_once(client: AsyncTestClient[Any], world: World) -> None:
    w = world
    made = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    url = f"{API}/files/{w.a_jpg['id']}/content"
    assert (await client.get(url, headers=w.bob.auth)).status_code == 200
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert r.status_code == 200 and r.json()["data"] == {"shareId": made["id"], "removed": True}
    assert (await client.get(url, headers=w.bob.auth)).status_code == 404
    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    assert listed["sharedWithMe"] == []
    again = await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert again.status_code == 404


async def test_the_recipient_can_leave_a_share_but_strangers_cannot_touch_it(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    assert (await client.delete(f"{API}/shares/{made['id']}", headers=w.carol.auth)
            ).status_code == 404
    assert (await client.delete(f"{API}/shares/{made['id']}", headers=w.bob.auth)
            ).status_code == 200
    owner_view = (await client.get(f"{API}/shares", headers=w.alice.auth)).json()["data"]
    assert owner_view["shared"] == []


async def test_an_unknown_email_is_answered_like_a_known_one(
    client: AsyncTestClient[Any], world: World, services: Services,
) -> None:
    w = world
    before = await services.db.fetchone("SELECT count(*) FROM notifications")
    known = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    unknown = await share(client, w.alice, w.a_jpg["id"], "nobody@example.com")
    assert set(known) == set(unknown)
    for key in ("fileId", "type", "name", "size", "permission", "owner", "path"):
        assert known[key] == unknown[key], key
    assert unknown["email"] == "nobody@example.com"
    after = await services.db.fetchone("SELECT count(*) FROM notifications")
    assert before is not None and after is not None
    assert after[0] == before[0] + 1  # Bob's notification only
    shared = (await client.get(f"{API}/shares", headers=w.alice.auth)).json()["data"]["shared"]
    assert {s["email"] for s in shared} == {"bob@example.com", "nobody@example.com"}


async def test_sharing_again_changes_the_permission(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    first = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    second = await share(client, w.alice, w.a_jpg["id"], "BOB@example.com", "write", status=200)
    assert second["id"] == first["id"] and second["permission"] == "write"
    inbox = (await client.get(f"{API}/notifications", headers=w.bob.auth,
                              params={"category": "shares"})).json()["data"]
    assert len(inbox["notifications"]) == 1


@pytest.mark.parametrize(("body", "status"), [
    ({"fileId": "file_nope", "email": "bob@example.com"}, 404),
    ({"email": "bob@example.com"}, 400),
    ({"fileId": "FILE", "email": "not-an-email"}, 400),
    ({"fileId": "FILE", "email": "alice@example.com"}, 400),
    ({"fileId": "FILE", "email": "bob@example.com", "permission": "admin"}, 400),
    ({"fileId": "FILE", "email": "bob@example.com", "ownerId": "user_x"}, 400),
])
async def test_bad_shares_are_refused_and_change_nothing(
    client: AsyncTestClient[Any], world: World, body: dict[str, Any], status: int,
) -> None:
    w = world
    if body.get("fileId") == "FILE":
        body = {**body, "fileId": w.a_jpg["id"]}
    r = await client.post(f"{API}/shares", headers=w.alice.auth, json=body)
    assert r.status_code == status, r.text
    assert r.json()["success"] is False
    assert (await client.get(f"{API}/shares", headers=w.alice.auth)).json()["data"]["shared"] == []


async def test_nobody_shares_what_is_not_theirs(client: AsyncTestClient[Any], world: World) -> None:
    w = world
    r = await client.post(f"{API}/shares", headers=w.bob.auth,
                          json={"fileId": w.a_jpg["id"], "email": "carol@example.com"})
    assert r.status_code == 404
    # Not even what was shared with them.
    await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    r = await client.post(f"{API}/shares", headers=w.bob.auth,
                          json={"fileId": w.a_jpg["id"], "email": "carol@example.com"})
    assert r.status_code == 404
    assert (await client.get(f"{API}/files/{w.a_jpg['id']}/content",
                             headers=w.carol.auth)).status_code == 404


async def test_the_recipient_is_notified_and_pushed(
    client: AsyncTestClient[Any], world: World, services: Services,
    register_push: RegisterPush, receiver: Receiver,
) -> None:
    w = world
    await register_push(w.bob, f"{receiver.url}/up/bob")
    await services.outbox.drain()
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    await services.outbox.drain()
    (push,) = receiver.requests
    body = push.json()
    assert (body["category"], body["title"]) == ("shares", "Alice Liddell shared a folder with you")
    assert body["data"] == {"shareId": made["id"], "fileId": w.photos_id,
                            "kind": "shared_with_you"}
    inbox = (await client.get(f"{API}/notifications", headers=w.bob.auth,
                              params={"category": "shares"})).json()["data"]
    assert inbox["notifications"][0]["id"] == body["notificationId"]


async def test_an_email_differing_beyond_a_z_in_case_is_someone_else(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """Emails compare as sign-in compares them (only A-Z fold): "Élise" is not "élise"."""
    await make_user("élise@example.com", "Élise")
    await make_user("Élise@example.com", "Other Élise")
    elise = await sign_in("élise@example.com", client_id="elise-phone")
    other = await sign_in("Élise@example.com", client_id="other-phone")
    item = await upload(client, elise.auth, b"hello", name="hi.txt", folder="/", local_id="1")
    made = await share(client, elise, item["file"]["id"], "Élise@example.com")
    listed = (await client.get(f"{API}/shares", headers=other.auth)).json()["data"]
    assert [s["id"] for s in listed["sharedWithMe"]] == [made["id"]]
    r = await client.post(f"{API}/shares", headers=elise.auth, json={
        "fileId": item["file"]["id"], "email": "ÉLISE@EXAMPLE.COM".replace("ÉLISE", "éLISE")})
    assert r.status_code == 400 and "yourself" in r.json()["error"]["message"]


async def test_a_share_of_something_trashed_or_deleted_for_good(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """In the owner's trash a share shows nothing of it to the recipient (404, leaving
    included) and comes back with a restore; deleted for good, it is gone for the owner
    too: no longer in their GET /shares, 404 to revoke."""
    w = world
    made = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={"localChanges": [
        {"action": "delete", "localId": "d1", "fileId": w.a_jpg["id"]}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.bob.auth)
    assert r.status_code == 404, r.text
    r = await client.post(f"{API}/trash/{w.a_jpg['id']}/restore", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    assert [s["id"] for s in listed["sharedWithMe"]] == [made["id"]]

    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={"localChanges": [
        {"action": "delete", "localId": "d2", "fileId": w.a_jpg["id"]}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text
    mine = (await client.get(f"{API}/shares", headers=w.alice.auth)).json()["data"]["shared"]
    assert [s["id"] for s in mine] == [made["id"]]  # in the trash: still there to restore
    r = await client.delete(f"{API}/trash/{w.a_jpg['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/shares", headers=w.alice.auth)).json()["data"]["shared"] == []
    for who in (w.alice, w.bob):
        r = await client.delete(f"{API}/shares/{made['id']}", headers=who.auth)
        assert r.status_code == 404, r.text


async def test_a_shared_folder_listed_in_another_case_answers_as_stored(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """As GET /files does: /2024/TRIP lists /2024/trip, and says so."""
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    r = await shared_folder(client, w.bob, made["id"], "/2024/TRIP")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["folder"] == "/2024/trip"
    assert [f["path"] for f in data["files"]] == ["/2024/trip/b.jpg"]
