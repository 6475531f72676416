"""A path under /Shared with me/<owner>/ is longer than the owner's own path there (see
paths.normalize_folder), so sync/files and upload/init take path fields of up to 8192
characters. The offline queue's paths and a device's syncFolders take the same: at 4096
a queued path into the owner's longest folders refused the whole batch (400), and a
device could not sync just that folder."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.paths import MAX_PATH_BYTES
from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, pull, push, store

BOBS = "/Shared with me/Alice Liddell"
LONG = "/long/" + "/".join(["n" * 250] * 16) + "/" + "n" * 58  # 4 080 bytes at Alice's


async def _shared_long_folder(client: AsyncTestClient[Any], w: World) -> str:
    """Alice's folder LONG, shared with Bob to write; its path as Bob sees it."""
    token = (await pull(client, w.alice))["nextSyncToken"]
    done = await push(client, w.alice, token, change("mkdir", "1", folder=LONG))
    assert [r["status"] for r in done["results"]] == ["applied"], done
    files = (await client.get(f"{API}/files", headers=w.alice.auth)).json()["data"]["files"]
    await share(client, w.alice, next(f["id"] for f in files if f["name"] == "long"),
                "bob@example.com", "write")
    shown = f"{BOBS}{LONG}"
    assert len(LONG.encode()) <= MAX_PATH_BYTES < len(shown)
    return shown


async def test_queued_operations_take_a_long_path_into_a_share(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    shown = await _shared_long_folder(client, w)
    mine = await store(client, w.alice, b"mine", name="mine.txt", folder=LONG)
    token = (await pull(client, w.bob))["nextSyncToken"]
    at = "2024-01-20T10:00:00Z"
    r = await client.post(f"{API}/queue/add", headers=w.bob.auth, json={
        "syncToken": token, "operations": [
            {"id": "dir", "type": "mkdir", "remotePath": f"{shown}/made", "createdAt": at},
            {"id": "ren", "type": "rename", "fileId": mine, "remotePath": f"{shown}/r.txt",
             "createdAt": at},
            {"id": "up", "type": "upload", "remotePath": f"{shown}/new.txt",
             "localPath": f"/storage/emulated/0/homesync{shown}/new.txt", "createdAt": at}]})
    assert r.status_code == 200, r.text
    ops = {o["id"]: o for o in r.json()["data"]["operations"]}
    assert {k: o["status"] for k, o in ops.items()} == {
        "dir": "done", "ren": "done", "up": "pending"}, ops
    listed = (await client.get(f"{API}/files", params={"folder": LONG},
                               headers=w.alice.auth)).json()["data"]["files"]
    assert sorted(f["name"] for f in listed) == ["made", "r.txt"]


async def test_a_device_syncs_a_long_folder_of_a_share(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    shown = await _shared_long_folder(client, w)
    r = await client.put(f"{API}/devices/{w.bob.device_id}/settings", headers=w.bob.auth,
                         json={"syncFolders": [shown]})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["device"]["settings"]["syncFolders"] == [shown]
    await store(client, w.alice, b"x", name="x.txt", folder=LONG)
    created = (await pull(client, w.bob))["changes"]["created"]
    assert ("x.txt", shown) in {(e["name"], e["folder"]) for e in created}
