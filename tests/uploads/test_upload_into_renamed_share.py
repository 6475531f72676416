"""An upload into a write-shared folder whose owner renames that folder while the bytes
are on their way: the recipient's path to it changes (``/Shared with me/<owner>/<name>``),
the share does not. ``complete`` lands the file in that shared folder, never a 404."""

from __future__ import annotations

import os

from homesync.services.container import Services
from tests.helpers import API
from tests.shares.test_share_uploads import started, used_bytes
from tests.shares.test_shares_api import (
    World,
    share,
    world,  # noqa: F401  (fixture)
)
from tests.sync.helpers import change, pull, push
from tests.uploads.flow import complete

BOBS = "/Shared with me/Alice Liddell"


async def test_the_owner_renames_the_shared_folder_while_bob_uploads(
        client, services: Services, world: World) -> None:  # noqa: F811  (the fixture)
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(5000)
    item = await started(client, w.bob, data, name="new.jpg", folder=f"{BOBS}/photos/2024/trip")
    alice_used = await used_bytes(services, "alice@example.com")
    token = (await pull(client, w.alice))["nextSyncToken"]
    await push(client, w.alice, token, change("rename", fileId=w.photos_id, name="pictures"))

    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    got = r.json()["data"]["file"]
    # Where Bob sees the folder now, and where it is in Alice's tree: inside the share.
    assert (got["folder"], got["name"]) == (f"{BOBS}/pictures/2024/trip", "new.jpg")
    mine = await client.get(f"{API}/files/{got['id']}", headers=w.alice.auth)
    assert (mine.json()["data"]["folder"], mine.json()["data"]["name"]) == (
        "/pictures/2024/trip", "new.jpg")
    content = await client.get(f"{API}/files/{got['id']}/content", headers=w.bob.auth)
    assert content.content == data
    assert await used_bytes(services, "alice@example.com") == alice_used + len(data)
    # Nothing was made at the folder's old name in Alice's tree.
    old = await client.get(f"{API}/files", params={"folder": "/"}, headers=w.alice.auth)
    assert "photos" not in [f["name"] for f in old.json()["data"]["files"]]


async def test_a_revoked_share_still_commits_nothing_after_a_rename(
        client, services: Services, world: World) -> None:  # noqa: F811  (the fixture)
    w = world
    shared = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    data = os.urandom(5000)
    item = await started(client, w.bob, data, name="new.jpg", folder=f"{BOBS}/photos")
    token = (await pull(client, w.alice))["nextSyncToken"]
    await push(client, w.alice, token, change("rename", fileId=w.photos_id, name="pictures"))
    r = await client.delete(f"{API}/shares/{shared['id']}", headers=w.alice.auth)
    assert r.status_code == 200, r.text
    r = await complete(client, w.bob.auth, item["uploadId"], data)
    assert r.status_code == 409 and "cancelled" in r.json()["error"]["message"], r.text
    listing = await client.get(f"{API}/files", params={"folder": "/pictures"},
                               headers=w.alice.auth)
    assert "new.jpg" not in [f["name"] for f in listing.json()["data"]["files"]]
