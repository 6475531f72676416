"""After a backup restore, a sync token from a lost timeline — the replaced database's, or
an earlier restore of the same snapshot's — gets a full listing (``reset``), never a delta
that would skip the restored database's own changes (through HTTP, on restored data dirs)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.app import create_app
from homesync.services.container import Services
from homesync.services.maintenance.restore import RestoreReport, restore_backup
from homesync.store import operations
from tests.helpers import API, make_settings
from tests.shares.test_shares_api import share
from tests.sync.helpers import change, pull, push, store


@asynccontextmanager
async def serving(data_dir: Path) -> AsyncIterator[AsyncTestClient[Any]]:
    """The API of the server on a restored ``data_dir``."""
    svc = await Services.open(make_settings(data_dir))
    try:
        async with AsyncTestClient(app=create_app(svc.settings, svc),
                                   base_url="http://testserver.local") as c:
            yield c
    finally:
        await svc.close()


async def restore_at(dest: Path, target: Path, now_ms: int) -> RestoreReport:
    """Restore the latest snapshot with the clock at ``now_ms``."""
    clock.set_now(lambda: now_ms / 1000)
    try:
        return await restore_backup(dest, target, fsync=False)
    finally:
        clock.set_now(None)


def assert_full_listing_without_the_lost(got: dict[str, Any], made: set[str]) -> None:
    """``got``, a delta for a token from the lost timeline, starts over (reset) and lists
    the files ``made`` since the restore, and none of the lost timeline's ("lost …")."""
    assert got["reset"] is True
    listed = {f["id"]: f["name"] for f in got["changes"]["created"] if f.get("checksum")}
    assert made <= set(listed)
    assert not any(name.startswith("lost") for name in listed.values())


async def test_a_token_from_an_earlier_restore_of_the_same_snapshot_gets_a_full_listing(
        services: Services, client: AsyncTestClient[Any], make_user, sign_in,
        tmp_path: Path) -> None:
    """The disk failed twice before the next backup: the same snapshot restored twice. The
    phone synced with the first restored server; the second one must not take its token
    for one of its own (both resumed at the same position before)."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"before the backup", name="before.txt")
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    now = clock.now_ms() // 1000 * 1000  # whole seconds: exact through the float clock
    first = await restore_at(dest, tmp_path / "first", now)
    second = await restore_at(dest, tmp_path / "second", now + 1000)
    assert first.resumed_seq == now * operations.CLOCK_POSITIONS_PER_MS
    assert second.resumed_seq == (now + 1000) * operations.CLOCK_POSITIONS_PER_MS

    async with serving(tmp_path / "first") as c:
        for i in range(3):
            await store(c, phone, os.urandom(100), name=f"lost {i}.txt")
        token = (await pull(c, phone))["nextSyncToken"]
    async with serving(tmp_path / "second") as c:
        made = {await store(c, phone, os.urandom(100), name=f"new {i}.txt") for i in range(5)}
        got = await pull(c, phone, token)
    assert_full_listing_without_the_lost(got, made)


async def test_a_recipients_token_from_the_lost_timeline_gets_a_full_listing(
        services: Services, client: AsyncTestClient[Any], make_user, sign_in,
        tmp_path: Path) -> None:
    """Alice shares a folder with Bob; after the backup she adds to it and Bob syncs (his own
    files unchanged: his journal position is from before the backup). Restored, the server
    numbers its share feed anew: without a gap there, Bob's share position would land on
    the restored server's new shared changes and his delta would skip them."""
    await make_user("alice@example.com", "Alice Liddell")
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in("alice@example.com", client_id="alice-phone")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await store(client, alice, b"shared before the backup", name="first.jpg", folder="/trip")
    root = (await client.get(f"{API}/files", headers=alice.auth)).json()["data"]["files"]
    await share(client, alice, next(f["id"] for f in root if f["name"] == "trip"),
                "bob@example.com")
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    for i in range(3):  # the lost timeline: after the backup, before the disk failed
        await store(client, alice, os.urandom(100), name=f"lost {i}.jpg", folder="/trip")
    token = (await pull(client, bob))["nextSyncToken"]

    await restore_at(dest, tmp_path / "restored", clock.now_ms())
    async with serving(tmp_path / "restored") as c:
        made = {await store(c, alice, os.urandom(100), name=f"new {i}.jpg", folder="/trip")
                for i in range(5)}
        got = await pull(c, bob, token)
    assert_full_listing_without_the_lost(got, made)


async def test_changes_sent_with_a_token_from_the_lost_timeline_keep_its_full_listing(
        services: Services, client: AsyncTestClient[Any], make_user, sign_in,
        tmp_path: Path) -> None:
    """The phone sends a change before it pulls: the answer's nextSyncToken is the one to
    pull from. It was position 0 (what the change was judged against), whose delta lists
    what is there without reset, so the phone kept the lost timeline's files for good."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"before the backup", name="before.txt")
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    for i in range(3):
        await store(client, phone, os.urandom(100), name=f"lost {i}.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    await restore_at(dest, tmp_path / "restored", clock.now_ms())
    async with serving(tmp_path / "restored") as c:
        sent = await push(c, phone, token, change("mkdir", folder="/made offline"))
        assert sent["results"][0]["status"] == "applied"
        got = await pull(c, phone, sent["nextSyncToken"])
    assert got["reset"] is True
    assert sent["results"][0]["fileId"] in {f["id"] for f in got["changes"]["created"]}
