"""Sync end to end against a real `homesync serve`: two devices, one offline with a queue,
both editing the same files, a long poll woken by the other device, and each of the three
resolutions — after which both devices hold the same tree and no byte is lost. And a
device removed (over the API, or by the CLI) while its long poll is parked gets its 401
then, not when the wait ends."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, Dev, ParkedPolls, content, put, sign_in
from tests.helpers import API, PASSWORD, ServerProcess
from tests.sync.helpers import Replica, change, checksum, pull, push

pytestmark = pytest.mark.e2e

@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV, metrics=True)


def _start_with_alice(server: ServerProcess) -> None:
    done = server.cli("user", "add", "alice@example.com", "--name", "Alice Liddell",
                      "--password-stdin", input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    server.start()


def test_two_devices_offline_queue_conflicts_and_convergence(
    server: ServerProcess,
) -> None:
    _start_with_alice(server)
    asyncio.run(_scenario(server, ParkedPolls(server)))


async def _scenario(server: ServerProcess, parked: ParkedPolls) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        laptop = await sign_in(http, "alice@example.com", "laptop", model="ThinkPad")
        phone = await sign_in(http, "alice@example.com", "phone", model="Pixel 7")
        big = bytes(range(256)) * 64  # 16 KiB: several chunks
        ids = {name: await put(http, laptop, f"{name} v1".encode() + big, name)
               for name in ("notes.txt", "todo.txt", "plan.txt", "old.txt", "readme.txt")}
        laptop_view, phone_view = Replica(), Replica()
        await laptop_view.sync(http, laptop)
        await phone_view.sync(http, phone)
        offline_since = phone_view.token

        # The phone goes offline. The laptop edits three files meanwhile...
        for name in ("notes.txt", "todo.txt", "plan.txt"):
            await put(http, laptop, f"{name} v2 from the laptop".encode(), name, ids[name])
        await laptop_view.sync(http, laptop)

        # ...and parks a long poll, which the phone's return wakes up.
        poll = asyncio.create_task(pull(http, laptop, laptop_view.token, wait=60))
        # Parked, and still unanswered (it would answer at once if it had changes).
        await parked.reach(http)
        assert not poll.done()

        # Back online, the phone first sends what it queued offline.
        r = await http.post(f"{API}/queue/add", headers=phone.auth, json={
            "syncToken": offline_since, "operations": [
                {"id": "op-1", "type": "delete", "fileId": ids["old.txt"], "priority": "low",
                 "createdAt": "2024-01-20T15:01:00Z"},
                {"id": "op-2", "type": "rename", "fileId": ids["readme.txt"],
                 "remotePath": "/docs/README.md", "priority": "normal",
                 "createdAt": "2024-01-20T15:00:00Z"},
                {"id": "op-3", "type": "upload", "localPath": "/storage/DCIM/IMG_1.jpg",
                 "remotePath": "/photos/IMG_1.jpg", "priority": "high",
                 "createdAt": "2024-01-20T15:02:00Z"}]})
        assert r.status_code == 200, r.text
        ops = {o["id"]: o for o in r.json()["data"]["operations"]}
        assert (ops["op-1"]["status"], ops["op-2"]["status"], ops["op-3"]["status"]) == (
            "done", "done", "pending")
        woken = await asyncio.wait_for(poll, 10)
        assert {e["id"] for e in woken["changes"]["deleted"]} == {ids["old.txt"]}
        assert [e["name"] for e in woken["changes"]["updated"]] == ["README.md"]

        photo = b"\xff\xd8 a photo taken offline" + big
        photo_id = await put(http, phone, photo, "IMG_1.jpg", folder="/photos")
        r = await http.get(f"{API}/queue", headers=phone.auth)
        op3 = [o for o in r.json()["data"]["operations"] if o["id"] == "op-3"][0]
        assert op3["status"] == "done" and op3["resultFileId"] == photo_id

        # Then its edits of the same three files: conflicts, never overwrites.
        edits = {name: f"{name} edited on the phone, offline".encode()
                 for name in ("notes.txt", "todo.txt", "plan.txt")}
        out = await push(http, phone, offline_since, *[
            change("upload", name, fileId=ids[name], name=name, folder="/docs",
                   size=len(data), checksum=checksum(data)) for name, data in edits.items()])
        assert [r["status"] for r in out["results"]] == ["conflict"] * 3
        conflict = {r["localId"]: r["conflictId"] for r in out["results"]}
        status = await pull(http, laptop)
        assert {c["local"]["deviceName"] for c in status["conflicts"]} == {"Alice's Pixel 7"}

        # One of each resolution. The phone's content is not on the server yet: the
        # first answer says where to upload it, the second finishes.
        choices = {"notes.txt": "keep_local", "todo.txt": "keep_remote",
                   "plan.txt": "keep_both"}
        body = {"conflicts": [{"conflictId": conflict[n], "resolution": c, "fileId": ids[n]}
                              for n, c in choices.items()]}
        r = await http.post(f"{API}/conflicts/resolve", json=body, headers=phone.auth)
        results = {x["conflictId"]: x for x in r.json()["data"]["results"]}
        assert results[conflict["todo.txt"]]["status"] == "resolved"
        for name in ("notes.txt", "plan.txt"):
            pending = results[conflict[name]]
            assert pending["status"] == "upload_required"
            target = pending["uploadTo"]
            await put(http, phone, edits[name], target["name"], target.get("fileId"),
                      folder=target["folder"])
        r = await http.post(f"{API}/conflicts/resolve", json=body, headers=phone.auth)
        results = {x["conflictId"]: x for x in r.json()["data"]["results"]}
        assert {x["status"] for x in results.values()} == {"resolved"}
        copy_id = results[conflict["plan.txt"]]["copyFileId"]

        # Both devices converge on one tree, and every version is still there.
        await laptop_view.sync(http, laptop)
        await phone_view.sync(http, phone, limit=2)
        assert laptop_view.entries == phone_view.entries
        paths = laptop_view.paths()
        assert "/docs/old.txt" not in paths and "/docs/README.md" in paths
        assert await content(http, laptop, ids["notes.txt"]) == edits["notes.txt"]
        assert await content(http, laptop, ids["todo.txt"]) == b"todo.txt v2 from the laptop"
        assert await content(http, laptop, ids["plan.txt"]) == b"plan.txt v2 from the laptop"
        assert await content(http, laptop, copy_id) == edits["plan.txt"]
        assert laptop_view.entries[copy_id]["name"].startswith(
            "plan (conflicted copy Alice's Pixel 7 ")
        assert await content(http, laptop, photo_id) == photo
        r = await http.get(f"{API}/files/{ids['notes.txt']}/versions", headers=laptop.auth)
        history = [v["checksum"] for v in r.json()["data"]["versions"]]
        assert history == [checksum(edits["notes.txt"]),
                           checksum(b"notes.txt v2 from the laptop"),
                           checksum(b"notes.txt v1" + big)]
        r = await http.get(f"{API}/trash", headers=laptop.auth)
        assert [i["id"] for i in r.json()["data"]["items"]] == [ids["old.txt"]]
        assert (await pull(http, phone))["conflicts"] == []


def test_a_removed_devices_parked_poll_answers_401_at_once(
    server: ServerProcess,
) -> None:
    _start_with_alice(server)
    asyncio.run(_removed_while_parked(server, ParkedPolls(server)))


async def _removed_while_parked(server: ServerProcess, parked: ParkedPolls) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        laptop = await sign_in(http, "alice@example.com", "laptop")
        phone = await sign_in(http, "alice@example.com", "phone")
        tablet = await sign_in(http, "alice@example.com", "tablet")

        async def park(dev: Dev) -> asyncio.Task[httpx.Response]:
            token = (await pull(http, dev))["nextSyncToken"]
            return asyncio.create_task(http.get(
                f"{API}/sync/status", params={"syncToken": token, "wait": 60},
                headers=dev.auth))

        # Removed by the laptop, over the API: the phone's poll ends at once...
        phone_poll, tablet_poll = await park(phone), await park(tablet)
        await parked.reach(http, 2)
        r = await http.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
        assert r.status_code == 200, r.text
        answer = await asyncio.wait_for(phone_poll, 10)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "UNAUTHORIZED"
        assert not tablet_poll.done()  # ...and only the phone's

        # Revoked by the admin's CLI, another process: the server notices at its next
        # wake-up check (sync.wake_check_interval, 2 s), still long before the wait ends.
        done = await asyncio.to_thread(server.cli, "device", "revoke", tablet.device_id)
        assert done.returncode == 0, done.stderr
        answer = await asyncio.wait_for(tablet_poll, 15)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "UNAUTHORIZED"
