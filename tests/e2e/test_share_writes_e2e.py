"""A write share end to end against a real `homesync serve`: Alice shares her photos with
Bob with write; Bob adds a photo and a new version of hers; Alice's phone (parked in a long
poll) sees both, with Bob's bytes; she turns the share to read and Bob's next write is 403."""

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
from tests.sync.helpers import checksum, pull
from tests.uploads.flow import file_entry, init

pytestmark = pytest.mark.e2e

BOBS = "/Shared with me/Alice Liddell"


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV, metrics=True)


def test_bob_writes_into_alices_shared_folder_until_she_makes_it_read_only(
    server: ServerProcess,
) -> None:
    start_with_accounts(server)
    asyncio.run(_scenario(server, ParkedPolls(server)))


async def _scenario(server: ServerProcess, parked: ParkedPolls) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        alice = await sign_in(http, "alice@example.com", "alice-phone")
        bob = await sign_in(http, "bob@example.com", "bob-phone")
        beach = await put(http, alice, b"beach" * 1000, "beach.jpg", folder="/photos/2024")
        photos = await top_folder_id(http, alice, "photos")
        r = await http.post(f"{API}/shares", headers=alice.auth, json={
            "fileId": photos, "email": "bob@example.com", "permission": "write"})
        assert r.status_code == 201, r.text
        alice_token = (await pull(http, alice))["nextSyncToken"]

        # Bob adds a photo (several chunks) while Alice's phone waits in a long poll.
        poll = asyncio.create_task(pull(http, alice, alice_token, wait=30))
        await parked.reach(http)
        added = bytes(range(256)) * 64
        new_id = await put(http, bob, added, "from-bob.jpg", folder=f"{BOBS}/photos/2024")
        data = await asyncio.wait_for(poll, 20)
        assert [(e["id"], e["folder"], e["name"]) for e in data["changes"]["created"]] == [
            (new_id, "/photos/2024", "from-bob.jpg")]
        assert await content(http, alice, new_id) == added

        # And a new version of Alice's beach photo: her sync brings it, the old one stays
        # in her version history.
        edited = b"edited by bob" * 500
        assert await put(http, bob, edited, "beach.jpg", file_id=beach,
                         folder=f"{BOBS}/photos/2024") == beach
        data = await pull(http, alice, data["nextSyncToken"])
        assert [(e["id"], e["checksum"]) for e in data["changes"]["updated"]] == [
            (beach, checksum(edited))]
        assert await content(http, alice, beach) == edited
        r = await http.get(f"{API}/files/{beach}/versions", headers=alice.auth)
        assert [v["checksum"] for v in r.json()["data"]["versions"]] == [
            checksum(edited), checksum(b"beach" * 1000)]

        # Alice makes the share read-only: Bob still reads, but his next write is 403.
        r = await http.post(f"{API}/shares", headers=alice.auth, json={
            "fileId": photos, "email": "bob@example.com", "permission": "read"})
        assert r.status_code == 200, r.text
        r = await init(http, bob.auth, file_entry(b"more", name="more.jpg",
                                                  folder=f"{BOBS}/photos/2024"))
        assert r.status_code == 403 and r.json()["error"]["code"] == "FORBIDDEN", r.text
        r = await http.post(f"{API}/sync/files", headers=bob.auth, json={"localChanges": [
            {"action": "delete", "localId": "d", "fileId": new_id}]})
        result = r.json()["data"]["results"][0]
        assert (result["status"], result["error"]["code"]) == ("rejected", "FORBIDDEN")
        assert await content(http, bob, new_id) == added
