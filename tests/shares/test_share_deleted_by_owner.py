"""A recipient's new version of a shared file its owner has deleted (in their trash) is a
conflict that says what works: pulling brings the file back to nobody, so "pull, then send
the change again" got the same answer for ever while the device held the only copy."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.shares.test_shares_api import World, share
from tests.sync.helpers import change, checksum, pull, push

BOBS = "/Shared with me/Alice Liddell"


async def test_a_new_version_of_what_the_owner_deleted_says_to_upload_it_anew(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    stale = (await pull(client, w.bob))["nextSyncToken"]
    alice_token = (await pull(client, w.alice))["nextSyncToken"]
    done = await push(client, w.alice, alice_token, change("delete", "d", fileId=w.a_jpg["id"]))
    assert done["results"][0]["status"] == "applied"
    edited = os.urandom(120)
    new_version = change("upload", "1", fileId=w.a_jpg["id"], size=len(edited),
                         checksum=checksum(edited))
    # Sent with the old token, then again after pulling (which lists the file as deleted).
    pulled = await pull(client, w.bob, stale)
    assert w.a_jpg["id"] in {e["id"] for e in pulled["changes"]["deleted"]}
    for token in (stale, pulled["nextSyncToken"]):
        (result,) = (await push(client, w.bob, token, new_version))["results"]
        assert (result["status"], result["fileId"], result["error"]["code"]) == (
            "conflict", w.a_jpg["id"], "CONFLICT")
        assert "upload it as a new file" in result["error"]["message"], result
        assert "pull" not in result["error"]["message"]
    # What it says works: the content as a new file in the shared folder.
    done = await push(client, w.bob, pulled["nextSyncToken"], change(
        "upload", "2", folder=f"{BOBS}/photos/2024", name="a.jpg", size=len(edited),
        checksum=checksum(edited)))
    assert done["results"][0]["status"] == "upload_required", done
