"""Uploads into what was shared with write: new files and new versions land in the owner's
tree (journal, quota, versions), read shares answer 403, revoking or downgrading between
init and complete commits nothing, and the owner's store is no oracle."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from homesync.store.db import fetchone
from tests.helpers import API, Device
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import pull
from tests.uploads.flow import checksum, complete, file_entry, init, put_chunks, upload

BOBS = "/Shared with me/Alice Liddell"


async def used_bytes(services: Services, email: str) -> int:
    row = await fetchone(services.db.reader, "SELECT used_bytes FROM users WHERE email = ?",
                         (email,))
    assert row is not None
    return int(row[0])


async def started(client: AsyncTestClient[Any], dev: Device, data: bytes,
                  **entry: Any) -> dict[str, Any]:
    """upload/init and every chunk, not completed; the init entry."""
    r = await init(client, dev.auth, file_entry(data, **entry))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    assert "uploadId" in item, item
    await put_chunks(client, item, data)
    return item


async def test_bob_adds_a_file_to_alices_write_shared_folder(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    alice_token = (await pull(client, w.alice))["nextSyncToken"]
    alice_used, bob_used = (await used_bytes(services, "alice@example.com"),
                            await used_bytes(services, "bob@example.com"))
    data = os.urandom(5000)
    done = await upload(client, w.bob.auth, data, name="new.jpg", folder=f"{BOBS}/photos/2024/new")
    # Bob sees it where he put it; it is Alice's file in her folder, on her quota.
    assert (done["file"]["folder"], done["file"]["name"]) == (f"{BOBS}/photos/2024/new", "new.jpg")
    r = await client.get(f"{API}/files/{done['fileId']}", headers=w.alice.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/photos/2024/new", "new.jpg")
    assert await used_bytes(services, "alice@example.com") == alice_used + 5000
    assert await used_bytes(services, "bob@example.com") == bob_used
    # Alice's sync brings the new folder and file; the content is hers to read.
    data_a = await pull(client, w.alice, alice_token)
    assert {(e["folder"], e["name"]) for e in data_a["changes"]["created"]} == {
        ("/photos/2024", "new"), ("/photos/2024/new", "new.jpg")}
    r = await client.get(f"{API}/files/{done['fileId']}/content", headers=w.alice.auth)
    assert r.content == data
    # Bob's list of his own files has nothing new (no "Shared with me" folder of his own).
    r = await client.get(f"{API}/files", headers=w.bob.auth)
    assert r.json()["data"]["files"] == []


async def test_bob_uploads_a_new_version_of_alices_file(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(4000)
    done = await upload(client, w.bob.auth, data, name="a.jpg", folder=f"{BOBS}/photos/2024",
                        fileId=w.a_jpg["id"])
    assert done["fileId"] == w.a_jpg["id"]
    assert done["file"]["folder"] == f"{BOBS}/photos/2024"
    r = await client.get(f"{API}/files/{w.a_jpg['id']}/versions", headers=w.alice.auth)
    versions = r.json()["data"]["versions"]
    assert [v["checksum"] for v in versions] == [checksum(data), checksum(w.a_bytes)]
    assert versions[0]["deviceId"] == w.bob.device_id
    r = await client.get(f"{API}/files/{w.a_jpg['id']}/content", headers=w.alice.auth)
    assert r.content == data


async def test_a_file_shared_on_its_own_with_write_takes_new_versions_only(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.a_jpg["id"], "bob@example.com", "write")
    data = os.urandom(100)
    done = await upload(client, w.bob.auth, data, name="a.jpg", folder=BOBS,
                        fileId=w.a_jpg["id"])
    assert (done["fileId"], done["file"]["folder"], done["file"]["name"]) == (
        w.a_jpg["id"], BOBS, "a.jpg")
    # Nothing goes directly into the virtual folders.
    for folder in (BOBS, "/Shared with me"):
        r = await init(client, w.bob.auth, file_entry(data, name="x.jpg", folder=folder))
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", r.text
    r = await init(client, w.bob.auth, file_entry(data, name="x.jpg", folder=f"{BOBS}/a.jpg"))
    assert r.status_code == 404


async def test_read_shares_answer_403_and_unshared_files_404(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "read")
    data = os.urandom(100)
    for entry in (file_entry(data, name="x.jpg", folder=f"{BOBS}/photos"),
                  file_entry(data, name="a.jpg", folder=f"{BOBS}/photos/2024",
                             fileId=w.a_jpg["id"])):
        r = await init(client, w.bob.auth, entry)
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", r.text
    # Alice's unshared document, and a folder no share shows: 404, as for any stranger.
    r = await init(client, w.bob.auth, file_entry(data, name="t.pdf", folder="/documents",
                                                  fileId=w.secret["id"]))
    assert r.status_code == 404
    r = await init(client, w.bob.auth, file_entry(data, name="x.jpg",
                                                  folder=f"{BOBS}/documents"))
    assert r.status_code == 404
    r = await init(client, w.carol.auth, file_entry(data, name="x.jpg",
                                                    folder=f"{BOBS}/photos"))
    assert r.status_code == 404  # Carol: nobody shares a folder there with her
    row = await fetchone(services.db.reader, "SELECT count(*) FROM uploads WHERE user_id !="
                         " (SELECT id FROM users WHERE email = 'alice@example.com')")
    assert row is not None and row[0] == 0


async def test_revoked_or_downgraded_before_complete_commits_nothing(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    first, second = os.urandom(3000), os.urandom(3000)
    one = await started(client, w.bob, first, name="one.jpg", folder=f"{BOBS}/photos",
                        local_id="1")
    two = await started(client, w.bob, second, name="two.jpg", folder=f"{BOBS}/photos",
                        local_id="2")
    alice_used = await used_bytes(services, "alice@example.com")

    # Turning the share to read, or revoking it, cancels the uploads open into it.
    await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)
    r = await complete(client, w.bob.auth, one["uploadId"], first)
    assert r.status_code == 409 and "cancelled" in r.json()["error"]["message"], r.text
    r = await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
    assert r.status_code == 200
    r = await complete(client, w.bob.auth, two["uploadId"], second)
    assert r.status_code == 409 and "cancelled" in r.json()["error"]["message"], r.text
    r = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=w.alice.auth)
    assert {f["name"] for f in r.json()["data"]["files"]} == {"2024"}
    assert await used_bytes(services, "alice@example.com") == alice_used

    # Shared with write again, they stay cancelled: the app uploads anew.
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    r = await complete(client, w.bob.auth, one["uploadId"], first)
    assert r.status_code == 409, r.text
    assert await used_bytes(services, "alice@example.com") == alice_used


async def test_an_upload_into_a_share_in_its_owners_trash_commits_nothing_until_restored(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    """The share is back after a restore, so its uploads are kept open, but while the
    shared folder is in the trash completing one is 404 and commits nothing."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(3000)
    item = await started(client, w.bob, data, name="one.jpg", folder=f"{BOBS}/photos")
    alice_used = await used_bytes(services, "alice@example.com")
    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={
        "localChanges": [{"action": "delete", "localId": "d", "fileId": w.photos_id}]})
    assert r.json()["data"]["results"][0]["status"] == "applied", r.text

    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", r.text
    assert await used_bytes(services, "alice@example.com") == alice_used
    r = await client.post(f"{API}/trash/{w.photos_id}/restore", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["folder"] == f"{BOBS}/photos"


async def test_the_owners_quota_counts_and_its_amounts_stay_private(
    client: AsyncTestClient[Any], services: Services, world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    alice = await fetchone(services.db.reader, "SELECT id, used_bytes FROM users WHERE email ="
                           " 'alice@example.com'")
    assert alice is not None
    await services.accounts.set_quota(alice["id"], alice["used_bytes"] + 6000)
    # Bob's open upload holds 4000 of Alice's last 6000 bytes ...
    await started(client, w.bob, os.urandom(4000), name="big.jpg", folder=f"{BOBS}/photos")
    # ... so neither Alice nor Bob can start another 4000 into her tree.
    r = await init(client, w.alice.auth, file_entry(os.urandom(4000), name="mine.jpg"))
    assert r.status_code == 507
    r = await init(client, w.bob.auth, file_entry(os.urandom(4000), name="more.jpg",
                                                  folder=f"{BOBS}/photos"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "QUOTA_EXCEEDED"
    error = r.json()["error"]
    assert "Alice Liddell's storage" in error["message"]
    assert not any(ch.isdigit() for ch in error["message"])
    assert not (error.get("details") or {})
    # Bob's own quota is untouched by what he put into Alice's folder.
    r = await init(client, w.bob.auth, file_entry(os.urandom(4000), name="mine.jpg"))
    assert r.status_code == 200


async def test_the_owners_store_is_no_oracle(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    # Alice's private document's content, and content she deleted: Bob has to send the
    # bytes like for anything new, and nothing says "deleted on the server".
    taxes = os.urandom(100)
    await upload(client, w.alice.auth, taxes, name="t2.pdf", folder="/documents", local_id="t")
    gone = os.urandom(100)
    gone_id = (await upload(client, w.alice.auth, gone, name="old.jpg", folder="/photos",
                            local_id="g"))["fileId"]
    r = await client.post(f"{API}/sync/files", headers=w.alice.auth, json={
        "localChanges": [{"action": "delete", "localId": "d", "fileId": gone_id}]})
    assert r.json()["data"]["results"][0]["status"] == "applied"
    for i, data in enumerate((taxes, gone)):
        r = await init(client, w.bob.auth, file_entry(data, name=f"copy{i}.jpg",
                                                      folder=f"{BOBS}/photos", local_id=str(i)))
        assert r.json()["data"]["files"][0]["status"] == "pending", r.text


async def test_bobs_version_never_overwrites_alices_later_edit(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    a_id = w.a_jpg["id"]
    alices = os.urandom(3100)
    await upload(client, w.alice.auth, alices, name="a.jpg", folder="/photos/2024",
                 fileId=a_id)  # after Bob's token

    bobs = os.urandom(3200)
    r = await init(client, w.bob.auth, file_entry(bobs, name="a.jpg", folder=f"{BOBS}/photos/2024",
                                                  fileId=a_id, syncToken=token))
    entry = r.json()["data"]["files"][0]
    assert (entry["status"], entry["fileId"], entry["error"]["code"]) == ("conflict", a_id,
                                                                          "CONFLICT")

    # Bob syncs and tries again; Alice edits once more while his bytes are on their way.
    token = (await pull(client, w.bob, token))["nextSyncToken"]
    item = await started(client, w.bob, bobs, name="a.jpg", folder=f"{BOBS}/photos/2024",
                         fileId=a_id, syncToken=token)
    alices = os.urandom(3300)
    await upload(client, w.alice.auth, alices, name="a.jpg", folder="/photos/2024", fileId=a_id)
    r = await complete(client, w.bob.auth, item["uploadId"], bobs)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["conflictedWith"] == a_id
    assert done["file"]["folder"] == f"{BOBS}/photos/2024"
    assert done["file"]["name"].startswith("a (conflicted copy Bob's Pixel 7 ")
    copy = await client.get(f"{API}/files/{done['fileId']}", headers=w.alice.auth)
    assert copy.json()["data"]["folder"] == "/photos/2024"  # in Alice's folder, hers
    r = await client.get(f"{API}/files/{a_id}/content", headers=w.alice.auth)
    assert r.content == alices
    r = await client.get(f"{API}/files/{done['fileId']}/content", headers=w.alice.auth)
    assert r.content == bobs


async def test_bobs_resumed_upload_counts_his_later_token_that_saw_alices_edit(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Bob starts his version with his token, Alice edits meanwhile, Bob syncs (seeing her
    edit) and asks again with his new token: the upload he started is resumed and
    replaces her edit (kept in the history), not a conflicted copy judged by his first
    token."""
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    a_id = w.a_jpg["id"]
    bobs = os.urandom(9000)
    where = {"name": "a.jpg", "folder": f"{BOBS}/photos/2024", "fileId": a_id}
    r = await init(client, w.bob.auth, file_entry(bobs, **where, syncToken=token))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, bobs, only=[0])
    await upload(client, w.alice.auth, os.urandom(3100), name="a.jpg", folder="/photos/2024",
                 fileId=a_id)
    token = (await pull(client, w.bob, token))["nextSyncToken"]
    r = await init(client, w.bob.auth, file_entry(bobs, **where, syncToken=token))
    resumed = r.json()["data"]["files"][0]
    assert resumed["uploadId"] == item["uploadId"], resumed
    await put_chunks(client, resumed, bobs, only=[1, 2])
    r = await complete(client, w.bob.auth, item["uploadId"], bobs)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fileId"] == a_id and "conflictedWith" not in r.json()["data"]
    r = await client.get(f"{API}/files/{a_id}/content", headers=w.alice.auth)
    assert r.content == bobs
