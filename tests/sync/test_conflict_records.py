"""Conflict records: one per change however the app spells it, and a device's own delete
earlier in a batch never stands against its later change (README "Conflicts")."""

from __future__ import annotations

import pytest

from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, resolve, store
from tests.uploads.flow import complete, file_entry, init, put_chunks


def upload_change(data: bytes, local_id: str = "l1", **fields):
    fields.setdefault("name", "notes.txt")
    fields.setdefault("folder", "/docs")
    fields.setdefault("checksum", checksum(data))
    return change("upload", local_id, size=len(data), **fields)


@pytest.fixture
async def devices(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    phone = await sign_in(client_id="phone", model="Pixel 7")
    return laptop, phone


async def test_the_same_change_spelt_otherwise_finds_its_conflict(client, devices):
    """'/docs/', '/DOCS' and '/docs' are one folder (a trailing slash is tolerated, names
    collide in any case), and 'sha256:ABC…' is 'sha256:abc…': sent again in another
    spelling, a change finds its open conflict instead of making a second one."""
    laptop, phone = devices
    await store(client, laptop, b"laptop's notes", name="notes.txt")
    mine = b"phone's notes"
    spellings = [{"folder": "/docs"}, {"folder": "/docs/"}, {"folder": "/DOCS"},
                 {"folder": "/Docs/", "name": "NOTES.txt"},
                 {"checksum": "sha256:" + checksum(mine).partition(":")[2].upper()}]
    ids = set()
    for fields in spellings:
        out = await push(client, phone, None, upload_change(mine, **fields))
        assert out["results"][0]["status"] == "conflict", (fields, out)
        ids.add(out["results"][0]["conflictId"])
    assert len(ids) == 1, ids
    assert len((await pull(client, phone))["conflicts"]) == 1
    r = await client.get(f"{API}/conflicts", headers=phone.auth)
    assert len(r.json()["data"]["conflicts"]) == 1


async def test_a_batch_that_deletes_a_file_and_sends_its_same_content_keeps_it(
        client, devices):
    """One batch deletes a file and then sends it again with its fileId and the content it
    had (the user threw it away, then saved it again unchanged): its own delete earlier in
    the batch never counts against it (as for new content), so the file is back from the
    trash and the upload is applied, not deleted_on_server. Across batches it stays
    deleted_on_server: the device may have pulled the delete since."""
    _, phone = devices
    data = b"the same notes"
    file_id = await store(client, phone, data, name="n.txt", folder="/keep")
    token = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, token, change("delete", "d", fileId=file_id),
                     upload_change(data, "u", name="n.txt", folder="/keep", fileId=file_id))
    assert [(r["status"], r.get("fileId")) for r in out["results"]] == [
        ("applied", file_id), ("applied", file_id)], out
    r = await client.get(f"{API}/files", params={"folder": "/keep"}, headers=phone.auth)
    assert [(f["id"], f["checksum"]) for f in r.json()["data"]["files"]] == [
        (file_id, checksum(data))]
    assert (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"] == []
    assert (await pull(client, phone))["conflicts"] == []
    # The content is no longer "deleted by the user": a new file of it is deduplicated.
    out = await push(client, phone, None, upload_change(data, name="copy.txt", folder="/keep"))
    assert out["results"][0]["status"] == "deduplicated", out

    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, token, change("delete", "d", fileId=file_id))
    out = await push(client, phone, token, upload_change(data, "u", name="n.txt",
                                                         folder="/keep", fileId=file_id))
    assert out["results"][0]["status"] == "deleted_on_server", out


async def test_an_upload_asked_for_keep_local_that_lands_after_keep_remote_is_not_current(
        client, devices):
    """keep_local asked for the phone's content (upload_required); the user then chose
    keep_remote (the server's side stays) while the upload was on its way. The resolution
    cancels it: landing late, it would have replaced the side the user kept."""
    laptop, phone = devices
    file_id = await store(client, laptop, b"original", name="notes.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's edit", name="notes.txt", file_id=file_id)
    mine = b"phone's edit, not on the server"
    out = await push(client, phone, stale, upload_change(mine, fileId=file_id))
    conflict_id = out["results"][0]["conflictId"]
    [asked] = await resolve(client, phone, {"conflictId": conflict_id,
                                            "resolution": "keep_local"})
    assert asked["status"] == "upload_required", asked
    to = asked["uploadTo"]
    r = await init(client, phone.auth, file_entry(mine, name=to["name"], folder=to["folder"],
                                                  fileId=to["fileId"]))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, mine, phone.auth)
    [kept] = await resolve(client, phone, {"conflictId": conflict_id,
                                           "resolution": "keep_remote"})
    assert kept["status"] == "resolved", kept
    r = await complete(client, phone.auth, item["uploadId"], mine)
    assert r.status_code == 409 and r.json()["error"]["code"] == "CONFLICT", r.text
    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=phone.auth)
    assert r.json()["data"]["status"] == "cancelled"
    r = await client.get(f"{API}/files/{file_id}/content", headers=phone.auth)
    assert r.content == b"laptop's edit"
    [again] = await resolve(client, phone, {"conflictId": conflict_id,
                                            "resolution": "keep_remote"})
    assert again == kept


async def open_conflicts(client, dev) -> set[str]:
    listed = {c["id"] for c in (await pull(client, dev))["conflicts"]}
    r = await client.get(f"{API}/conflicts", headers=dev.auth)
    assert {c["id"] for c in r.json()["data"]["conflicts"]} == listed
    return listed


async def test_conflicts_settled_by_another_path_are_no_longer_listed(client, devices):
    """Open conflicts are what is left to decide. When both sides agree since (the file
    holds the device's content, sent again after a pull, or the file the device deleted
    was deleted by another device too), there is nothing to choose: it is not listed.
    One whose file was deleted while the device's edit is not on the server still is:
    keep_local would bring the edit back."""
    laptop, phone = devices
    edited, conflict_edit = await _modify_modify(client, laptop, phone, "e.txt")
    deleted, conflict_delete = await _delete_modify(client, laptop, phone, "d.txt")
    lost, conflict_lost = await _modify_modify(client, laptop, phone, "l.txt")
    assert await open_conflicts(client, phone) == {conflict_edit, conflict_delete,
                                                   conflict_lost}

    token = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, token,
                     upload_change(b"phone's e.txt", name="e.txt", fileId=edited))
    assert out["results"][0]["status"] in ("applied", "deduplicated"), out
    await push(client, laptop, None, change("delete", fileId=deleted))
    await push(client, laptop, None, change("delete", fileId=lost))
    assert await open_conflicts(client, phone) == {conflict_lost}
    # Still resolvable, as any conflict: nothing left to do.
    [done] = await resolve(client, phone, {"conflictId": conflict_edit,
                                           "resolution": "keep_local"})
    assert done["status"] == "resolved", done


async def _modify_modify(client, laptop, phone, name: str) -> tuple[str, str]:
    file_id = await store(client, laptop, b"original " + name.encode(), name=name)
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's " + name.encode(), name=name, file_id=file_id)
    mine = b"phone's " + name.encode()
    await store(client, phone, mine, name=f"scratch-{name}", folder="/tmp")  # stored
    out = await push(client, phone, stale, upload_change(mine, name=name, fileId=file_id))
    assert out["results"][0]["status"] == "conflict", out
    return file_id, out["results"][0]["conflictId"]


async def _delete_modify(client, laptop, phone, name: str) -> tuple[str, str]:
    file_id = await store(client, laptop, b"original " + name.encode(), name=name)
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's " + name.encode(), name=name, file_id=file_id)
    out = await push(client, phone, stale, change("delete", fileId=file_id))
    assert out["results"][0]["status"] == "conflict", out
    return file_id, out["results"][0]["conflictId"]
