"""A chunk sent again after its upload completed: an OS background uploader retrying a PUT
whose first answer was lost, arriving after the app called complete. The same bytes get
the usual answer and change nothing; other bytes are 409; the body is checked as ever."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

from homesync.store.db import fetchone
from tests.auth_helpers import concurrent_client
from tests.helpers import API
from tests.uploads.flow import (
    checksum,
    complete,
    file_entry,
    init,
    path_of,
    put_chunks,
    random_bytes,
)


async def _pieces(*pieces: bytes) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def _snapshot(client: Any, services: Any, dev: Any, upload_id: str,
                    file_id: str) -> dict[str, Any]:
    """What a retry must leave as it was: the file, its content, the account's usage, the
    change journal, the upload, the chunk index and the chunk files (a rewrite would
    rename a fresh copy into place: a new inode)."""
    db = services.db.reader
    chunk_files = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
                   for p in services.chunks.chunk_dir.rglob("*") if p.is_file()}
    return {
        "file": (await client.get(f"{API}/files/{file_id}", headers=dev.auth)).json()["data"],
        "content": (await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)).content,
        "upload": (await client.get(f"{API}/upload/{upload_id}", headers=dev.auth)).json()["data"],
        "used": tuple(await fetchone(db, "SELECT used_bytes FROM users WHERE id = ?",
                                     (dev.user_id,))),
        "journal": tuple(await fetchone(db, "SELECT count(*), max(seq) FROM journal")),
        "uploads": tuple(await fetchone(db, "SELECT status, updated_at, expires_at, file_id,"
                                            " version_id FROM uploads WHERE id = ?", (upload_id,))),
        "chunks": tuple(await fetchone(db, "SELECT count(*) FROM chunks")),
        "chunk_files": chunk_files,
    }


async def _completed(client: Any, dev: Any, data: bytes, **entry: Any) -> tuple[dict, str]:
    item = (await init(client, dev.auth, file_entry(data, **entry))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    return item, r.json()["data"]["fileId"]


async def test_the_same_bytes_after_complete_answer_200_and_change_nothing(
        client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item, file_id = await _completed(client, dev, data)
    before = await _snapshot(client, services, dev, item["uploadId"], file_id)
    file_url = path_of(item["uploadUrl"])
    for c in item["chunks"]:
        body = data[c["start"]:c["end"] + 1]
        sent = "sha256:" + hashlib.sha256(body).hexdigest()
        for url, headers in (  # signed chunk URL (no Bearer), Bearer, file-level URL
                (path_of(c["uploadUrl"]), {"X-Chunk-Checksum": sent}),
                (path_of(c["uploadUrl"]).split("?")[0], dev.auth),
                (file_url, {"X-Chunk-Index": str(c["index"])})):
            r = await client.put(url, content=body, headers=headers)
            assert r.status_code == 200, (url, r.text)
            assert r.json()["data"] == {"uploadId": item["uploadId"], "index": c["index"],
                                        "bytesReceived": len(body), "completedChunks": 3,
                                        "totalChunks": 3, "status": "completed"}
    assert await _snapshot(client, services, dev, item["uploadId"], file_id) == before
    assert not any(services.chunks.tmp_dir.iterdir())


async def test_other_bytes_after_complete_are_409_and_change_nothing(
        client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item, file_id = await _completed(client, dev, data)
    before = await _snapshot(client, services, dev, item["uploadId"], file_id)
    for c in item["chunks"]:
        other = os.urandom(c["end"] + 1 - c["start"])
        for headers in ({}, {"X-Chunk-Checksum": "sha256:" + hashlib.sha256(other).hexdigest()}):
            r = await client.put(path_of(c["uploadUrl"]), content=other, headers=headers)
            assert r.status_code == 409, r.text
            error = r.json()["error"]
            assert error["code"] == "CONFLICT"
            assert "completed" in error["message"] and "differ" in error["message"]
            assert error["details"] == {"fileId": file_id, "index": c["index"]}
    assert await _snapshot(client, services, dev, item["uploadId"], file_id) == before


async def test_a_bad_body_after_complete_is_refused_as_ever(client, services, make_user, sign_in):
    """Wrong length (short 400, long 413 and the connection closed) and a wrong
    X-Chunk-Checksum (422), also with the very bytes the upload has."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item, file_id = await _completed(client, dev, data)
    before = await _snapshot(client, services, dev, item["uploadId"], file_id)
    url = path_of(item["chunks"][0]["uploadUrl"])
    r = await client.put(url, content=data[:4000])
    assert r.status_code == 400 and r.json()["error"]["code"] == "CHUNK_SIZE_MISMATCH", r.text
    r = await client.put(url, content=data[:4096] + b"more")
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE", r.text
    assert r.headers["connection"] == "close"
    async with concurrent_client(services) as http:  # bodies of unknown length (chunked)
        r = await http.put(url, content=_pieces(data[:2000], data[2000:4000]))
        assert r.status_code == 400 and r.json()["error"]["code"] == "CHUNK_SIZE_MISMATCH", r.text
        assert r.json()["error"]["details"]["received"] == 4000  # counted as it arrived
        r = await http.put(url, content=_pieces(data[:4096], b"more"))
        assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE", r.text
    wrong = "sha256:" + hashlib.sha256(b"other").hexdigest()
    r = await client.put(url, content=data[:4096], headers={"X-Chunk-Checksum": wrong})
    assert r.status_code == 422 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH", r.text
    assert await _snapshot(client, services, dev, item["uploadId"], file_id) == before


async def test_a_retry_is_judged_by_the_content_it_matched_cut_another_way(
        client, services, make_user, sign_in):
    """Two phones upload the same photo at once with other chunk sizes; the second to
    complete matches the first's file (D7). Its chunk sent again is compared with the bytes
    at its place in that content, not with the other upload's chunk of the same index."""
    await make_user()
    one = await sign_in()
    two = await sign_in(client_id="app-install-2")
    data = random_bytes(12_000)
    first, second = [(await init(client, dev.auth, file_entry(data), chunk_size=size))
                     .json()["data"]["files"][0] for dev, size in ((one, 4096), (two, 5000))]
    await put_chunks(client, first, data, one.auth)
    await put_chunks(client, second, data, two.auth)
    file_id = (await complete(client, one.auth, first["uploadId"], data)).json()["data"]["fileId"]
    r = await complete(client, two.auth, second["uploadId"], data)
    assert r.status_code == 200 and r.json()["data"]["fileId"] == file_id, r.text
    before = await _snapshot(client, services, two, second["uploadId"], file_id)
    for c in second["chunks"]:  # 0-4999, 5000-9999, 10000-11999 over chunks of 4096
        r = await client.put(path_of(c["uploadUrl"]), content=data[c["start"]:c["end"] + 1])
        assert r.status_code == 200, (c, r.text)
        r = await client.put(path_of(c["uploadUrl"]), content=bytes(c["end"] + 1 - c["start"]))
        assert r.status_code == 409, (c, r.text)
    assert await _snapshot(client, services, two, second["uploadId"], file_id) == before


async def test_a_retry_that_loses_the_race_to_complete_is_answered_as_after_it(
        client, services, make_user, sign_in, monkeypatch):
    """The retry's bytes are stored and about to be recorded when the app's complete
    commits (which lets the upload's chunk list go): the same bytes still answer 200."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    real_writer = services.chunks.writer
    done: list[Any] = []

    def writer_completing_first() -> Any:
        writer = real_writer()
        real_commit = writer.commit

        async def commit() -> str:
            # (straight to the service: the test client serves one request at a time)
            done.append(await services.uploads.complete(
                user_id=dev.user_id, device_id=dev.device_id, upload_id=item["uploadId"],
                checksum=checksum(data), metadata={}))
            return await real_commit()

        writer.commit = commit
        return writer

    monkeypatch.setattr(services.chunks, "writer", writer_completing_first)
    r = await client.put(path_of(item["chunks"][1]["uploadUrl"]), content=data[4096:8192])
    assert done, r.text
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "completed"
    content = await client.get(f"{API}/files/{done[0].file.id}/content", headers=dev.auth)
    assert content.content == data
