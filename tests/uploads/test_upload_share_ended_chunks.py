"""Chunk PUTs and progress reports of an upload into a write-shared folder are writes into
its owner's storage (their quota holds the upload's bytes while it is open): turning the
share to read, or revoking it, cancels the upload (409 from then on, nothing stored or
kept alive, also once shared with write again); while the shared folder is in its
owner's trash they are 404 and store nothing, and after a restore the same upload goes on."""

from __future__ import annotations

import os

from homesync.services.container import Services
from tests.helpers import API
from tests.shares.test_share_uploads import used_bytes
from tests.shares.test_shares_api import (
    World,
    share,
    world,  # noqa: F401  (fixture)
)
from tests.uploads.flow import complete, file_entry, init, path_of

BOBS = "/Shared with me/Alice Liddell"


async def _status(client, w: World, upload_id: str) -> dict:
    r = await client.get(f"{API}/upload/{upload_id}", headers=w.bob.auth)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


async def test_chunks_into_a_share_that_ended_are_refused(
        client, services: Services, world: World) -> None:  # noqa: F811  (the fixture)
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(9000)
    r = await init(client, w.bob.auth, file_entry(data, folder=f"{BOBS}/photos"))
    item = r.json()["data"]["files"][0]
    first, second, _third = item["chunks"]
    r = await client.put(path_of(first["uploadUrl"]), content=data[:4096])
    assert r.status_code == 200, r.text
    before = await _status(client, w, item["uploadId"])

    await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)
    body = data[second["start"]:second["end"] + 1]
    for auth in ({}, w.bob.auth):  # the signed URL, and Bob's Bearer token
        r = await client.put(path_of(second["uploadUrl"]), content=body, headers=auth)
        assert r.status_code == 409 and "cancelled" in r.json()["error"]["message"], r.text
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert r.status_code == 200
    r = await client.post(f"{API}/upload/progress", headers=w.bob.auth,
                          json={"uploadId": item["uploadId"], "status": "uploading"})
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled", r.text
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    r = await client.put(path_of(second["uploadUrl"]), content=body)
    assert r.status_code == 409, r.text
    after = await _status(client, w, item["uploadId"])
    assert after["status"] == "cancelled" and after["expiresAt"] == before["expiresAt"]


async def test_chunks_into_a_share_in_its_owners_trash_wait_for_a_restore(
        client, services: Services, world: World) -> None:  # noqa: F811  (the fixture)
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(9000)
    r = await init(client, w.bob.auth, file_entry(data, folder=f"{BOBS}/photos"))
    item = r.json()["data"]["files"][0]
    first, second, third = item["chunks"]
    r = await client.put(path_of(first["uploadUrl"]), content=data[:4096])
    assert r.status_code == 200, r.text
    before = await _status(client, w, item["uploadId"])

    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={
        "localChanges": [{"action": "delete", "localId": "d", "fileId": w.photos_id}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text
    body = data[second["start"]:second["end"] + 1]
    for auth in ({}, w.bob.auth):  # the signed URL, and Bob's Bearer token
        r = await client.put(path_of(second["uploadUrl"]), content=body, headers=auth)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
    r = await client.post(f"{API}/upload/progress", headers=w.bob.auth,
                          json={"uploadId": item["uploadId"], "status": "uploading"})
    assert r.status_code == 404, r.text
    after = await _status(client, w, item["uploadId"])
    assert (after["completedChunks"], after["expiresAt"]) == (
        before["completedChunks"], before["expiresAt"])  # nothing stored, nor kept alive

    # Restored: the share is back, and the same upload goes on and completes.
    r = await client.post(f"{API}/trash/{w.photos_id}/restore", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    alice_used = await used_bytes(services, "alice@example.com")
    for chunk in (second, third):
        r = await client.put(path_of(chunk["uploadUrl"]),
                             content=data[chunk["start"]:chunk["end"] + 1])
        assert r.status_code == 200, r.text
    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    assert await used_bytes(services, "alice@example.com") == alice_used + len(data)


async def test_bob_may_still_cancel_it(client, world: World) -> None:  # noqa: F811
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(5000)
    r = await init(client, w.bob.auth, file_entry(data, folder=f"{BOBS}/photos"))
    upload_id = r.json()["data"]["files"][0]["uploadId"]
    await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    r = await client.delete(f"{API}/upload/{upload_id}", headers=w.bob.auth)
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled", r.text
