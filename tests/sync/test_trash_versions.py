"""Versions and trash: listing, restoring, purging, retention, and 404 for other users."""

from __future__ import annotations

from homesync import clock
from homesync.services.files import versions as versions_module
from tests.helpers import API
from tests.sync.helpers import change, checksum, pull, push, store
from tests.sync.plans import plan_of, reads_during


async def used_bytes(services, user_id: str) -> int:
    row = await services.db.fetchone("SELECT used_bytes FROM users WHERE id = ?", (user_id,))
    return int(row[0])


async def test_versions_list_and_restore(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"first", name="v.txt")
    await store(client, phone, b"second", name="v.txt", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    assert r.status_code == 200, r.text
    body = r.json()["data"]
    assert body["file"]["id"] == file_id
    [current, old] = body["versions"]
    assert current["isCurrent"] and not old["isCurrent"]
    assert old["checksum"] == checksum(b"first") and old["deviceName"] == "Alice's Pixel 7"
    r = await client.post(f"{API}/files/{file_id}/versions/{old['id']}/restore",
                          headers=phone.auth)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["checksum"] == checksum(b"first")
    content = await client.get(f"{API}/files/{file_id}/content", headers=phone.auth)
    assert content.content == b"first"
    # A retry (its first answer lost) finds the file with that content: nothing changes,
    # rather than a second identical version.
    token = (await pull(client, phone))["nextSyncToken"]
    r = await client.post(f"{API}/files/{file_id}/versions/{old['id']}/restore",
                          headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["file"]["checksum"] == checksum(b"first")
    assert (await pull(client, phone, token))["changes"] == {
        "created": [], "updated": [], "deleted": []}
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    assert [v["checksum"] for v in r.json()["data"]["versions"]] == [
        checksum(b"first"), checksum(b"second"), checksum(b"first")]


async def test_versions_are_404_for_other_users(client, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob")
    file_id = await store(client, alice, b"a1", name="a.txt")
    await store(client, alice, b"a2", name="a.txt", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=alice.auth)
    old = r.json()["data"]["versions"][1]["id"]
    bobs = await store(client, bob, b"b1", name="b.txt")
    for method, url in (("GET", f"/files/{file_id}/versions"),
                        ("POST", f"/files/{file_id}/versions/{old}/restore"),
                        ("POST", f"/files/{bobs}/versions/{old}/restore"),
                        ("POST", f"/trash/{file_id}/restore"),
                        ("DELETE", f"/trash/{file_id}")):
        r = await client.request(method, f"{API}{url}", headers=bob.auth)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["code"] == "NOT_FOUND"


async def test_trash_restore_and_purge(client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in()
    photo = await store(client, phone, b"photo bytes", name="p.jpg", folder="/album/day1")
    await store(client, phone, b"other bytes", name="q.jpg", folder="/album")
    album = (await push(client, phone, None, change("mkdir", folder="/album")))["results"][0]
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, None, change("delete", fileId=album["fileId"]))
    r = await client.get(f"{API}/trash", headers=phone.auth)
    [item] = r.json()["data"]["items"]  # one entry for the folder and its contents
    assert item["id"] == album["fileId"] and item["type"] == "folder" and item["items"] == 4
    assert item["totalSize"] == len(b"photo bytes") + len(b"other bytes")
    assert item["purgeAt"] is not None
    deleted = (await pull(client, phone, token))["changes"]["deleted"]
    assert photo in [d["id"] for d in deleted] and len(deleted) == 4
    # A file took the name meanwhile: the restore does not overwrite it (a folder there
    # would be merged into: tests/sync/test_trash_merge.py).
    await store(client, phone, b"in the way", name="album", folder="/")
    r = await client.post(f"{API}/trash/{album['fileId']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["name"] == "album (restored)"
    r = await client.get(f"{API}/files/{photo}", headers=phone.auth)
    assert r.json()["data"]["folder"] == "/album (restored)/day1"
    assert (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"] == []
    # Purging frees the quota; devices still learn of the deletion.
    before = await used_bytes(services, user_id)
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, None, change("delete", fileId=photo))
    r = await client.delete(f"{API}/trash/{photo}", headers=phone.auth)
    assert r.status_code == 200 and r.json()["data"]["freedBytes"] == len(b"photo bytes")
    assert await used_bytes(services, user_id) == before - len(b"photo bytes")
    assert [d["id"] for d in (await pull(client, phone, token))["changes"]["deleted"]] == [photo]
    r = await client.post(f"{API}/trash/{photo}/restore", headers=phone.auth)
    assert r.status_code == 404
    r = await client.get(f"{API}/files/{photo}/versions", headers=phone.auth)
    assert r.status_code == 404


async def test_trash_restore_into_a_folder_renamed_in_case(client, make_user, sign_in):
    """While the file was in the trash its folder was renamed in case (``docs`` became
    ``Docs``, and ``A.txt`` went into it). Restoring puts the file into ``/Docs`` under a
    free name; it went to ``/docs``, a folder path no entry holds, where no listing showed
    it and its name twinned ``/Docs/A.txt``."""
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"notes", name="a.txt", folder="/docs")
    docs = (await push(client, phone, None, change("mkdir", folder="/docs")))["results"][0]
    await push(client, phone, None, change("delete", fileId=file_id))
    renamed = await push(client, phone, None, change("rename", fileId=docs["fileId"], name="Docs"))
    assert renamed["results"][0]["status"] == "applied"
    await store(client, phone, b"other notes", name="A.txt", folder="/Docs")
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    restored = r.json()["data"]["file"]
    assert (restored["folder"], restored["name"]) == ("/Docs", "a (restored).txt")
    r = await client.get(f"{API}/files", params={"folder": "/docs"}, headers=phone.auth)
    assert sorted(f["name"] for f in r.json()["data"]["files"]) == ["A.txt", "a (restored).txt"]
    got = await client.get(f"{API}/files/{file_id}/content", headers=phone.auth)
    assert got.content == b"notes"


async def test_trash_restore_when_a_file_took_its_folders_name(client, make_user, sign_in):
    """``a.txt`` was deleted, then its folder ``/docs/2024``, and a file took the name
    ``Docs`` meanwhile. Restoring puts it into ``/docs (restored)/2024`` (as a taken name
    does for the entry itself): it answered 409 and could not be restored at all."""
    await make_user()
    phone = await sign_in()
    notes = await store(client, phone, b"notes", name="a.txt", folder="/docs/2024")
    todo = await store(client, phone, b"todo", name="b.txt", folder="/docs/2024")
    docs = (await push(client, phone, None, change("mkdir", folder="/docs")))["results"][0]
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, token, change("delete", fileId=notes))
    await push(client, phone, token, change("delete", fileId=docs["fileId"]))
    in_the_way = await store(client, phone, b"a file", name="Docs", folder="/")
    for file_id in (notes, todo):  # the second goes into the folder the first one made
        r = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["file"]["folder"] == "/docs (restored)/2024"
    got = await client.get(f"{API}/files/{notes}/content", headers=phone.auth)
    assert got.content == b"notes"
    r = await client.get(f"{API}/files/{in_the_way}/content", headers=phone.auth)
    assert r.content == b"a file"


async def test_version_restore_of_a_trashed_file_is_409(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"one")
    await store(client, phone, b"two", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    old = r.json()["data"]["versions"][1]["id"]
    await push(client, phone, None, change("delete", fileId=file_id))
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    assert r.status_code == 200  # the history is still there
    r = await client.post(f"{API}/files/{file_id}/versions/{old}/restore", headers=phone.auth)
    assert r.status_code == 409


async def test_retention_purges_old_versions_and_trash(tmp_path, make_user, sign_in, client,
                                                       services):
    user_id = await make_user()
    start = float(int(clock.now()))
    clock.set_now(lambda: start)
    phone = await sign_in()
    keep = services.settings.sync.keep_versions
    file_id = await store(client, phone, b"v0", name="many.txt")
    for i in range(1, keep + 3):
        await store(client, phone, f"v{i}".encode(), name="many.txt", file_id=file_id)
    trashed = await store(client, phone, b"trash me", name="t.txt")
    await push(client, phone, None, change("delete", fileId=trashed))
    before = await used_bytes(services, user_id)
    report = await services.sync.retention.run_once()
    assert report.version_bytes == 2 * len(b"v0")  # v0 and v1 fell out of the newest keep
    assert report.trash_bytes == 0
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    assert len(r.json()["data"]["versions"]) == keep + 1  # current + keep replaced ones
    # Past the trash and version retention, everything old goes.
    later = start + 31 * 86400
    clock.set_now(lambda: later)
    report = await services.sync.retention.run_once()
    assert report.trash_bytes == len(b"trash me")
    # (The phone's access token has expired by now: ask the services directly.)
    _, history = await services.sync.versions.list(user_id, file_id)
    assert [v.is_current for v in history] == [True]
    assert await used_bytes(services, user_id) == before - report.trash_bytes \
        - report.version_bytes - 2 * len(b"v0")
    assert await services.sync.trash.list(user_id, limit=10) == []


async def test_a_trash_page_reads_only_its_own_groups(client, services, make_user, sign_in):
    """GET /trash walks the groups' roots newest first (files_trash_roots) and counts only
    the listed groups (files_trash_root); it grouped and sorted the user's whole trash for
    every page (78 ms a page with 50 000 trashed rows)."""
    await make_user()
    phone = await sign_in()
    start = float(int(clock.now()))
    a = await store(client, phone, b"aaaa", name="a.jpg", folder="/album")
    await store(client, phone, b"bb", name="b.jpg", folder="/album")
    lone = [await store(client, phone, f"lone {i}".encode(), name=f"{i}.txt", folder="/")
            for i in range(2)]
    album = (await push(client, phone, None, change("mkdir", folder="/album")))["results"][0]
    for i, file_id in enumerate([album["fileId"], *lone]):  # one after the other
        clock.set_now(lambda i=i: start + i + 1)
        await push(client, phone, None, change("delete", fileId=file_id))
    async with reads_during(services) as reads:
        r = await client.get(f"{API}/trash", params={"limit": 2}, headers=phone.auth)
    first = r.json()["data"]
    assert [i["id"] for i in first["items"]] == lone[::-1] and first["hasMore"] is True
    [listing] = [sql for sql in reads if "FROM files r" in sql]
    plan = await plan_of(services, listing)
    assert "files_trash_roots" in plan and "TEMP B-TREE" not in plan, plan
    r = await client.get(f"{API}/trash", params={"limit": 2, "offset": 2}, headers=phone.auth)
    [item] = r.json()["data"]["items"]
    assert (item["id"], item["items"], item["totalSize"]) == (album["fileId"], 3, 6)
    # A member purged on its own leaves its group's count.
    assert (await client.delete(f"{API}/trash/{a}", headers=phone.auth)).status_code == 200
    r = await client.get(f"{API}/trash", params={"offset": 2}, headers=phone.auth)
    [item] = r.json()["data"]["items"]
    assert (item["id"], item["items"], item["totalSize"]) == (album["fileId"], 2, 2)


async def test_version_retention_reads_on_from_the_last_batch(client, services, make_user,
                                                              sign_in, monkeypatch):
    """The sweep takes the files with replaced versions in id order, each batch from where
    the last one ended; it read every version of every file again for each batch."""
    monkeypatch.setattr(versions_module, "_BATCH", 2)
    await make_user()
    phone = await sign_in()
    start = float(int(clock.now()))
    clock.set_now(lambda: start)
    edited = []
    for i in range(5):
        file_id = await store(client, phone, f"old {i}".encode(), name=f"{i}.txt")
        await store(client, phone, f"new {i}".encode(), name=f"{i}.txt", file_id=file_id)
        edited.append(file_id)
    await store(client, phone, b"one version", name="once.txt")
    async with reads_during(services) as reads:
        report = await services.sync.retention.run_once(now=int((start + 31 * 86400) * 1000))
    assert report.version_bytes == sum(len(f"old {i}".encode()) for i in range(5))
    for file_id in edited:
        r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
        assert [v["isCurrent"] for v in r.json()["data"]["versions"]] == [True]
    sweeps = [sql for sql in reads if "FROM file_versions" in sql and "GROUP BY" in sql]
    assert len(sweeps) == 4, reads  # 5 files in batches of 2, then none left
    for sql in sweeps:
        plan = await plan_of(services, sql)
        assert "SCAN file_versions" not in plan, plan


async def test_trash_pages_by_cursor(client, make_user, sign_in):
    """GET /trash?cursor= goes on after the last entry of the page before: an entry
    restored meanwhile does not shift the next page, as it does an offset (which skipped
    an entry then). Without parameters: the old answer, plus nextCursor."""
    await make_user()
    phone = await sign_in()
    start = float(int(clock.now()))
    ids = [await store(client, phone, f"file {i}".encode(), name=f"{i}.txt") for i in range(5)]
    for i, file_id in enumerate(ids):
        clock.set_now(lambda i=i: start + i + 1)
        await push(client, phone, None, change("delete", fileId=file_id))
    newest = ids[::-1]

    async def trash(**params):
        r = await client.get(f"{API}/trash", params=params, headers=phone.auth)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["hasMore"] == (data["nextCursor"] is not None)
        return [i["id"] for i in data["items"]], data["nextCursor"]

    assert await trash() == (newest, None)
    first, cursor = await trash(limit=2)
    assert first == newest[:2] and cursor
    r = await client.post(f"{API}/trash/{first[0]}/restore", headers=phone.auth)
    assert r.status_code == 200
    second, cursor = await trash(limit=2, cursor=cursor)
    assert second == newest[2:4]  # offset=2 now starts at newest[3]
    assert await trash(limit=2, cursor=cursor) == ([newest[4]], None)
    for bad in ({"cursor": "nope"}, {"cursor": cursor, "offset": 2}):
        r = await client.get(f"{API}/trash", params=bad, headers=phone.auth)
        assert r.status_code == 400 and r.json()["error"]["code"] == "VALIDATION_ERROR", r.text


async def test_trash_restore_never_makes_a_path_the_api_refuses(client, make_user, sign_in):
    """A taken name restores as ``name (restored)``: 11 bytes more on a folder just under
    the 4096-byte limit (the entry itself, or a folder on the way) made folders no request
    could name again. Such a restore is INVALID_PATH now, as a mkdir or move making that
    path is, and changes nothing. A name stays within 255 bytes (its stem is shortened)."""
    await make_user()
    phone = await sign_in()
    below = "/" + "/".join(["d" * 200] * 20) + "/" + "e" * 65  # 4086 bytes
    await store(client, phone, b"deep", name="x.txt", folder="/big" + below)
    big = (await push(client, phone, None, change("mkdir", folder="/big")))["results"][0]
    notes = await store(client, phone, b"notes", name="n.txt", folder="/docs" + below)
    docs = (await push(client, phone, None, change("mkdir", folder="/docs")))["results"][0]
    long_name = "n" * 251 + ".txt"
    named = await store(client, phone, b"long name", name=long_name, folder="/")
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, token, change("delete", "a", fileId=big["fileId"]),
               change("delete", "b", fileId=notes), change("delete", "c", fileId=docs["fileId"]),
               change("delete", "d", fileId=named))
    for name in ("big", "docs", long_name):  # names taken meanwhile
        await store(client, phone, b"in the way", name=name, folder="/")
    before = await pull(client, phone)
    for file_id in (big["fileId"], notes):
        r = await client.post(f"{API}/trash/{file_id}/restore", headers=phone.auth)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "INVALID_PATH"
    assert not (await pull(client, phone, before["nextSyncToken"]))["hasChanges"]
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert {i["id"] for i in r.json()["data"]["items"]} == {big["fileId"], notes,
                                                            docs["fileId"], named}
    r = await client.post(f"{API}/trash/{named}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    restored = r.json()["data"]["file"]["name"]
    assert restored.endswith(" (restored).txt") and len(restored.encode()) == 255


async def test_a_folder_on_the_way_with_a_dot_in_its_name_gets_the_suffix_at_the_end(
        client, make_user, sign_in):
    """A folder's name has no extension: ``trip.2024``, whose name a file took, comes back
    on the way to a restored file as ``trip.2024 (restored)`` (was ``trip (restored).2024``)."""
    await make_user()
    phone = await sign_in()
    notes = await store(client, phone, b"notes", name="a.txt", folder="/trip.2024")
    trip = (await push(client, phone, None, change("mkdir", folder="/trip.2024")))["results"][0]
    await push(client, phone, None, change("delete", fileId=notes))
    await push(client, phone, None, change("delete", fileId=trip["fileId"]))
    await store(client, phone, b"a file", name="trip.2024", folder="/")
    r = await client.post(f"{API}/trash/{notes}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["folder"] == "/trip.2024 (restored)"


async def test_a_restored_folder_with_a_dot_in_its_name_gets_the_suffix_at_the_end(
        client, make_user, sign_in):
    """A trashed folder ``v1.0`` whose name a file took comes back as ``v1.0 (restored)``
    (was ``v1 (restored).0``), and so does a folder merged into a live one beside a file
    of its name."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"notes", name="a.txt", folder="/v1.0")
    await store(client, phone, b"old", name="b.txt", folder="/docs/v2.0")
    root = {e["name"]: e["id"] for e in (await client.get(
        f"{API}/files", headers=phone.auth)).json()["data"]["files"]}
    docs = {e["name"]: e["id"] for e in (await client.get(
        f"{API}/files", params={"folder": "/docs"}, headers=phone.auth)).json()["data"]["files"]}
    await push(client, phone, None, change("delete", fileId=root["v1.0"]))
    await push(client, phone, None, change("delete", fileId=root["docs"]))
    await store(client, phone, b"a file", name="v1.0", folder="/")
    await store(client, phone, b"a file", name="v2.0", folder="/docs")
    r = await client.post(f"{API}/trash/{root['v1.0']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["path"] == "/v1.0 (restored)"
    r = await client.post(f"{API}/trash/{root['docs']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/files", params={"folder": "/docs"}, headers=phone.auth)
    assert sorted(e["name"] for e in r.json()["data"]["files"]) == ["v2.0", "v2.0 (restored)"]
    assert docs["v2.0"] in [e["id"] for e in r.json()["data"]["files"]]


async def test_a_folder_whose_name_a_file_took_merges_into_the_one_its_restored_file_made(
        client, make_user, sign_in):
    """``/trip`` went to the trash with two files and a file took its name. Restoring one
    file makes ``/trip (restored)`` for it; restoring the folder then merges into that
    folder (README: a folder whose place holds a folder again that restoring one of its
    files made), rather than coming back as ``/trip (restored 2)`` with the other file,
    the two halves apart."""
    await make_user()
    phone = await sign_in()
    first = await store(client, phone, b"first", name="a.txt", folder="/trip")
    second = await store(client, phone, b"second", name="b.txt", folder="/trip")
    trip = {e["name"]: e["id"] for e in (await client.get(
        f"{API}/files", headers=phone.auth)).json()["data"]["files"]}["trip"]
    await push(client, phone, None, change("delete", fileId=trip))
    await store(client, phone, b"a file", name="trip", folder="/")
    r = await client.post(f"{API}/trash/{first}/restore", headers=phone.auth)
    assert r.json()["data"]["file"]["path"] == "/trip (restored)/a.txt"
    r = await client.post(f"{API}/trash/{trip}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert r.json()["data"]["file"]["path"] == "/trip (restored)"
    r = await client.get(f"{API}/files", headers=phone.auth)
    assert sorted(e["name"] for e in r.json()["data"]["files"]) == ["trip", "trip (restored)"]
    r = await client.get(f"{API}/files", params={"folder": "/trip (restored)"}, headers=phone.auth)
    assert [e["id"] for e in r.json()["data"]["files"]] == [first, second]
    assert (await client.get(f"{API}/trash", headers=phone.auth)).json()["data"]["items"] == []


async def test_a_folder_has_no_versions_to_list_or_restore_alike(client, make_user, sign_in):
    """A folder has no version history: listing it is the same 404 as restoring a version
    of it (a version id of one of its files, or of nothing), not a 400 beside a 404."""
    await make_user()
    phone = await sign_in()
    file_id = await store(client, phone, b"one", name="v.txt", folder="/docs")
    await store(client, phone, b"two", name="v.txt", folder="/docs", file_id=file_id)
    r = await client.get(f"{API}/files/{file_id}/versions", headers=phone.auth)
    old = r.json()["data"]["versions"][1]["id"]
    [docs] = [e for e in (await pull(client, phone))["changes"]["created"]
              if e["name"] == "docs"]
    for method, url in (("GET", f"/files/{docs['id']}/versions"),
                        ("POST", f"/files/{docs['id']}/versions/{old}/restore")):
        r = await client.request(method, f"{API}{url}", headers=phone.auth)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["code"] == "NOT_FOUND"
