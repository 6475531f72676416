"""Restoring a trashed folder whose place holds a live folder again merges it into that
folder (README "Trash"), as desktop trash bins do: restoring one photo of a deleted
/Photos/Trip made /Photos/Trip again, and restoring the folder then brought the other
photos back as "/Photos/Trip (restored)" beside it."""

from __future__ import annotations

from typing import Any

from tests.helpers import API, Device
from tests.shares.test_shares_api import share
from tests.sync.helpers import Replica, change, checksum, pull, push, store
from tests.sync.test_trash_versions import used_bytes


async def mkdir(client: Any, dev: Device, folder: str) -> str:
    """The id of the live folder ``folder`` (made if it is not there)."""
    done = await push(client, dev, None, change("mkdir", folder=folder))
    return str(done["results"][0]["fileId"])


async def restore(client: Any, dev: Device, file_id: str) -> dict[str, Any]:
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=dev.auth)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"]["file"])


async def synced(client: Any, dev: Device) -> Replica:
    """A first sync of ``dev``: the server's tree as a new device gets it."""
    replica = Replica()
    await replica.sync(client, dev)
    return replica


async def test_restoring_a_folder_merges_it_into_the_one_a_restored_photo_made(
        client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in()
    tablet = await sign_in(client_id="tablet")
    photos = {f"{n}.jpg": await store(client, phone, b"photo %d" % n, name=f"{n}.jpg",
                                      folder="/Photos/Trip") for n in range(5)}
    trip = await mkdir(client, phone, "/Photos/Trip")
    seen = await synced(client, tablet)  # holds the trip; syncs again at the end
    used = await used_bytes(services, user_id)
    await push(client, phone, None, change("delete", fileId=trip))

    one = await restore(client, phone, photos["0.jpg"])
    assert (one["folder"], one["name"]) == ("/Photos/Trip", "0.jpg")
    again = await mkdir(client, phone, "/Photos/Trip")  # the folder that restore made
    assert again != trip
    r = await client.get(f"{API}/trash", headers=phone.auth)
    [item] = r.json()["data"]["items"]
    assert item["id"] == trip and item["items"] == 5  # the folder and the other four

    merged = await restore(client, phone, trip)
    assert (merged["id"], merged["folder"], merged["name"]) == (again, "/Photos", "Trip")
    tree = await synced(client, phone)
    assert tree.paths() == {"/Photos": None, "/Photos/Trip": None, **{
        f"/Photos/Trip/{n}.jpg": checksum(b"photo %d" % n) for n in range(5)}}
    assert {e["id"] for e in tree.entries.values() if e["type"] == "file"} == set(
        photos.values())
    assert (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"] == []
    r = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["file"] == merged  # sent again
    assert await used_bytes(services, user_id) == used  # restoring frees and charges nothing

    # The tablet, which held the old folder, ends up with the same tree (by small pages).
    await seen.sync(client, tablet, limit=2)
    assert seen.entries == tree.entries and trip not in seen.entries


async def test_a_merge_gives_names_taken_in_the_live_folder_the_restored_suffix(
        client, services, make_user, sign_in):
    """Inside the merge, a name taken by a live entry gets " (restored)" one level down; a
    sub-folder meeting a live folder (``sub`` and ``SUB``: names differ in case only)
    merges again; a file in a folder's way, or a folder in a file's, keeps the suffix.
    Nothing live is overwritten."""
    user_id = await make_user()
    phone = await sign_in()
    tablet = await sign_in(client_id="tablet")
    old = {path: await store(client, phone, path.encode(), name=path.rsplit("/", 1)[1],
                             folder=path.rsplit("/", 1)[0])
           for path in ("/A/a.txt", "/A/sub/c.txt", "/A/sub/deep/e.txt", "/A/x/f.txt",
                        "/A/y.txt")}
    folder_a = await mkdir(client, phone, "/A")
    sub = await mkdir(client, phone, "/A/sub")
    seen = await synced(client, tablet)
    await push(client, phone, None, change("delete", fileId=folder_a))
    # Meanwhile, at the same place:
    new = {path: await store(client, phone, b"new " + path.encode(),
                             name=path.rsplit("/", 1)[1], folder=path.rsplit("/", 1)[0])
           for path in ("/A/a.txt", "/A/SUB/c.txt", "/A/x")}
    live_y = await mkdir(client, phone, "/A/y.txt")
    live_sub = await mkdir(client, phone, "/A/SUB")
    used = await used_bytes(services, user_id)

    merged = await restore(client, phone, folder_a)
    assert (merged["folder"], merged["name"]) == ("/", "A") and merged["id"] != folder_a
    tree = await synced(client, phone)
    assert tree.paths() == {
        "/A": None, "/A/SUB": None, "/A/SUB/deep": None, "/A/x (restored)": None,
        "/A/y.txt": None,
        "/A/a.txt": checksum(b"new /A/a.txt"), "/A/a (restored).txt": checksum(b"/A/a.txt"),
        "/A/SUB/c.txt": checksum(b"new /A/SUB/c.txt"),
        "/A/SUB/c (restored).txt": checksum(b"/A/sub/c.txt"),
        "/A/SUB/deep/e.txt": checksum(b"/A/sub/deep/e.txt"),
        "/A/x": checksum(b"new /A/x"), "/A/x (restored)/f.txt": checksum(b"/A/x/f.txt"),
        "/A/y (restored).txt": checksum(b"/A/y.txt"),
    }
    ids = {e["id"] for e in tree.entries.values()}
    assert set(old.values()) | set(new.values()) | {live_y, live_sub} <= ids
    assert not {folder_a, sub} & ids  # merged away: the live folders are the ones kept
    assert await used_bytes(services, user_id) == used
    assert (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"] == []
    await seen.sync(client, tablet, limit=3)
    assert seen.entries == tree.entries


async def test_a_shared_folder_is_not_merged_so_its_share_goes_on(
        client, make_user, sign_in):
    """Merged away, the trashed folder would take its share with it: Bob would lose the
    trip for good. It comes back beside the live folder, as before, shared again."""
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    first = await store(client, alice, b"first", name="1.jpg", folder="/Trip")
    await store(client, alice, b"second", name="2.jpg", folder="/Trip")
    trip = await mkdir(client, alice, "/Trip")
    await share(client, alice, trip, "bob@example.com")
    await push(client, alice, None, change("delete", fileId=trip))
    await restore(client, alice, first)

    restored = await restore(client, alice, trip)
    assert (restored["id"], restored["name"]) == (trip, "Trip (restored)")
    listed = (await client.get(f"{API}/shares", headers=bob.auth)).json()["data"]
    assert [s["fileId"] for s in listed["sharedWithMe"]] == [trip]
    assert set((await synced(client, bob)).paths()) == {
        "/Shared with me/Alice Liddell/Trip (restored)",
        "/Shared with me/Alice Liddell/Trip (restored)/2.jpg"}


async def test_a_merge_that_would_make_a_folder_path_too_long_changes_nothing(
        client, make_user, sign_in):
    """The " (restored)" a sub-folder gets inside a merge (a file holds its name in the
    live folder) makes its path longer: over 4096 bytes that is INVALID_PATH, as for any
    restore, and the merge changes nothing — not half of it."""
    await make_user()
    phone = await sign_in()
    segment = "d" * 200
    below = "/" + "/".join([segment] * 20) + "/" + "e" * 65  # 4086 bytes
    await store(client, phone, b"near", name="near.txt", folder="/big")
    await store(client, phone, b"deep", name="x.txt", folder="/big" + below)
    big = await mkdir(client, phone, "/big")
    await push(client, phone, None, change("delete", fileId=big))
    in_the_way = await store(client, phone, b"in the way", name=segment, folder="/big")
    before = await synced(client, phone)

    r = await client.post(f"{API}/trash/{big}/restore", headers=phone.auth)
    assert r.status_code == 400 and r.json()["error"]["code"] == "INVALID_PATH", r.text
    assert not (await pull(client, phone, before.token))["hasChanges"]
    assert before.paths() == {"/big": None, f"/big/{segment}": checksum(b"in the way")}
    assert in_the_way in before.entries
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert [(i["id"], i["items"]) for i in r.json()["data"]["items"]] == [(big, 24)]


async def test_what_merges_into_a_shared_folder_reaches_its_recipient(
        client, make_user, sign_in):
    """The live folder may be shared (Alice shared the trip again after restoring one
    photo): what the merge puts into it reaches Bob's sync, as anything put there does."""
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    first = await store(client, alice, b"first", name="1.jpg", folder="/Trip")
    second = await store(client, alice, b"second", name="2.jpg", folder="/Trip")
    trip = await mkdir(client, alice, "/Trip")
    await push(client, alice, None, change("delete", fileId=trip))
    await restore(client, alice, first)
    await share(client, alice, await mkdir(client, alice, "/Trip"), "bob@example.com")
    seen = await synced(client, bob)
    shown = "/Shared with me/Alice Liddell/Trip"
    assert set(seen.paths()) == {shown, f"{shown}/1.jpg"}

    await restore(client, alice, trip)
    await seen.sync(client, bob)
    assert seen.paths() == {shown: None, f"{shown}/1.jpg": checksum(b"first"),
                            f"{shown}/2.jpg": checksum(b"second")}
    assert second in seen.entries
