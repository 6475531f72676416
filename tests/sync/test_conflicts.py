"""POST /conflicts/resolve: every kind of conflict, every choice, nothing ever lost."""

from __future__ import annotations

import pytest

from homesync import clock
from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, resolve, store


def upload_change(data: bytes, local_id: str = "l1", **fields):
    fields.setdefault("name", "notes.txt")
    fields.setdefault("folder", "/docs")
    return change("upload", local_id, size=len(data), checksum=checksum(data), **fields)


async def content(client, dev, file_id: str) -> bytes:
    r = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert r.status_code == 200, r.text
    return bytes(r.content)


async def listing(client, dev, folder: str = "/docs") -> dict[str, str]:
    r = await client.get(f"{API}/files", params={"folder": folder}, headers=dev.auth)
    return {f["name"]: f["checksum"] for f in r.json()["data"]["files"]}


async def versions(client, dev, file_id: str) -> list[str]:
    r = await client.get(f"{API}/files/{file_id}/versions", headers=dev.auth)
    return [v["checksum"] for v in r.json()["data"]["versions"]]


async def modify_modify(client, laptop, phone, local: bytes = b"phone's edit",
                        store_local: bool = True):
    """The laptop and the phone both edit notes.txt; the phone's change conflicts."""
    file_id = await store(client, laptop, b"original", name="notes.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's edit", name="notes.txt", file_id=file_id)
    if store_local:
        await store(client, phone, local, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale, upload_change(local, fileId=file_id))
    assert out["results"][0]["status"] == "conflict"
    return file_id, out["results"][0]["conflictId"]


@pytest.fixture
async def devices(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    phone = await sign_in(client_id="phone", model="Pixel 7")
    return laptop, phone


async def test_keep_remote_leaves_the_server_alone(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    [result] = await resolve(client, phone, {"conflictId": conflict_id,
                                             "resolution": "keep_remote", "fileId": file_id})
    assert result == {"conflictId": conflict_id, "status": "resolved",
                      "resolution": "keep_remote", "fileId": file_id}
    assert await content(client, phone, file_id) == b"laptop's edit"
    assert (await pull(client, phone))["conflicts"] == []


async def test_keep_local_makes_a_new_version_and_keeps_the_old(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    [result] = await resolve(client, phone, {"conflictId": conflict_id,
                                             "resolution": "keep_local", "fileId": file_id})
    assert result["status"] == "resolved" and result["fileId"] == file_id
    assert await content(client, phone, file_id) == b"phone's edit"
    assert await versions(client, phone, file_id) == [
        checksum(b"phone's edit"), checksum(b"laptop's edit"), checksum(b"original")]


async def test_keep_both_makes_a_conflicted_copy(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    [result] = await resolve(client, phone, {"conflictId": conflict_id,
                                             "resolution": "keep_both", "fileId": file_id})
    assert result["status"] == "resolved"
    assert await content(client, phone, file_id) == b"laptop's edit"
    assert await content(client, phone, result["copyFileId"]) == b"phone's edit"
    names = await listing(client, phone)
    copy = [n for n in names if n.startswith("notes (conflicted copy Alice's Pixel 7 ")]
    assert len(copy) == 1 and copy[0].endswith(").txt")


async def test_keep_both_copy_names_are_unique(client, devices):
    laptop, phone = devices
    file_id, first = await modify_modify(client, laptop, phone, b"phone edit 1")
    [r1] = await resolve(client, phone, {"conflictId": first, "resolution": "keep_both"})
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop edit 2", name="notes.txt", file_id=file_id)
    await store(client, phone, b"phone edit 2", name="s2.bin", folder="/tmp")
    out = await push(client, phone, stale, upload_change(b"phone edit 2", fileId=file_id))
    [r2] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                         "resolution": "keep_both"})
    assert r1["copyFileId"] != r2["copyFileId"]
    names = [n for n in await listing(client, phone) if "conflicted copy" in n]
    assert len(names) == 2 and any(n.endswith(" 2).txt") for n in names)


async def test_keep_local_needs_the_content_first(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone, b"only on the phone",
                                               store_local=False)
    item = {"conflictId": conflict_id, "resolution": "keep_local", "fileId": file_id}
    [result] = await resolve(client, phone, item)
    assert result["status"] == "upload_required"
    assert result["uploadTo"] == {"folder": "/docs", "name": "notes.txt", "fileId": file_id}
    assert [c["id"] for c in (await pull(client, phone))["conflicts"]] == [conflict_id]
    await store(client, phone, b"only on the phone", name="notes.txt", file_id=file_id)
    [result] = await resolve(client, phone, item)
    assert result["status"] == "resolved"
    assert checksum(b"laptop's edit") in await versions(client, phone, file_id)


async def test_keep_both_needs_the_content_first(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone, b"phone only",
                                               store_local=False)
    item = {"conflictId": conflict_id, "resolution": "keep_both"}
    [result] = await resolve(client, phone, item)
    assert result["status"] == "upload_required" and "fileId" not in result["uploadTo"]
    target = result["uploadTo"]
    copy_id = await store(client, phone, b"phone only", name=target["name"],
                          folder=target["folder"])
    [result] = await resolve(client, phone, item)
    assert result["status"] == "resolved" and result["copyFileId"] == copy_id
    assert await content(client, phone, file_id) == b"laptop's edit"


async def test_resolving_twice_is_harmless(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    [first] = await resolve(client, phone, {"conflictId": conflict_id, "resolution": "keep_both"})
    [again] = await resolve(client, laptop, {"conflictId": conflict_id,
                                             "resolution": "keep_local"})
    assert again == first
    assert len([n for n in await listing(client, phone) if "conflicted" in n]) == 1
    assert await content(client, phone, file_id) == b"laptop's edit"


async def test_resolving_twice_in_one_request_is_harmless_too(client, devices):
    """The same conflict twice in one request: each item was judged by the conflict as read
    before the first was resolved, so keep_local after keep_remote replaced the server's
    content after all, and both answers said "resolved"."""
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    first, again = await resolve(client, phone,
                                 {"conflictId": conflict_id, "resolution": "keep_remote"},
                                 {"conflictId": conflict_id, "resolution": "keep_local"})
    assert first["resolution"] == "keep_remote" and again == first
    assert await content(client, phone, file_id) == b"laptop's edit"
    assert await versions(client, phone, file_id) == [checksum(b"laptop's edit"),
                                                      checksum(b"original")]


async def test_unknown_or_foreign_conflicts_are_404_and_change_nothing(client, devices,
                                                                       make_user, sign_in):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    await make_user("mallory@example.com", "Mallory")
    mallory = await sign_in("mallory@example.com", client_id="m")
    r = await client.post(f"{API}/conflicts/resolve", headers=mallory.auth, json={
        "conflicts": [{"conflictId": conflict_id, "resolution": "keep_local"}]})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
    # A batch with one bad id changes nothing, not even the good item.
    await resolve(client, phone,
                  {"conflictId": conflict_id, "resolution": "keep_local"},
                  {"conflictId": "conflict_nope", "resolution": "keep_local"}, expect=404)
    assert await content(client, phone, file_id) == b"laptop's edit"
    assert [c["id"] for c in (await pull(client, phone))["conflicts"]] == [conflict_id]
    r = await client.post(f"{API}/conflicts/resolve", headers=phone.auth, json={
        "conflicts": [{"conflictId": conflict_id, "resolution": "keep_everything"}]})
    assert r.status_code == 400
    [wrong] = await resolve(client, phone, {"conflictId": conflict_id,
                                            "resolution": "keep_local", "fileId": "file_other"})
    assert wrong["status"] == "rejected"


async def test_local_data_name_wins_with_keep_local(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    [result] = await resolve(client, phone, {
        "conflictId": conflict_id, "resolution": "keep_local", "fileId": file_id,
        "localData": {"name": "updated_name.txt", "modifiedAt": "2024-01-20T14:45:00Z"}})
    assert result["status"] == "resolved"
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    body = r.json()["data"]
    assert body["name"] == "updated_name.txt"
    assert body["modifiedAt"] == "2024-01-20T14:45:00Z"


async def test_local_data_folder_in_another_case_is_the_existing_folder(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    await push(client, laptop, None, change("mkdir", folder="/Archive"))
    [result] = await resolve(client, phone, {
        "conflictId": conflict_id, "resolution": "keep_local", "fileId": file_id,
        "localData": {"folder": "/ARCHIVE"}})
    assert result["status"] == "resolved"
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/Archive"  # not an unlisted "/ARCHIVE"
    assert r.json()["data"]["name"] in await listing(client, phone, "/archive")


async def test_keep_both_finds_the_copy_uploaded_where_asked_after_the_file_moved(
        client, devices):
    """The phone uploads its copy where upload_required said; meanwhile the laptop renames
    the file (so a copy's name would now be "renamed (conflicted copy …)"). Resolving
    again takes the uploaded copy rather than making a second, identical one."""
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone, store_local=False)
    [asked] = await resolve(client, phone, {"conflictId": conflict_id, "resolution": "keep_both"})
    assert asked["status"] == "upload_required", asked
    to = asked["uploadTo"]
    uploaded = await store(client, phone, b"phone's edit", name=to["name"], folder=to["folder"])
    await push(client, laptop, None, change("rename", fileId=file_id, name="renamed.txt"))
    [result] = await resolve(client, phone, {"conflictId": conflict_id,
                                             "resolution": "keep_both"})
    assert result["status"] == "resolved" and result["copyFileId"] == uploaded, result
    names = await listing(client, phone)
    assert sorted(names) == sorted(["renamed.txt", to["name"]])


async def test_modify_delete_resolutions(client, devices):
    laptop, phone = devices
    for choice in ("keep_remote", "keep_local", "keep_both"):
        name = f"{choice}.txt"
        file_id = await store(client, laptop, b"v1 " + name.encode(), name=name)
        stale = (await pull(client, phone))["nextSyncToken"]
        await push(client, laptop, None, change("delete", fileId=file_id))
        edit = b"phone kept editing " + name.encode()
        await store(client, phone, edit, name=f"scratch-{name}", folder="/tmp")
        out = await push(client, phone, stale, upload_change(edit, name=name, fileId=file_id))
        assert out["results"][0]["status"] == "conflict"
        [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                                 "resolution": choice})
        assert result["status"] == "resolved", result
        names = await listing(client, phone)
        if choice == "keep_remote":
            assert name not in names
        elif choice == "keep_local":
            assert names[name] == checksum(edit)  # back from the trash, with the edit
            assert checksum(b"v1 " + name.encode()) in await versions(client, phone, file_id)
        else:
            assert names[name] == checksum(b"v1 " + name.encode())  # restored as it was
            assert await content(client, phone, result["copyFileId"]) == edit


async def test_a_new_version_after_the_devices_own_delete_brings_the_file_back(
        client, devices):
    """One batch deletes a file and then sends new content for it (the phone's user threw
    it away, then saved it again): its own delete earlier in the batch never conflicts
    with it, so the file lives on with the new content, as a trash restore plus an edit;
    no modify_delete against itself. Likewise after deleting the folder it was in."""
    laptop, phone = devices
    for case in ("file", "folder"):
        folder = f"/{case}"
        file_id = await store(client, phone, b"v1 " + case.encode(), name="n.txt",
                              folder=folder)
        token = (await pull(client, phone))["nextSyncToken"]
        edit = b"saved again " + case.encode()
        await store(client, laptop, edit, name=f"{case}.txt", folder="/tmp")  # stored
        deleted = file_id
        if case == "folder":
            deleted = (await pull(client, phone))["changes"]["created"]
            deleted = next(e["id"] for e in deleted if e["name"] == "folder")
        out = await push(client, phone, token, change("delete", "d", fileId=deleted),
                         upload_change(edit, "u", name="n.txt", folder=folder, fileId=file_id))
        assert [r["status"] for r in out["results"]] == ["applied", "deduplicated"], out
        assert out["results"][1]["fileId"] == file_id
        assert (await listing(client, phone, folder))["n.txt"] == checksum(edit)
        assert checksum(b"v1 " + case.encode()) in await versions(client, phone, file_id)
        assert (await pull(client, phone))["conflicts"] == []
    # Content the server does not hold yet: the file is back, and the upload to its
    # fileId makes the version.
    file_id = await store(client, phone, b"v1", name="up.txt", folder="/up")
    token = (await pull(client, phone))["nextSyncToken"]
    edit = b"not on the server yet"
    out = await push(client, phone, token, change("delete", "d", fileId=file_id),
                     upload_change(edit, "u", name="up.txt", folder="/up", fileId=file_id))
    assert [r["status"] for r in out["results"]] == ["applied", "upload_required"], out
    assert out["results"][1]["fileId"] == file_id
    await store(client, phone, edit, name="up.txt", folder="/up", file_id=file_id)
    assert (await listing(client, phone, "/up"))["up.txt"] == checksum(edit)
    # The same two changes in two batches: the second is a modify_delete, as it was
    # (the device may have pulled the delete since; keep_local brings the file back).
    token = (await pull(client, phone))["nextSyncToken"]
    assert (await push(client, phone, token, change("delete", "d", fileId=file_id)))[
        "results"][0]["status"] == "applied"
    out = await push(client, phone, token, upload_change(b"v2", name="up.txt", folder="/up",
                                                         fileId=file_id))
    assert out["results"][0]["status"] == "conflict"
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_local"})
    assert result["status"] in ("resolved", "upload_required"), result
    # Another device's delete is still a modify_delete (test_modify_delete_resolutions).
    seen = (await pull(client, laptop))["nextSyncToken"]
    assert (await push(client, laptop, seen, change("delete", fileId=file_id)))["results"][0][
        "status"] == "applied"
    out = await push(client, phone, token, upload_change(b"v3", name="up.txt", folder="/up",
                                                         fileId=file_id))
    assert out["results"][0]["status"] == "conflict"


async def test_modify_delete_resolved_after_its_folder_was_renamed_in_case(client, devices):
    """The laptop deleted notes.txt and renamed its folder ``docs`` to ``Docs``; the phone
    had edited it. Resolving brings the file back into ``/Docs`` (keep_both: as it was,
    the phone's edit beside it; keep_local: with the edit), never into a ``/docs`` that
    no folder holds and no listing shows."""
    laptop, phone = devices
    for choice in ("keep_both", "keep_local"):
        name = f"{choice}.txt"
        file_id = await store(client, laptop, b"v1 " + name.encode(), name=name)
        docs = (await push(client, laptop, None, change("mkdir", folder="/docs")))["results"][0]
        stale = (await pull(client, phone))["nextSyncToken"]
        await push(client, laptop, None, change("delete", fileId=file_id))
        await push(client, laptop, None, change("rename", fileId=docs["fileId"], name="Docs"))
        edit = b"phone kept editing " + name.encode()
        await store(client, phone, edit, name=f"scratch-{name}", folder="/tmp")
        out = await push(client, phone, stale, upload_change(edit, name=name, fileId=file_id))
        [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                                 "resolution": choice})
        assert result["status"] == "resolved", result
        names = await listing(client, phone, "/Docs")
        r = await client.get(f"{API}/files/{result['fileId']}", headers=phone.auth)
        assert r.json()["data"]["folder"] == "/Docs", (choice, r.json())
        if choice == "keep_both":
            assert names[name] == checksum(b"v1 " + name.encode())
            assert checksum(edit) in names.values()
        else:
            assert names[name] == checksum(edit)
        await push(client, laptop, None, change("rename", fileId=docs["fileId"], name="docs"))


async def test_modify_delete_resolved_after_a_file_took_its_folders_name(client, devices):
    """The laptop deleted notes.txt, then ``/docs``, and made a file named ``docs``; the
    phone had edited notes.txt. keep_local brings it back into ``/docs (restored)``, as
    a trash restore does: the resolution was rejected (``/docs is a file``) and the
    conflict could not be resolved that way."""
    laptop, phone = devices
    file_id = await store(client, laptop, b"v1", name="notes.txt")
    docs = (await push(client, laptop, None, change("mkdir", folder="/docs")))["results"][0]
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=file_id))
    await push(client, laptop, None, change("delete", fileId=docs["fileId"]))
    await store(client, laptop, b"a file", name="docs", folder="/")
    edit = b"phone kept editing"
    await store(client, phone, edit, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale, upload_change(edit, fileId=file_id))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_local"})
    assert result["status"] == "resolved", result
    assert await listing(client, phone, "/docs (restored)") == {"notes.txt": checksum(edit)}


@pytest.mark.parametrize("stored", [True, False])
async def test_modify_delete_keep_both_after_a_file_took_its_folders_name(client, devices,
                                                                          stored):
    """The laptop deleted ``/docs`` (notes.txt with it) and made a file named ``docs``; the
    phone had edited notes.txt. keep_both brings notes.txt back into ``/docs (restored)``
    and puts the phone's edit beside it there. The copy's place was worked out before the
    file came back, as ``/docs``, now a file: the resolution was rejected (``/docs is a
    file``), or upload_required asked for an upload into a file."""
    laptop, phone = devices
    file_id = await store(client, laptop, b"v1", name="notes.txt")
    docs = (await push(client, laptop, None, change("mkdir", folder="/docs")))["results"][0]
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=docs["fileId"]))
    await store(client, laptop, b"a file", name="docs", folder="/")
    edit = b"phone kept editing"
    if stored:
        await store(client, phone, edit, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale, upload_change(edit, fileId=file_id))
    item = {"conflictId": out["results"][0]["conflictId"], "resolution": "keep_both"}
    [result] = await resolve(client, phone, item)
    if not stored:
        assert result["status"] == "upload_required", result
        to = result["uploadTo"]
        assert to["folder"] == "/docs (restored)" and "fileId" not in to, to
        assert await listing(client, phone, "/docs (restored)") == {
            "notes.txt": checksum(b"v1")}  # back at once, as with keep_local
        uploaded = await store(client, phone, edit, name=to["name"], folder=to["folder"])
        [result] = await resolve(client, phone, item)
        assert result["copyFileId"] == uploaded
    assert result["status"] == "resolved", result
    names = await listing(client, phone, "/docs (restored)")
    assert names.pop("notes.txt") == checksum(b"v1")
    [(copy, copy_sum)] = names.items()
    assert copy.startswith("notes (conflicted copy ") and copy_sum == checksum(edit)
    assert await content(client, phone, file_id) == b"v1"
    assert await content(client, phone, result["copyFileId"]) == edit


async def folder_ids(client, dev, folder: str) -> dict[str, str]:
    r = await client.get(f"{API}/files", params={"folder": folder}, headers=dev.auth)
    return {f["name"]: f["id"] for f in r.json()["data"]["files"]}


@pytest.mark.parametrize("choice", ["keep_local", "keep_both"])
async def test_modify_delete_of_a_purged_file_whose_folders_name_a_file_took(client, devices,
                                                                             choice):
    """The laptop deleted ``/docs/sub`` (deep.txt in it), emptied it from the trash and
    made a file named ``sub``; the phone had edited deep.txt. Its edit is made anew in
    ``/docs/sub (restored)``, as a trash restore would place it. Both choices that keep
    the edit were rejected (``/docs/sub is a file``): only keep_remote, dropping it, was
    left."""
    laptop, phone = devices
    file_id = await store(client, laptop, b"v1", name="deep.txt", folder="/docs/sub")
    sub = (await folder_ids(client, laptop, "/docs"))["sub"]
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=sub))
    r = await client.delete(f"{API}/trash/{sub}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    await store(client, laptop, b"a file", name="sub", folder="/docs")
    edit = b"phone's edit"
    await store(client, phone, edit, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale,
                     upload_change(edit, name="deep.txt", folder="/docs/sub", fileId=file_id))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": choice})
    assert result["status"] == "resolved", result
    [(name, kept)] = (await listing(client, phone, "/docs/sub (restored)")).items()
    assert kept == checksum(edit)
    assert name == "deep.txt" if choice == "keep_local" else name.startswith("deep (conflicted")
    assert (await listing(client, phone))["sub"] == checksum(b"a file")


@pytest.mark.parametrize("choice", ["keep_local", "keep_both"])
async def test_name_collision_whose_folders_name_a_file_took(client, devices, choice):
    """The phone's new /docs/sub/a.txt collided with the laptop's; then the laptop deleted
    ``/docs/sub`` and made a file named ``sub``. The phone's file goes into
    ``/docs/sub (restored)`` (keep_local, or keep_both), where it was rejected
    (``/docs/sub is a file``)."""
    laptop, phone = devices
    await store(client, laptop, b"theirs", name="a.txt", folder="/docs/sub")
    sub = (await folder_ids(client, laptop, "/docs"))["sub"]
    mine = b"mine"
    await store(client, phone, mine, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, None, upload_change(mine, name="a.txt", folder="/docs/sub"))
    assert out["results"][0]["status"] == "conflict"
    await push(client, laptop, None, change("delete", fileId=sub))
    await store(client, laptop, b"a file", name="sub", folder="/docs")
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": choice})
    assert result["status"] == "resolved", result
    [(name, kept)] = (await listing(client, phone, "/docs/sub (restored)")).items()
    assert kept == checksum(mine)
    assert name == "a.txt" if choice == "keep_local" else name.startswith("a (conflicted")
    assert (await listing(client, phone))["sub"] == checksum(b"a file")


async def test_delete_modify_resolutions(client, devices):
    laptop, phone = devices
    for choice in ("keep_remote", "keep_local", "keep_both"):
        name = f"{choice}.txt"
        file_id = await store(client, laptop, b"v1", name=name)
        stale = (await pull(client, phone))["nextSyncToken"]
        await store(client, laptop, b"v2 " + name.encode(), name=name, file_id=file_id)
        out = await push(client, phone, stale, change("delete", fileId=file_id))
        [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                                 "resolution": choice})
        assert result["status"] == "resolved"
        names = await listing(client, phone)
        assert (name in names) is (choice != "keep_local")
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert [i["name"] for i in r.json()["data"]["items"]] == ["keep_local.txt"]


async def test_name_collision_resolutions(client, devices):
    laptop, phone = devices
    for choice in ("keep_remote", "keep_local", "keep_both"):
        name = f"{choice}.jpg"
        server_id = await store(client, laptop, b"laptop photo " + name.encode(), name=name,
                                folder="/photos")
        mine = b"phone photo " + name.encode()
        await store(client, phone, mine, name=f"other-{name}", folder="/tmp")
        out = await push(client, phone, None,
                         upload_change(mine, name=name, folder="/photos"))
        assert out["results"][0]["status"] == "conflict"
        [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                                 "resolution": choice})
        assert result["status"] == "resolved"
        names = await listing(client, phone, "/photos")
        if choice == "keep_remote":
            assert names[name] == checksum(b"laptop photo " + name.encode())
        elif choice == "keep_local":
            assert names[name] == checksum(mine)
            assert checksum(b"laptop photo " + name.encode()) in await versions(
                client, phone, server_id)
        else:
            assert names[name] == checksum(b"laptop photo " + name.encode())
            copies = [n for n in names if n.startswith(f"{choice} (conflicted copy")]
            assert len(copies) == 1 and names[copies[0]] == checksum(mine)


async def test_name_collision_resolved_into_a_folder_spelt_in_another_case(client, devices):
    """localData names "/PHOTOS" for the user's "/photos": that is the same folder, so the
    phone's photo takes the taken name there (keep_local) or goes beside it (keep_both)."""
    laptop, phone = devices
    for choice in ("keep_local", "keep_both"):
        name = f"{choice}.jpg"
        theirs = b"laptop photo " + name.encode()
        await store(client, laptop, theirs, name=name, folder="/photos")
        mine = b"phone photo " + name.encode()
        await store(client, phone, mine, name=f"other-{name}", folder="/tmp")
        out = await push(client, phone, None, upload_change(mine, name=name, folder="/photos"))
        [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                                 "resolution": choice,
                                                 "localData": {"folder": "/PHOTOS"}})
        assert result["status"] == "resolved", result
        names = await listing(client, phone, "/photos")
        if choice == "keep_local":
            assert names[name] == checksum(mine)
        else:
            assert names[name] == checksum(theirs)
            r = await client.get(f"{API}/files/{result['copyFileId']}", headers=phone.auth)
            assert r.json()["data"]["folder"] == "/photos"
            assert names[r.json()["data"]["name"]] == checksum(mine)
    top = await listing(client, phone, "/")
    assert "photos" in top and "PHOTOS" not in top


async def test_rename_collision_resolutions(client, devices):
    laptop, phone = devices
    a = await store(client, phone, b"a", name="a.txt")
    await store(client, phone, b"b", name="b.txt")
    out = await push(client, phone, None, change("rename", fileId=a, name="b.txt"))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_both"})
    assert result["status"] == "resolved"
    names = await listing(client, phone)
    assert names["b.txt"] == checksum(b"b") and "a.txt" not in names
    assert any(n.startswith("b (conflicted copy") and v == checksum(b"a")
               for n, v in names.items())
    c = await store(client, phone, b"c", name="c.txt")
    out = await push(client, phone, None, change("rename", fileId=c, name="b.txt"))
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_local"})
    names = await listing(client, phone)
    assert names["b.txt"] == checksum(b"c")
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert [i["name"] for i in r.json()["data"]["items"]] == ["b.txt"]  # the old b, restorable


async def test_rename_collision_resolution_cannot_move_a_folder_into_itself(client, devices):
    """A folder's rename collided, and keep_local came with localData naming a place inside
    the folder itself. That moved /docs to /docs/notes.txt: a folder inside itself, which no
    listing reaches, with everything in it (and the file in the way went to the trash).
    It is rejected now, as the same move sent to /sync/files is, and nothing changes."""
    laptop, phone = devices
    kept = await store(client, phone, b"kept", name="notes.txt", folder="/docs")
    await store(client, phone, b"in the way", name="taken.txt", folder="/")
    docs = (await push(client, phone, None, change("mkdir", folder="/docs")))["results"][0]
    out = await push(client, phone, None, change("rename", fileId=docs["fileId"],
                                                 name="taken.txt"))
    assert out["results"][0]["status"] == "conflict"
    for choice in ("keep_local", "keep_both"):
        [result] = await resolve(client, phone, {
            "conflictId": out["results"][0]["conflictId"], "resolution": choice,
            "localData": {"folder": "/DOCS", "name": "notes.txt"}})
        assert result["status"] == "rejected", result
        assert result["error"]["code"] == "INVALID_PATH"
    assert await listing(client, phone) == {"notes.txt": checksum(b"kept")}
    r = await client.get(f"{API}/files/{docs['fileId']}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/", "docs")
    assert await content(client, phone, kept) == b"kept"
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert r.json()["data"]["items"] == []


async def test_keep_local_rename_onto_the_folder_holding_it(client, devices):
    """A file moved out of /b to the root, named "b": the folder /b is in the way, and
    keep_local trashes it. That took the file (inside /b) to the trash too, then renamed
    it there: "resolved", yet the file was 404, and no trash entry brought it back (not
    even restoring /b, as it no longer lay inside). Now it comes out of the trash at its
    new place; the rest of /b stays restorable."""
    laptop, phone = devices
    moved = await store(client, phone, b"moved", name="x.txt", folder="/b")
    other = await store(client, phone, b"other", name="y.txt", folder="/b")
    out = await push(client, phone, None, change("move", fileId=moved, folder="/", name="B"))
    assert out["results"][0]["status"] == "conflict"
    [result] = await resolve(client, phone, {"conflictId": out["results"][0]["conflictId"],
                                             "resolution": "keep_local", "fileId": moved})
    assert result["status"] == "resolved"
    r = await client.get(f"{API}/files/{moved}", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/", "B")
    assert await content(client, phone, moved) == b"moved"
    assert await listing(client, phone, "/") == {"B": checksum(b"moved")}
    r = await client.get(f"{API}/trash", headers=phone.auth)
    [b] = r.json()["data"]["items"]
    assert (b["name"], b["items"]) == ("b", 2)  # the folder and y.txt
    r = await client.post(f"{API}/trash/{b['id']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert await content(client, phone, other) == b"other"


async def test_retried_change_finds_its_conflict(client, devices):
    laptop, phone = devices
    file_id, conflict_id = await modify_modify(client, laptop, phone)
    out = await push(client, phone, None, upload_change(b"phone's edit", fileId=file_id))
    assert out["results"][0]["conflictId"] == conflict_id
    assert len((await pull(client, phone))["conflicts"]) == 1


async def test_resolved_conflicts_are_forgotten_after_queue_retention(client, services,
                                                                      devices):
    laptop, phone = devices
    _, conflict_id = await modify_modify(client, laptop, phone)
    [first] = await resolve(client, phone, {"conflictId": conflict_id,
                                            "resolution": "keep_remote"})
    report = await services.sync.retention.run_once()
    assert report.conflicts == 0  # a retried resolve still gets its answer for a while
    [again] = await resolve(client, phone, {"conflictId": conflict_id,
                                            "resolution": "keep_remote"})
    assert again == first
    week_later = clock.now_ms() + 8 * 86_400_000
    report = await services.sync.retention.run_once(week_later)
    assert report.conflicts == 1
    await resolve(client, phone, {"conflictId": conflict_id, "resolution": "keep_remote"},
                  expect=404)


async def test_modify_delete_keep_local_before_the_content_is_stored_keeps_the_file(
        client, devices):
    """The laptop deleted notes.txt; the phone had edited it and its edit is not on the
    server yet. keep_local brings the file itself back and asks for the edit as its new
    version: the same file id, its history kept, nothing left in the trash. (It used to
    ask for a new file at that path, leaving the original in the trash: two identities.)"""
    laptop, phone = devices
    file_id = await store(client, laptop, b"v1", name="notes.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=file_id))
    edit = b"phone kept editing"
    out = await push(client, phone, stale, upload_change(edit, fileId=file_id))
    assert out["results"][0]["status"] == "conflict"
    ask = {"conflictId": out["results"][0]["conflictId"], "resolution": "keep_local"}
    [asked] = await resolve(client, phone, ask)
    assert asked["status"] == "upload_required", asked
    assert asked["uploadTo"] == {"folder": "/docs", "name": "notes.txt", "fileId": file_id}
    assert await listing(client, phone) == {"notes.txt": checksum(b"v1")}  # back already
    [again] = await resolve(client, phone, ask)  # asked again before uploading: same answer
    assert again == asked
    to = asked["uploadTo"]
    assert await store(client, phone, edit, name=to["name"], folder=to["folder"],
                       file_id=to["fileId"]) == file_id
    [done] = await resolve(client, phone, ask)
    assert done["status"] == "resolved" and done["fileId"] == file_id, done
    assert await listing(client, phone) == {"notes.txt": checksum(edit)}
    assert await versions(client, phone, file_id) == [checksum(edit), checksum(b"v1")]
    trash = (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"]
    assert trash == []
