"""A shared item's " (2)" name follows its owner's changes in the recipient's sync: when
the older same-named item is renamed, trashed or restored, the younger one's place
changes, and a delta must say so as a full sync does."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import Replica, change, pull, push, store

BOBS = "/Shared with me/Alice Liddell"


@pytest.mark.parametrize("what", ["rename", "trash", "restore"])
async def test_a_delta_moves_the_younger_item_when_the_older_one_changes(
    client: AsyncTestClient[Any], world: World, what: str,
) -> None:
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    await share(client, w.alice, other, "bob@example.com")
    if what == "restore":
        await push(client, w.alice, None, change("delete", fileId=w.a_jpg["id"]))
    bob = Replica()
    await bob.sync(client, w.bob)
    younger = f"{BOBS}/a.jpg" if what == "restore" else f"{BOBS}/a (2).jpg"
    assert bob.paths()[younger] is not None

    if what == "rename":
        await push(client, w.alice, None, change("rename", fileId=w.a_jpg["id"], name="z.jpg"))
    elif what == "trash":
        await push(client, w.alice, None, change("delete", fileId=w.a_jpg["id"]))
    else:
        r = await client.post(f"{API}/trash/{w.a_jpg['id']}/restore", headers=w.alice.auth)
        assert r.status_code == 200, r.text
    await bob.sync(client, w.bob)
    fresh = Replica()
    await fresh.sync(client, w.bob)
    assert bob.paths() == fresh.paths()
    r = await client.get(f"{API}/files/{other}", headers=w.bob.auth)
    seen = r.json()["data"]
    assert bob.entries[other]["folder"] == seen["folder"]
    assert bob.entries[other]["name"] == seen["name"]


async def _documents_id(client: AsyncTestClient[Any], w: World) -> str:
    r = await client.get(f"{API}/files", headers=w.alice.auth)
    return str(next(f["id"] for f in r.json()["data"]["files"] if f["name"] == "documents"))


async def test_a_rename_brings_only_the_same_named_items_into_the_delta(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Renaming a shared item can renumber only the recipient's items of its old or new
    name: those come again in the delta, and nothing of the unrelated shares."""
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    documents = await _documents_id(client, w)
    for item in (w.a_jpg["id"], other, w.b_jpg["id"], documents):
        await share(client, w.alice, item, "bob@example.com")
    bob = Replica()
    await bob.sync(client, w.bob)
    assert bob.paths()[f"{BOBS}/a (2).jpg"] is not None

    await push(client, w.alice, None, change("rename", fileId=w.a_jpg["id"], name="z.jpg"))
    data = await pull(client, w.bob, bob.token)
    bob.apply(data)
    assert {e["id"] for e in data["changes"]["updated"]} == {w.a_jpg["id"], other}
    assert data["changes"]["created"] == data["changes"]["deleted"] == []
    assert (bob.entries[other]["name"], bob.entries[w.a_jpg["id"]]["name"]) == ("a.jpg", "z.jpg")

    # An item whose old and new names collide with nothing comes alone.
    await push(client, w.alice, None, change("rename", fileId=w.b_jpg["id"], name="c.jpg"))
    data = await pull(client, w.bob, bob.token)
    bob.apply(data)
    assert [e["id"] for e in data["changes"]["updated"]] == [w.b_jpg["id"]]
    fresh = Replica()
    await fresh.sync(client, w.bob)
    assert bob.paths() == fresh.paths()


async def test_a_rename_renumbers_items_whose_own_name_has_a_number(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """``A (2).JPG`` shared after two ``a.jpg`` is seen as ``A (2) (2).JPG``; when the
    older ``a.jpg`` is renamed it becomes ``A (2).JPG`` in the delta too."""
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    numbered = await store(client, w.alice, os.urandom(60), name="A (2).JPG", folder="/more")
    for item in (w.a_jpg["id"], other, numbered, w.b_jpg["id"]):
        await share(client, w.alice, item, "bob@example.com")
    bob = Replica()
    await bob.sync(client, w.bob)
    assert bob.entries[numbered]["name"] == "A (2) (2).JPG"

    await push(client, w.alice, None, change("rename", fileId=w.a_jpg["id"], name="z.jpg"))
    data = await pull(client, w.bob, bob.token)
    bob.apply(data)
    assert {e["id"] for e in data["changes"]["updated"]} == {w.a_jpg["id"], other, numbered}
    assert (bob.entries[other]["name"], bob.entries[numbered]["name"]) == ("a.jpg", "A (2).JPG")
    fresh = Replica()
    await fresh.sync(client, w.bob)
    assert bob.paths() == fresh.paths()


async def test_an_item_seen_inside_a_shared_folder_takes_no_name(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """a.jpg shared on its own and inside the shared /photos shows only under photos: it
    does not push the other a.jpg shared with Bob to "a (2).jpg"."""
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    inner = await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    await share(client, w.alice, w.photos_id, "bob@example.com")
    mine = await share(client, w.alice, other, "bob@example.com")
    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    paths = {s["id"]: s["path"] for s in listed["sharedWithMe"]}
    assert (paths[inner["id"]], paths[mine["id"]]) == (f"{BOBS}/photos/2024/a.jpg",
                                                       f"{BOBS}/a.jpg")
    r = await client.get(f"{API}/files/{other}", headers=w.bob.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == (BOBS, "a.jpg")
    bob = Replica()
    await bob.sync(client, w.bob)
    assert bob.paths()[f"{BOBS}/a.jpg"] is not None
    assert f"{BOBS}/a (2).jpg" not in bob.paths()


async def test_a_delta_follows_an_item_going_into_and_out_of_a_shared_folder(
    client: AsyncTestClient[Any], world: World,
) -> None:
    """Sharing the folder around the older a.jpg, moving that a.jpg out and back in, and
    revoking the folder each give the younger a.jpg its place in Bob's delta."""
    w = world
    other = await store(client, w.alice, os.urandom(50), name="a.jpg", folder="/elsewhere")
    await push(client, w.alice, None, change("mkdir", folder="/", name="loose"))
    await share(client, w.alice, w.a_jpg["id"], "bob@example.com")
    await share(client, w.alice, other, "bob@example.com")
    bob = Replica()
    await bob.sync(client, w.bob)
    assert bob.entries[other]["name"] == "a (2).jpg"

    async def check(name: str) -> None:
        await bob.sync(client, w.bob)
        fresh = Replica()
        await fresh.sync(client, w.bob)
        assert bob.paths() == fresh.paths()
        assert (bob.entries[other]["folder"], bob.entries[other]["name"]) == (BOBS, name)

    photos = await share(client, w.alice, w.photos_id, "bob@example.com")
    await check("a.jpg")
    await push(client, w.alice, None, change("move", fileId=w.a_jpg["id"], folder="/loose"))
    await check("a (2).jpg")
    await push(client, w.alice, None, change("move", fileId=w.a_jpg["id"], folder="/photos"))
    await check("a.jpg")
    r = await client.delete(f"{API}/shares/{photos['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    await check("a (2).jpg")


async def test_an_owner_whose_name_and_email_cannot_be_folder_names_can_share(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """An account "ac\\dc@example.com" with no name (so named "ac\\dc"): neither can be a
    folder name, and sharing anything answered 400 INVALID_PATH "Name may not contain
    backslashes". The email stands in with the characters a name may not hold as "_"."""
    await make_user("ac\\dc@example.com", name="")
    await make_user("bob@example.com", "Bob Builder")
    owner = await sign_in("ac\\dc@example.com", client_id="acdc")
    bob = await sign_in("bob@example.com", client_id="bob")
    file_id = await store(client, owner, b"riff", name="riff.txt", folder="/music")
    await share(client, owner, file_id, "bob@example.com")
    data = await pull(client, bob)
    [entry] = data["changes"]["created"]
    assert (entry["folder"], entry["name"]) == ("/Shared with me/ac_dc@example.com", "riff.txt")
