"""A download reads the file, then its current version: a version made in between, with
the one it replaced dropped at once (retention keeping fewer versions than were made
meanwhile), left the download naming a version that no longer exists. That answered
404 for a live file, which a phone takes for a deleted one; it gets the newest content."""

from __future__ import annotations

from typing import Any

from homesync import clock
from homesync.services.sync.types import Actor
from homesync.store import files, manifest_spans, trash
from tests.helpers import API
from tests.sync.helpers import checksum, store


async def _notes_in_two_versions(client: Any, dev: Any) -> tuple[str, str, str]:
    """notes.txt, "first words" then "second words": (file id, first, second version)."""
    file_id = await store(client, dev, b"first words", name="notes.txt")
    await store(client, dev, b"second words", name="notes.txt", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=dev.auth)
    second, first = (v["id"] for v in r.json()["data"]["versions"])
    return file_id, first, second


async def _first_again_second_dropped(services: Any, dev: Any, file_id: str, first: str,
                                      second: str) -> None:
    """Another device restores the first version ("first words" again, a new version) and
    retention drops the second at once."""
    actor = Actor(user_id=dev.user_id, device_id=dev.device_id, device_name="laptop",
                  base_seq=0, now=clock.now_ms())
    await services.sync.versions.restore(actor, file_id, first)
    async with services.db.transaction() as tx:  # no request may run inside a request
        assert await trash.delete_version(tx, version_id=second, file_id=file_id,
                                          user_id=dev.user_id, now=clock.now_ms())


async def test_a_version_replaced_and_dropped_as_the_download_opens_is_not_404(
        client, services, make_user, sign_in, monkeypatch):
    await make_user()
    dev = await sign_in()
    file_id, first, second = await _notes_in_two_versions(client, dev)
    read_version = files.get_version

    async def replaced_and_dropped_first(conn: Any, user_id: str, version_id: str) -> Any:
        monkeypatch.setattr(files, "get_version", read_version)
        await _first_again_second_dropped(services, dev, file_id, first, second)
        return await read_version(conn, user_id, version_id)

    monkeypatch.setattr(files, "get_version", replaced_and_dropped_first)
    r = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert r.status_code == 200, r.text
    assert r.content == b"first words"
    assert r.headers["etag"] == f'"{checksum(b"first words")}"'


async def test_a_version_replaced_and_dropped_before_its_manifest_is_read_is_not_404(
        client, services, make_user, sign_in, monkeypatch):
    """The same, a step later: the version row read, its manifest rows gone by the time
    they are read (the download then reads the whole manifest, and finds the version
    dropped). A file deleted there stays 404 (test_download_vs_gc)."""
    await make_user()
    dev = await sign_in()
    file_id, first, second = await _notes_in_two_versions(client, dev)
    read_spans = manifest_spans.spans

    async def replaced_and_dropped_first(conn: Any, version_id: str, *where: Any) -> Any:
        monkeypatch.setattr(manifest_spans, "spans", read_spans)
        await _first_again_second_dropped(services, dev, file_id, first, second)
        return await read_spans(conn, version_id, *where)

    monkeypatch.setattr(manifest_spans, "spans", replaced_and_dropped_first)
    r = await client.get(f"{API}/files/{file_id}/content", headers={**dev.auth,
                                                                   "Range": "bytes=6-"})
    assert r.status_code == 206, r.text
    assert r.content == b"words"
    assert r.headers["etag"] == f'"{checksum(b"first words")}"'
