"""An upload into a share that its owner revoked or turned to read is cancelled (its
chunks would be refused); the device sending it is told, over HTTP and push, as of an
upload that expired: the app may be in the background, and the photo is not backed up.
Leaving a share is the recipient's own doing, as cancelling an upload is: nothing to say."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.services.container import Services
from tests.conftest import SignIn
from tests.helpers import API, Device
from tests.notifications.conftest import Clock, RegisterPush
from tests.push.receivers import Receiver
from tests.shares.test_shares_api import World, share, world  # noqa: F401  (fixture)
from tests.uploads.flow import file_entry, init

BOBS = "/Shared with me/Alice Liddell"


async def uploads_inbox(client: AsyncTestClient[Any], dev: Device) -> list[dict[str, Any]]:
    r = await client.get(f"{API}/notifications", headers=dev.auth, params={"category": "uploads"})
    assert r.status_code == 200, r.text
    return list(r.json()["data"]["notifications"])


@pytest.mark.parametrize("how", ["revoke", "read", "leave"])
async def test_the_uploading_device_hears_its_upload_was_stopped_by_the_share_ending(
    frozen: Clock, client: AsyncTestClient[Any], services: Services, world: World,  # noqa: F811
    sign_in: SignIn, register_push: RegisterPush, receiver: Receiver, how: str,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    tablet = await sign_in("bob@example.com", client_id="bob-tablet")
    await register_push(w.bob, f"{receiver.url}/up/phone")
    await register_push(tablet, f"{receiver.url}/up/tablet")
    await services.outbox.drain()
    receiver.requests.clear()  # Alice's share
    r = await init(client, w.bob.auth, file_entry(os.urandom(9000), name="IMG_7.jpg",
                                                  folder=f"{BOBS}/photos"))
    assert r.status_code == 200, r.text
    upload_id = r.json()["data"]["files"][0]["uploadId"]

    if how == "read":
        await share(client, w.alice, w.photos_id, "bob@example.com", "read", status=200)
    else:
        r = await client.delete(f"{API}/shares/{made['id']}",
                                headers=(w.alice if how == "revoke" else w.bob).auth)
        assert r.status_code == 200, r.text
    frozen.advance(30)  # the uploads' 30 seconds of quiet
    await services.outbox.drain()

    told = [(n["kind"], n["title"], n["body"], n["data"]["uploadId"])
            for n in await uploads_inbox(client, w.bob)]
    pushed = [(p.path, p.json()["data"]["kind"]) for p in receiver.requests]
    if how == "leave":
        assert (told, pushed) == ([], [])
        return
    assert told == [("upload_cancelled", "Upload stopped",
                     "IMG_7.jpg was not uploaded: the share it was going into no longer lets"
                     " you add to it.", upload_id)]
    assert pushed == [("/up/phone", "upload_cancelled")]  # the device that sent it only
    assert "upload_cancelled" not in {n["kind"] for n in await uploads_inbox(client, w.alice)}
