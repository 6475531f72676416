"""A new version overtaken by another device's change becomes a conflicted copy beside
the file, also when that device moved the file meanwhile: in the file's folder, where
sync's keep_both puts one, not in the folder the phone's init named."""

from __future__ import annotations

from tests.helpers import API
from tests.sync.helpers import change, pull, push
from tests.uploads.flow import complete, file_entry, init, put_chunks, random_bytes, upload


async def test_the_copy_goes_beside_a_file_moved_while_the_bytes_were_sent(
        client, make_user, sign_in) -> None:
    await make_user()
    phone, laptop = await sign_in(), await sign_in(client_id="laptop", model="ThinkPad")
    first = await upload(client, phone.auth, random_bytes(5000), name="notes.txt",
                         folder="/docs")
    token = (await pull(client, phone))["nextSyncToken"]
    mine = random_bytes(9000)
    r = await init(client, phone.auth, file_entry(mine, name="notes.txt", folder="/docs",
                                                  fileId=first["fileId"], syncToken=token))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, mine, phone.auth)
    # The laptop files the note away and edits it while the phone's bytes are on their way.
    laptop_token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, laptop_token, change("move", fileId=first["fileId"],
                                                    folder="/archive"))
    await upload(client, laptop.auth, random_bytes(7000), name="notes.txt", folder="/archive",
                 fileId=first["fileId"])

    r = await complete(client, phone.auth, entry["uploadId"], mine)
    assert r.status_code == 200, r.text
    done = r.json()["data"]
    assert done["conflictedWith"] == first["fileId"]
    assert done["file"]["folder"] == "/archive", done["file"]
    assert done["file"]["name"].startswith("notes (conflicted copy ")
    r = await client.get(f"{API}/files", params={"folder": "/docs"}, headers=phone.auth)
    assert r.json()["data"]["files"] == []  # nothing left behind where the file was
