"""``GET /files/{id}/versions`` answers of one moment: the file and its history are read
apart, and a version that lands in between (another device's upload, a version restore)
was listed as the newest entry while the file, and ``isCurrent``, still named the one
before it. The version is made to land there."""

from __future__ import annotations

from typing import Any

from homesync import clock
from homesync.services.sync.types import Actor
from homesync.store import trash
from tests.helpers import API
from tests.sync.helpers import checksum, store


async def test_a_version_made_while_the_history_is_read_is_the_current_one(
        client, services, make_user, sign_in, monkeypatch):
    await make_user()
    dev = await sign_in()
    file_id = await store(client, dev, b"v1", name="notes.txt")
    await store(client, dev, b"v2", name="notes.txt", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=dev.auth)
    first = r.json()["data"]["versions"][-1]["id"]
    read_versions = trash.list_versions

    async def restored_first(conn: Any, user_id: str, of: str) -> Any:
        monkeypatch.setattr(trash, "list_versions", read_versions)
        actor = Actor(user_id=dev.user_id, device_id=dev.device_id, device_name="laptop",
                      base_seq=0, now=clock.now_ms())
        await services.sync.versions.restore(actor, file_id, first)  # v1 again, as v3
        return await read_versions(conn, user_id, of)

    monkeypatch.setattr(trash, "list_versions", restored_first)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=dev.auth)
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    assert got["file"]["checksum"] == checksum(b"v1")
    assert [v["checksum"] for v in got["versions"]] == [checksum(b) for b in (b"v1", b"v2",
                                                                               b"v1")]
    assert [v["isCurrent"] for v in got["versions"]] == [True, False, False]
    assert got["versions"][0]["id"] == got["file"]["versionId"]
