"""A share made for an email before any account had it waits for that account: made
later (``homesync user add``, open sign-up), the account finds it in ``GET /shares``,
its inbox and its sync, as if it had just been shared; the owner sees nothing change, so
sharing still does not tell who has an account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from homesync.store import users
from tests.auth_helpers import running
from tests.conftest import SignIn
from tests.helpers import API, PASSWORD, Device, device_from, device_info, make_settings
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import pull
from tests.uploads.flow import upload

DAVES = "/Shared with me/Alice Liddell"


async def _shares(client: AsyncTestClient[Any], who: Device) -> dict[str, Any]:
    r = await client.get(f"{API}/shares", headers=who.auth)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def _inbox(client: AsyncTestClient[Any], who: Device) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/notifications", headers=who.auth, params={"category": "shares"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["notifications"])


async def test_the_account_made_later_for_the_email_gets_the_share(
    client: AsyncTestClient[Any], services: Services, world: World, sign_in: SignIn,
) -> None:
    w = world
    folder = await share(client, w.alice, w.photos_id, "Dave@Example.com", "write")
    single = await share(client, w.alice, w.secret["id"], "dave@example.com")
    owner_view = await _shares(client, w.alice)

    # What `homesync user add dave@example.com` does.
    await services.accounts.create_user("dave@example.com", PASSWORD, name="Dave")
    dave = await sign_in("dave@example.com", client_id="dave-phone")

    mine = await _shares(client, dave)
    assert mine["shared"] == []
    assert {(s["id"], s["path"], s["permission"]) for s in mine["sharedWithMe"]} == {
        (folder["id"], f"{DAVES}/photos", "write"), (single["id"], f"{DAVES}/taxes.pdf", "read")}
    inbox = await _inbox(client, dave)
    assert sorted((n["title"], n["data"]["shareId"]) for n in inbox) == [
        ("Alice Liddell shared a file with you", single["id"]),
        ("Alice Liddell shared a folder with you", folder["id"])]

    listed = await pull(client, dave)
    assert {(e["folder"], e["name"]) for e in listed["changes"]["created"]} >= {
        (DAVES, "photos"), (f"{DAVES}/photos/2024", "a.jpg"), (DAVES, "taxes.pdf")}
    r = await client.get(f"{API}/files/{w.a_jpg['id']}/content", headers=dave.auth)
    assert r.status_code == 200 and r.content == w.a_bytes
    r = await upload(client, dave.auth, os.urandom(500), name="from-dave.jpg",
                     folder=f"{DAVES}/photos", local_id="d1")
    assert r["file"]["folder"] == f"{DAVES}/photos"

    # The owner's view is what it was: nothing says that an account now has the email.
    assert await _shares(client, w.alice) == owner_view
    # Others' accounts get nothing of it.
    assert (await _shares(client, w.carol))["sharedWithMe"] == []


async def test_an_account_made_by_open_sign_up_gets_the_share(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD, name="Alice Liddell")
        r = await client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD,
            "deviceInfo": device_info("alice-phone")})
        alice = device_from(r.json(), "alice@example.com", "alice-phone")
        item = await upload(client, alice.auth, os.urandom(100), name="plan.txt", folder="/")
        made = await share(client, alice, item["fileId"], "erin@example.com")

        r = await client.post(f"{API}/auth/register", json={
            "email": "erin@example.com", "password": PASSWORD,
            "deviceInfo": device_info("erin-phone")})
        assert r.status_code == 201, r.text
        erin = device_from(r.json(), "erin@example.com", "erin-phone")
        (seen,) = (await _shares(client, erin))["sharedWithMe"]
        assert (seen["id"], seen["path"]) == (made["id"], f"{DAVES}/plan.txt")
        (note,) = await _inbox(client, erin)
        assert note["data"] == {"shareId": made["id"], "fileId": item["fileId"]}


async def test_one_left_unlinked_by_an_older_server_reaches_it_when_shared_again(
    client: AsyncTestClient[Any], services: Services, world: World, sign_in: SignIn,
) -> None:
    """A server before this rule made the account without linking the share; sharing
    the item with that email again (200, same share) makes it reach the account."""
    w = world
    made = await share(client, w.alice, w.photos_id, "dave@example.com")
    async with services.db.transaction() as tx:  # as an older `homesync user add` did
        await users.insert(tx, user_id="user_dave", email="dave@example.com", name="Dave",
                           password_hash=await services.passwords.hash(PASSWORD),
                           is_admin=False, quota_bytes=0, now=1)
    dave = await sign_in("dave@example.com", client_id="dave-phone")
    assert (await _shares(client, dave))["sharedWithMe"] == []

    again = await share(client, w.alice, w.photos_id, "dave@example.com", status=200)
    unknown = await share(client, w.alice, w.photos_id, "nobody@example.com")
    unknown_again = await share(client, w.alice, w.photos_id, "nobody@example.com", status=200)
    assert again == made and unknown_again == unknown  # as for an email without an account
    (seen,) = (await _shares(client, dave))["sharedWithMe"]
    assert (seen["id"], seen["path"]) == (made["id"], f"{DAVES}/photos")
    assert [n["data"]["shareId"] for n in await _inbox(client, dave)] == [made["id"]]
    assert (f"{DAVES}/photos/2024", "a.jpg") in {
        (e["folder"], e["name"]) for e in (await pull(client, dave))["changes"]["created"]}
