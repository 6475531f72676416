"""Which folder ``GET /files?folder=`` and ``GET /shares/{id}/files?folder=`` list, found
in one walk down the path (files.folder_at): names in any case are the stored folder, and
a missing segment, a file, or a path through a file is 404."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share, shared_folder


async def test_the_owner_lists_the_folder_the_path_names(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    r = await client.get(f"{API}/files", params={"folder": "/PHOTOS/2024/Trip"},
                         headers=w.alice.auth)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["folder"] == "/photos/2024/trip"
    assert [f["name"] for f in data["files"]] == ["b.jpg"]
    for folder in ("/photos/2024/a.jpg", "/photos/2024/A.JPG/more", "/photos/nope/trip",
                   "/photos/2024/trip/nope"):
        r = await client.get(f"{API}/files", params={"folder": folder}, headers=w.alice.auth)
        assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND", folder


async def test_the_recipient_lists_the_folder_the_path_names(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    made = await share(client, w.alice, w.photos_id, "bob@example.com")
    r = await shared_folder(client, w.bob, made["id"], "/2024/TRIP")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["folder"] == "/2024/trip"
    for folder in ("/2024/a.jpg", "/2024/a.jpg/more", "/nope"):
        r = await shared_folder(client, w.bob, made["id"], folder)
        assert r.status_code == 404, folder
