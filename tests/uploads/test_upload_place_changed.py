"""Where an upload of one's own lands when another device changes its place between
init and complete (README, "Uploads"): a new file goes to the folder path its init
named, made again when that folder was trashed, renamed or moved meanwhile (the renamed
folder keeps what it holds); a new version follows its file wherever it was moved, and
becomes a new file at the init's path when that file was deleted; a file standing where
the path needs a folder is 409 NAME_CONFLICT naming it, the upload left open."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.sync.helpers import change, pull, push, store
from tests.uploads.flow import complete, file_entry, init, put_chunks, upload


async def _sent(client: AsyncTestClient[Any], dev: Device, data: bytes,
                **entry: Any) -> dict[str, Any]:
    """An upload with every chunk sent, not yet completed."""
    r = await init(client, dev.auth, file_entry(data, **entry))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    await put_chunks(client, item, data)
    return item


async def _entries(client: AsyncTestClient[Any], dev: Device, folder: str) -> dict[str, str]:
    r = await client.get(f"{API}/files", params={"folder": folder}, headers=dev.auth)
    assert r.status_code == 200, r.text
    return {f["name"]: f["id"] for f in r.json()["data"]["files"]}


async def _changed(client: AsyncTestClient[Any], dev: Device, *changes: dict[str, Any]) -> None:
    token = (await pull(client, dev))["nextSyncToken"]
    done = await push(client, dev, token, *changes)
    assert [r["status"] for r in done["results"]] == ["applied"] * len(changes), done


@pytest.mark.parametrize("how", ["trashed", "renamed", "moved"])
async def test_a_new_file_goes_to_its_folder_path_made_again(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn, how: str,
) -> None:
    await make_user()
    phone, laptop = await sign_in(client_id="phone"), await sign_in(client_id="laptop")
    await store(client, laptop, b"old", name="old.txt", folder="/photos")
    photos = (await _entries(client, laptop, "/"))["photos"]
    data = os.urandom(5000)
    item = await _sent(client, phone, data, folder="/photos", name="new.jpg")

    await _changed(client, laptop, {
        "trashed": change("delete", fileId=photos),
        "renamed": change("rename", fileId=photos, name="pictures"),
        "moved": change("move", fileId=photos, folder="/archive"),
    }[how])
    r = await complete(client, phone.auth, item["uploadId"], data)

    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["path"] == "/photos/new.jpg"
    again = (await _entries(client, laptop, "/"))["photos"]
    assert again != photos and await _entries(client, laptop, "/photos") == {
        "new.jpg": r.json()["data"]["fileId"]}
    if how != "trashed":
        kept = "/pictures" if how == "renamed" else "/archive/photos"
        assert list(await _entries(client, laptop, kept)) == ["old.txt"]


async def test_a_new_version_follows_its_file_or_becomes_a_new_file(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, laptop = await sign_in(client_id="phone"), await sign_in(client_id="laptop")
    file_id = (await upload(client, phone.auth, os.urandom(3000), name="v.jpg",
                            folder="/v"))["fileId"]
    token = (await pull(client, phone))["nextSyncToken"]
    v2 = os.urandom(3000)
    item = await _sent(client, phone, v2, name="v.jpg", folder="/v", local_id="v2",
                       fileId=file_id, syncToken=token)
    await _changed(client, laptop, change("move", fileId=file_id, folder="/elsewhere"))
    r = await complete(client, phone.auth, item["uploadId"], v2)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fileId"] == file_id
    assert r.json()["data"]["file"]["path"] == "/elsewhere/v.jpg"

    token = (await pull(client, phone))["nextSyncToken"]
    v3 = os.urandom(3000)
    item = await _sent(client, phone, v3, name="v.jpg", folder="/elsewhere", local_id="v3",
                       fileId=file_id, syncToken=token)
    await _changed(client, laptop, change("delete", fileId=file_id))
    r = await complete(client, phone.auth, item["uploadId"], v3)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["fileId"] != file_id
    assert r.json()["data"]["file"]["path"] == "/elsewhere/v.jpg"


async def test_a_file_where_its_folder_was_is_a_name_conflict_and_the_upload_stays_open(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, laptop = await sign_in(client_id="phone"), await sign_in(client_id="laptop")
    await store(client, laptop, b"old", name="old.txt", folder="/docs")
    docs = (await _entries(client, laptop, "/"))["docs"]
    data = os.urandom(5000)
    item = await _sent(client, phone, data, folder="/docs", name="t.jpg")
    await _changed(client, laptop, change("rename", fileId=docs, name="docs-old"))
    blocker = await store(client, laptop, b"a file", name="docs", folder="/")

    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["code"] == "NAME_CONFLICT"
    assert r.json()["error"]["details"]["fileId"] == blocker
    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=phone.auth)
    assert r.json()["data"]["status"] == "uploading"
