"""What a share shows sits under /Shared with me/<owner>/, two levels (and the owner's
name) more than the owner's own path from the shared item down: a recipient's path into
a folder the owner keeps near the depth or length limit is accepted, as the owner's
path there is (the change is then held to the limits in the owner's tree). Such paths
were 400 INVALID_PATH, so nothing could be written there through the share."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from homesync.paths import MAX_DEPTH, MAX_PATH_BYTES
from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, checksum, pull, push
from tests.uploads.flow import file_entry, init

BOBS = "/Shared with me/Alice Liddell"


async def test_a_recipient_writes_where_the_owner_may_at_the_path_limits(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    deep = "".join(f"/l{i}" for i in range(1, MAX_DEPTH))  # one level short of the limit
    long = "/long/" + "/".join(["n" * 250] * 16) + "/" + "n" * 58  # 4 080 bytes
    assert len(long.encode()) <= MAX_PATH_BYTES < len(f"{BOBS}{long}".encode())
    token = (await pull(client, w.alice))["nextSyncToken"]
    done = await push(client, w.alice, token, change("mkdir", "1", folder=deep),
                      change("mkdir", "2", folder=long))
    assert [r["status"] for r in done["results"]] == ["applied"] * 2, done
    files = (await client.get(f"{API}/files", headers=w.alice.auth)).json()["data"]["files"]
    for f in files:
        await share(client, w.alice, f["id"], "bob@example.com", "write")
    token = (await pull(client, w.bob))["nextSyncToken"]
    data = b"deep"
    done = await push(
        client, w.bob, token,
        change("mkdir", "1", folder=f"{BOBS}{deep}", name="made"),
        change("upload", "2", folder=f"{BOBS}{long}", name="x.txt", size=len(data),
               checksum=checksum(data)),
        # The owner's limits still hold: one level more than they allow is refused.
        change("mkdir", "3", folder=f"{BOBS}{deep}/made", name="too-deep"),
    )
    outcome = [r["status"] if r["status"] != "rejected" else r["error"]["code"]
               for r in done["results"]]
    assert outcome == ["applied", "upload_required", "INVALID_PATH"], done
    r = await init(client, w.bob.auth, file_entry(data, name="x.txt", folder=f"{BOBS}{long}"))
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/files", params={"folder": deep}, headers=w.alice.auth)
    assert [f["name"] for f in r.json()["data"]["files"]] == ["made"]
