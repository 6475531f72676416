"""A write share inside a read share takes writes however the recipient spells its folder:
names collide in any case (``/TRIP`` is ``/trip``), yet a path spelt so into a folder
shared with write inside one shared read-only was 403 'read-only', and a move there 403."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, checksum, pull, push
from tests.uploads.flow import file_entry, init

BOBS = "/Shared with me/Alice Liddell"


async def test_writes_into_a_nested_write_share_spelt_in_another_case(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    r = await client.get(f"{API}/files", params={"folder": "/photos/2024"}, headers=w.alice.auth)
    trip = next(f["id"] for f in r.json()["data"]["files"] if f["name"] == "trip")
    await share(client, w.alice, w.photos_id, "bob@example.com", "read")
    await share(client, w.alice, trip, "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    data = os.urandom(60)
    done = await push(
        client, w.bob, token,
        change("mkdir", "1", folder=f"{BOBS}/photos/2024/TRIP", name="sub"),
        change("move", "2", fileId=w.b_jpg["id"], folder=f"{BOBS}/photos/2024/Trip/sub"),
        change("upload", "3", folder=f"{BOBS}/Photos/2024/trip/SUB", name="new.jpg",
               size=len(data), checksum=checksum(data)),
        # Still read-only where only the read share reaches, in any case.
        change("mkdir", "4", folder=f"{BOBS}/PHOTOS/2024", name="nope"),
    )
    statuses = [r["status"] if r["status"] != "rejected" else r["error"]["code"]
                for r in done["results"]]
    assert statuses == ["applied", "applied", "upload_required", "FORBIDDEN"], done
    r = await init(client, w.bob.auth, file_entry(data, name="new.jpg",
                                                  folder=f"{BOBS}/photos/2024/TRIP/sub"))
    assert r.status_code == 200, r.text
    # Made in Alice's folders as they are spelt.
    r = await client.get(f"{API}/files", params={"folder": "/photos/2024/trip/sub"},
                         headers=w.alice.auth)
    assert [f["name"] for f in r.json()["data"]["files"]] == ["b.jpg"]
