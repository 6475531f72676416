"""Deleting a folder that another device moved a file into since the deleting device's
token: the device never saw the file there, so the delete is a ``delete_modify`` conflict
and nothing is trashed — as for a file created there meanwhile."""

from __future__ import annotations

from tests.helpers import API
from tests.sync.helpers import change, pull, push, store
from tests.sync.test_queue import add


async def mkdir(client, dev, folder: str) -> str:
    out = await push(client, dev, None, change("mkdir", folder=folder))
    assert out["results"][0]["status"] == "applied", out
    return str(out["results"][0]["fileId"])


async def live(client, dev, file_id: str) -> bool:
    r = await client.get(f"{API}/files/{file_id}", headers=dev.auth)
    return r.status_code == 200


async def conflicts(client, dev) -> list[tuple[str, str]]:
    return [(c["type"], c["remote"]["fileId"]) for c in (await pull(client, dev))["conflicts"]]


async def test_a_file_moved_in_by_another_device_makes_the_delete_a_conflict(
        client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    kept = await store(client, laptop, b"in the album", name="kept.jpg", folder="/album")
    elsewhere = await store(client, laptop, b"elsewhere", name="new.jpg", folder="/inbox")
    stale = (await pull(client, phone))["nextSyncToken"]
    moved = await push(client, laptop, None,
                       change("move", fileId=elsewhere, folder="/album/day1"))
    assert moved["results"][0]["status"] == "applied"
    out = await push(client, phone, stale, change("delete", fileId=album))
    assert [r["status"] for r in out["results"]] == ["conflict"]
    assert await conflicts(client, phone) == [("delete_modify", elsewhere)]
    assert await live(client, phone, album) and await live(client, phone, elsewhere)
    assert await live(client, phone, kept)


async def test_a_folder_moved_in_carries_its_files_into_the_conflict(client, make_user, sign_in):
    """A rename that changes the folder (``rename`` with ``folder``) moves too."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    trip = await mkdir(client, laptop, "/trip")
    photo = await store(client, laptop, b"trip photo", name="p.jpg", folder="/trip/raw")
    stale = (await pull(client, phone))["nextSyncToken"]
    renamed = await push(client, laptop, None,
                         change("rename", fileId=trip, name="trip 2024", folder="/album"))
    assert renamed["results"][0]["status"] == "applied"
    out = await push(client, phone, stale, change("delete", fileId=album))
    assert [r["status"] for r in out["results"]] == ["conflict"]
    assert await conflicts(client, phone) == [("delete_modify", photo)]
    assert await live(client, phone, photo)


async def test_the_devices_own_move_in_is_deleted_with_the_folder(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    elsewhere = await store(client, laptop, b"elsewhere", name="new.jpg", folder="/inbox")
    stale = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, stale, change("move", "mv", fileId=elsewhere, folder="/album"),
                     change("delete", "del", fileId=album))
    assert [r["status"] for r in out["results"]] == ["applied", "applied"]
    assert not await live(client, phone, album) and not await live(client, phone, elsewhere)


async def test_a_move_in_before_the_token_is_deleted_with_the_folder(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    elsewhere = await store(client, laptop, b"elsewhere", name="new.jpg", folder="/inbox")
    await push(client, laptop, None, change("move", fileId=elsewhere, folder="/album"))
    token = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, token, change("delete", fileId=album))
    assert [r["status"] for r in out["results"]] == ["applied"]
    assert not await live(client, phone, elsewhere)


async def test_moves_that_keep_files_inside_the_folder_do_not_conflict(client, make_user,
                                                                       sign_in):
    """The device saw those files in the folder it deletes: another device renaming the
    folder itself, moving it, or moving files about inside it is no news to a delete."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    photo = await store(client, laptop, b"photo", name="p.jpg", folder="/album/day1")
    stale = (await pull(client, phone))["nextSyncToken"]
    for moved in (change("move", fileId=photo, folder="/album/day2"),
                  change("rename", fileId=photo, name="best.jpg"),
                  change("rename", fileId=album, name="Album 2024"),
                  change("move", fileId=album, folder="/archive")):
        assert (await push(client, laptop, None, moved))["results"][0]["status"] == "applied"
    out = await push(client, phone, stale, change("delete", fileId=album))
    assert [r["status"] for r in out["results"]] == ["applied"]
    assert not await live(client, phone, photo)


async def test_a_file_restored_into_the_folder_by_another_device_conflicts(client, make_user,
                                                                           sign_in):
    """Trashed before the token and restored after it: the device does not hold it."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    photo = await store(client, laptop, b"photo", name="p.jpg", folder="/album")
    await push(client, laptop, None, change("delete", fileId=photo))
    stale = (await pull(client, phone))["nextSyncToken"]
    r = await client.post(f"{API}/trash/{photo}/restore", headers=laptop.auth)
    assert r.status_code == 200, r.text
    out = await push(client, phone, stale, change("delete", fileId=album))
    assert [r["status"] for r in out["results"]] == ["conflict"]
    assert await live(client, phone, photo)


async def test_a_queued_delete_of_a_folder_a_file_was_moved_into_conflicts(client, make_user,
                                                                          sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    album = await mkdir(client, laptop, "/album")
    elsewhere = await store(client, laptop, b"elsewhere", name="new.jpg", folder="/inbox")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("move", fileId=elsewhere, folder="/album"))
    [done] = await add(client, phone, {"id": "q1", "type": "delete", "fileId": album,
                                       "priority": "normal",
                                       "createdAt": "2024-01-20T15:00:00Z"}, token=stale)
    assert done["status"] == "conflict"
    assert await conflicts(client, phone) == [("delete_modify", elsewhere)]
    assert await live(client, phone, album) and await live(client, phone, elsewhere)
