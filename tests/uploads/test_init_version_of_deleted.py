"""A new version (``fileId``) of a file another device deleted (in the trash, or purged) is that
file's own answer in ``upload/init`` — ``conflict`` saying so, as ``sync/files`` makes it
a modify/delete conflict — not a 404 for the whole request: the other files of the
batch go on. The app keeps its edit by sending it as a new file (without the fileId)."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.sync.helpers import change, pull, push
from tests.uploads.flow import complete, file_entry, init, put_chunks, upload


async def test_a_version_of_a_trashed_file_is_its_own_conflict_in_the_batch(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, laptop = await sign_in(client_id="phone"), await sign_in(client_id="laptop")
    file_id = (await upload(client, phone.auth, os.urandom(3000), name="v.jpg",
                            folder="/v"))["fileId"]
    token = (await pull(client, laptop))["nextSyncToken"]
    done = await push(client, laptop, token, change("delete", fileId=file_id))
    assert done["results"][0]["status"] == "applied", done

    edit, other = os.urandom(3000), os.urandom(4000)
    r = await init(client, phone.auth,
                   file_entry(edit, name="v.jpg", folder="/v", local_id="edit", fileId=file_id),
                   file_entry(other, name="w.jpg", folder="/v", local_id="other"))
    assert r.status_code == 200, r.text
    edited, sent = r.json()["data"]["files"]
    assert edited["status"] == "conflict" and edited["fileId"] == file_id, edited
    assert edited["error"]["code"] == "CONFLICT"
    assert "deleted" in edited["error"]["message"]
    await put_chunks(client, sent, other)
    r = await complete(client, phone.auth, sent["uploadId"], other)
    assert r.status_code == 200, r.text

    # Purged from the trash, it is the same answer.
    r = await client.delete(f"{API}/trash/{file_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    r = await init(client, phone.auth,
                   file_entry(edit, name="v.jpg", folder="/v", local_id="edit", fileId=file_id))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["files"][0]["status"] == "conflict"

    # Sent as a new file, the edit is kept.
    r = await init(client, phone.auth, file_entry(edit, name="v.jpg", folder="/v",
                                                  local_id="edit"))
    assert r.status_code == 200, r.text
    assert r.json()["data"]["files"][0]["status"] == "pending"
