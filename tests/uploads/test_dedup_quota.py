"""Dedup at init, name conflicts, new versions, quotas, disk space and upload events."""

from __future__ import annotations

import time

from homesync import clock
from homesync.store.db import fetchall, fetchone
from tests.helpers import API
from tests.sync.helpers import change, pull, push
from tests.uploads.flow import checksum, file_entry, init, put_chunks, random_bytes, upload


async def chunk_count(services) -> int:
    row = await fetchone(services.db.reader, "SELECT count(*) FROM chunks")
    return int(row[0])


async def used(services, user_id: str) -> int:
    row = await fetchone(services.db.reader, "SELECT used_bytes FROM users WHERE id = ?", (user_id,))
    return int(row[0])


async def test_same_content_same_place_is_deduplicated(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    first = await upload(client, dev.auth, data)
    r = await init(client, dev.auth, file_entry(data, local_id="again"))
    assert r.json()["data"]["files"] == [
        {"localId": "again", "status": "deduplicated", "fileId": first["fileId"]}]


async def test_content_elsewhere_makes_a_new_file_without_bytes(client, services, make_user, sign_in):
    uid = await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    first = await upload(client, dev.auth, data, name="a.jpg", folder="/camera")
    before = await chunk_count(services)
    r = await init(client, dev.auth, file_entry(data, name="copy.jpg", folder="/album", local_id="c"))
    item = r.json()["data"]["files"][0]
    assert item["status"] == "deduplicated" and item["fileId"] != first["fileId"]
    got = await client.get(f"{API}/files/{item['fileId']}/content", headers=dev.auth)
    assert got.content == data
    meta = (await client.get(f"{API}/files/{item['fileId']}", headers=dev.auth)).json()["data"]
    assert meta["folder"] == "/album" and meta["name"] == "copy.jpg"
    assert await chunk_count(services) == before  # nothing stored twice
    assert await used(services, uid) == 2 * len(data)  # but both files count


async def test_never_deduplicated_across_users(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    data = random_bytes(9000)
    await upload(client, alice.auth, data)
    r = await init(client, bob.auth, file_entry(data))
    item = r.json()["data"]["files"][0]
    # Bob is asked for the bytes like for any new content: no existence oracle.
    assert "uploadId" in item and item["totalChunks"] == 3
    await put_chunks(client, item, data, bob.auth)
    r = await client.post(f"{API}/upload/complete", headers=bob.auth,
                          json={"uploadId": item["uploadId"], "checksum": checksum(data)})
    assert r.status_code == 200


async def test_name_taken_by_other_content_is_a_conflict(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    first = await upload(client, dev.auth, random_bytes(5000), name="IMG_0001.JPG")
    other = random_bytes(6000)
    r = await init(client, dev.auth, file_entry(other, name="img_0001.jpg"))
    item = r.json()["data"]["files"][0]
    assert item["status"] == "conflict" and item["fileId"] == first["fileId"]
    assert item["error"]["code"] == "NAME_CONFLICT"
    # With the fileId it becomes a new version of that file; the old version stays.
    done = await upload(client, dev.auth, other, name="img_0001.jpg", fileId=first["fileId"])
    assert done["fileId"] == first["fileId"]
    assert done["file"]["checksum"] == checksum(other)
    got = await client.get(f"{API}/files/{first['fileId']}/content", headers=dev.auth)
    assert got.content == other


async def test_reinit_resumes_the_open_upload(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(12_000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0, 1])
    again = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    assert again["uploadId"] == item["uploadId"]
    assert again["completedChunks"] == [0, 1] and again["status"] == "uploading"


async def test_reinit_with_the_folder_in_another_case_resumes(client, services, make_user,
                                                               sign_in):
    # "/PHOTOS" is the "/photos" of the earlier init, whether or not the folder exists yet.
    await make_user()
    dev = await sign_in()
    data = random_bytes(12_000)
    item = (await init(client, dev.auth, file_entry(data, folder="/Photos/Trip"))) \
        .json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0])
    again = (await init(client, dev.auth, file_entry(data, folder="/PHOTOS/trip"))) \
        .json()["data"]["files"][0]
    assert again["uploadId"] == item["uploadId"] and again["completedChunks"] == [0]
    assert len(await fetchall(services.db.reader, "SELECT id FROM uploads")) == 1
    # Elsewhere is another upload.
    elsewhere = (await init(client, dev.auth, file_entry(data, folder="/photos/trip2"))) \
        .json()["data"]["files"][0]
    assert elsewhere["uploadId"] != item["uploadId"]


async def test_quota_checked_at_init(client, services, make_user, sign_in):
    uid = await make_user(quota_bytes=20_000)
    dev = await sign_in()
    await upload(client, dev.auth, random_bytes(9000), name="a.jpg")
    r = await init(client, dev.auth, file_entry(random_bytes(12_000), name="b.jpg"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "QUOTA_EXCEEDED"
    # Open uploads count too: two inits cannot both take the last bytes.
    r = await init(client, dev.auth, file_entry(random_bytes(6000), name="c.jpg"))
    assert r.status_code == 200
    r = await init(client, dev.auth, file_entry(random_bytes(6000), name="d.jpg"))
    assert r.status_code == 507
    uploads = await fetchall(services.db.reader, "SELECT name FROM uploads ORDER BY name")
    assert [u[0] for u in uploads] == ["a.jpg", "c.jpg"]  # the refused inits left nothing
    # Raising the quota with the CLI's service lets it through.
    await services.accounts.set_quota(uid, 100_000)
    r = await init(client, dev.auth, file_entry(random_bytes(6000), name="d.jpg"))
    assert r.status_code == 200


async def test_disk_reserve_checked_at_init_and_per_chunk(client, services, make_user, sign_in,
                                                          monkeypatch):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]

    async def nearly_full() -> int:
        return 5000

    monkeypatch.setattr(services.chunks, "free_bytes", nearly_full)
    r = await init(client, dev.auth, file_entry(random_bytes(9000), name="b.jpg"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "DISK_FULL"
    r = await client.put(item["chunks"][0]["uploadUrl"].split("testserver.local")[1],
                         content=data[:4096], headers=dev.auth)
    assert r.status_code == 200  # 4096 bytes still fit
    r = await client.put(item["chunks"][1]["uploadUrl"].split("testserver.local")[1],
                         content=data[4096:8192], headers=dev.auth)
    assert r.status_code == 200
    async def full() -> int:
        return 100

    monkeypatch.setattr(services.chunks, "free_bytes", full)
    r = await client.put(item["chunks"][2]["uploadUrl"].split("testserver.local")[1],
                         content=data[8192:], headers=dev.auth)
    assert r.status_code == 507 and r.json()["error"]["code"] == "DISK_FULL"


async def test_a_full_disk_refuses_only_bytes_still_to_be_sent(client, services, make_user,
                                                               sign_in, monkeypatch):
    """An app asking again for files the server has (deduplicated), or for one it has
    half sent, needs no room for them: init answers as usual on a full disk (it was 507
    DISK_FULL for the sizes of every file asked for)."""
    await make_user()
    dev = await sign_in()
    stored, half = random_bytes(9000), random_bytes(9000)
    await upload(client, dev.auth, stored, name="stored.jpg")
    item = (await init(client, dev.auth, file_entry(half, name="half.jpg"))).json()["data"]["files"][0]
    await put_chunks(client, item, half, dev.auth, only=[0, 1])  # 8192 of 9000 bytes

    async def nearly_full() -> int:
        return 1000

    monkeypatch.setattr(services.chunks, "free_bytes", nearly_full)
    r = await init(client, dev.auth, file_entry(stored, name="stored.jpg", local_id="a"),
                   file_entry(stored, name="copy.jpg", folder="/album", local_id="b"),
                   file_entry(half, name="half.jpg", local_id="c"))
    assert r.status_code == 200, r.text
    assert [(f["localId"], f["status"]) for f in r.json()["data"]["files"]] == [
        ("a", "deduplicated"), ("b", "deduplicated"), ("c", "uploading")]
    r = await init(client, dev.auth, file_entry(random_bytes(1500), name="new.jpg"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "DISK_FULL"
    assert r.json()["error"]["details"]["requiredBytes"] == 1500


async def test_storage_events_at_80_90_100_percent(client, services, make_user, sign_in):
    uid = await make_user(quota_bytes=10_000)
    dev = await sign_in()
    await upload(client, dev.auth, random_bytes(7000), name="a")   # 70 %: nothing
    await upload(client, dev.auth, random_bytes(1500), name="b")   # 85 %: 80
    await upload(client, dev.auth, random_bytes(500), name="c")    # 90 %: 90
    await upload(client, dev.auth, random_bytes(400), name="d")    # 94 %: nothing new
    rows = await fetchall(services.db.reader, "SELECT kind, title, data FROM notifications"
                          " WHERE user_id = ? AND category = 'storage' ORDER BY created_at", (uid,))
    assert [r["title"] for r in rows] == ["Storage 80% full", "Storage 90% full"]
    await services.accounts.set_quota(uid, 9900)
    await upload(client, dev.auth, random_bytes(500), name="e")     # exactly 100 %: full
    rows = await fetchall(services.db.reader, "SELECT title FROM notifications"
                          " WHERE category = 'storage' ORDER BY created_at")
    assert [r[0] for r in rows] == ["Storage 80% full", "Storage 90% full", "Storage full"]
    r = await init(client, dev.auth, file_entry(random_bytes(1), name="f"))
    assert r.status_code == 507


async def test_a_storage_level_is_announced_again_only_after_a_day(client, services, make_user,
                                                                   sign_in):
    start = time.time()
    clock.set_now(lambda: start)
    try:
        uid = await make_user(quota_bytes=10_000)
        dev = await sign_in()
        await upload(client, dev.auth, random_bytes(7000), name="base")

        async def over_80_and_back(name: str) -> None:
            done = await upload(client, dev.auth, random_bytes(1500), name=name)  # 85 %
            token = (await pull(client, dev))["nextSyncToken"]
            await push(client, dev, token, change("delete", fileId=done["fileId"]))
            r = await client.delete(f"{API}/trash/{done['fileId']}", headers=dev.auth)
            assert r.status_code == 200, r.text  # purged: back to 70 %

        await over_80_and_back("a")
        await over_80_and_back("b")  # the same hour: already announced
        clock.set_now(lambda: start + 25 * 3600)
        dev = await sign_in()  # the old access token has expired meanwhile
        await over_80_and_back("c")
        rows = await fetchall(services.db.reader, "SELECT title, created_at FROM notifications"
                              " WHERE user_id = ? AND category = 'storage'", (uid,))
        assert sorted((r["title"], r["created_at"] // 1000 - int(start)) for r in rows) == [
            ("Storage 80% full", 0), ("Storage 80% full", 25 * 3600)]
    finally:
        clock.set_now(None)


async def test_a_quota_lowered_under_a_users_files_is_announced(client, services, make_user,
                                                                sign_in):
    """Usage past 80/90/100 % of the quota because the quota was lowered (`homesync user
    quota`) is news as much as usage grown past it: the user learns it before uploads
    start failing with 507. Raising it, or setting it again, says nothing."""
    uid = await make_user(quota_bytes=100_000)
    dev = await sign_in()
    await upload(client, dev.auth, random_bytes(8500))  # 8.5 %

    async def storage_titles() -> list[str]:
        r = await client.get(f"{API}/notifications", headers=dev.auth,
                             params={"category": "storage"})
        assert r.status_code == 200, r.text
        return [n["title"] for n in reversed(r.json()["data"]["notifications"])]

    await services.accounts.set_quota(uid, 10_000)  # 85 %
    assert await storage_titles() == ["Storage 80% full"]
    await services.accounts.set_quota(uid, 10_000)
    await services.accounts.set_quota(uid, 9_000)  # 94 %
    await services.accounts.set_quota(uid, 8_000)  # 106 %
    assert await storage_titles() == ["Storage 80% full", "Storage 90% full", "Storage full"]
    await services.accounts.set_quota(uid, 0)  # unlimited
    await services.accounts.set_quota(uid, 1_000_000)
    assert len(await storage_titles()) == 3


async def test_upload_events_go_to_the_uploading_device(client, services, make_user, sign_in):
    uid = await make_user()
    dev = await sign_in()
    done = await upload(client, dev.auth, random_bytes(5000), name="x.jpg")
    rows = await fetchall(services.db.reader, "SELECT category, kind, only_device_id, data"
                          " FROM notifications WHERE user_id = ? AND category = 'uploads'", (uid,))
    assert len(rows) == 1
    assert rows[0]["kind"] == "upload_completed" and rows[0]["only_device_id"] == dev.device_id
    assert done["fileId"] in rows[0]["data"]


async def test_pending_uploads_reported_at_register(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    await init(client, dev.auth, file_entry(random_bytes(5000), name="1"),
               file_entry(random_bytes(5000), name="2", local_id="l2"))
    r = await client.post(f"{API}/auth/register", json={
        "email": "alice@example.com", "password": "correct horse battery",
        "deviceInfo": {"platform": "android", "model": "Pixel 7", "osVersion": "14",
                       "appVersion": "1.2.0", "deviceId": dev.client_id}})
    assert r.json()["syncData"]["pendingUploads"] == 2
