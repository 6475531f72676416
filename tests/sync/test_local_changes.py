"""POST /sync/files: one result per change, in order, with the contract's statuses."""

from __future__ import annotations

import unicodedata

from homesync import clock
from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, store


def upload_change(data: bytes, local_id: str = "l1", **fields):
    fields.setdefault("name", "new.txt")
    fields.setdefault("folder", "/docs")
    fields.setdefault("checksum", checksum(data))
    fields.setdefault("lastModified", "2024-01-20T14:00:00Z")
    return change("upload", local_id, size=len(data), **fields)


async def test_upload_statuses(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    token = (await pull(client, phone))["nextSyncToken"]
    existing = await store(client, phone, b"stored content", name="have.txt")
    out = await push(client, phone, token,
                     upload_change(b"never seen", "new"),
                     upload_change(b"stored content", "dup", name="copy.txt"),
                     upload_change(b"stored content", "same", name="have.txt"),
                     upload_change(b"other content", "clash", name="have.txt"))
    results = out["results"]
    assert [r["localId"] for r in results] == ["new", "dup", "same", "clash"]
    assert [r["status"] for r in results] == ["upload_required", "deduplicated", "applied",
                                              "conflict"]
    assert "fileId" not in results[0]
    assert results[2]["fileId"] == existing and results[3]["fileId"] == existing
    assert results[3]["conflictId"].startswith("conflict_")
    # The deduplicated file exists with the stored content and the client's mtime.
    r = await client.get(f"{API}/files/{results[1]['fileId']}", headers=phone.auth)
    body = r.json()["data"]
    assert body["checksum"] == checksum(b"stored content") and body["name"] == "copy.txt"
    assert body["modifiedAt"] == "2024-01-20T14:00:00Z"
    content = await client.get(f"{API}/files/{results[1]['fileId']}/content", headers=phone.auth)
    assert content.content == b"stored content"


async def test_new_version_of_a_known_file(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"v1")
    await store(client, phone, b"v2 elsewhere", name="other.txt")
    token = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, token,
                     upload_change(b"v2 elsewhere", "a", fileId=file_id),
                     upload_change(b"v3 not here", "b", fileId=file_id))
    assert [r["status"] for r in out["results"]] == ["deduplicated", "upload_required"]
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    assert [v["checksum"] for v in r.json()["data"]["versions"]] == [
        checksum(b"v2 elsewhere"), checksum(b"v1")]


async def test_outdated_token_conflicts_but_same_content_never_does(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop", model="ThinkPad")
    phone = await sign_in(client_id="phone")
    file_id = await store(client, laptop, b"v1")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"v2 from laptop", file_id=file_id)
    await store(client, phone, b"phone edit", name="scratch.txt")
    out = await push(client, phone, stale,
                     upload_change(b"v2 from laptop", "same", fileId=file_id),
                     upload_change(b"phone edit", "edit", fileId=file_id))
    assert [r["status"] for r in out["results"]] == ["applied", "conflict"]
    # Never a silent overwrite: the laptop's content is still current.
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.json()["data"]["checksum"] == checksum(b"v2 from laptop")
    # With an up-to-date token the same edit applies.
    fresh = (await pull(client, phone))["nextSyncToken"]
    out = await push(client, phone, fresh, upload_change(b"phone edit", "edit2", fileId=file_id))
    assert out["results"][0]["status"] == "deduplicated"


async def test_a_devices_own_changes_never_conflict_with_it(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"v1")
    token = (await pull(client, phone))["nextSyncToken"]
    await store(client, phone, b"v2", file_id=file_id)  # its own upload, after the token
    await store(client, phone, b"v3", name="v3.txt")
    out = await push(client, phone, token, upload_change(b"v3", fileId=file_id),
                     change("delete", "del", fileId=file_id))
    assert [r["status"] for r in out["results"]] == ["deduplicated", "applied"]


async def test_delete_modify_conflict_and_plain_delete(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    edited = await store(client, laptop, b"v1", name="edited.txt")
    untouched = await store(client, laptop, b"u", name="untouched.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"v2", name="edited.txt", file_id=edited)
    out = await push(client, phone, stale, change("delete", "a", fileId=edited),
                     change("delete", "b", fileId=untouched),
                     change("delete", "c", fileId=untouched))
    assert [r["status"] for r in out["results"]] == ["conflict", "applied", "applied"]
    data = await pull(client, laptop)
    assert [c["type"] for c in data["conflicts"]] == ["delete_modify"]
    r = await client.get(f"{API}/files/{edited}", headers=laptop.auth)
    assert r.status_code == 200  # still there


async def test_deleting_a_folder_with_a_file_edited_elsewhere_is_a_conflict(client, make_user,
                                                                            sign_in):
    """The delete names the shallowest file another device edited (the same one when
    retried: the same conflict) and trashes nothing; the device's own edits never count."""
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    deep = await store(client, laptop, b"deep v1", name="deep.txt", folder="/album/day1")
    top = await store(client, laptop, b"top v1", name="top.txt", folder="/album")
    own = await store(client, laptop, b"own v1", name="own.txt", folder="/album")
    album = (await push(client, laptop, None, change("mkdir", folder="/album")))["results"][0]
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, phone, b"own v2", name="own.txt", file_id=own)
    out = await push(client, phone, stale, change("delete", fileId=album["fileId"]))
    assert [r["status"] for r in out["results"]] == ["applied"]  # only its own edit
    r = await client.post(f"{API}/trash/{album['fileId']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"top v2", name="top.txt", file_id=top)
    await store(client, laptop, b"deep v2", name="deep.txt", file_id=deep)
    first = await push(client, phone, stale, change("delete", fileId=album["fileId"]))
    again = await push(client, phone, stale, change("delete", fileId=album["fileId"]))
    assert [r["status"] for r in first["results"]] == ["conflict"]
    assert again["results"][0]["conflictId"] == first["results"][0]["conflictId"]
    [conflict] = (await pull(client, phone))["conflicts"]
    assert (conflict["type"], conflict["remote"]["fileId"]) == ("delete_modify", top)
    r = await client.get(f"{API}/files/{deep}", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["checksum"] == checksum(b"deep v2")


async def test_modify_delete_and_deleted_on_server(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    file_id = await store(client, laptop, b"v1")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, laptop, None, change("delete", fileId=file_id))
    await store(client, phone, b"phone v2", name="scratch.txt")
    out = await push(client, phone, stale,
                     upload_change(b"v1", "same", fileId=file_id),
                     upload_change(b"phone v2", "edit", fileId=file_id),
                     change("rename", "ren", fileId=file_id, name="x.txt"))
    assert [r["status"] for r in out["results"]] == ["deleted_on_server", "conflict",
                                                     "deleted_on_server"]
    data = await pull(client, phone)
    assert data["conflicts"][0]["type"] == "modify_delete"
    assert data["conflicts"][0]["remote"]["deletedAt"]


async def test_tombstones_stop_auto_uploads_of_deleted_content(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    photo = b"a photo the user deleted"
    file_id = await store(client, phone, photo, name="IMG_1.jpg", folder="/camera")
    await push(client, phone, None, change("delete", fileId=file_id))
    r = await client.delete(f"{API}/trash/{file_id}", headers=phone.auth)  # even purged
    assert r.status_code == 200
    out = await push(client, phone, None,
                     upload_change(photo, "auto", name="IMG_1.jpg", folder="/camera"))
    assert out["results"][0]["status"] == "deleted_on_server"
    # upload/init applies the same rule.
    r = await client.post(f"{API}/upload/init", headers=phone.auth, json={
        "files": [{"localId": "x", "name": "IMG_1.jpg", "folder": "/camera", "size": len(photo),
                   "mimeType": "image/jpeg", "checksum": checksum(photo),
                   "priority": "normal"}]})
    assert r.json()["data"]["files"][0]["status"] == "deleted_on_server"
    # restore: true brings it back (content purged: upload required).
    out = await push(client, phone, None, upload_change(photo, "manual", name="IMG_1.jpg",
                                                        folder="/camera", restore=True))
    assert out["results"][0]["status"] == "upload_required"
    new_id = await store(client, phone, photo, name="IMG_1.jpg", folder="/camera")
    assert new_id != file_id
    out = await push(client, phone, None, upload_change(photo, "again", name="IMG_1.jpg",
                                                        folder="/camera"))
    assert out["results"][0] == {"localId": "again", "status": "applied", "fileId": new_id}


async def test_rename_move_mkdir(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    photo = await store(client, phone, b"p", name="photo.jpg", folder="/camera/2024")
    out = await push(client, phone, None,
                     change("mkdir", "m1", folder="/albums", name="Trip"),
                     change("mkdir", "m2", folder="/albums/Trip"),
                     change("move", "mv", fileId=photo, folder="/albums/Trip"),
                     change("rename", "rn", fileId=photo, name="Beach.jpg"),
                     change("rename", "case", fileId=photo, name="beach.jpg"))
    results = out["results"]
    assert [r["status"] for r in results] == ["applied"] * 5
    assert results[0]["fileId"] == results[1]["fileId"]
    r = await client.get(f"{API}/files/{photo}", headers=phone.auth)
    assert (r.json()["data"]["folder"], r.json()["data"]["name"]) == ("/albums/Trip", "beach.jpg")
    # A folder moves with everything in it.
    camera = (await push(client, phone, None, change("mkdir", folder="/camera")))["results"][0]
    inner = await store(client, phone, b"q", name="q.jpg", folder="/camera/2024")
    out = await push(client, phone, None, change("rename", fileId=camera["fileId"], name="Cam"))
    assert out["results"][0]["status"] == "applied"
    r = await client.get(f"{API}/files/{inner}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/Cam/2024"
    # Into itself: rejected, nothing changes.
    out = await push(client, phone, None,
                     change("move", fileId=camera["fileId"], folder="/Cam/2024/deeper"))
    assert out["results"][0]["status"] == "rejected"
    assert out["results"][0]["error"]["code"] == "INVALID_PATH"


async def test_name_collisions(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    a = await store(client, phone, b"a", name="a.txt")
    await store(client, phone, b"b", name="B.txt")
    out = await push(client, phone, None,
                     change("rename", "r1", fileId=a, name="b.txt"),  # case-insensitive twin
                     change("mkdir", "m1", folder="/docs", name="a.txt"))
    assert out["results"][0]["status"] == "conflict"
    assert out["results"][1]["status"] == "rejected"
    assert out["results"][1]["error"]["code"] == "NAME_CONFLICT"
    # NFD (iOS) and NFC (Android) spell the same name.
    nfc = unicodedata.normalize("NFC", "café.txt")
    nfd = unicodedata.normalize("NFD", "café.txt")
    cafe = await store(client, phone, b"cafe", name=nfc)
    out = await push(client, phone, None, upload_change(b"cafe", name=nfd))
    assert out["results"][0] == {"localId": "l1", "status": "applied", "fileId": cafe}


async def test_bad_changes_are_rejected_one_by_one(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    phone = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    bobs = await store(client, bob, b"bob's file", name="bob.txt")
    mine = await store(client, phone, b"mine")
    out = await push(client, phone, None,
                     upload_change(b"x", "bad-path", folder="/docs/../etc"),
                     change("delete", "theirs", fileId=bobs),
                     change("rename", "nope", fileId="file_doesnotexist", name="x"),
                     upload_change(b"x", "bad-sum", checksum="md5:abc"),
                     change("rename", "no-name", fileId=mine),
                     change("delete", "ok", fileId=mine))
    results = {r["localId"]: r for r in out["results"]}
    assert results["bad-path"]["error"]["code"] == "INVALID_PATH"
    assert results["theirs"]["error"]["code"] == "NOT_FOUND"  # like a missing one
    assert results["nope"]["error"]["code"] == "NOT_FOUND"
    assert results["bad-sum"]["error"]["code"] == "VALIDATION_ERROR"
    assert results["no-name"]["error"]["code"] == "VALIDATION_ERROR"
    assert all(r["status"] == "rejected" for k, r in results.items() if k != "ok")
    assert results["ok"]["status"] == "applied"
    r = await client.get(f"{API}/files/{bobs}", headers=bob.auth)
    assert r.status_code == 200  # Bob's file is untouched


# lastModified as sent, and the file's modifiedAt then (None: the change is rejected).
ODD_TIMES = [
    ("2024-01-20T14:00:00.123456789Z", "2024-01-20T14:00:00.123Z"),  # to the millisecond
    ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),  # the last one shown
    ("2999-06-01T00:30:00+01:00", "2999-05-31T23:30:00Z"),  # far future: the app's own say
    # A leap second is RFC 3339 too: read as POSIX time does, the next minute's start.
    ("2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z"),
    ("2016-12-31T15:59:60.5-08:00", "2017-01-01T00:00:00.500Z"),
    ("2024-01-20T14:00:00", None),  # no time zone: which instant is it?
    ("0000-01-01T00:00:00Z", None),  # year 0
    ("0001-01-01T00:00:00+14:00", None),  # UTC year 0
    ("9999-12-31T23:59:59-14:00", None),  # UTC year 10000
    ("10000-01-01T00:00:00Z", None),
    ("noon", None),
]


async def test_a_bad_last_modified_rejects_only_its_change(client, make_user, sign_in):
    """One lastModified that is no time made the whole batch 400: an app with one odd
    mtime among a thousand changes could never sync any of them."""
    await make_user()
    phone = await sign_in()
    data = b"stored content"
    await store(client, phone, data, name="have.txt")
    gone = await store(client, phone, b"to delete", name="gone.txt")
    frozen = float(int(clock.now()))
    clock.set_now(lambda: frozen)
    out = await push(client, phone, None,
                     *[upload_change(data, f"t{i}", name=f"{i}.txt", lastModified=sent)
                       for i, (sent, _) in enumerate(ODD_TIMES)],
                     upload_change(data, "empty", name="empty.txt", lastModified=""),
                     upload_change(data, "bad-path", folder="/docs/../etc"),
                     change("delete", "delete", fileId=gone))
    results = {r["localId"]: r for r in out["results"]}
    for i, (sent, shown) in enumerate(ODD_TIMES):
        result = results[f"t{i}"]
        if shown is None:
            assert result["status"] == "rejected", (sent, result)
            assert result["error"]["code"] == "VALIDATION_ERROR"
            assert "lastModified must be an RFC 3339 time" in result["error"]["message"]
            continue
        assert result["status"] == "deduplicated", (sent, result)
        r = await client.get(f"{API}/files/{result['fileId']}", headers=phone.auth)
        assert r.json()["data"]["modifiedAt"] == shown, sent
    # An empty one is as none: the file's time is when the change was made.
    r = await client.get(f"{API}/files/{results['empty']['fileId']}", headers=phone.auth)
    assert r.json()["data"]["modifiedAt"] == clock.rfc3339(int(frozen * 1000))
    assert results["bad-path"]["error"]["code"] == "INVALID_PATH"
    assert results["delete"]["status"] == "applied"
    names = {e["name"] for e in (await pull(client, phone))["changes"]["created"]}
    assert names == {"docs", "have.txt", "empty.txt",  # not gone.txt: deleted
                     *(f"{i}.txt" for i, (_, shown) in enumerate(ODD_TIMES) if shown)}


async def test_malformed_requests_change_nothing(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"keep me")
    bodies = [
        {"localChanges": [{"action": "delete", "localId": "x", "fileId": file_id}], "extra": 1},
        {"localChanges": [{"action": "explode", "localId": "x"}]},
        {"localChanges": [{"action": "upload", "localId": "x", "size": -1}]},
        # A wrong JSON type, unlike a text that is no time: the body is malformed.
        {"localChanges": [{"action": "delete", "localId": "x", "fileId": file_id},
                          {"action": "upload", "localId": "y", "lastModified": 1705759200000}]},
        {"localChanges": "nope"},
    ]
    for body in bodies:
        r = await client.post(f"{API}/sync/files", json=body, headers=phone.auth)
        assert r.status_code == 400, (body, r.text)
    r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
    assert r.status_code == 200
    too_many = [change("mkdir", f"m{i}", folder=f"/d{i}") for i in range(1001)]
    r = await client.post(f"{API}/sync/files", json={"localChanges": too_many},
                          headers=phone.auth)
    assert r.status_code == 422 and r.json()["error"]["code"] == "TOO_MANY_ITEMS"
    assert (await pull(client, phone, None))["changes"]["created"][-1]["id"] == file_id


async def test_next_token_skips_nothing(client, make_user, sign_in):
    await make_user()
    laptop = await sign_in(client_id="laptop")
    phone = await sign_in(client_id="phone")
    token = (await pull(client, phone))["nextSyncToken"]
    theirs = await store(client, laptop, b"laptop's new file", name="l.txt")
    out = await push(client, phone, token, change("mkdir", folder="/mine/deep"))
    data = await pull(client, phone, out["nextSyncToken"])
    created = {e["id"]: e["name"] for e in data["changes"]["created"]}
    # Another device's change, and what the phone's own change made (parents included).
    assert theirs in created and {"mine", "deep"} <= set(created.values())


async def test_folder_changes_leave_lookalike_siblings_alone(client, make_user, sign_in):
    """``/a-b`` sorts inside the range an index scans for ``/a``'s subtree; it is not in it."""
    await make_user()
    phone = await sign_in()
    inside = await store(client, phone, b"inside", name="x.txt", folder="/a/deep")
    sibling = await store(client, phone, b"sibling", name="y.txt", folder="/a-b")
    dotted = await store(client, phone, b"dotted", name="z.txt", folder="/a.b/c")
    folder_a = (await push(client, phone, None, change("mkdir", folder="/a")))["results"][0]
    await push(client, phone, None, change("rename", fileId=folder_a["fileId"], name="moved"))
    folders = {}
    for file_id in (inside, sibling, dotted):
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        folders[file_id] = r.json()["data"]["folder"]
    assert folders == {inside: "/moved/deep", sibling: "/a-b", dotted: "/a.b/c"}
    await push(client, phone, None, change("delete", fileId=folder_a["fileId"]))
    for file_id, code in ((inside, 404), (sibling, 200), (dotted, 200)):
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        assert r.status_code == code, file_id


async def test_a_folder_spelt_in_another_case_is_the_same_folder(client, make_user, sign_in):
    """Within a folder names differing only in case are one name, on every path segment.

    Once, ``/DOCS/...`` passed the existence check of ``/docs`` but was stored as its own
    path with no folder entry: files nobody could list, and a tree the journal could not
    describe.
    """
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"first", name="a.txt", folder="/docs")
    uploaded = await store(client, phone, b"second", name="b.txt", folder="/DOCS")
    out = await push(client, phone, None,
                     change("mkdir", "m1", folder="/Docs/Sub"),
                     upload_change(b"first", "u1", name="c.txt", folder="/DOCS/SUB"),
                     change("move", "mv", fileId=uploaded, folder="/docs/SUB"))
    assert [r["status"] for r in out["results"]] == ["applied", "deduplicated", "applied"]
    for file_id, folder in ((uploaded, "/docs/Sub"), (out["results"][1]["fileId"], "/docs/Sub")):
        r = await client.get(f"{API}/files/{file_id}", headers=phone.auth)
        assert r.json()["data"]["folder"] == folder
    listing = (await client.get(f"{API}/files", params={"folder": "/DOCS/sub"},
                                headers=phone.auth)).json()["data"]
    assert listing["folder"] == "/docs/Sub"
    assert sorted(f["name"] for f in listing["files"]) == ["b.txt", "c.txt"]
    created = (await pull(client, phone))["changes"]["created"]
    assert {(e["folder"], e["name"]) for e in created if e["type"] == "folder"} == {
        ("/", "docs"), ("/docs", "Sub")}


async def test_no_change_makes_a_folder_path_the_api_refuses(client, make_user, sign_in):
    """Folder paths over 4096 bytes or 64 levels are INVALID_PATH in every request, yet
    a mkdir (a name added to a folder just under the limit) or a folder moved deeper (its
    subfolders' paths grow with it) could make one: a folder nobody could list, upload
    into or move anything into again. Such changes are rejected now, nothing changed."""
    await make_user()
    phone = await sign_in()
    deep = "/" + "/".join(["d" * 200] * 20)  # 4020 bytes
    assert (await push(client, phone, None, change("mkdir", folder=deep)))["results"][0][
        "status"] == "applied"
    kept = await store(client, phone, b"x", name="x.txt", folder="/top/" + "s" * 200 + "/inner")
    top = (await push(client, phone, None, change("mkdir", folder="/top")))["results"][0]
    levels = "/" + "/".join("l" for _ in range(64))
    assert (await push(client, phone, None, change("mkdir", folder=levels)))["results"][0][
        "status"] == "applied"
    before = await pull(client, phone)
    out = await push(client, phone, None,
                     change("mkdir", "long", folder=deep, name="n" * 255),
                     change("mkdir", "level", folder=levels, name="l65"),
                     change("move", "moved", fileId=top["fileId"], folder=deep),
                     change("move", "lower", fileId=top["fileId"], folder=levels))
    assert [(r["status"], r["error"]["code"]) for r in out["results"]] == [
        ("rejected", "INVALID_PATH")] * 4, out
    after = await pull(client, phone, before["nextSyncToken"])
    assert not after["hasChanges"]
    r = await client.get(f"{API}/files/{kept}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/top/" + "s" * 200 + "/inner"
    # Up to the limits is fine.
    out = await push(client, phone, None, change("mkdir", folder=levels[:-2], name="l64"),
                     change("move", "m", fileId=top["fileId"], folder="/" + "/".join(["a" * 250] * 12)))
    assert [r["status"] for r in out["results"]] == ["applied", "applied"], out
