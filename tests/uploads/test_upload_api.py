"""§Background upload through HTTP: init, chunk PUTs, status, progress, complete."""

from __future__ import annotations

import hashlib

import msgspec

from homesync import clock
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


async def test_init_answers_contract_shape(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(10_000)
    r = await init(client, dev.auth, file_entry(data), chunk_size=4096, wifiOnly=True,
                   maxRetries=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    out = body["data"]
    assert out["uploadSession"].startswith("session_")
    assert out["expiresAt"].endswith("Z")
    item = out["files"][0]
    assert item["localId"] == "local_1" and item["uploadId"].startswith("upload_")
    assert item["totalChunks"] == 3
    assert [(c["index"], c["start"], c["end"]) for c in item["chunks"]] == [
        (0, 0, 4095), (1, 4096, 8191), (2, 8192, 9999)]
    assert item["uploadUrl"].startswith(f"http://testserver.local{API}/upload/chunk/{item['uploadId']}?")
    assert item["chunks"][1]["uploadUrl"].startswith(
        f"http://testserver.local{API}/upload/chunk/{item['uploadId']}/1?exp=")
    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    state = r.json()["data"]
    assert state["status"] == "pending" and state["wifiOnly"] is True and state["maxRetries"] == 5
    assert state["completedChunks"] == [] and state["missingChunks"] == [0, 1, 2]
    assert state["priority"] == "normal" and state["bytesUploaded"] == 0


async def test_chunk_size_is_clamped_to_configured_range(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(200_000)
    for asked, used in ((1, 4096), (10**9, 65536), (None, 16384), (0, 16384), (5000, 5000)):
        r = await init(client, dev.auth, file_entry(data, local_id=f"l{asked}", name=f"{asked}.bin"),
                       chunk_size=asked)
        assert r.status_code == 200, r.text
        item = r.json()["data"]["files"][0]
        assert item["chunkSize"] == used
        assert item["chunks"][0]["end"] == used - 1
        assert item["totalChunks"] == -(-len(data) // used)


async def test_full_upload_then_download_byte_identical(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(50_000)
    done = await upload(client, dev.auth, data, name="beach.jpg", folder="/photos/2024")
    assert done["file"]["name"] == "beach.jpg" and done["file"]["folder"] == "/photos/2024"
    assert done["file"]["checksum"] == checksum(data) and done["file"]["size"] == len(data)
    file_id = done["fileId"]
    r = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["etag"] == f'"{checksum(data)}"'
    assert r.headers["content-type"].startswith("image/jpeg")


async def test_chunk_put_answer_and_resend_is_safe(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    url = path_of(item["chunks"][0]["uploadUrl"])
    for _ in range(2):
        r = await client.put(url, content=data[:4096], headers=dev.auth)
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"uploadId": item["uploadId"], "index": 0,
                                    "bytesReceived": 4096, "completedChunks": 1,
                                    "totalChunks": 3, "status": "uploading"}
    # Same index, different bytes: refused, the stored chunk stays.
    r = await client.put(url, content=b"x" * 4096, headers=dev.auth)
    assert r.status_code == 409
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["completedChunks"] == [0] and state["bytesUploaded"] == 4096


async def test_wrong_length_and_checksum_are_rejected_and_not_counted(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    url = path_of(item["chunks"][0]["uploadUrl"])
    r = await client.put(url, content=data[:4000], headers=dev.auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "CHUNK_SIZE_MISMATCH"
    r = await client.put(url, content=data[:4096] + b"extra", headers=dev.auth)
    assert r.status_code == 413 and r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
    # The rest of a refused body is not worth reading: the connection is closed.
    assert r.headers["connection"] == "close"
    bad = "sha256:" + hashlib.sha256(b"other").hexdigest()
    r = await client.put(url, content=data[:4096], headers={**dev.auth, "X-Chunk-Checksum": bad})
    assert r.status_code == 422 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH"
    r = await client.put(url, content=data[:4096], headers={**dev.auth, "X-Chunk-Checksum": "md5:x"})
    assert r.status_code == 400
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["completedChunks"] == [] and state["status"] == "pending"
    good = "sha256:" + hashlib.sha256(data[:4096]).hexdigest()
    r = await client.put(url, content=data[:4096], headers={**dev.auth, "X-Chunk-Checksum": good})
    assert r.status_code == 200


async def test_a_bad_file_in_init_is_named_by_its_local_id(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    good, other = random_bytes(100), random_bytes(100)
    for bad, code in (({"name": "a\\b"}, "INVALID_PATH"), ({"folder": "/x/../y"}, "INVALID_PATH"),
                      ({"checksum": "md5:00"}, "VALIDATION_ERROR")):
        r = await init(client, dev.auth, file_entry(good, name="ok.jpg", local_id="first"),
                       {**file_entry(other, local_id="second"), **bad})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == code
        assert r.json()["error"]["details"]["localId"] == "second", r.text


async def test_chunk_index_bounds(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    base = f"{API}/upload/chunk/{item['uploadId']}"
    for idx in ("-1", "3", "4", "abc", "1e3", "99999999999999999999", "\u00b2"):
        r = await client.put(f"{base}/{idx}", content=b"x", headers=dev.auth)
        assert r.status_code == 400, (idx, r.text)
        assert r.json()["success"] is False
    # The file-level URL names the chunk in a header; "²" is isdigit() but not int(): once a 500.
    r = await client.put(base, content=b"x", headers={**dev.auth, "X-Chunk-Index": b"\xb2"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_missing_chunks_then_complete(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(20_000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0, 2, 4])
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 409
    err = r.json()["error"]
    assert err["code"] == "MISSING_CHUNKS" and err["details"]["missingChunks"] == [1, 3]
    await put_chunks(client, item, data, dev.auth, only=[1, 3])
    r1 = await complete(client, dev.auth, item["uploadId"], data)
    r2 = await complete(client, dev.auth, item["uploadId"], data)
    assert r1.status_code == r2.status_code == 200
    assert r1.json()["data"]["fileId"] == r2.json()["data"]["fileId"]
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["status"] == "completed" and state["fileId"] == r1.json()["data"]["fileId"]
    assert state["completedChunks"] == [0, 1, 2, 3, 4] and state["missingChunks"] == []


async def test_msgpack_metadata_json_cannot_carry_is_400(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(100)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    body = {"uploadId": item["uploadId"], "checksum": checksum(data),
            "metadata": {"location": msgspec.msgpack.Ext(5, b"52.5,13.4")}}
    r = await client.post(f"{API}/upload/complete", content=msgspec.msgpack.encode(body),
                          headers={**dev.auth, "Content-Type": "application/msgpack"})
    assert r.status_code == 400, r.text  # was a 500: the Ext reached the database
    assert r.json()["error"]["code"] == "VALIDATION_ERROR"
    # So were nested map keys JSON has no form for: {"k": {nil: 1}}, {"k": {true: 1}}.
    for key in (b"\xc0", b"\xc3"):
        packed = (b"\x83" + msgspec.msgpack.encode("uploadId") + msgspec.msgpack.encode(item["uploadId"])
                  + msgspec.msgpack.encode("checksum") + msgspec.msgpack.encode(checksum(data))
                  + msgspec.msgpack.encode("metadata") + b"\x81\xa1k\x81" + key + b"\x01")
        r = await client.post(f"{API}/upload/complete", content=packed,
                              headers={**dev.auth, "Content-Type": "application/msgpack"})
        assert r.status_code == 400, (key, r.text)
        assert r.json()["error"]["details"] == {"field": "metadata"}
    r = await complete(client, dev.auth, item["uploadId"], data, metadata={"location": "52.5,13.4"})
    assert r.status_code == 200 and r.json()["data"]["file"]["metadata"] == {
        "location": "52.5,13.4"}


async def test_metadata_number_msgpack_cannot_carry_is_400(client, make_user, sign_in):
    """JSON integers have no bounds, MessagePack's end at 64 bits: such a number in the
    metadata was stored, then every MessagePack answer showing the file (GET /files/{id},
    its folder's listing) was a 500."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(100)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    for number in (2**64, -(2**63) - 1, 10**30):
        r = await complete(client, dev.auth, item["uploadId"], data,
                           metadata={"location": {"lat": [number]}})
        assert r.status_code == 400, (number, r.text)
        assert r.json()["error"]["code"] == "VALIDATION_ERROR"
        assert r.json()["error"]["details"] == {"field": "metadata"}
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()
    assert state["data"]["status"] != "completed"
    # The largest and smallest it carries are kept, and shown in either encoding.
    extremes = {"location": {"lat": [2**64 - 1, -(2**63)]}}
    r = await complete(client, dev.auth, item["uploadId"], data, metadata=extremes)
    assert r.status_code == 200, r.text
    msgpack = {**dev.auth, "Accept": "application/msgpack"}
    for url in (f"{API}/files/{r.json()['data']['fileId']}", f"{API}/files?folder=/photos"):
        shown = await client.get(url, headers=msgpack)
        assert shown.status_code == 200, (url, shown.text)
    assert msgspec.msgpack.decode(shown.content)["data"]["files"][0]["metadata"] == extremes


async def test_wrong_content_is_422_and_repairable(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    damaged = data[:5000] + b"\0" + data[5001:]
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, damaged, dev.auth)
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 422 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH"
    r = await client.get(f"{API}/files", params={"folder": "/"}, headers=dev.auth)
    assert r.status_code == 200 and r.json()["data"]["files"] == []  # not even its folder
    # The app re-sends the chunk; after a failed verification a new copy replaces it.
    await put_chunks(client, item, data, dev.auth, only=[1])
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    content = await client.get(f"{API}/files/{r.json()['data']['fileId']}/content", headers=dev.auth)
    assert content.content == data


async def test_complete_checksum_must_match_init(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await complete(client, dev.auth, item["uploadId"], b"something else")
    assert r.status_code == 422
    r = await complete(client, dev.auth, item["uploadId"], data)
    assert r.status_code == 200


async def test_complete_again_with_another_checksum_is_refused(client, services, make_user,
                                                                sign_in):
    """A retried complete (its answer lost) gets the same file again; one naming other
    content is the same 422 as on an open upload, and changes nothing."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    done = await complete(client, dev.auth, item["uploadId"], data)
    assert done.status_code == 200, done.text
    rows = "SELECT count(*) FROM uploads WHERE status = 'completed'"
    r = await complete(client, dev.auth, item["uploadId"], b"something else")
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "CHECKSUM_MISMATCH"
    assert error["details"]["expected"] == checksum(data)
    assert (await services.db.fetchone(rows) or [None])[0] == 1
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["status"] == "completed" and state["fileId"] == done.json()["data"]["fileId"]
    again = await complete(client, dev.auth, item["uploadId"], data)
    assert again.status_code == 200, again.text
    assert again.json()["data"]["fileId"] == done.json()["data"]["fileId"]


async def test_progress_records_report_and_answers_truth(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0])
    r = await client.post(f"{API}/upload/progress", headers=dev.auth, json={
        "uploadId": item["uploadId"], "completedChunks": [0, 1, 2], "bytesUploaded": 9000,
        "status": "paused"})
    assert r.status_code == 200, r.text
    state = r.json()["data"]
    assert state["status"] == "paused"
    assert state["completedChunks"] == [0] and state["bytesUploaded"] == 4096
    assert [c["index"] for c in state["chunks"]] == [1, 2]
    # A chunk arriving moves it back to uploading.
    await put_chunks(client, item, data, dev.auth, only=[1])
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()["data"]
    assert state["status"] == "uploading"
    r = await client.post(f"{API}/upload/progress", headers=dev.auth, json={
        "uploadId": item["uploadId"], "status": "cancelled"})
    assert r.json()["data"]["status"] == "cancelled"
    r = await client.put(path_of(item["chunks"][2]["uploadUrl"]), content=data[8192:], headers=dev.auth)
    assert r.status_code == 409


async def test_expired_upload_is_410(client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    now = clock.now()
    clock.set_now(lambda: now + 25 * 3600)
    dev2 = await sign_in()  # the old access token expired with the jump too
    r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=data[:4096])
    assert r.status_code == 410 and r.json()["error"]["code"] == "UPLOAD_EXPIRED"
    r = await complete(client, dev2.auth, item["uploadId"], data)
    assert r.status_code == 410
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev2.auth)).json()["data"]
    assert state["status"] == "expired"
