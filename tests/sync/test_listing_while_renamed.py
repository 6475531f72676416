"""``GET /files?folder=`` answers of one moment of the tree: a folder renamed while its
listing is read is not answered as an empty folder, which it never was (a phone would
take its files for deleted). The folder is found, then its entries are read: the rename
is made to land in between."""

from __future__ import annotations

from typing import Any

import pytest

from homesync import clock
from homesync.cursors import encode_cursor
from homesync.services.container import Services
from homesync.store import files, tree
from tests.helpers import API, Device
from tests.sync.helpers import change, checksum, push, store


def _renamed_first(services: Services, dev: Device, monkeypatch: pytest.MonkeyPatch,
                   folder_id: str, name: str, then: Any = None) -> None:
    """The next listing's entries are read only after the folder ``folder_id`` is renamed
    to ``name`` (and ``then`` has run); no request may run inside a request."""
    read_entries = files.list_folder

    async def renamed_then_read(conn: Any, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(files, "list_folder", read_entries)
        async with services.db.transaction() as tx:
            row = await tree.get(tx, dev.user_id, folder_id)
            assert row is not None
            await tree.move(tx, user_id=dev.user_id, row=row, folder=row["folder"], name=name,
                            device_id=dev.device_id, now=clock.now_ms())
            if then is not None:
                await then(tx)
        return await read_entries(conn, *args, **kwargs)

    monkeypatch.setattr(files, "list_folder", renamed_then_read)


async def _photos(client: Any, dev: Device) -> str:
    """/photos with three photos in it; its id."""
    await store(client, dev, b"photo", name="IMG_0.jpg", folder="/photos")
    made = await push(client, dev, None, *[
        change("upload", f"u{i}", folder="/photos", name=f"IMG_{i}.jpg", size=5,
               checksum=checksum(b"photo")) for i in (1, 2)])
    assert {r["status"] for r in made["results"]} == {"deduplicated"}
    r = await client.get(f"{API}/files", params={"folder": "/"}, headers=dev.auth)
    return str(next(e["id"] for e in r.json()["data"]["files"] if e["name"] == "photos"))


async def test_a_folder_renamed_while_listed_is_404_not_an_empty_folder(
        client, services, make_user, sign_in, monkeypatch):
    await make_user()
    dev = await sign_in()
    folder_id = await _photos(client, dev)
    _renamed_first(services, dev, monkeypatch, folder_id, "pics")
    r = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=dev.auth)
    assert r.status_code == 404, r.text  # as it is now: no /photos
    assert r.json()["error"]["code"] == "NOT_FOUND"
    r = await client.get(f"{API}/files", params={"folder": "/pics"}, headers=dev.auth)
    assert [e["name"] for e in r.json()["data"]["files"]] == [f"IMG_{i}.jpg" for i in range(3)]


async def test_a_folder_replaced_while_listed_lists_the_one_there_now(
        client, services, make_user, sign_in, monkeypatch):
    """Renamed, and another folder made under its name at once: the new one's entries
    (none), not a mix of the two."""
    await make_user()
    dev = await sign_in()
    folder_id = await _photos(client, dev)

    async def new_photos(tx: Any) -> None:
        await files.ensure_folder(tx, user_id=dev.user_id, folder="/photos/new",
                                  device_id=dev.device_id, now=clock.now_ms())

    _renamed_first(services, dev, monkeypatch, folder_id, "pics", new_photos)
    r = await client.get(f"{API}/files", params={"folder": "/photos"}, headers=dev.auth)
    assert r.status_code == 200, r.text
    got = r.json()["data"]
    assert [(e["type"], e["path"]) for e in got["files"]] == [("folder", "/photos/new")]


async def _replace_photos(services: Services, dev: Device, folder_id: str) -> None:
    """/photos renamed to /pics, and a new, empty /photos made in its place."""
    async with services.db.transaction() as tx:
        row = await tree.get(tx, dev.user_id, folder_id)
        assert row is not None
        await tree.move(tx, user_id=dev.user_id, row=row, folder=row["folder"], name="pics",
                        device_id=dev.device_id, now=clock.now_ms())
        await files.ensure_folder(tx, user_id=dev.user_id, folder="/photos",
                                  device_id=dev.device_id, now=clock.now_ms())


async def _first_page(client: Any, dev: Device) -> str:
    r = await client.get(f"{API}/files", params={"folder": "/photos", "limit": 2},
                         headers=dev.auth)
    page = r.json()["data"]
    assert [e["name"] for e in page["files"]] == ["IMG_0.jpg", "IMG_1.jpg"]
    return str(page["nextCursor"])


async def test_a_cursor_of_a_folder_replaced_between_pages_is_400(
        client, services, make_user, sign_in):
    """Page 2 of /photos after /photos became another folder: not the new one's entries
    after the old one's page 1 (a mix of two folders), but a stale-cursor 400."""
    await make_user()
    dev = await sign_in()
    folder_id = await _photos(client, dev)
    cursor = await _first_page(client, dev)
    await _replace_photos(services, dev, folder_id)
    await store(client, dev, b"new", name="IMG_5.jpg", folder="/photos")
    r = await client.get(f"{API}/files", params={"folder": "/photos", "limit": 2,
                                                 "cursor": cursor}, headers=dev.auth)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["field"] == "cursor"
    # The same folder, renamed, still pages on from that cursor.
    r = await client.get(f"{API}/files", params={"folder": "/pics", "limit": 2,
                                                 "cursor": cursor}, headers=dev.auth)
    assert [e["name"] for e in r.json()["data"]["files"]] == ["IMG_2.jpg"]


async def test_a_cursor_of_a_folder_replaced_while_page_2_is_read_is_400(
        client, services, make_user, sign_in, monkeypatch):
    """The replacement lands after page 2 found the old folder and before its entries are
    read: the listing is read again for the folder there now, which is not the cursor's."""
    await make_user()
    dev = await sign_in()
    folder_id = await _photos(client, dev)
    cursor = await _first_page(client, dev)

    async def new_photos_with_a_folder(tx: Any) -> None:
        await files.ensure_folder(tx, user_id=dev.user_id, folder="/photos/IMG_9",
                                  device_id=dev.device_id, now=clock.now_ms())

    _renamed_first(services, dev, monkeypatch, folder_id, "pics", new_photos_with_a_folder)
    r = await client.get(f"{API}/files", params={"folder": "/photos", "limit": 2,
                                                 "cursor": cursor}, headers=dev.auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["details"]["field"] == "cursor"


async def test_a_cursor_handed_out_before_it_named_its_folder_still_pages(
        client, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    await _photos(client, dev)
    old_cursor = encode_cursor("1:img_1.jpg")
    r = await client.get(f"{API}/files", params={"folder": "/photos", "limit": 2,
                                                 "cursor": old_cursor}, headers=dev.auth)
    assert r.status_code == 200, r.text
    assert [e["name"] for e in r.json()["data"]["files"]] == ["IMG_2.jpg"]
