"""store.files.commit_version: new files, new versions, folders, journal and usage."""

from __future__ import annotations

import pytest

from homesync.errors import NameConflict, NotFound
from homesync.services.container import Services
from homesync.store import files
from homesync.store.db import fetchall, fetchone

H1, H2 = "a" * 64, "b" * 64


async def add_chunks(services: Services, *hashes: str) -> None:
    async with services.db.transaction() as tx:
        for h in hashes:
            await tx.execute("INSERT OR IGNORE INTO chunks (hash, size, created_at) VALUES (?, 5, 0)", (h,))


async def commit(services: Services, user_id: str, file_id: str | None = None,
                 folder: str = "/photos/2024", name: str = "a.jpg", chunks: list[str] | None = None,
                 size: int = 10) -> files.CommittedVersion:
    async with services.db.transaction() as tx:
        return await files.commit_version(
            tx, user_id=user_id, file_id=file_id, folder=folder, name=name, size=size,
            checksum="sha256:" + "c" * 64, mime_type="image/jpeg", metadata={"k": "v"},
            modified_at=1000, chunk_hashes=chunks or [H1, H2], device_id=None, now=2000)


async def test_create_then_new_version_keeps_old(services: Services, make_user) -> None:
    uid = await make_user()
    await add_chunks(services, H1, H2)
    v1 = await commit(services, uid)
    assert v1.created
    v2 = await commit(services, uid, file_id=v1.file_id, chunks=[H2], size=5)
    assert not v2.created and v2.file_id == v1.file_id and v2.seq > v1.seq
    db = services.db
    row = await files.get_file(db.reader, uid, v1.file_id)
    assert row is not None and row["version_id"] == v2.version_id and row["seq"] == v2.seq
    assert row["created_seq"] == v1.seq and row["size"] == 5
    assert await files.manifest(db.reader, v1.version_id) == [(H1, 5), (H2, 5)]
    assert await files.manifest(db.reader, v2.version_id) == [(H2, 5)]
    user = await fetchone(db.reader, "SELECT used_bytes FROM users WHERE id = ?", (uid,))
    assert user is not None and user[0] == 15
    actions = [r[0] for r in await fetchall(db.reader, "SELECT action FROM journal ORDER BY seq")]
    assert actions == ["mkdir", "mkdir", "create", "update"]
    listing = await files.list_folder(db.reader, uid, "/photos")
    assert [(r["kind"], r["name"]) for r in listing] == [("folder", "2024")]
    assert (await files.find_by_checksum(db.reader, uid, "sha256:" + "c" * 64))["id"] == v1.file_id


async def test_name_conflicts_and_foreign_ids(services: Services, make_user) -> None:
    alice = await make_user()
    bob = await make_user("bob@example.com", "Bob")
    await add_chunks(services, H1, H2)
    v1 = await commit(services, alice, name="Photo.JPG")
    with pytest.raises(NameConflict) as info:
        await commit(services, alice, name="photo.jpg")
    assert info.value.details["fileId"] == v1.file_id
    with pytest.raises(NameConflict):
        await commit(services, alice, folder="/photos/2024/Photo.JPG", name="x")
    with pytest.raises(NotFound):
        await commit(services, bob, file_id=v1.file_id)
    assert await files.get_file(services.db.reader, bob, v1.file_id) is None
    # Bob's tree is his own: the same path is free for him.
    assert (await commit(services, bob, name="photo.jpg")).created


async def test_listing_pages(services: Services, make_user) -> None:
    uid = await make_user()
    await add_chunks(services, H1, H2)
    for name in ("b.jpg", "A.jpg", "c.jpg"):
        await commit(services, uid, folder="/", name=name)
    await commit(services, uid, folder="/zdir", name="x.jpg")
    page1 = await files.list_folder(services.db.reader, uid, "/", limit=2)
    assert [r["name"] for r in page1] == ["zdir", "A.jpg"]
    page2 = await files.list_folder(services.db.reader, uid, "/", after=files.listing_cursor(page1[-1]))
    assert [r["name"] for r in page2] == ["b.jpg", "c.jpg"]
