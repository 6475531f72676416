"""D4 for a new version: ``complete`` verifies the whole content before the version exists.

A new version whose chunks arrived damaged is refused with 422 and the file stays exactly
what it was (content, ETag, size, history, change journal); the upload stays open, so the
phone re-sends the damaged chunk and completes.
"""

from __future__ import annotations

from homesync.store.db import fetchall
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


async def test_a_damaged_new_version_is_422_and_leaves_the_file_as_it_was(
        client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    v1 = random_bytes(10_000)
    fid = (await upload(client, dev.auth, v1, name="report.pdf"))["fileId"]
    v2 = random_bytes(9_000)
    damaged = v2[:5000] + bytes([v2[5000] ^ 1]) + v2[5001:]  # one bit off, in chunk 1
    r = await init(client, dev.auth, file_entry(v2, name="report.pdf", fileId=fid, local_id="v2"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, damaged, dev.auth)
    before = await client.get(f"{API}/files/{fid}", headers=dev.auth)
    journal = await fetchall(services.db.reader, "SELECT * FROM journal")

    r = await complete(client, dev.auth, item["uploadId"], v2)

    assert r.status_code == 422 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH", r.text
    got = await client.get(f"{API}/files/{fid}/content", headers=dev.auth)
    assert got.content == v1 and got.headers["etag"] == f'"{checksum(v1)}"'
    assert (await client.get(f"{API}/files/{fid}", headers=dev.auth)).json() == before.json()
    versions = await client.get(f"{API}/files/{fid}/versions", headers=dev.auth)
    assert [v["checksum"] for v in versions.json()["data"]["versions"]] == [checksum(v1)]
    assert await fetchall(services.db.reader, "SELECT * FROM journal") == journal
    # Still open: the re-sent chunk replaces the damaged one and complete makes v2.
    state = (await client.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()
    assert state["data"]["status"] != "completed" and state["data"].get("fileId") is None
    await put_chunks(client, item, v2, dev.auth, only=[1])
    r = await complete(client, dev.auth, item["uploadId"], v2)
    assert r.status_code == 200 and r.json()["data"]["fileId"] == fid, r.text
    assert (await client.get(f"{API}/files/{fid}/content", headers=dev.auth)).content == v2
