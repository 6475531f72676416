"""Conflicted copies' names: always a valid name (at most 255 bytes), whatever the file's
name or the device's name, so keep_both can always resolve."""

from __future__ import annotations

import pytest

from tests.helpers import API
from tests.sync.helpers import change, pull, push, resolve, store
from tests.sync.test_conflicts import content, upload_change
from tests.uploads.flow import complete, file_entry, init, put_chunks, random_bytes, upload


@pytest.mark.parametrize(("name", "user_name"), [
    # An extension of 250 bytes left no room for the label: the copy's name was 290 bytes.
    ("x." + "e" * 250, "Alice Liddell"),
    # A device named by 60 four-byte characters made a label of 240 bytes on its own.
    ("notes.txt", "\U0001f600" * 60 + " Liddell"),
    ("\u00e9" * 120 + ".txt", "Alice Liddell"),
    # U+0958 is one character that NFC (as names are stored) writes as two, twice the bytes:
    # the label was measured before, and the copy's name came out over 255 bytes.
    ("n" * 240 + ".txt", "\u0958" * 40 + " Liddell"),
])
async def test_keep_both_copy_name_fits_in_a_name(client, make_user, sign_in, name, user_name):
    await make_user(name=user_name)
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    phone = await sign_in(client_id="phone", model="Pixel 7")
    file_id = await store(client, laptop, b"original", name=name)
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's edit", name=name, file_id=file_id)
    await store(client, phone, b"phone's edit", name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale,
                     upload_change(b"phone's edit", name=name, fileId=file_id))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_both"})
    assert result["status"] == "resolved", result
    assert await content(client, phone, result["copyFileId"]) == b"phone's edit"
    assert await content(client, phone, file_id) == b"laptop's edit"
    r = await client.get(f"{API}/files/{result['copyFileId']}", headers=phone.auth)
    copy = r.json()["data"]["name"]
    assert "(conflicted copy " in copy and len(copy.encode()) <= 255, copy


async def test_trash_restore_of_a_taken_name_with_a_long_extension(client, make_user, sign_in):
    """The same names make a restored entry's: "x.<250 bytes> (restored)" was refused."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 7")
    name = "x." + "e" * 250
    first = await store(client, phone, b"first", name=name)
    await push(client, phone, None, {"action": "delete", "localId": "d", "fileId": first})
    await store(client, phone, b"second", name=name)
    r = await client.post(f"{API}/trash/{first}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/files/{first}", headers=phone.auth)
    restored = r.json()["data"]["name"]
    assert "(restored)" in restored and len(restored.encode()) <= 255, restored
    assert await content(client, phone, first) == b"first"


async def test_keep_both_of_a_folder_rename_puts_the_label_at_the_end(client, make_user,
                                                                      sign_in):
    """A folder has no extension: ``v1.0`` renamed onto a taken ``v2.0`` is kept beside it
    as ``v2.0 (conflicted copy …)``, not ``v2 (conflicted copy …).0``."""
    await make_user()
    phone = await sign_in(client_id="phone", model="Pixel 7")
    v1 = (await push(client, phone, None, change("mkdir", folder="/v1.0")))["results"][0]
    await push(client, phone, None, change("mkdir", folder="/v2.0"))
    out = await push(client, phone, None, change("rename", fileId=v1["fileId"], name="v2.0"))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_both"})
    assert result["status"] == "resolved", result
    r = await client.get(f"{API}/files/{v1['fileId']}", headers=phone.auth)
    name = r.json()["data"]["name"]
    assert name.startswith("v2.0 (conflicted copy Alice's Pixel 7 ") and name.endswith(")")


async def test_an_overtaken_upload_of_a_long_extension_becomes_a_copy(client, make_user,
                                                                      sign_in):
    """upload/complete of a version another device overtook names its conflicted copy the
    same way: it was refused with 400 INVALID_PATH, the uploaded bytes with it."""
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    name = "x." + "e" * 250
    first = await upload(client, phone.auth, random_bytes(5000), name=name, folder="/docs")
    token = (await pull(client, phone))["nextSyncToken"]
    mine = random_bytes(9000)
    r = await init(client, phone.auth, file_entry(mine, name=name, folder="/docs",
                                                  fileId=first["fileId"], syncToken=token))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, mine, phone.auth)
    await upload(client, laptop.auth, random_bytes(7000), name=name, folder="/docs",
                 fileId=first["fileId"])
    r = await complete(client, phone.auth, entry["uploadId"], mine)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["conflictedWith"] == first["fileId"]
    copy = done["file"]["name"]
    assert "(conflicted copy " in copy and len(copy.encode()) <= 255, copy
    assert await content(client, phone, done["file"]["id"]) == mine
