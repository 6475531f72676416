"""A recipient deleting a folder in a write share that the owner has since moved a file
into (from outside the share): the recipient never saw it there, so the delete is a
conflict (without a conflict record, as every conflict in a share) and the owner's file
stays where it is."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_share_sync_writes import BOBS, codes, trashed
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, pull, push


async def test_a_recipients_delete_of_a_folder_the_owner_moved_a_file_into_conflicts(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    made = await push(client, w.bob, None, change("mkdir", folder=f"{BOBS}/photos/2025"))
    folder = made["results"][0]["fileId"]
    stale = (await pull(client, w.bob))["nextSyncToken"]
    moved = await push(client, w.alice, None,
                       change("move", fileId=w.secret["id"], folder="/photos/2025"))
    assert codes(moved) == ["applied"]
    done = await push(client, w.bob, stale, change("delete", fileId=folder))
    assert codes(done) == ["conflict"] and "conflictId" not in done["results"][0]
    assert await trashed(client, w.alice) == set()
    r = await client.get(f"{API}/files/{w.secret['id']}", headers=w.alice.auth)
    assert r.json()["data"]["folder"] == "/photos/2025"
    # Once Bob has pulled the owner's move, the same delete goes through.
    fresh = (await pull(client, w.bob, stale))["nextSyncToken"]
    done = await push(client, w.bob, fresh, change("delete", fileId=folder))
    assert codes(done) == ["applied"]
    assert folder in await trashed(client, w.alice)  # with the file in it
    r = await client.get(f"{API}/files/{w.secret['id']}", headers=w.alice.auth)
    assert r.status_code == 404
