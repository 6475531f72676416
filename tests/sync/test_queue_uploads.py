"""Upload operations of the offline queue: done when this device's upload to remotePath
completes, whatever happens to the file afterwards, and not cancellable after that."""

from __future__ import annotations

import errno

from homesync.store import queue as store_queue
from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, store
from tests.sync.test_queue import add, op, queued, sign_in_again
from tests.uploads.flow import complete, file_entry, init, put_chunks


async def test_cancel_after_its_upload_completed_is_409(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"))
    file_id = await store(client, phone, b"data", name="1.jpg", folder="/p")
    # Nothing looked at the queue since the upload completed: it already ran all the same.
    r = await client.delete(f"{API}/queue/up", headers=phone.auth)
    assert r.status_code == 409, r.text
    listed = (await queued(client, phone))["up"]
    assert listed["status"] == "done" and listed["resultFileId"] == file_id


async def test_done_though_another_device_moved_the_file_on(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"),
              op("up2", "upload", remotePath="/p/2.jpg"))
    renamed = await store(client, phone, b"one", name="1.jpg", folder="/p")
    deleted = await store(client, phone, b"two", name="2.jpg", folder="/p")
    token = (await pull(client, laptop))["nextSyncToken"]
    await push(client, laptop, token, change("rename", "a", fileId=renamed, name="one.jpg"),
               change("delete", "b", fileId=deleted))
    # Another upload there since: the operation is still the first one's.
    await store(client, phone, b"two again", name="2.jpg", folder="/p")
    listed = await queued(client, phone)
    assert (listed["up"]["status"], listed["up"]["resultFileId"]) == ("done", renamed)
    assert (listed["up2"]["status"], listed["up2"]["resultFileId"]) == ("done", deleted)


async def test_done_when_the_same_content_landed_there_first(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    data = b"the same photo"
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"))
    r = await init(client, phone.auth, file_entry(data, name="1.jpg", folder="/p"))
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data)
    laptops = await store(client, laptop, data, name="1.jpg", folder="/p")
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 200 and r.json()["data"]["fileId"] == laptops
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["resultFileId"]) == ("done", laptops)


async def test_processing_whatever_the_case_of_the_folder(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"x", name="0.jpg", folder="/photos")
    await add(client, phone, op("up", "upload", remotePath="/PHOTOS/1.jpg"))
    r = await init(client, phone.auth, file_entry(b"zzz", name="1.jpg", folder="/Photos"))
    assert r.json()["data"]["files"][0]["status"] == "pending"  # an upload to send
    assert (await queued(client, phone))["up"]["status"] == "processing"
    assert list(await queued(client, phone, status="processing")) == ["up"]
    # One open upload that is the operation's: counted once.
    assert (await sign_in_again(client, phone))[0] == 1


async def test_done_when_the_upload_became_a_conflicted_copy(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    file_id = await store(client, laptop, b"v1", name="doc.txt", folder="/d")
    token = (await pull(client, phone))["nextSyncToken"]
    await add(client, phone, op("up", "upload", remotePath="/d/doc.txt", fileId=file_id))
    mine = b"phone's edit"
    r = await init(client, phone.auth, file_entry(mine, name="doc.txt", folder="/d",
                                                  fileId=file_id, syncToken=token))
    item = r.json()["data"]["files"][0]
    await store(client, laptop, b"laptop's edit", name="doc.txt", folder="/d", file_id=file_id)
    await put_chunks(client, item, mine)
    r = await complete(client, phone.auth, item["uploadId"], mine)
    assert r.json()["data"]["conflictedWith"] == file_id
    copy = r.json()["data"]["fileId"]
    listed = (await queued(client, phone))["up"]
    assert (listed["status"], listed["resultFileId"]) == ("done", copy)


async def test_done_when_init_answers_deduplicated(client, make_user, sign_in):
    """No upload comes when the content is already there: the answer settles it, whether
    the same file is at that place (stored by another device) or the account has the
    content elsewhere (a copy is made there)."""
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    there, elsewhere = b"already at that place", b"stored in another folder"
    laptops = await store(client, laptop, there, name="1.jpg", folder="/p")
    await store(client, laptop, elsewhere, name="old.jpg", folder="/archive")
    await add(client, phone, op("same", "upload", remotePath="/p/1.jpg"),
              op("copy", "upload", remotePath="/P/2.jpg"))
    r = await init(client, phone.auth, file_entry(there, name="1.jpg", folder="/p",
                                                   local_id="a"),
                   file_entry(elsewhere, name="2.jpg", folder="/P", local_id="b"))
    answers = {f["localId"]: f for f in r.json()["data"]["files"]}
    assert {a["status"] for a in answers.values()} == {"deduplicated"}, answers
    listed = await queued(client, phone)
    assert (listed["same"]["status"], listed["same"]["resultFileId"]) == ("done", laptops)
    assert (listed["copy"]["status"], listed["copy"]["resultFileId"]) == (
        "done", answers["b"]["fileId"])
    assert (await sign_in_again(client, phone))[0] == 0


async def test_done_when_sync_files_answers_that_the_content_is_there(client, make_user,
                                                                       sign_in):
    """``POST /sync/files`` of the operation's upload answered ``applied`` (the same content
    at that place: another device stored it) or ``deduplicated`` (the account had it
    elsewhere, a copy is made there): no upload comes, the answer settles it."""
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    there, elsewhere, edit = b"already at that place", b"stored in another folder", b"v2"
    laptops = await store(client, laptop, there, name="1.jpg", folder="/p")
    await store(client, laptop, elsewhere, name="old.jpg", folder="/archive")
    doc = await store(client, laptop, b"v1", name="doc.txt", folder="/d")
    await store(client, laptop, edit, name="doc.txt", folder="/d", file_id=doc)
    token = (await pull(client, phone))["nextSyncToken"]
    await add(client, phone, op("same", "upload", remotePath="/p/1.jpg"),
              op("copy", "upload", remotePath="/P/2.jpg"),
              op("edit", "upload", remotePath="/D/doc.txt", fileId=doc),
              # Not settled: new content (its bytes must still come), and nothing sent.
              op("fresh", "upload", remotePath="/q/new.jpg"),
              op("other", "upload", remotePath="/p/other.jpg"), token=token)
    sent = await push(client, phone, token,
                      change("upload", "a", name="1.jpg", folder="/p", size=len(there),
                             checksum=checksum(there)),
                      change("upload", "b", name="2.jpg", folder="/P", size=len(elsewhere),
                             checksum=checksum(elsewhere)),
                      change("upload", "c", fileId=doc, size=len(edit), checksum=checksum(edit)),
                      change("upload", "d", name="new.jpg", folder="/q", size=3,
                             checksum=checksum(b"new")))
    answers = {r["localId"]: r for r in sent["results"]}
    assert [answers[k]["status"] for k in "abcd"] == ["applied", "deduplicated", "applied",
                                                      "upload_required"]
    listed = await queued(client, phone)
    assert (listed["same"]["status"], listed["same"]["resultFileId"]) == ("done", laptops)
    assert (listed["copy"]["status"], listed["copy"]["resultFileId"]) == (
        "done", answers["b"]["fileId"])
    assert (listed["edit"]["status"], listed["edit"]["resultFileId"]) == ("done", doc)
    assert (listed["fresh"]["status"], listed["other"]["status"]) == ("pending", "pending")
    assert (await sign_in_again(client, phone))[0] == 2


async def test_signing_in_again_does_not_settle_the_queue_after_its_commit(
        client, make_user, sign_in, monkeypatch):
    """Sign-in answers ``pendingUploads`` after its commit (the old sign-in revoked, the
    new tokens stored): a write then failing (a full disk) answered 507, and the app was
    left with no tokens that work. It counts what settling would end without writing;
    the next queue call settles it."""
    await make_user()
    phone = await sign_in()
    await add(client, phone, op("up", "upload", remotePath="/p/1.jpg"),
              op("later", "upload", remotePath="/p/2.jpg"))
    file_id = await store(client, phone, b"data", name="1.jpg", folder="/p")

    async def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_queue, "finish_uploads", disk_full)
    pending, again = await sign_in_again(client, phone)
    assert pending == 1  # "up" is done already: only "later" waits
    monkeypatch.undo()
    r = await client.get(f"{API}/queue", headers=phone.auth)
    assert r.status_code == 401  # the old sign-in ended
    listed = await queued(client, again)
    assert (listed["up"]["status"], listed["up"]["resultFileId"]) == ("done", file_id)
    assert listed["later"]["status"] == "pending"
