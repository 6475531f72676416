"""D5 (no in-place overwrite), D6 (full disk), D7 (concurrent identical uploads), and
concurrent PUTs of one chunk."""

from __future__ import annotations

import asyncio
import errno
import os

from homesync.store import files as files_store
from homesync.store.db import fetchall, fetchone
from tests.helpers import API
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    path_of,
    put_chunks,
    random_bytes,
    upload,
)


async def test_interrupted_new_version_leaves_old_intact(client, services, make_user, sign_in,
                                                         monkeypatch):
    await make_user()
    dev = await sign_in()
    v1 = random_bytes(10_000)
    first = await upload(client, dev.auth, v1, name="notes.txt")
    fid = first["fileId"]
    v2 = random_bytes(14_000)
    item = (await init(client, dev.auth, file_entry(v2, name="notes.txt", fileId=fid,
                                                    local_id="v2"))).json()["data"]["files"][0]
    await put_chunks(client, item, v2, dev.auth)
    real = files_store.commit_version

    async def crash_half_way(tx, **kw):
        await real(tx, **kw)  # every row of v2 written...
        raise RuntimeError("power cut")  # ...and then the process dies before COMMIT

    monkeypatch.setattr(files_store, "commit_version", crash_half_way)
    r = await complete(client, dev.auth, item["uploadId"], v2)
    assert r.status_code == 500 and r.json()["error"]["code"] == "INTERNAL_ERROR"
    got = await client.get(f"{API}/files/{fid}/content", headers=dev.auth)
    assert got.content == v1 and got.headers["etag"] == f'"{checksum(v1)}"'
    meta = (await client.get(f"{API}/files/{fid}", headers=dev.auth)).json()["data"]
    assert meta["size"] == len(v1) and meta["checksum"] == checksum(v1)
    versions = await fetchall(services.db.reader, "SELECT id FROM file_versions WHERE file_id = ?",
                              (fid,))
    assert len(versions) == 1
    # Retrying complete once the fault is gone makes v2, keeping v1 as an older version.
    monkeypatch.setattr(files_store, "commit_version", real)
    r = await complete(client, dev.auth, item["uploadId"], v2)
    assert r.status_code == 200 and r.json()["data"]["fileId"] == fid
    got = await client.get(f"{API}/files/{fid}/content", headers=dev.auth)
    assert got.content == v2
    old = await fetchone(services.db.reader, "SELECT id FROM file_versions WHERE file_id = ?"
                         " AND checksum = ?", (fid, checksum(v1)))
    assert old is not None
    manifest = await files_store.manifest(services.db.reader, old[0])
    content = b"".join([b"".join([p async for p in services.chunks.read(h)]) for h, _ in manifest])
    assert content == v1


async def test_identical_uploads_from_two_devices_complete_together(client, services, make_user,
                                                                      sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    data = random_bytes(20_000)
    items = []
    for dev in (phone, tablet):
        r = await init(client, dev.auth, file_entry(data, name="same.jpg"))
        items.append(r.json()["data"]["files"][0])
    assert items[0]["uploadId"] != items[1]["uploadId"]
    await asyncio.gather(put_chunks(client, items[0], data, phone.auth),
                         put_chunks(client, items[1], data, tablet.auth))
    r1, r2 = await asyncio.gather(complete(client, phone.auth, items[0]["uploadId"], data),
                                  complete(client, tablet.auth, items[1]["uploadId"], data))
    assert r1.status_code == r2.status_code == 200, (r1.text, r2.text)
    assert r1.json()["data"]["fileId"] == r2.json()["data"]["fileId"]
    live = await fetchall(services.db.reader, "SELECT id FROM files WHERE kind = 'file'")
    assert len(live) == 1
    chunks = await fetchall(services.db.reader, "SELECT hash FROM chunks")
    assert len(chunks) == 5  # stored once
    stored = [c async for c in services.chunks.list_chunks()]
    assert len(stored) == 5


async def test_concurrent_puts_of_one_chunk(client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(8192)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    url = path_of(item["chunks"][1]["uploadUrl"])
    results = await asyncio.gather(*[client.put(url, content=data[4096:]) for _ in range(6)])
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["completedChunks"] == [1] and state["bytesUploaded"] == 4096
    assert os.listdir(services.chunks.tmp_dir) == []
    [stored] = [c async for c in services.chunks.list_chunks()]
    assert await services.chunks.verify(stored.hash)


async def test_enospc_mid_chunk_is_507_and_records_nothing(client, services, make_user, sign_in,
                                                           monkeypatch):
    await make_user()
    dev = await sign_in()
    keep = random_bytes(5000)
    kept = await upload(client, dev.auth, keep, name="keep.jpg")
    data = random_bytes(12_000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0])
    real_write = os.write

    def disk_full(fd, buf):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full)
    r = await client.put(path_of(item["chunks"][1]["uploadUrl"]), content=data[4096:8192])
    assert r.status_code == 507 and r.json()["error"]["code"] == "DISK_FULL"
    monkeypatch.setattr(os, "write", real_write)
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["completedChunks"] == [0]
    assert os.listdir(services.chunks.tmp_dir) == []
    journal = await fetchall(services.db.reader, "SELECT action FROM journal")
    assert "delete" not in [j[0] for j in journal]
    got = await client.get(f"{API}/files/{kept['fileId']}/content", headers=dev.auth)
    assert got.content == keep
    # Space is back: the upload carries on where it stopped.
    await put_chunks(client, item, data, dev.auth, only=[1, 2])
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200
