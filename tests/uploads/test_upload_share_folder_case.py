"""upload/init into a write-shared folder compares folder names without case, as in the
uploader's own files: a name taken in ``.../2024/TRIP`` (the owner's ``2024/trip``) is a
conflict, and the content already there is deduplicated, not sent again."""

from __future__ import annotations

import os

from tests.shares.test_shares_api import (
    World,
    share,
    world,  # noqa: F401  (fixture)
)
from tests.uploads.flow import file_entry, init

BOBS = "/Shared with me/Alice Liddell"


async def test_a_folder_spelt_in_another_case_is_the_same_folder(
        client, world: World) -> None:  # noqa: F811  (the fixture)
    w = world
    await share(client, w.alice, w.photos_id, "bob@example.com", "write")
    for folder in (f"{BOBS}/photos/2024/trip", f"{BOBS}/Photos/2024/TRIP"):
        r = await init(client, w.bob.auth, file_entry(os.urandom(100), name="B.JPG",
                                                      folder=folder))
        assert r.status_code == 200, r.text
        entry = r.json()["data"]["files"][0]
        assert (entry["status"], entry.get("fileId")) == ("conflict", w.b_jpg["id"]), (folder, entry)
    r = await init(client, w.bob.auth, file_entry(w.a_bytes, name="a.jpg",
                                                  folder=f"{BOBS}/PHOTOS/2024"))
    entry = r.json()["data"]["files"][0]
    assert (entry["status"], entry.get("fileId")) == ("deduplicated", w.a_jpg["id"]), entry
