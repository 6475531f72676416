"""A shared item's " (2)" name follows its owner's changes in the recipient's sync: when
the older same-named item is renamed, trashed or restored, the younger one's place
changes, and a delta must say so as a full sync does."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import Replica, change, push, store

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
