"""GET /sync/status: tokens, deltas collapsed per file, paging, lastSync, syncFolders."""

from __future__ import annotations

import base64

import pytest

from homesync import clock
from tests.helpers import API
from tests.sync.helpers import Replica, change, pull, push, store


async def test_full_listing_then_empty_delta(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"hello", name="a.txt", folder="/docs")
    data = await pull(client, phone)
    created = {e["id"]: e for e in data["changes"]["created"]}
    assert created[file_id]["name"] == "a.txt" and created[file_id]["folder"] == "/docs"
    assert created[file_id]["size"] == 5 and created[file_id]["type"] == "file"
    assert created[file_id]["checksum"].startswith("sha256:")
    assert created[file_id]["modifiedAt"].endswith("Z")
    assert any(e["type"] == "folder" and e["name"] == "docs" for e in created.values())
    assert data["hasChanges"] is True and data["hasMore"] is False and data["conflicts"] == []
    again = await pull(client, phone, data["nextSyncToken"])
    assert again["hasChanges"] is False
    assert again["changes"] == {"created": [], "updated": [], "deleted": []}


async def test_changes_are_collapsed_per_file(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    token = (await pull(client, phone))["nextSyncToken"]
    file_id = await store(client, phone, b"one", name="a.txt")
    await store(client, phone, b"two", name="a.txt", file_id=file_id)
    await store(client, phone, b"three", name="a.txt", file_id=file_id)
    data = await pull(client, phone, token)
    files = [e for e in data["changes"]["created"] if e["type"] == "file"]
    assert [e["id"] for e in files] == [file_id]  # once, as it is now
    assert files[0]["size"] == 5
    # Seen by a device that knew the file: one update.
    later = (await pull(client, phone, data["nextSyncToken"]))["nextSyncToken"]
    await store(client, phone, b"four!", name="a.txt", file_id=file_id)
    await store(client, phone, b"five!!", name="a.txt", file_id=file_id)
    data = await pull(client, phone, later)
    assert [e["id"] for e in data["changes"]["updated"]] == [file_id]
    assert data["changes"]["created"] == []


async def test_created_then_deleted_since_token_is_left_out(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    kept = await store(client, phone, b"kept", name="kept.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    brief = await store(client, phone, b"brief", name="brief.txt")
    await push(client, phone, None, change("delete", fileId=brief))
    await push(client, phone, None, change("delete", "l2", fileId=kept))
    data = await pull(client, phone, token)
    assert [e["id"] for e in data["changes"]["deleted"]] == [kept]
    assert data["changes"]["created"] == []


async def test_a_devices_own_new_file_deleted_elsewhere_is_listed_deleted(client, make_user,
                                                                          sign_in):
    """The phone uploads a file (it holds it, and knows its id) and the laptop deletes it
    before the phone pulls again: created and deleted since the phone's token, it was left
    out as "never seen", and the phone kept a file the server no longer has, for good."""
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    token = (await pull(client, phone))["nextSyncToken"]
    mine = await store(client, phone, b"mine", name="mine.txt")
    made = (await push(client, phone, token, change("mkdir", folder="/made")))["results"][0]
    theirs = await store(client, laptop, b"theirs", name="theirs.txt")
    laptop_token = (await pull(client, laptop))["nextSyncToken"]
    out = await push(client, laptop, laptop_token, change("delete", "a", fileId=mine),
                     change("delete", "b", fileId=made["fileId"]),
                     change("delete", "c", fileId=theirs))
    assert [r["status"] for r in out["results"]] == ["applied"] * 3
    data = await pull(client, phone, token)
    # theirs.txt the phone never saw: still left out.
    assert sorted(e["id"] for e in data["changes"]["deleted"]) == sorted(
        [mine, made["fileId"]])


async def test_paging_with_limit(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    ids = [await store(client, phone, f"file {i}".encode(), name=f"f{i}.txt") for i in range(7)]
    replica = Replica()
    pages = 0
    while True:
        data = await pull(client, phone, replica.token, limit=3)
        replica.apply(data)
        pages += 1
        assert len(data["changes"]["created"]) <= 3
        if not data["hasMore"]:
            break
    assert pages == 3  # 7 files + the folder = 8 entries
    assert set(ids) <= set(replica.entries)


async def test_forged_and_foreign_tokens_are_refused(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await store(client, alice, b"alice's secret", name="secret.txt")
    bobs_token = (await pull(client, bob))["nextSyncToken"]
    alices_token = (await pull(client, alice))["nextSyncToken"]
    raw = bytearray(base64.urlsafe_b64decode(alices_token[5:] + "=="))
    raw[8] = 0  # move the position back to 0 without re-signing
    forged = "sync_" + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    for token in (bobs_token, forged, "sync_token_xyz789", "x" * 500, ""):
        r = await client.get(f"{API}/sync/status", params={"syncToken": token},
                             headers=alice.auth)
        if token == "":
            assert r.status_code == 200  # empty is "no token"
            continue
        assert r.status_code == 400, (token, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await client.post(f"{API}/sync/files", headers=bob.auth,
                          json={"syncToken": alices_token, "localChanges": []})
    assert r.status_code == 400


async def test_bad_parameters_are_400(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    future = clock.rfc3339(clock.now_ms() + 86_400_000)
    for params in ({"limit": "0"}, {"limit": "-5"}, {"limit": "ten"}, {"limit": "1.5"},
                   {"wait": "-1"}, {"wait": "soon"}, {"lastSync": "yesterday"},
                   {"lastSync": "2024-01-20T15:30:00"}, {"lastSync": future},
                   # isdigit() is true for these, int() is not: once a 500
                   {"limit": "--5"}, {"limit": "\u00b2"}, {"wait": "--1"}, {"wait": "\u00b2"}):
        r = await client.get(f"{API}/sync/status", params=params, headers=phone.auth)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["success"] is False
    r = await client.get(f"{API}/sync/status", params={"limit": "999999999"}, headers=phone.auth)
    assert r.status_code == 200  # clamped to max_page_size
    for params in ({"limit": "--1"}, {"offset": "\u00b2"}):  # the trash pages the same way
        r = await client.get(f"{API}/trash", params=params, headers=phone.auth)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    r = await client.get(f"{API}/sync/status")
    assert r.status_code == 401


async def test_last_sync_timestamp(client, make_user, sign_in):
    start = float(int(clock.now()))
    clock.set_now(lambda: start)
    await make_user()
    phone = await sign_in()
    old = await store(client, phone, b"old", name="old.txt")
    clock.set_now(lambda: start + 100)
    new = await store(client, phone, b"new", name="new.txt")
    since = clock.rfc3339(int(start + 60) * 1000)
    data = await pull(client, phone, lastSync=since)
    ids = [e["id"] for e in data["changes"]["created"] + data["changes"]["updated"]]
    assert new in ids and old not in ids
    assert data["lastSyncAt"] == clock.rfc3339(int(start + 100) * 1000)


async def test_last_sync_at_is_recorded_for_the_device(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    data = await pull(client, phone)
    r = await client.get(f"{API}/devices", headers=phone.auth)
    device = r.json()["data"]["devices"][0]
    assert device["lastSyncAt"] == data["lastSyncAt"]
    again = await client.post(f"{API}/auth/register", json={
        "email": phone.email, "password": "correct horse battery",
        "deviceInfo": {"platform": "android", "model": "Pixel 7", "osVersion": "14",
                       "appVersion": "1.2.0", "deviceId": phone.client_id}})
    assert again.json()["syncData"]["lastSyncAt"] == data["lastSyncAt"]


async def test_sync_folders_filter_and_moves_out(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    photo = await store(client, phone, b"photo", name="p.jpg", folder="/photos/2024")
    await store(client, phone, b"doc", name="d.txt", folder="/docs")
    r = await client.put(f"{API}/devices/{phone.device_id}/settings", headers=phone.auth,
                         json={"syncFolders": ["/photos"]})
    assert r.status_code == 200, r.text
    data = await pull(client, phone)
    paths = {(e["folder"], e["name"]) for e in data["changes"]["created"]}
    assert paths == {("/", "photos"), ("/photos", "2024"), ("/photos/2024", "p.jpg")}
    token = data["nextSyncToken"]
    # Moved out of the synced folders: gone, as far as this device is concerned.
    await push(client, phone, token, change("move", fileId=photo, folder="/archive"))
    data = await pull(client, phone, token)
    assert [e["id"] for e in data["changes"]["deleted"]] == [photo]
    # Changes elsewhere do not show up at all, but the token moves past them.
    token = data["nextSyncToken"]
    await store(client, phone, b"doc 2", name="e.txt", folder="/docs")
    data = await pull(client, phone, token)
    assert data["hasChanges"] is False and data["nextSyncToken"] != token


@pytest.mark.parametrize("push_between", [False, True])
async def test_a_move_out_of_the_sync_folders_is_not_lost_between_pages(client, make_user,
                                                                       sign_in, push_between):
    """p.jpg moved out of the phone's syncFolders, then edited: its row now sits after the
    new photos. A paged delta read the photos on page 1, and page 2 judged "moved out
    since the token" by page 1's end, after the move: the move was on no page, and the
    phone kept p.jpg in /photos for good. Pages now judge by where the delta started,
    also from the token of a POST /sync/files sent between two pages."""
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    photo = await store(client, laptop, b"photo", name="p.jpg", folder="/photos")
    r = await client.put(f"{API}/devices/{phone.device_id}/settings", headers=phone.auth,
                         json={"syncFolders": ["/photos"]})
    assert r.status_code == 200, r.text
    replica = Replica()
    await replica.sync(client, phone)
    assert "/photos/p.jpg" in replica.paths()
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("move", fileId=photo, folder="/archive"))
    for i in range(3):
        await store(client, laptop, bytes([i]) * 3, name=f"n{i}.jpg", folder="/photos")
    await store(client, laptop, b"edited", name="p.jpg", folder="/archive", file_id=photo)
    if push_between:
        data = await pull(client, phone, replica.token, limit=2)
        assert data["hasMore"]
        replica.apply(data)
        out = await push(client, phone, replica.token, change("mkdir", folder="/photos/new"))
        assert out["results"][0]["status"] == "applied"
        replica.token = out["nextSyncToken"]
    await replica.sync(client, phone, limit=2)
    assert sorted(replica.paths()) == ["/photos", "/photos/n0.jpg", "/photos/n1.jpg",
                                       "/photos/n2.jpg"] + ["/photos/new"] * push_between


async def test_open_conflicts_are_listed(client, make_user, sign_in):
    await make_user()
    a = await sign_in(client_id="a")
    b = await sign_in(client_id="b", model="iPad")
    file_id = await store(client, a, b"v1", name="n.txt")
    token = (await pull(client, b))["nextSyncToken"]
    await store(client, a, b"v2 from a", name="n.txt", file_id=file_id)
    await store(client, b, b"b's edit", name="scratch.txt")
    result = await push(client, b, token, change(
        "upload", fileId=file_id, name="n.txt", folder="/docs", size=8,
        checksum="sha256:" + __import__("hashlib").sha256(b"b's edit").hexdigest()))
    conflict_id = result["results"][0]["conflictId"]
    data = await pull(client, a)
    assert [c["id"] for c in data["conflicts"]] == [conflict_id]
    listed = data["conflicts"][0]
    assert listed["type"] == "modify_modify" and listed["fileId"] == file_id
    assert listed["local"]["deviceName"] == "Alice's iPad"
    assert listed["remote"]["deviceName"] == "Alice's Pixel 7"
    r = await client.get(f"{API}/conflicts", headers=a.auth)
    assert [c["id"] for c in r.json()["data"]["conflicts"]] == [conflict_id]
