"""Edges of the upload protocol through HTTP: one file twice in a batch, racing inits and
completes, chunk URLs past their ``exp`` or of someone else, malformed chunk headers."""

from __future__ import annotations

import asyncio
import hashlib

from homesync import clock
from homesync.app import create_app
from tests.helpers import API
from tests.uploads.flow import complete, file_entry, init, path_of, put_chunks, random_bytes


async def test_one_file_twice_in_a_batch_is_one_upload(client, services, make_user, sign_in):
    # Exactly the quota: the second entry asks for no more room, it is the same file
    # (folder and name compared without case, as a re-init would be).
    await make_user(quota_bytes=10_000)
    dev = await sign_in()
    data = random_bytes(10_000)
    r = await init(client, dev.auth, file_entry(data, local_id="a"),
                   file_entry(data, local_id="b", name="img_0001.JPG", folder="/Photos"))
    assert r.status_code == 200, r.text
    first, second = r.json()["data"]["files"]
    assert (first["localId"], second["localId"]) == ("a", "b")
    assert first["status"] == second["status"] == "pending"
    assert first["uploadId"] == second["uploadId"]
    await put_chunks(client, first, data, dev.auth)
    r = await complete(client, dev.auth, first["uploadId"], data)
    assert r.status_code == 200, r.text
    listing = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=dev.auth)
    assert [f["name"] for f in listing.json()["data"]["files"]] == ["IMG_0001.jpg"]


async def test_stored_content_twice_in_a_batch_is_deduplicated_twice(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    r = await init(client, dev.auth, file_entry(data, name="original.jpg"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    assert (await complete(client, dev.auth, item["uploadId"], data)).status_code == 200
    # Content stored elsewhere, asked for twice at one new place: one file made from the
    # stored chunks, and both entries answered with it (it was a NAME_CONFLICT with itself).
    r = await init(client, dev.auth, file_entry(data, name="copy.jpg", local_id="c1"),
                   file_entry(data, name="COPY.jpg", local_id="c2"))
    assert r.status_code == 200, r.text
    c1, c2 = r.json()["data"]["files"]
    assert c1["status"] == c2["status"] == "deduplicated", (c1, c2)
    assert c1["fileId"] == c2["fileId"]


async def test_concurrent_inits_race_for_the_last_bytes(client, make_user, sign_in):
    await make_user(quota_bytes=16_000)
    phone, tablet = await sign_in(), await sign_in(client_id="tablet")
    r = await init(client, phone.auth, file_entry(random_bytes(4000), name="exact.jpg"))
    assert r.status_code == 200, r.text  # 4,000 reserved: 12,000 left
    rs = await asyncio.gather(
        init(client, phone.auth, file_entry(random_bytes(6000), name="p.jpg")),
        init(client, tablet.auth, file_entry(random_bytes(6001), name="t.jpg")))
    assert sorted(r.status_code for r in rs) == [200, 507], [r.text for r in rs]
    [refused] = [r for r in rs if r.status_code == 507]
    assert refused.json()["error"]["code"] == "QUOTA_EXCEEDED"
    # What is left fits exactly.
    left = 12_000 - (6000 if rs[0].status_code == 200 else 6001)
    r = await init(client, phone.auth, file_entry(random_bytes(left), name="last.jpg"))
    assert r.status_code == 200, r.text


async def test_concurrent_completes_and_puts_of_other_bytes(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    url = path_of(item["chunks"][1]["uploadUrl"])
    rs = await asyncio.gather(*[client.put(url, content=bytes([i]) * 4096) for i in range(3)])
    assert sorted(r.status_code for r in rs) == [200, 409, 409], [r.text for r in rs]
    # The damaged chunk fails verification (twice at once), then is mended.
    await put_chunks(client, item, data, dev.auth, only=[0, 2])
    rs = await asyncio.gather(*[complete(client, dev.auth, item["uploadId"], data) for _ in range(2)])
    assert [r.status_code for r in rs] == [422, 422], [r.text for r in rs]
    await put_chunks(client, item, data, dev.auth, only=[1])
    rs = await asyncio.gather(*[complete(client, dev.auth, item["uploadId"], data) for _ in range(3)])
    assert [r.status_code for r in rs] == [200] * 3, [r.text for r in rs]
    assert len({r.json()["data"]["fileId"] for r in rs}) == 1
    r = await client.put(url, content=data[4096:8192])  # a retry after complete: harmless
    assert r.status_code == 200 and r.json()["data"]["status"] == "completed", r.text
    r = await client.put(url, content=bytes([9]) * 4096)
    assert r.status_code == 409 and r.json()["error"]["details"]["fileId"] == rs[0].json()["data"]["fileId"]


async def test_chunk_url_past_its_exp_works_while_the_upload_lives(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    kept, idle = [(await init(client, dev.auth, file_entry(data, name=n, local_id=n)))
                  .json()["data"]["files"][0] for n in ("kept.jpg", "idle.jpg")]
    start = clock.now()
    for hours in (6, 12, 18, 24, 30):  # progress reports keep one alive past its first exp
        clock.set_now(lambda h=hours: start + h * 3600)
        dev = await sign_in()
        r = await client.post(f"{API}/upload/progress", headers=dev.auth,
                              json={"uploadId": kept["uploadId"], "status": "paused"})
        assert r.status_code == 200, r.text
    r = await client.put(path_of(kept["chunks"][0]["uploadUrl"]), content=data[:4096])
    assert r.status_code == 200, r.text
    for r in (await client.put(path_of(idle["chunks"][0]["uploadUrl"]), content=data[:4096]),
              await client.post(f"{API}/upload/progress", headers=dev.auth,
                                json={"uploadId": idle["uploadId"], "status": "paused"}),
              await client.delete(f"{API}/upload/{idle['uploadId']}", headers=dev.auth)):
        assert r.status_code == 410 and r.json()["error"]["code"] == "UPLOAD_EXPIRED", r.text


async def test_someone_elses_upload_is_404_like_none(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice, bob = await sign_in(), await sign_in("bob@example.com", client_id="bob-phone")
    data = random_bytes(5000)
    item = (await init(client, alice.auth, file_entry(data))).json()["data"]["files"][0]
    theirs = await client.get(f"{API}/upload/{item['uploadId']}", headers=bob.auth)
    missing = await client.get(f"{API}/upload/upload_AAAAAAAAAAAAAAAAAAAAAA", headers=bob.auth)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()
    # Alice's signature on Bob's path names nothing Bob may use: 401 as any forgery.
    mine = (await init(client, bob.auth, file_entry(data))).json()["data"]["files"][0]
    forged = path_of(item["chunks"][0]["uploadUrl"]).replace(item["uploadId"], mine["uploadId"])
    r = await client.put(forged, content=data[:4096])
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_malformed_chunk_headers_are_400(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    url = path_of(item["chunks"][0]["uploadUrl"])
    for headers in ({"Content-Length": "+4096"}, {"Content-Length": "9" * 30},
                    {"X-Chunk-Checksum": "sha256:" + "0" * 63},
                    {"X-Chunk-Checksum": ("sha256:" + "é" * 64).encode()}):
        r = await client.put(url, content=data[:4096], headers={**dev.auth, **headers})
        assert r.status_code == 400, (headers, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    # A declared length that matches but a body that runs short or long.
    for body, status in ((data[:4000], 400), (data[:5000], 413)):
        r = await client.put(url, content=body, headers={**dev.auth, "Content-Length": "4096"})
        assert r.status_code == status, r.text
    upper = "SHA256:" + hashlib.sha256(data[:4096]).hexdigest().upper()
    r = await client.put(url, content=data[:4096], headers={**dev.auth, "X-Chunk-Checksum": upper})
    assert r.status_code == 200, r.text


async def test_a_client_hanging_up_mid_chunk_is_499_not_500(client, services, make_user,
                                                           sign_in):
    """A phone losing Wi-Fi mid-chunk is not a server error in the log and the metrics,
    and the half chunk counts for nothing."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(4096)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    path, _, query = path_of(item["chunks"][0]["uploadUrl"]).partition("?")
    inbox: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    await inbox.put({"type": "http.request", "body": data[:1000], "more_body": True})
    await inbox.put({"type": "http.disconnect"})
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    app = create_app(services.settings, services)
    app.state.services = services
    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
               "method": "PUT", "scheme": "http", "path": path, "raw_path": path.encode(),
               "root_path": "", "query_string": query.encode(),
               "headers": [(b"host", b"testserver.local"), (b"content-length", b"4096")],
               "client": ("127.0.0.1", 5555), "server": ("testserver.local", 80)},
              inbox.get, send)
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [499]
    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    assert r.json()["data"]["completedChunks"] == []


async def test_two_files_with_one_name_in_a_batch_the_second_is_a_conflict(
        client, services, make_user, sign_in):
    """Different content under one name (without case) in one init: the second is answered
    as a name taken by another file, before any of its bytes are sent, and reserves nothing."""
    await make_user(quota_bytes=8000)  # room for the first and the tiny one, not the second
    dev = await sign_in()
    one, other, tiny = random_bytes(6000), random_bytes(4000), random_bytes(1000)
    r = await init(client, dev.auth, file_entry(one, local_id="a"),
                   file_entry(other, local_id="b", name="img_0001.JPG", folder="/Photos"),
                   file_entry(tiny, local_id="t", name="tiny.jpg"))
    assert r.status_code == 200, r.text
    first, second, small = r.json()["data"]["files"]
    assert first["status"] == small["status"] == "pending"
    assert second["status"] == "conflict" and "uploadId" not in second and "chunks" not in second
    assert second["error"]["code"] == "NAME_CONFLICT"
    count = "SELECT count(*) FROM uploads"
    assert (await services.db.fetchone(count) or [None])[0] == 2
    for item, data in ((first, one), (small, tiny)):
        await put_chunks(client, item, data, dev.auth)
        assert (await complete(client, dev.auth, item["uploadId"], data)).status_code == 200
    # Stored content (a file made at once, filling the quota exactly) claims its name too.
    r = await init(client, dev.auth, file_entry(tiny, name="x.jpg", local_id="c"),
                   file_entry(other, name="X.JPG", local_id="d"))
    assert r.status_code == 200, r.text
    copied, clash = r.json()["data"]["files"]
    assert copied["status"] == "deduplicated"
    assert clash["status"] == "conflict" and clash["error"]["code"] == "NAME_CONFLICT"
    assert clash["fileId"] == copied["fileId"]


async def test_a_name_taken_while_the_bytes_were_on_their_way_keeps_both(
        client, make_user, sign_in):
    """Two phones of one account back up a different IMG_0001.jpg at once: the one that
    completes second is kept beside the first as a conflicted copy, not refused after
    every byte was sent (with no way to finish under another name)."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 8")
    tablet = await sign_in(client_id="tablet", model="Galaxy Tab")
    mine, theirs = random_bytes(9000), random_bytes(9000)
    item = (await init(client, phone.auth, file_entry(mine))).json()["data"]["files"][0]
    assert "chunks" in item, item
    other = (await init(client, tablet.auth, file_entry(theirs))).json()["data"]["files"][0]
    await put_chunks(client, other, theirs)
    first = await complete(client, tablet.auth, other["uploadId"], theirs)
    assert first.status_code == 200, first.text

    await put_chunks(client, item, mine)
    r = await complete(client, phone.auth, item["uploadId"], mine)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["conflictedWith"] == first.json()["data"]["fileId"]
    name = done["file"]["name"]
    assert name.startswith("IMG_0001 (conflicted copy Alice's Pixel 8 ") and name.endswith(").jpg")

    listing = (await client.get(f"{API}/files", params={"folder": "/photos"},
                                headers=phone.auth)).json()["data"]
    names = sorted(e["name"] for e in listing["files"])
    assert names == sorted(["IMG_0001.jpg", name])
    for file_id, data in ((done["fileId"], mine), (first.json()["data"]["fileId"], theirs)):
        got = await client.get(f"{API}/files/{file_id}/content", headers=phone.auth)
        assert got.content == data
    again = await complete(client, phone.auth, item["uploadId"], mine)  # a lost answer
    assert again.status_code == 200 and again.json()["data"]["fileId"] == done["fileId"]
