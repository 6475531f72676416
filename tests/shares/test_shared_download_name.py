"""A shared file's download is named as its recipient sees it: a share whose name another
share of the same owner took first is `name (2)` in GET /files/{id}, and so in the
download's Content-Disposition (a save dialog would otherwise clash with the first)."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.helpers import API
from tests.shares.test_shares_api import World, share
from tests.uploads.flow import upload


async def test_a_shared_download_is_named_where_the_recipient_sees_it(
    client: AsyncTestClient[Any], world: World,
) -> None:
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com")
    # Another item of Alice's named "photos": Bob sees it as "photos (2)".
    other = (await upload(client, w.alice.auth, os.urandom(50), name="photos", folder="/misc",
                          local_id="9", mimeType="text/plain"))["file"]
    await share(client, w.alice, other["id"], "bob@example.com")
    seen = (await client.get(f"{API}/files/{other['id']}", headers=w.bob.auth)).json()["data"]
    assert seen["name"] == "photos (2)"

    for method in ("GET", "HEAD"):
        r = await client.request(method, f"{API}/files/{other['id']}/content",
                                 headers=w.bob.auth)
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == (
            "attachment; filename=\"photos (2)\"; filename*=UTF-8''photos%20%282%29")
    # The owner's own download keeps the owner's name.
    r = await client.get(f"{API}/files/{other['id']}/content", headers=w.alice.auth)
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"photos\"; filename*=UTF-8''photos")
