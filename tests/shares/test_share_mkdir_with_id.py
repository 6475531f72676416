"""A mkdir names no entry: a fileId sent with it does not choose whose tree the folder is
made in. With the id of something shared with write, it made folders anywhere in the
owner's tree (outside the share), and a name taken there answered with its id."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, pull, push, store

BOBS = "/Shared with me/Alice Liddell"


async def names(client: AsyncTestClient[Any], dev: Any, folder: str = "/") -> list[str]:
    r = await client.get(f"{API}/files", params={"folder": folder}, headers=dev.auth)
    assert r.status_code == 200, r.text
    return sorted(f["name"] for f in r.json()["data"]["files"])


async def test_a_mkdir_with_a_shared_entrys_id_is_made_where_its_path_says(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    mine = await store(client, w.bob, os.urandom(40), name="mine.jpg", folder="/bob")
    token = (await pull(client, w.bob))["nextSyncToken"]
    done = await push(
        client, w.bob, token,
        change("mkdir", "1", fileId=w.a_jpg["id"], folder="/evil", name="x"),
        change("mkdir", "2", fileId=w.a_jpg["id"], folder="/documents", name="taxes.pdf"),
        # One of Bob's own ids says nothing either: a folder in the share is made there.
        change("mkdir", "3", fileId=mine, folder=f"{BOBS}/photos", name="new"),
    )
    # Nothing of Alice's outside the share changed, nor was any id of hers answered.
    assert await names(client, w.alice) == ["documents", "photos"]
    assert await names(client, w.alice, "/documents") == ["taxes.pdf"]
    assert w.secret["id"] not in {r.get("fileId") for r in done["results"]}
    assert [r["status"] for r in done["results"]] == ["applied"] * 3, done
    # The first two are Bob's own folders, as their paths say; the third is in the share.
    assert await names(client, w.bob) == ["bob", "documents", "evil"]
    assert await names(client, w.bob, "/documents") == ["taxes.pdf"]
    assert await names(client, w.alice, "/photos") == ["2024", "new"]
