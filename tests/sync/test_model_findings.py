"""Regressions found by the model-based test (tests/sync/test_api_model.py), each
reduced to the few calls that showed it."""

from __future__ import annotations

from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, store
from tests.uploads.flow import complete, file_entry, init, put_chunks


async def test_a_new_version_of_deleted_content_is_an_edit_not_an_auto_upload(
        client, make_user, sign_in):
    """sync/files answers upload_required for an edit whose content the user once deleted;
    upload/init of that version must then take it (the tombstone rule is for new files,
    README: "an auto-upload does not bring it back"), not answer deleted_on_server."""
    await make_user()
    phone = await sign_in()
    notes = await store(client, phone, b"v1", name="notes.txt")
    old = await store(client, phone, b"old text", name="old.txt")
    await push(client, phone, None, change("delete", fileId=old))
    assert (await client.delete(f"{API}/trash/{old}", headers=phone.auth)).status_code == 200
    token = (await pull(client, phone))["nextSyncToken"]
    edit = change("upload", fileId=notes, name="notes.txt", folder="/docs",
                  size=len(b"old text"), checksum=checksum(b"old text"))
    assert (await push(client, phone, token, edit))["results"][0]["status"] == "upload_required"
    r = await init(client, phone.auth, file_entry(b"old text", name="notes.txt",
                                                  folder="/docs", fileId=notes, syncToken=token))
    item = r.json()["data"]["files"][0]
    assert item["status"] == "pending", item
    await put_chunks(client, item, b"old text")
    done = await complete(client, phone.auth, item["uploadId"], b"old text")
    assert done.json()["data"]["fileId"] == notes
    r = await client.get(f"{API}/files/{notes}/content", headers=phone.auth)
    assert r.content == b"old text"


async def test_a_new_version_from_the_trash_is_deduplicated_by_init_too(
        client, make_user, sign_in):
    """Content still in the trash: sync/files makes the version at once (deduplicated), and
    upload/init with the fileId does the same instead of deleted_on_server."""
    await make_user()
    phone = await sign_in()
    notes = await store(client, phone, b"v1", name="notes.txt")
    old = await store(client, phone, b"old text", name="old.txt")
    await push(client, phone, None, change("delete", fileId=old))
    r = await init(client, phone.auth, file_entry(b"old text", name="notes.txt",
                                                  folder="/docs", fileId=notes))
    assert r.json()["data"]["files"][0] == {"localId": "local_1", "status": "deduplicated",
                                            "fileId": notes}
    r = await client.get(f"{API}/files/{notes}/content", headers=phone.auth)
    assert r.content == b"old text"
