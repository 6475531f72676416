"""Corners of the upload protocol a real phone reaches: an empty file, chunks sent after
complete, a server restart between chunks."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.app import create_app
from homesync.services.container import Services
from tests.helpers import API, PASSWORD, device_from, device_info
from tests.uploads.flow import (
    complete,
    file_entry,
    init,
    path_of,
    put_chunks,
    random_bytes,
    upload,
)


async def test_an_empty_file_uploads_with_no_chunks(client, make_user, sign_in):
    await make_user(quota_bytes=1)
    dev = await sign_in()
    r = await init(client, dev.auth, file_entry(b"", name="empty.txt"))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    assert item["status"] == "pending" and item["totalChunks"] == 0 and item["chunks"] == []
    r = await client.put(f"{API}/upload/chunk/{item['uploadId']}/0", content=b"",
                         headers=dev.auth)
    assert r.status_code == 400 and r.json()["error"]["details"]["totalChunks"] == 0, r.text
    r = await complete(client, dev.auth, item["uploadId"], b"")
    assert r.status_code == 200, r.text
    file_id = r.json()["data"]["fileId"]
    assert r.json()["data"]["file"]["size"] == 0
    content = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert content.status_code == 200 and content.content == b""
    # Another empty file elsewhere is made from the stored (no) chunks at once.
    r = await init(client, dev.auth, file_entry(b"", name="empty.txt", folder="/other"))
    assert r.json()["data"]["files"][0]["status"] == "deduplicated", r.text


async def test_a_chunk_sent_again_after_complete_changes_nothing(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    done = await complete(client, dev.auth, item["uploadId"], data)
    assert done.status_code == 200, done.text
    file_id = done.json()["data"]["fileId"]
    for c in item["chunks"]:  # the background uploader retrying, signed URL and Bearer
        for headers in ({}, dev.auth):
            r = await client.put(path_of(c["uploadUrl"]), content=data[c["start"]:c["end"] + 1],
                                 headers=headers)
            assert r.status_code == 200, r.text
            assert r.json()["data"] == {"uploadId": item["uploadId"], "index": c["index"],
                                        "bytesReceived": c["end"] + 1 - c["start"],
                                        "completedChunks": 3, "totalChunks": 3,
                                        "status": "completed"}
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["status"] == "completed" and state["fileId"] == file_id
    content = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert content.content == data


def _served(svc: Services) -> AsyncTestClient[Any]:
    return AsyncTestClient(app=create_app(svc.settings, svc), base_url="http://testserver.local")


async def test_resume_after_a_server_restart(settings):
    # Each server stops (its client, with the loop its hashing runs on) before its
    # database closes, as a real one does.
    first = await Services.open(settings)
    try:
        await first.accounts.create_user("alice@example.com", PASSWORD, name="Alice")
        async with _served(first) as c1:
            r = await c1.post(f"{API}/auth/register", json={
                "email": "alice@example.com", "password": PASSWORD,
                "deviceInfo": device_info("app-install-1")})
            dev = device_from(r.json(), "alice@example.com", "app-install-1")
            data = random_bytes(20_000)
            item = (await init(c1, dev.auth, file_entry(data))).json()["data"]["files"][0]
            await put_chunks(c1, item, data, dev.auth, only=[0, 3])
    finally:
        await first.close()
    again = await Services.open(settings)
    try:
        async with _served(again) as c2:
            state = (await c2.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()
            assert state["data"]["completedChunks"] == [0, 3], state
            assert state["data"]["missingChunks"] == [1, 2, 4]
            # A re-init (the app lost its ids too) resumes the same upload.
            r = await init(c2, dev.auth, file_entry(data, local_id="again"))
            resumed = r.json()["data"]["files"][0]
            assert resumed["uploadId"] == item["uploadId"], r.text
            assert resumed["completedChunks"] == [0, 3]
            await put_chunks(c2, state["data"], data, dev.auth)
            r = await complete(c2, dev.auth, item["uploadId"], data)
            assert r.status_code == 200, r.text
            content = await c2.get(f"{API}/files/{r.json()['data']['fileId']}/content",
                                   headers=dev.auth)
            assert content.content == data
    finally:
        await again.close()


async def test_an_expired_upload_frees_its_quota_and_a_new_init_starts_afresh(
        client, make_user, sign_in):
    await make_user(quota_bytes=9000)  # exactly the file
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0])
    r = await init(client, dev.auth, file_entry(random_bytes(1), name="one.jpg"))
    assert r.status_code == 507, r.text  # the open upload holds the whole quota
    start = clock.now()
    clock.set_now(lambda: start + 25 * 3600)
    dev = await sign_in()
    r = await complete(client, dev.auth, item["uploadId"], b"other content")
    assert r.status_code == 410, r.text  # expired first: a checksum cannot revive it
    r = await init(client, dev.auth, file_entry(data, local_id="again"))
    assert r.status_code == 200, r.text
    fresh = r.json()["data"]["files"][0]
    assert fresh["uploadId"] != item["uploadId"] and fresh["completedChunks"] == []
    await put_chunks(client, fresh, data, dev.auth)
    r = await complete(client, dev.auth, fresh["uploadId"], data)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["size"] == 9000  # the quota, to the byte
    r = await init(client, dev.auth, file_entry(random_bytes(1), name="one.jpg"))
    assert r.status_code == 507 and r.json()["error"]["code"] == "QUOTA_EXCEEDED"
    old = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()
    assert old["data"]["status"] == "expired"


async def test_a_cancelled_upload_refuses_chunks_and_complete(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    assert r.status_code == 200 and r.json()["data"]["status"] == "cancelled"
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT", r.text
    r = await client.get(f"{API}/files", params={"folder": "/"}, headers=dev.auth)
    assert r.json()["data"]["files"] == []
    r = await init(client, dev.auth, file_entry(data, local_id="again"))
    assert r.json()["data"]["files"][0]["uploadId"] != item["uploadId"], r.text


async def test_a_file_in_the_folder_path_is_a_conflict_at_init(client, services, make_user,
                                                               sign_in):
    """``/notes/sub`` cannot be made while ``/notes`` is a file: init says so, as it does
    for a name that is taken, before any bytes are sent (complete would be NAME_CONFLICT)."""
    await make_user()
    dev = await sign_in()
    stored = random_bytes(100)
    notes = await upload(client, dev.auth, stored, name="notes", folder="/")
    count = "SELECT count(*) FROM uploads"
    before = (await services.db.fetchone(count) or [None])[0]
    data = random_bytes(5000)
    r = await init(client, dev.auth, file_entry(data, folder="/Notes/sub"),
                   file_entry(data, name="fine.jpg", folder="/photos", local_id="fine"))
    assert r.status_code == 200, r.text
    blocked, fine = r.json()["data"]["files"]
    assert blocked["status"] == "conflict" and "uploadId" not in blocked, blocked
    assert blocked["error"]["code"] == "NAME_CONFLICT" and blocked["fileId"] == notes["fileId"]
    assert fine["status"] == "pending"
    assert (await services.db.fetchone(count) or [None])[0] == before + 1
    # Content already stored goes nowhere either (no file is made from its chunks).
    r = await init(client, dev.auth, file_entry(stored, name="copy", folder="/notes/deeper"))
    (clash,) = r.json()["data"]["files"]
    assert clash["status"] == "conflict" and clash["fileId"] == notes["fileId"], clash
    assert clash["error"]["code"] == "NAME_CONFLICT"


async def test_a_reinit_answers_the_resumed_uploads_own_status(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[1])
    for status in ("paused", "failed"):
        r = await client.post(f"{API}/upload/progress", headers=dev.auth,
                              json={"uploadId": item["uploadId"], "status": status})
        assert r.status_code == 200, r.text
        again = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
        assert again["uploadId"] == item["uploadId"]
        assert again["status"] == status and again["completedChunks"] == [1]
        assert [c["index"] for c in again["chunks"]] == [0, 1, 2]


async def test_a_file_and_a_folder_of_one_name_in_one_init(client, services, make_user, sign_in):
    """One init asking for a file ``notes`` and for something in a folder ``notes`` (either
    order, names without case): the later one is a conflict, as one init's two files of
    one name are, instead of a NAME_CONFLICT at complete."""
    await make_user()
    dev = await sign_in()
    one, other = random_bytes(5000), random_bytes(6000)
    for first, second in ((file_entry(one, name="notes", folder="/", local_id="file"),
                           file_entry(other, folder="/Notes/sub", local_id="inside")),
                          (file_entry(other, folder="/docs/sub", local_id="inside"),
                           file_entry(one, name="DOCS", folder="/", local_id="file"))):
        r = await init(client, dev.auth, first, second)
        assert r.status_code == 200, r.text
        made, clash = r.json()["data"]["files"]
        assert made["status"] == "pending", made
        assert clash["status"] == "conflict" and "uploadId" not in clash, clash
        assert clash["error"]["code"] == "NAME_CONFLICT" and "fileId" not in clash
        await put_chunks(client, made, one if made["localId"] == "file" else other, dev.auth)
        r = await complete(client, dev.auth, made["uploadId"],
                           one if made["localId"] == "file" else other)
        assert r.status_code == 200, r.text


async def test_a_file_named_as_a_folder_is_told_to_take_another_name(client, make_user,
                                                                     sign_in):
    """A folder takes no new version: the conflict's advice is another name, not the
    folder's fileId (which an app would send, and be refused again)."""
    await make_user()
    dev = await sign_in()
    await upload(client, dev.auth, random_bytes(3000), name="a.txt", folder="/notes")
    r = await init(client, dev.auth, file_entry(random_bytes(4000), name="Notes", folder="/"))
    assert r.status_code == 200, r.text
    (clash,) = r.json()["data"]["files"]
    assert clash["status"] == "conflict" and clash["error"]["code"] == "NAME_CONFLICT", clash
    assert "is a folder" in clash["error"]["message"], clash
    assert "new version" not in clash["error"]["message"], clash
