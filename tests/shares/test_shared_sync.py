"""What was shared with someone, as they see it: under /Shared with me in GET /files/{id},
GET /shares and their sync (created, updated, deleted on revoke), and long polls woken."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, pull, push, store

BOBS = "/Shared with me/Alice Liddell"


async def folder_ids(client: AsyncTestClient[Any], w: World) -> tuple[str, str]:
    """Ids of Alice's /photos/2024 and /photos/2024/trip."""
    async def child(folder: str, name: str) -> str:
        r = await client.get(f"{API}/files", params={"folder": folder}, headers=w.alice.auth)
        return str(next(f["id"] for f in r.json()["data"]["files"] if f["name"] == name))
    return await child("/photos", "2024"), await child("/photos/2024", "trip")


def places(entries: list[dict[str, Any]]) -> dict[str, str]:
    """id → path of delta entries."""
    return {e["id"]: (e["folder"].rstrip("/") + "/" + e["name"]) for e in entries}


async def test_a_shared_entry_shows_where_the_recipient_sees_it(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com")
    r = await client.get(f"{API}/files/{w.b_jpg['id']}", headers=w.bob.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == (
        f"{BOBS}/photos/2024/trip", "b.jpg")
    r = await client.get(f"{API}/files/{w.photos_id}", headers=w.bob.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == (BOBS, "photos")
    # Alice still sees her own paths.
    r = await client.get(f"{API}/files/{w.b_jpg['id']}", headers=w.alice.auth)
    assert r.json()["data"]["folder"] == "/photos/2024/trip"


async def test_same_named_items_are_told_apart_oldest_first(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    first = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    second = await share(client, w.alice, other, "bob@example.com")
    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    paths = {s["id"]: s["path"] for s in listed["sharedWithMe"]}
    assert paths == {first["id"]: f"{BOBS}/a.jpg", second["id"]: f"{BOBS}/a (2).jpg"}
    r = await client.get(f"{API}/files/{other}", headers=w.bob.auth)
    assert r.json()["data"]["name"] == "a (2).jpg"

    # Once the first share ends, the other takes the plain name, and Bob's sync says so.
    token = (await pull(client, w.bob))["nextSyncToken"]
    await client.delete(f"{API}/shares/{first['id']}", headers=w.alice.auth)
    data = await pull(client, w.bob, token)
    assert places(data["changes"]["updated"]) == {other: f"{BOBS}/a.jpg"}
    assert [e["id"] for e in data["changes"]["deleted"]] == [w.a_jpg["id"]]


async def test_sync_shows_shares_arrive_change_and_go(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    year_id, trip_id = await folder_ids(client, w)
    token = (await pull(client, w.bob))["nextSyncToken"]
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    data = await pull(client, w.bob, token)
    assert places(data["changes"]["created"]) == {
        w.photos_id: f"{BOBS}/photos",
        year_id: f"{BOBS}/photos/2024",
        trip_id: f"{BOBS}/photos/2024/trip",
        w.a_jpg["id"]: f"{BOBS}/photos/2024/a.jpg",
        w.b_jpg["id"]: f"{BOBS}/photos/2024/trip/b.jpg",
    }
    assert data["changes"]["updated"] == data["changes"]["deleted"] == []
    token = data["nextSyncToken"]

    # Alice adds a photo and edits another: Bob sees both; her other files stay hers.
    new_id = await store(client, w.alice, b"new photo", name="c.jpg", folder="/photos")
    await store(client, w.alice, b"edited", name="b.jpg", file_id=w.b_jpg["id"])
    await store(client, w.alice, b"private", name="notes.txt", folder="/documents")
    data = await pull(client, w.bob, token)
    assert places(data["changes"]["created"]) == {new_id: f"{BOBS}/photos/c.jpg"}
    assert places(data["changes"]["updated"]) == {w.b_jpg["id"]: f"{BOBS}/photos/2024/trip/b.jpg"}
    assert data["changes"]["deleted"] == []
    token = data["nextSyncToken"]

    # Moving a photo out of the shared folder is a deletion for Bob, nothing more.
    await push(client, w.alice, None, change("move", fileId=new_id, folder="/documents"))
    data = await pull(client, w.bob, token)
    assert data["changes"]["created"] == data["changes"]["updated"] == []
    assert data["changes"]["deleted"] == [{"id": new_id, "deletedAt": data["lastSyncAt"]}]
    token = data["nextSyncToken"]

    # Revoking: everything Bob had is deleted at once; nothing after reaches him.
    await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    data = await pull(client, w.bob, token)
    assert sorted(e["id"] for e in data["changes"]["deleted"]) == sorted(
        [w.photos_id, year_id, trip_id, w.a_jpg["id"], w.b_jpg["id"]])
    assert data["changes"]["created"] == data["changes"]["updated"] == []
    await store(client, w.alice, b"later", name="d.jpg", folder="/photos")
    assert (await pull(client, w.bob, data["nextSyncToken"]))["hasChanges"] is False


async def test_a_last_sync_delta_lists_the_shared_changes_since_then(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """``lastSync=T`` lists what others share that changed at or after T, as a token does.
    It listed every shared item as created again, and none that went since as deleted:
    a recipient's phone kept files unshared, moved away or revoked for good."""
    w = world
    year_id, trip_id = await folder_ids(client, w)
    start = float(int(clock.now())) + 1  # after everything the world wrote

    def at(second: int) -> None:
        clock.set_now(lambda: start + second)

    at(0)
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    at(1)
    synced = await pull(client, w.bob)
    assert len(synced["changes"]["created"]) == 5

    # Alice moves a photo out of the shared folder and edits another.
    at(2)
    await push(client, w.alice, None, change("move", fileId=w.a_jpg["id"], folder="/documents"))
    await store(client, w.alice, b"edited", name="b.jpg", file_id=w.b_jpg["id"])
    at(3)
    data = await pull(client, w.bob, lastSync=synced["lastSyncAt"])
    assert data["reset"] is False and data["changes"]["created"] == []
    assert places(data["changes"]["updated"]) == {w.b_jpg["id"]: f"{BOBS}/photos/2024/trip/b.jpg"}
    assert [e["id"] for e in data["changes"]["deleted"]] == [w.a_jpg["id"]]

    # Nothing since: nothing shared comes again.
    at(4)
    quiet = await pull(client, w.bob, lastSync=data["lastSyncAt"])
    assert quiet["changes"] == {"created": [], "updated": [], "deleted": []}

    # Revoked: all Bob had is deleted, whatever the journal positions the feed carries.
    at(5)
    await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    at(6)
    gone = await pull(client, w.bob, lastSync=quiet["lastSyncAt"])
    assert sorted(e["id"] for e in gone["changes"]["deleted"]) == sorted(
        [w.photos_id, year_id, trip_id, w.b_jpg["id"]])
    assert gone["changes"]["created"] == gone["changes"]["updated"] == []


async def test_a_full_listing_and_pages_include_shared_items(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await store(client, w.bob, b"bob's own", name="mine.txt", folder="/")
    await share(client, w.alice, w.photos_id, "bob@example.com")
    everything = await pull(client, w.bob)
    assert len(everything["changes"]["created"]) == 6 and not everything["hasMore"]

    seen: list[str] = []
    token: str | None = None
    while True:
        data = await pull(client, w.bob, token, limit=2)
        assert len(data["changes"]["created"]) <= 2
        seen += [e["id"] for e in data["changes"]["created"]]
        token = data["nextSyncToken"]
        if not data["hasMore"]:
            break
    assert sorted(seen) == sorted(e["id"] for e in everything["changes"]["created"])
    assert (await pull(client, w.bob, token))["hasChanges"] is False
    # Carol, whom nobody shares with, sees none of it.
    assert (await pull(client, w.carol))["changes"]["created"] == []


async def test_a_token_still_cannot_be_edited_or_borrowed(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com")
    token = (await pull(client, w.bob))["nextSyncToken"]
    r = await client.get(f"{API}/sync/status", params={"syncToken": token}, headers=w.carol.auth)
    assert r.status_code == 400
    edited = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    r = await client.get(f"{API}/sync/status", params={"syncToken": edited},
                         headers=w.bob.auth)
    assert r.status_code == 400


async def test_the_recipients_long_poll_wakes_for_shared_changes(
    live_client: httpx.AsyncClient, services: Services, client: AsyncTestClient[Any],
    world: World,
) -> None:
    w = world
    token = (await pull(live_client, w.bob))["nextSyncToken"]
    poll = asyncio.create_task(pull(live_client, w.bob, token, wait=30))
    await parked_any(services)
    await share(client, w.alice, w.photos_id, "bob@example.com")
    data = await asyncio.wait_for(poll, 10)
    assert w.a_jpg["id"] in places(data["changes"]["created"])

    poll = asyncio.create_task(pull(live_client, w.bob, data["nextSyncToken"], wait=30))
    await parked_any(services)
    new_id = await store(client, w.alice, b"fresh", name="e.jpg", folder="/photos/2024")
    data = await asyncio.wait_for(poll, 10)
    assert places(data["changes"]["created"]) == {new_id: f"{BOBS}/photos/2024/e.jpg"}


async def parked_any(services: Services) -> None:
    for _ in range(500):
        if services.sync.notifier.parked() >= 1:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the long poll never parked")


async def test_an_owner_removed_takes_their_shares_out_of_the_recipients_sync(
    client: AsyncTestClient[Any], world: World, services: Services, make_user: MakeUser,
    sign_in: SignIn,
) -> None:
    """`homesync user remove` of someone who shared: the recipient's sync deletes what
    they shared, and another owner's same-named share gives up its " (2)"."""
    w = world
    year_id, trip_id = await folder_ids(client, w)
    await make_user("alice2@example.com", "Alice Liddell")
    namesake = await sign_in("alice2@example.com", client_id="alice2-phone")
    theirs = await store(client, namesake, b"x", name="c.jpg", folder="/photos")
    photos2 = (await client.get(f"{API}/files", headers=namesake.auth)).json()["data"]["files"][0]
    await share(client, w.alice, w.photos_id, "bob@example.com")
    await share(client, namesake, photos2["id"], "bob@example.com")
    token = (await pull(client, w.bob))["nextSyncToken"]

    await services.accounts.remove_user("alice@example.com")
    data = await pull(client, w.bob, token)
    assert sorted(e["id"] for e in data["changes"]["deleted"]) == sorted(
        [w.photos_id, year_id, trip_id, w.a_jpg["id"], w.b_jpg["id"]])
    assert places(data["changes"]["updated"]) == {
        photos2["id"]: f"{BOBS}/photos", theirs: f"{BOBS}/photos/c.jpg"}
    assert data["changes"]["created"] == []
