"""A recipient's uploads still open into a share hold its owner's quota. Revoking the share,
the recipient leaving it or turning it to read cancels them at once (their chunks and
completion would be refused anyway), so the owner has that room back now, not when they
expire a day later; uploads another ``write`` share still covers, and other recipients'
uploads, go on."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.helpers import API, Device
from tests.shares.test_share_uploads import used_bytes
from tests.shares.test_shares_api import World, share
from tests.uploads.flow import complete, file_entry, init, path_of, put_chunks

BOBS = "/Shared with me/Alice Liddell"


async def _started(client: AsyncTestClient[Any], who: Device, data: bytes,
                   **entry: Any) -> dict[str, Any]:
    r = await init(client, who.auth, file_entry(data, **entry))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


async def _status(client: AsyncTestClient[Any], who: Device, upload_id: str) -> str:
    r = await client.get(f"{API}/upload/{upload_id}", headers=who.auth)
    assert r.status_code == 200, r.text
    return str(r.json()["data"]["status"])


async def _alice_has_room(client: AsyncTestClient[Any], w: World, size: int) -> bool:
    r = await init(client, w.alice.auth, file_entry(os.urandom(size), name=f"own{size}.jpg",
                                                    folder="/mine", local_id=f"own{size}"))
    assert r.status_code in (200, 507), r.text
    return r.status_code == 200


@pytest.mark.parametrize("how", ["revoke", "leave", "read"])
async def test_ending_write_access_cancels_the_open_upload_and_frees_the_owners_room(
    client: AsyncTestClient[Any], services: Services, world: World, how: str,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    await services.accounts.set_quota(
        "alice@example.com", await used_bytes(services, "alice@example.com") + 12_000)
    data = os.urandom(9000)
    item = await _started(client, w.bob, data, folder=f"{BOBS}/photos")
    assert not await _alice_has_room(client, w, 5000)  # Bob's open upload holds 9000

    if how == "read":
        await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)
    else:
        who = w.alice if how == "revoke" else w.bob
        r = await client.delete(f"{API}/shares/{made['id']}", headers=who.auth)
        assert r.status_code == 200, r.text

    assert await _status(client, w.bob, item["uploadId"]) == "cancelled"
    assert await _alice_has_room(client, w, 5000)
    r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=data)
    assert r.status_code == 409, r.text  # this upload was cancelled
    # Shared with write again, it stays cancelled: the app starts a new upload.
    await share(client, w.alice, w.photos_id, "bob@example.com", "write",
                status=200 if how == "read" else 201)
    assert await _status(client, w.bob, item["uploadId"]) == "cancelled"
    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 409, r.text


async def test_a_new_version_of_a_file_shared_on_its_own_is_cancelled_too(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.a_jpg["id"], "bob@example.com", "write")
    item = await _started(client, w.bob, os.urandom(5000), name="a.jpg", folder=f"{BOBS}",
                          fileId=w.a_jpg["id"])
    await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert await _status(client, w.bob, item["uploadId"]) == "cancelled"


async def test_uploads_still_covered_by_a_write_share_and_others_uploads_go_on(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    await share(client, w.alice, w.photos_id, "carol@example.com", "write")
    inner = await share(client, w.alice, w.b_jpg["id"], "bob@example.com", "write")
    trip = f"{BOBS}/photos/2024/trip"
    bobs_data, carols_data = os.urandom(5000), os.urandom(6000)
    bobs = await _started(client, w.bob, bobs_data, name="b.jpg", folder=trip,
                          fileId=w.b_jpg["id"])
    carols = await _started(client, w.carol, carols_data, folder=f"{BOBS}/photos")
    used = await used_bytes(services, "alice@example.com")

    # b.jpg's own share ends, but the photos folder still lets Bob write b.jpg.
    r = await client.delete(f"{API}/shares/{inner['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    # Bob's access ends altogether; Carol's does not.
    await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)
    assert await _status(client, w.bob, bobs["uploadId"]) == "cancelled"
    await put_chunks(client, carols, carols_data)
    r = await complete(client, w.carol.auth, carols["uploadId"], carols_data)
    assert r.status_code == 200, r.text
    assert await used_bytes(services, "alice@example.com") == used + len(carols_data)


async def test_an_upload_a_remaining_write_share_covers_goes_on(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    inner = await share(client, w.alice, w.b_jpg["id"], "bob@example.com", "read")
    data = os.urandom(5000)
    item = await _started(client, w.bob, data, name="b.jpg", folder=f"{BOBS}/photos/2024/trip",
                          fileId=w.b_jpg["id"])
    r = await client.delete(f"{API}/shares/{inner['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    assert await _status(client, w.bob, item["uploadId"]) == "pending"
    await put_chunks(client, item, data)
    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
