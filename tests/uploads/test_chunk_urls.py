"""Signed chunk URLs and who may touch an upload (BOLA: other users get 404)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.helpers import API
from tests.uploads.flow import checksum, file_entry, init, path_of, random_bytes


async def started(client, auth, data, **kw):
    return (await init(client, auth, file_entry(data, **kw))).json()["data"]["files"][0]


async def test_signed_url_works_without_bearer(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = await started(client, dev.auth, data)
    for chunk in item["chunks"]:
        r = await client.put(path_of(chunk["uploadUrl"]), content=data[chunk["start"]:chunk["end"] + 1])
        assert r.status_code == 200, r.text
    r = await client.post(f"{API}/upload/complete", headers=dev.auth,
                          json={"uploadId": item["uploadId"], "checksum": checksum(data)})
    assert r.status_code == 200


async def test_file_level_url_with_content_range_or_index(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = await started(client, dev.auth, data)
    url = path_of(item["uploadUrl"])
    r = await client.put(url, content=data[4096:8192],
                         headers={"Content-Range": f"bytes 4096-8191/{len(data)}"})
    assert r.status_code == 200 and r.json()["data"]["index"] == 1
    r = await client.put(url, content=data[:4096], headers={"X-Chunk-Index": "0"})
    assert r.status_code == 200 and r.json()["data"]["index"] == 0
    r = await client.put(url, content=data[8000:], headers={"Content-Range": "bytes 8000-8999/9000"})
    assert r.status_code == 400  # not a chunk boundary
    r = await client.put(url, content=data[8192:])
    assert r.status_code == 400  # which chunk?
    r = await client.put(url, content=data[8192:], headers={"Content-Range": "bytes 8192-8999/9000"})
    assert r.status_code == 200 and r.json()["data"]["completedChunks"] == 3


async def test_signature_is_scoped_to_its_upload(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    a = await started(client, dev.auth, data, name="a.jpg")
    b = await started(client, dev.auth, data, name="b.jpg", local_id="b")
    a_query = urlsplit(a["chunks"][0]["uploadUrl"]).query
    b_path = urlsplit(b["chunks"][0]["uploadUrl"]).path
    r = await client.put(f"{b_path}?{a_query}", content=data[:4096])
    assert r.status_code == 401
    q = parse_qs(a_query)
    a_path = urlsplit(a["chunks"][0]["uploadUrl"]).path
    for bad in (f"exp={int(q['exp'][0]) + 1}&sig={q['sig'][0]}", f"exp={q['exp'][0]}&sig=AAAA",
                f"exp=abc&sig={q['sig'][0]}", "exp=&sig=", ""):
        r = await client.put(f"{a_path}?{bad}", content=data[:4096])
        assert r.status_code == 401, bad
        assert r.json()["success"] is False


async def test_other_users_get_404_everywhere(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    data = random_bytes(9000)
    item = await started(client, alice.auth, data)
    uid = item["uploadId"]
    chunk_path = urlsplit(item["chunks"][0]["uploadUrl"]).path
    calls = [
        client.put(chunk_path, content=data[:4096], headers=bob.auth),
        client.get(f"{API}/upload/{uid}", headers=bob.auth),
        client.delete(f"{API}/upload/{uid}", headers=bob.auth),
        client.post(f"{API}/upload/progress", headers=bob.auth,
                    json={"uploadId": uid, "status": "cancelled"}),
        client.post(f"{API}/upload/complete", headers=bob.auth,
                    json={"uploadId": uid, "checksum": checksum(data)}),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "NOT_FOUND"
    state = (await client.get(f"{API}/upload/{uid}", headers=alice.auth)).json()["data"]
    assert state["status"] == "pending" and state["completedChunks"] == []
    # Alice's file ids are just as invisible.
    for c in item["chunks"]:
        await client.put(path_of(c["uploadUrl"]), content=data[c["start"]:c["end"] + 1])
    done = (await client.post(f"{API}/upload/complete", headers=alice.auth,
                              json={"uploadId": uid, "checksum": checksum(data)})).json()["data"]
    fid = done["fileId"]
    for path in (f"/files/{fid}", f"/files/{fid}/content"):
        r = await client.get(f"{API}{path}", headers=bob.auth)
        assert r.status_code == 404
    r = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=bob.auth)
    assert r.status_code == 404
    r = await init(client, bob.auth, file_entry(data, fileId=fid))
    assert r.status_code == 404


async def test_chunk_put_needs_some_credential(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = await started(client, dev.auth, data)
    path = urlsplit(item["chunks"][0]["uploadUrl"]).path
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer a.b"},
                    {"Authorization": "Basic eDp5"}, {"Authorization": "Bearer " + "x" * 9000}):
        r = await client.put(path, content=data[:4096], headers=headers)
        assert r.status_code == 401, headers


async def test_signed_url_dies_with_its_device(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    data = random_bytes(9000)
    item = await started(client, phone.auth, data)
    r = await client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200
    r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=data[:4096])
    assert r.status_code == 401


async def test_absolute_urls_use_public_url(client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    services.settings.server.public_url = "https://home.example/sync/"
    item = await started(client, dev.auth, random_bytes(100))
    assert item["uploadUrl"].startswith(f"https://home.example/sync{API}/upload/chunk/upload_")
    assert item["chunks"][0]["uploadUrl"].startswith(
        f"https://home.example/sync{API}/upload/chunk/{item['uploadId']}/0?exp=")
