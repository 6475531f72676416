"""Sharing reaches the recipient's sync, end to end against a real `homesync serve`: Alice
shares a folder with Bob, Bob's long poll sees it appear under /Shared with me, then
Alice's new photo, then the deletions when she revokes the share."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import (
    ENV,
    ParkedPolls,
    content,
    put,
    sign_in,
    start_with_accounts,
    top_folder_id,
)
from tests.helpers import API, ServerProcess
from tests.sync.helpers import pull

pytestmark = pytest.mark.e2e

BOBS = "/Shared with me/Alice Liddell"


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV, metrics=True)



def test_bob_syncs_what_alice_shares_until_she_revokes_it(
    server: ServerProcess,
) -> None:
    start_with_accounts(server)
    asyncio.run(_scenario(server, ParkedPolls(server)))


async def _scenario(server: ServerProcess, parked: ParkedPolls) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        alice = await sign_in(http, "alice@example.com", "alice-phone")
        bob = await sign_in(http, "bob@example.com", "bob-phone")
        first = await put(http, alice, b"beach" * 1000, "beach.jpg", folder="/photos/2024")
        await put(http, alice, b"private", "taxes.pdf", folder="/documents")
        photos = await top_folder_id(http, alice, "photos")
        token = (await pull(http, bob))["nextSyncToken"]

        # Bob's phone parks a long poll; Alice shares her photos with him.
        poll = asyncio.create_task(pull(http, bob, token, wait=30))
        await parked.reach(http)
        r = await http.post(f"{API}/shares", headers=alice.auth, json={
            "fileId": photos, "email": "bob@example.com", "permission": "read"})
        assert r.status_code == 201, r.text
        share_id = r.json()["data"]["share"]["id"]
        data = await asyncio.wait_for(poll, 20)
        created = {e["id"]: (e["folder"], e["name"]) for e in data["changes"]["created"]}
        assert created[photos] == (BOBS, "photos")
        assert created[first] == (f"{BOBS}/photos/2024", "beach.jpg")
        assert len(created) == 3  # photos, 2024, beach.jpg: nothing of /documents
        assert await content(http, bob, first) == b"beach" * 1000

        # Alice adds a photo while Bob's poll waits: it wakes with it.
        poll = asyncio.create_task(pull(http, bob, data["nextSyncToken"], wait=30))
        await parked.reach(http)
        second = await put(http, alice, b"sunset" * 500, "sunset.jpg", folder="/photos")
        data = await asyncio.wait_for(poll, 20)
        assert [(e["id"], e["folder"], e["name"]) for e in data["changes"]["created"]] == [
            (second, f"{BOBS}/photos", "sunset.jpg")]

        # Alice revokes: Bob's poll wakes with every shared entry deleted, access is gone.
        poll = asyncio.create_task(pull(http, bob, data["nextSyncToken"], wait=30))
        await parked.reach(http)
        r = await http.delete(f"{API}/shares/{share_id}", headers=alice.auth)
        assert r.status_code == 200, r.text
        data = await asyncio.wait_for(poll, 20)
        deleted = {e["id"] for e in data["changes"]["deleted"]}
        assert {photos, first, second} <= deleted and len(deleted) == 4
        r = await http.get(f"{API}/files/{second}/content", headers=bob.auth)
        assert r.status_code == 404
