"""A device's syncFolders match folders the way names collide (case, Unicode form), as
uploads, sync/files and GET /files?folder= find them: ``/dcim`` is ``/DCIM``."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import API, Device
from tests.shares.test_shares_api import share
from tests.sync.helpers import Replica, change, parked, pull, push, store


async def _sync_only(client: Any, dev: Device, *folders: str) -> None:
    r = await client.put(f"{API}/devices/{dev.device_id}/settings", headers=dev.auth,
                         json={"syncFolders": list(folders)})
    assert r.status_code == 200, r.text


def _paths(data: dict[str, Any], kind: str = "created") -> set[tuple[str, str]]:
    return {(e["folder"], e["name"]) for e in data["changes"][kind]}


async def test_an_upload_spelt_otherwise_is_in_the_devices_sync_folder(client, make_user,
                                                                        sign_in):
    """The bug: b.jpg uploaded to /dcim went to the existing /DCIM, and the phone syncing
    /dcim got nothing, not even its own upload."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in()
    await store(client, laptop, b"a", name="a.jpg", folder="/DCIM")
    await store(client, laptop, b"doc", name="d.txt", folder="/docs")
    await store(client, phone, b"b", name="b.jpg", folder="/dcim")
    await _sync_only(client, phone, "/dcim")
    data = await pull(client, phone)
    assert _paths(data) == {("/", "DCIM"), ("/DCIM", "a.jpg"), ("/DCIM", "b.jpg")}


async def test_a_folder_created_later_in_another_spelling(client, make_user, sign_in):
    """Missing when syncFolders were set, then made by another device as it spells it;
    non-ASCII names fold as they collide too (ß is ss, Ä is ä)."""
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    await _sync_only(client, phone, "/dcim/camera", "/STRASSE", "/ärger")
    token = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"c", name="c.jpg", folder="/DCIM/Camera")
    await store(client, laptop, b"s", name="s.txt", folder="/Straße/2024")
    await store(client, laptop, b"x", name="x.txt", folder="/Ärger")
    await store(client, laptop, b"o", name="o.jpg", folder="/DCIM/other")
    data = await pull(client, phone, token)
    assert _paths(data) == {("/DCIM", "Camera"), ("/DCIM/Camera", "c.jpg"),
                            ("/", "Straße"), ("/Straße", "2024"), ("/Straße/2024", "s.txt"),
                            ("/", "Ärger"), ("/Ärger", "x.txt")}


async def test_renames_of_the_folder_afterwards(client, make_user, sign_in):
    """Renamed to another case it is still the synced folder (the entries come as updated,
    at their new path); renamed to another name its entries leave the device."""
    await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    photo = await store(client, laptop, b"p", name="p.jpg", folder="/DCIM")
    await _sync_only(client, phone, "/dcim")
    replica = Replica()
    await replica.sync(client, phone)
    assert sorted(replica.paths()) == ["/DCIM", "/DCIM/p.jpg"]
    folder_id = next(i for i, e in replica.entries.items() if e["name"] == "DCIM")
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("rename", fileId=folder_id, name="Dcim"))
    data = await pull(client, phone, replica.token)
    assert data["changes"]["deleted"] == []
    assert _paths(data, "updated") == {("/", "Dcim"), ("/Dcim", "p.jpg")}
    replica.apply(data)
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("rename", fileId=folder_id, name="Camera"))
    data = await pull(client, phone, replica.token)
    assert {e["id"] for e in data["changes"]["deleted"]} == {folder_id, photo}
    replica.apply(data)
    assert replica.paths() == {}


async def test_paged_listing_of_a_folder_spelt_otherwise(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    for i in range(5):
        await store(client, phone, bytes([i]) * 2, name=f"n{i}.jpg", folder="/DCIM")
        await store(client, phone, bytes([i]) * 3, name=f"m{i}.txt", folder="/docs")
    await _sync_only(client, phone, "/dcim")
    replica = Replica()
    await replica.sync(client, phone, limit=2)
    assert sorted(replica.paths()) == ["/DCIM"] + [f"/DCIM/n{i}.jpg" for i in range(5)]


async def test_a_change_in_the_folder_spelt_otherwise_wakes_the_long_poll(
        live_client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in()
    laptop = await sign_in(client_id="laptop")
    await store(live_client, laptop, b"a", name="a.jpg", folder="/DCIM")
    await _sync_only(live_client, phone, "/dcim")
    token = (await pull(live_client, phone))["nextSyncToken"]
    poll = asyncio.create_task(pull(live_client, phone, token, wait=60))
    await parked(services, user_id)
    await store(live_client, laptop, b"elsewhere", name="e.txt", folder="/docs")
    await store(live_client, laptop, b"new", name="n.jpg", folder="/DCIM")
    data = await asyncio.wait_for(poll, 10)
    assert _paths(data) == {("/DCIM", "n.jpg")}


async def test_shared_entries_match_as_names_collide(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    await store(client, alice, b"shared", name="s.txt", folder="/Trip")
    folder = next(e for e in (await pull(client, alice))["changes"]["created"]
                  if e["name"] == "Trip")
    await share(client, alice, folder["id"], "bob@example.com")
    await _sync_only(client, bob, "/shared with me/alice liddell/trip")
    data = await pull(client, bob)
    assert _paths(data) == {("/Shared with me/Alice Liddell", "Trip"),
                            ("/Shared with me/Alice Liddell/Trip", "s.txt")}
