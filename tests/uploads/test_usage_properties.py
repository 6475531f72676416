"""Usage accounting and gc as properties, over the API, in seeded random walks.

Whatever a user (or someone writing into their shared folder) does — new files and
versions, content made from stored chunks (init and sync dedup), deletes, trash restores
and purges, version restores, version retention, cancelled and half-sent uploads, a
share revoked under an upload — then:

- each account's ``used_bytes`` is exactly the sum of the versions it retains (the
  stored counter against a recount from the database, after every step);
- after gc with no grace, every chunk of every retained version (current, older, in the
  trash) is still on disk, and every live file downloads whole.

``PROPERTY_EXAMPLES_SCALE`` runs more walks (see tests.helpers.examples).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.config import Settings
from homesync.services.container import Services
from homesync.store.db import fetchall
from tests.helpers import API, Device, examples, make_settings
from tests.shares.test_shares_api import (
    World,
    share,
    world,  # noqa: F401  (fixture)
)
from tests.sync.helpers import change, pull, push
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import checksum, complete, file_entry, init, put_chunks, upload

BOBS = "/Shared with me/Alice Liddell"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A walk makes more calls from one device than a burst allows, and no time passes.
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
                         auth={"api_requests_per_second": 0})


async def usage_drift(services: Services) -> list[tuple[str, int, int]]:
    """(email, stored counter, recount) of every account whose counter is off."""
    rows = await fetchall(services.db.reader,
                          "SELECT u.email, u.used_bytes, (SELECT coalesce(sum(v.size), 0)"
                          " FROM file_versions v WHERE v.user_id = u.id) FROM users u")
    return [(r[0], r[1], r[2]) for r in rows if r[1] != r[2]]


async def check_nothing_lost_to_gc(client: AsyncTestClient[Any], services: Services,
                                   devices: dict[str, Device], log: list[str]) -> None:
    await services.gc.collect(grace_ms=0)
    rows = await fetchall(services.db.reader,
                          "SELECT DISTINCT chunk_hash FROM version_chunks")
    assert await services.chunks.first_missing([r[0] for r in rows]) is None, log
    live = await fetchall(services.db.reader,
                          "SELECT id, user_id, checksum FROM files WHERE kind = 'file'"
                          " AND deleted_at IS NULL")
    for file_id, user_id, expected in live:
        got = await client.get(f"{API}/files/{file_id}/content", headers=devices[user_id].auth)
        assert got.status_code == 200, (got.text, log)
        assert checksum(got.content) == expected, log


async def _send(client: AsyncTestClient[Any], dev: Device, item: dict[str, Any],
                data: bytes) -> int:
    await put_chunks(client, item, data)
    return (await complete(client, dev.auth, item["uploadId"], data)).status_code


async def _trash_entry(client: AsyncTestClient[Any], dev: Device,
                       rnd: random.Random) -> str | None:
    r = await client.get(f"{API}/trash", headers=dev.auth)
    items = r.json()["data"]["items"]
    return str(rnd.choice(items)["id"]) if items else None


@pytest.mark.parametrize("seed", range(examples(4)))
async def test_one_users_usage_stays_exact_and_gc_loses_nothing(
        client, services, make_user, sign_in, seed):
    rnd = random.Random(seed)
    await make_user()
    dev = await sign_in()
    live: list[str] = []
    stored: list[bytes] = []  # content the user has uploaded (some of it may be gone)
    log: list[str] = []

    def content() -> bytes:
        if stored and rnd.random() < 0.4:
            return rnd.choice(stored)  # the same bytes again: dedup
        return os.urandom(rnd.randint(0, 20_000))

    for step in range(30):
        op = rnd.choice(["new", "new", "version", "copy", "delete", "restore", "purge",
                         "version_restore", "cancel", "prune", "sync_dedup", "gc"])
        if not live and op in ("version", "delete", "version_restore"):
            op = "new"
        log.append(op)
        if op == "new":
            data = content()
            done = await upload(client, dev.auth, data, name=f"f{step}.bin",
                                folder=rnd.choice(["/a", "/b", "/a/c"]), local_id=f"l{step}",
                                restore=True)
            if done["fileId"] not in live:
                live.append(done["fileId"])
            stored.append(data)
        elif op == "version":
            data = content()
            r = await init(client, dev.auth,
                           file_entry(data, local_id=f"v{step}", fileId=rnd.choice(live)))
            item = r.json()["data"]["files"][0]
            if "uploadId" in item:
                log[-1] += f":{await _send(client, dev, item, data)}"
            stored.append(data)
        elif op in ("copy", "sync_dedup") and stored:
            data = rnd.choice(stored)
            if op == "copy":
                r = await init(client, dev.auth, file_entry(
                    data, name=f"copy{step}", folder="/copies", local_id=f"c{step}",
                    restore=True))
                log[-1] += ":" + r.json()["data"]["files"][0]["status"]
            else:
                token = (await pull(client, dev))["nextSyncToken"]
                done = await push(client, dev, token, change(
                    "upload", local_id=f"s{step}", name=f"s{step}.bin", folder="/s",
                    size=len(data), checksum=checksum(data), restore=True,
                    lastModified="2024-01-01T00:00:00Z"))
                log[-1] += ":" + done["results"][0]["status"]
        elif op == "delete":
            file_id = rnd.choice(live)
            token = (await pull(client, dev))["nextSyncToken"]
            await push(client, dev, token, change("delete", fileId=file_id))
            live.remove(file_id)
        elif op in ("restore", "purge"):
            entry = await _trash_entry(client, dev, rnd)
            if entry is not None and op == "restore":
                r = await client.post(f"{API}/trash/{entry}/restore", headers=dev.auth)
                assert r.status_code == 200, r.text
                live.append(entry)
            elif entry is not None:
                r = await client.delete(f"{API}/trash/{entry}", headers=dev.auth)
                assert r.status_code == 200, r.text
        elif op == "version_restore":
            file_id = rnd.choice(live)
            r = await client.get(f"{API}/files/{file_id}/versions", headers=dev.auth)
            version = rnd.choice(r.json()["data"]["versions"])
            r = await client.post(f"{API}/files/{file_id}/versions/{version['id']}/restore",
                                  headers=dev.auth)
            assert r.status_code == 200, r.text
        elif op == "cancel":
            data = os.urandom(rnd.randint(5000, 20_000))
            r = await init(client, dev.auth, file_entry(data, name=f"x{step}",
                                                        local_id=f"x{step}"))
            item = r.json()["data"]["files"][0]
            await put_chunks(client, item, data, only=[0])
            await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
        elif op == "prune":  # version retention, keeping one replaced version per file
            services.sync.versions._keep = 1
            await services.sync.versions.prune_expired(clock.now_ms())
        elif op == "gc":
            await check_nothing_lost_to_gc(client, services, {dev.user_id: dev}, log)
        assert not await usage_drift(services), log
    await check_nothing_lost_to_gc(client, services, {dev.user_id: dev}, log)


@pytest.mark.parametrize("seed", range(examples(4)))
async def test_usage_stays_exact_when_others_write_into_a_shared_folder(
        client, services, world: World, seed):  # noqa: F811  (the fixture)
    w = world
    rnd = random.Random(seed)
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    alices = [w.a_jpg["id"], w.b_jpg["id"]]
    log: list[str] = []
    for step in range(25):
        op = rnd.choice(["bob_new", "bob_version", "bob_cancel", "bob_delete", "purge",
                         "restore", "revoked_meanwhile", "alice_version", "bob_same"])
        log.append(op)
        data = os.urandom(rnd.randint(1, 12_000))
        if op in ("bob_new", "bob_version", "alice_version", "bob_same"):
            who = w.alice if op == "alice_version" else w.bob
            entry = (file_entry(data, local_id=f"v{step}", fileId=rnd.choice(alices))
                     if op.endswith("version") else
                     file_entry(w.a_bytes if op == "bob_same" else data, name=f"b{step}.jpg",
                                folder=f"{BOBS}/photos/new", local_id=f"n{step}"))
            r = await init(client, who.auth, entry)
            log[-1] += f":{r.status_code}"
            item = r.json()["data"]["files"][0] if r.status_code == 200 else {}
            if "uploadId" in item:
                sent = w.a_bytes if op == "bob_same" else data
                log[-1] += f":{await _send(client, who, item, sent)}"
                got = await client.get(f"{API}/upload/{item['uploadId']}", headers=who.auth)
                made_file = got.json()["data"].get("fileId")
                if made_file is not None and made_file not in alices:
                    alices.append(made_file)
        elif op == "bob_cancel":
            half = os.urandom(9000)
            r = await init(client, w.bob.auth, file_entry(half, name=f"x{step}",
                                                          folder=f"{BOBS}/photos",
                                                          local_id=f"x{step}"))
            item = r.json()["data"]["files"][0]
            await put_chunks(client, item, half, only=[0])
            await client.delete(f"{API}/upload/{item['uploadId']}", headers=w.bob.auth)
        elif op == "bob_delete":
            token = (await pull(client, w.bob))["nextSyncToken"]
            r = await client.post(f"{API}/sync/files", headers=w.bob.auth, json={
                "syncToken": token, "localChanges": [change("delete",
                                                            fileId=rnd.choice(alices))]})
            log[-1] += f":{r.status_code}"
        elif op in ("purge", "restore"):
            entry = await _trash_entry(client, w.alice, rnd)
            if entry is not None:
                r = await (client.delete(f"{API}/trash/{entry}", headers=w.alice.auth)
                           if op == "purge" else
                           client.post(f"{API}/trash/{entry}/restore", headers=w.alice.auth))
                log[-1] += f":{r.status_code}"
        elif op == "revoked_meanwhile":
            r = await init(client, w.bob.auth, file_entry(data, name=f"r{step}",
                                                          folder=f"{BOBS}/photos",
                                                          local_id=f"r{step}"))
            item = r.json()["data"]["files"][0]
            await put_chunks(client, item, data)  # after the revoke they would be 409
            await client.delete(f"{API}/shares/{made['id']}", headers=w.alice.auth)
            # The revoke cancelled Bob's uploads into Alice's files: none holds her room.
            assert not await fetchall(services.db.reader,
                                      "SELECT id FROM uploads WHERE user_id = ? AND owner_id = ?"
                                      " AND status IN ('pending', 'uploading', 'paused', 'failed')",
                                      (w.bob.user_id, w.alice.user_id)), log
            r = await complete(client, w.bob.auth, item["uploadId"], data)
            log[-1] += f":{r.status_code}"
            made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
        assert not await usage_drift(services), log
    devices = {d.user_id: d for d in (w.alice, w.bob, w.carol)}
    await check_nothing_lost_to_gc(client, services, devices, log)
