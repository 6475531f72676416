"""Against a real `homesync serve`: a phone whose complete kept its photo as a conflicted
copy (a tablet took the name after the phone's init) lost the answer and asks again, a
few times at once, then again after a laptop edited the copy and the server was killed
(-9) and restarted. Every answer is the first one: the same file, the version the phone
made, and the same ``conflictedWith`` (an init asked again answers that copy)."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, put, sign_in, start_with_accounts
from tests.helpers import ServerProcess
from tests.uploads.flow import checksum, complete, file_entry, init, put_chunks

pytestmark = pytest.mark.e2e


def test_a_lost_complete_answer_is_answered_again_the_same(make_server: MakeServer) -> None:
    server = make_server(ENV)
    start_with_accounts(server, (("alice@example.com", "Alice Liddell"),))
    asyncio.run(_scenario(server))


async def _scenario(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        phone = await sign_in(http, "alice@example.com", "phone", model="Pixel 8")
        tablet = await sign_in(http, "alice@example.com", "tablet", model="Galaxy Tab")
        laptop = await sign_in(http, "alice@example.com", "laptop", model="ThinkPad")
        mine = os.urandom(40_000)
        r = await init(http, phone.auth, file_entry(mine))
        entry = r.json()["data"]["files"][0]
        taken = await put(http, tablet, os.urandom(30_000), "IMG_0001.jpg", folder="/photos")
        await put_chunks(http, entry, mine, phone.auth)

        # The first answer never reaches the phone, which asks again at once, twice.
        rs = await asyncio.gather(*[complete(http, phone.auth, entry["uploadId"], mine)
                                    for _ in range(3)])
        assert [r.status_code for r in rs] == [200] * 3, [r.text for r in rs]
        first = rs[0].json()["data"]
        assert first["conflictedWith"] == taken
        assert first["file"]["name"].startswith("IMG_0001 (conflicted copy Alice's Pixel 8 ")
        assert [r.json()["data"] for r in rs] == [first] * 3
        # Had it lost its upload id too, init asked again answers the copy as its file.
        r = await init(http, phone.auth, file_entry(mine, local_id="again"))
        assert r.json()["data"]["files"][0] == {
            "localId": "again", "status": "deduplicated", "fileId": first["fileId"],
            "conflictedWith": taken}, r.text

        await put(http, laptop, b"cropped on the laptop", first["file"]["name"],
                  file_id=first["fileId"], folder="/photos")
        server.kill9()
        server.start()
        again = await complete(http, phone.auth, entry["uploadId"], mine)
        assert again.status_code == 200, again.text
        assert again.json()["data"] == first
        assert again.json()["data"]["file"]["checksum"] == checksum(mine)
