"""Against a real `homesync serve`: a phone's new version, based on its sync token, races
the laptop's edit of the same file; the phone's bytes become a conflicted copy and the
laptop's edit stays the file."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, content, put, sign_in, start_with_accounts
from tests.helpers import API, ServerProcess
from tests.sync.helpers import pull
from tests.uploads.flow import complete, file_entry, init, put_chunks

pytestmark = pytest.mark.e2e


def test_an_upload_overtaken_by_another_devices_edit_becomes_a_conflicted_copy(
    make_server: MakeServer,
) -> None:
    server = make_server(ENV)
    start_with_accounts(server, (("alice@example.com", "Alice Liddell"),))
    asyncio.run(_scenario(server))


async def _scenario(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        phone = await sign_in(http, "alice@example.com", "phone")
        laptop = await sign_in(http, "alice@example.com", "laptop", model="ThinkPad")
        notes = await put(http, phone, b"notes v1", "notes.txt")
        token = (await pull(http, phone))["nextSyncToken"]

        mine = os.urandom(20_000)
        r = await init(http, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                    fileId=notes, syncToken=token))
        entry = r.json()["data"]["files"][0]
        await put_chunks(http, entry, mine, phone.auth)
        await put(http, laptop, b"notes v2 from the laptop", "notes.txt", notes)

        done = await complete(http, phone.auth, entry["uploadId"], mine)
        assert done.status_code == 200, done.text
        copy = done.json()["data"]
        assert copy["conflictedWith"] == notes
        assert copy["file"]["name"].startswith("notes (conflicted copy Alice's Pixel 7 ")
        assert await content(http, laptop, notes) == b"notes v2 from the laptop"
        assert await content(http, laptop, copy["fileId"]) == mine
        listing = await http.get(f"{API}/files", params={"folder": "/docs"},
                                 headers=laptop.auth)
        assert {f["id"] for f in listing.json()["data"]["files"]} == {notes, copy["fileId"]}
