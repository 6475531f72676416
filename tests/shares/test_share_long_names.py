"""A shared item whose name is at the 255-byte limit, told apart from a same-named one by
" (2)", is shown under a name within the limit (its stem shortened, as conflicted copies'
are): "<255 bytes> (2)" could not be sent back in any path (400 INVALID_PATH), so the
recipient could not write into that folder, and no device can hold such a name."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, pull, push

LONG = "é" * 127 + "x"  # 255 bytes


async def test_a_numbered_name_fits_the_name_limit(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    token = (await pull(client, w.alice))["nextSyncToken"]
    done = await push(client, w.alice, token,
                      change("mkdir", "1", folder="/one", name=LONG),
                      change("mkdir", "2", folder="/two", name=LONG))
    first, second = (r["fileId"] for r in done["results"])
    await share(client, w.alice, first, "bob@example.com", "write")
    made = await share(client, w.alice, second, "bob@example.com", "write")
    listed = (await client.get(f"{API}/shares", headers=w.bob.auth)).json()["data"]
    path = next(s["path"] for s in listed["sharedWithMe"] if s["id"] == made["id"])
    name = path.rsplit("/", 1)[1]
    assert name.endswith(" (2)") and name.startswith("é" * 100), name
    assert len(name.encode()) <= 255
    # Bob's devices get it so, and can write into it by that path.
    data = await pull(client, w.bob)
    assert path in {e["folder"].rstrip("/") + "/" + e["name"] for e in data["changes"]["created"]}
    done = await push(client, w.bob, data["nextSyncToken"],
                      change("mkdir", "1", folder=path, name="inner"))
    assert done["results"][0]["status"] == "applied", done
    r = await client.get(f"{API}/files", params={"folder": f"/two/{LONG}"}, headers=w.alice.auth)
    assert [f["name"] for f in r.json()["data"]["files"]] == ["inner"]
