"""A queued upload into a folder shared with the user is settled by a ``sync/files``
upload of that shared file by its ``fileId`` (what the NAME_CONFLICT answer tells the app
to send), as by ``upload/init`` and complete and as for the user's own files: the place
of such an answer is where the user sees the file, under /Shared with me. It was not
looked for (the owner's path is not the app's), so the operation stayed as it was."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, checksum, pull, push, store

BOBS = "/Shared with me/Alice Liddell"
AT = "2024-01-20T10:00:00Z"


async def _queued(client: AsyncTestClient[Any], w: World) -> dict[str, Any]:
    r = await client.get(f"{API}/queue", headers=w.bob.auth)
    assert r.status_code == 200, r.text
    return {o["id"]: o for o in r.json()["data"]["operations"]}


async def test_sync_files_by_file_id_settles_queued_uploads_to_the_shared_file(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    folder = f"{BOBS}/photos/2024"
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={
        "syncToken": token, "operations": [
            # Bob's phone had the same photo a.jpg (NAME_CONFLICT at once: afe8b1e), and
            # a new version of b.jpg, which Alice changes too before Bob sends it.
            {"id": "new", "type": "upload", "remotePath": f"{folder}/a.jpg", "createdAt": AT},
            {"id": "ver", "type": "upload", "remotePath": f"{folder}/A.jpg",
             "fileId": w.a_jpg["id"], "createdAt": AT},
            {"id": "b", "type": "upload", "remotePath": f"{folder}/trip/b.jpg",
             "fileId": w.b_jpg["id"], "createdAt": AT}]})
    assert r.status_code == 200, r.text
    assert [o["status"] for o in r.json()["data"]["operations"]] == [
        "conflict", "pending", "pending"]
    await store(client, w.alice, b"alice's edit", name="b.jpg", folder="/photos/2024/trip",
                file_id=w.b_jpg["id"])
    mine = os.urandom(200)
    done = await push(
        client, w.bob, token,
        # As the NAME_CONFLICT message says: a.jpg as a new version of Alice's file
        # (applied: the file has that content already).
        change("upload", "1", fileId=w.a_jpg["id"], size=len(w.a_bytes),
               checksum=checksum(w.a_bytes)),
        change("upload", "2", fileId=w.b_jpg["id"], size=len(mine), checksum=checksum(mine)))
    assert [r["status"] for r in done["results"]] == ["applied", "conflict"], done
    ops = await _queued(client, w)
    assert [(ops[k]["status"], ops[k]["resultFileId"]) for k in ("new", "ver")] == [
        ("done", w.a_jpg["id"])] * 2
    assert (ops["b"]["status"], ops["b"]["error"]["code"], ops["b"]["resultFileId"]) == (
        "conflict", "CONFLICT", w.b_jpg["id"])
