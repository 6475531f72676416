"""GET /files, /files/{id}, /files/{id}/content with Range, ETag and If-None-Match."""

from __future__ import annotations

import pytest

from tests.helpers import API
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    put_chunks,
    random_bytes,
    upload,
)


@pytest.fixture
async def stored(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(20_000)  # 5 chunks of 4 KiB
    r = await init(client, dev.auth, file_entry(data, name="Été 2024.jpg", folder="/photos"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await complete(client, dev.auth, item["uploadId"], data,
                       metadata={"location": "37.7749,-122.4194",
                                 "capturedAt": "2024-01-20T12:00:00Z",
                                 "modifiedAt": "2024-01-20T12:30:00Z"})
    assert r.status_code == 200, r.text
    return dev, data, r.json()["data"]["fileId"]


async def test_metadata_and_listing(client, stored):
    dev, data, fid = stored
    r = await client.get(f"{API}/files/{fid}", headers=dev.auth)
    meta = r.json()["data"]
    assert meta["id"] == fid and meta["type"] == "file" and meta["path"] == "/photos/Été 2024.jpg"
    assert meta["size"] == len(data) and meta["checksum"] == checksum(data)
    assert meta["mimeType"] == "image/jpeg" and meta["modifiedAt"] == "2024-01-20T12:30:00Z"
    assert meta["metadata"]["location"] == "37.7749,-122.4194"
    root = (await client.get(f"{API}/files", headers=dev.auth)).json()["data"]
    assert [(f["type"], f["name"]) for f in root["files"]] == [("folder", "photos")]
    photos = (await client.get(f"{API}/files", params={"folder": "/photos/"},
                               headers=dev.auth)).json()["data"]
    assert photos["folder"] == "/photos" and [f["id"] for f in photos["files"]] == [fid]
    assert photos["hasMore"] is False and photos["nextCursor"] is None
    # NFD spelling of the same name is the same file (iOS vs Android).
    r = await init(client, dev.auth, file_entry(data, name="E\u0301te\u0301 2024.jpg", folder="/photos"))
    assert r.json()["data"]["files"][0] == {"localId": "local_1", "status": "deduplicated",
                                           "fileId": fid}


async def test_listing_pages_with_cursor(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    for i in range(5):
        await upload(client, dev.auth, random_bytes(10 + i), name=f"f{i}.txt", folder="/docs",
                     local_id=f"l{i}")
    names, cursor = [], None
    while True:
        params = {"folder": "/docs", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"{API}/files", params=params, headers=dev.auth)).json()["data"]
        names += [f["name"] for f in page["files"]]
        if not page["hasMore"]:
            break
        cursor = page["nextCursor"]
    assert names == [f"f{i}.txt" for i in range(5)]
    for bad in ({"limit": "0"}, {"limit": "x"}, {"cursor": "garbage"}, {"folder": "../etc"},
                {"folder": "relative"}, {"folder": "/a//b"}):
        r = await client.get(f"{API}/files", params=bad, headers=dev.auth)
        assert r.status_code == 400, bad
    r = await client.get(f"{API}/files", params={"folder": "/nope"}, headers=dev.auth)
    assert r.status_code == 404


@pytest.mark.parametrize(("header", "start", "end"), [
    ("bytes=0-0", 0, 0),
    ("bytes=100-5000", 100, 5000),          # spans two chunks
    ("bytes=4095-4096", 4095, 4096),        # exactly across a boundary
    ("bytes=19000-", 19000, 19999),
    ("bytes=-10", 19990, 19999),
    ("bytes=15000-99999", 15000, 19999),    # end clamped to the size
    ("bytes=15000-99999999999999999999999", 15000, 19999),  # however long it is (was a 416)
    ("bytes=-99999999999999999999999", 0, 19999),           # a suffix longer than the file
    # Leading zeros do not make a position long (were a 416, and the whole file twice).
    ("bytes=00000000000000000000001-2", 1, 2),
    ("bytes=0-00000000000000000000001", 0, 1),
    ("bytes=-00000000000000000000010", 19990, 19999),
])
async def test_ranges(client, stored, header, start, end):
    dev, data, fid = stored
    r = await client.get(f"{API}/files/{fid}/content", headers={**dev.auth, "Range": header})
    assert r.status_code == 206
    assert r.content == data[start:end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert r.headers["content-length"] == str(end - start + 1)


async def test_unsatisfiable_and_ignored_ranges(client, stored):
    dev, data, fid = stored
    for header in ("bytes=20000-", "bytes=500-100", "bytes=-0", "bytes=99999999999999999999-"):
        r = await client.get(f"{API}/files/{fid}/content", headers={**dev.auth, "Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{len(data)}"
        assert r.json()["error"]["code"] == "RANGE_NOT_SATISFIABLE"
    for header in ("bytes=0-1,5-6", "items=0-5", "bytes=abc"):
        r = await client.get(f"{API}/files/{fid}/content", headers={**dev.auth, "Range": header})
        assert r.status_code == 200 and r.content == data, header
    r = await client.get(f"{API}/files/{fid}/content",
                         headers={**dev.auth, "Range": "bytes=0-9", "If-Range": '"sha256:00"'})
    assert r.status_code == 200 and r.content == data


async def test_etag_and_if_none_match(client, stored):
    dev, data, fid = stored
    r = await client.get(f"{API}/files/{fid}/content", headers=dev.auth)
    etag = r.headers["etag"]
    assert etag == f'"{checksum(data)}"' and r.headers["accept-ranges"] == "bytes"
    assert "filename*=UTF-8''%C3%89t%C3%A9%202024.jpg" in r.headers["content-disposition"]
    r = await client.get(f"{API}/files/{fid}/content", headers={**dev.auth, "If-None-Match": etag})
    assert r.status_code == 304 and r.content == b""
    r = await client.get(f"{API}/files/{fid}/content",
                         headers={**dev.auth, "If-None-Match": '"sha256:other", ' + etag})
    assert r.status_code == 304
    r = await client.get(f"{API}/files/{fid}/content",
                         headers={**dev.auth, "If-None-Match": '"sha256:other"'})
    assert r.status_code == 200


async def test_head_gives_headers_only(client, stored):
    dev, data, fid = stored
    r = await client.head(f"{API}/files/{fid}/content", headers=dev.auth)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["etag"] == f'"{checksum(data)}"'
    # Conditional like a GET: a cache revalidating with HEAD gets 304 too (was 200).
    r = await client.head(f"{API}/files/{fid}/content",
                          headers={**dev.auth, "If-None-Match": r.headers["etag"]})
    assert r.status_code == 304 and r.headers["etag"] == f'"{checksum(data)}"'


async def test_empty_file(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    done = await upload(client, dev.auth, b"", name="empty.txt")
    assert done["file"]["size"] == 0
    r = await client.get(f"{API}/files/{done['fileId']}/content", headers=dev.auth)
    assert r.status_code == 200 and r.content == b""
    r = await client.get(f"{API}/files/{done['fileId']}/content",
                         headers={**dev.auth, "Range": "bytes=0-"})
    assert r.status_code == 416
    # Its last N bytes are all of it (RFC 9110 §14.1.1: the one range an empty file can
    # satisfy), which a 206 cannot say: 200 with nothing (was a 416).
    for method in ("GET", "HEAD"):
        for suffix in ("bytes=-1", "bytes=-99999999999999999999999"):
            r = await client.request(method, f"{API}/files/{done['fileId']}/content",
                                     headers={**dev.auth, "Range": suffix})
            assert r.status_code == 200 and r.content == b"", (method, suffix)
            assert r.headers["content-length"] == "0" and "content-range" not in r.headers


async def test_folders_have_no_content(client, stored):
    dev, _, _ = stored
    folder = (await client.get(f"{API}/files", headers=dev.auth)).json()["data"]["files"][0]
    r = await client.get(f"{API}/files/{folder['id']}/content", headers=dev.auth)
    assert r.status_code == 404
