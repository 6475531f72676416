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


async def test_asking_again_for_an_open_upload_is_never_a_507(client, services, make_user,
                                                              sign_in):
    """The same file asked for again (same device, place and content) while its upload is
    open resumes that upload, even when the content was meanwhile stored elsewhere: it was
    made a copy instead, charged on top of its own open upload's reservation (a 507 near
    the quota), and the open upload was left to reserve the bytes for a day."""
    await make_user(quota_bytes=12_000)
    phone = await sign_in()
    data = b"x" * 5000
    r = await init(client, phone.auth, file_entry(data, name="a.jpg"))
    first = r.json()["data"]["files"][0]
    await store(client, phone, data, name="b.jpg", folder="/photos")  # 5000 used
    r = await init(client, phone.auth, file_entry(data, name="a.jpg"))
    assert r.status_code == 200, r.text
    again = r.json()["data"]["files"][0]
    assert again["uploadId"] == first["uploadId"], again
    await put_chunks(client, again, data)
    done = await complete(client, phone.auth, again["uploadId"], data)
    assert done.status_code == 200, done.text
    r = await client.get(f"{API}/files?folder=/photos", headers=phone.auth)
    assert sorted(f["name"] for f in r.json()["data"]["files"]) == ["a.jpg", "b.jpg"]
