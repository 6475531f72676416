"""A folder delete judged against an old sync token, and a trashed folder restored into a
live one of its name (merged): what they answer and journal, pinned on the code that
plans them entry by entry in Python."""

from __future__ import annotations

from typing import Any

from homesync.services.container import Services
from tests.helpers import API, Device
from tests.shares.test_shares_api import share
from tests.sync.helpers import change, checksum, pull, push, store


async def _mkdir(client: Any, dev: Device, folder: str) -> str:
    done = await push(client, dev, None, change("mkdir", folder=folder))
    return str(done["results"][0]["fileId"])


async def _head(services: Services) -> int:
    return int((await services.db.fetchone("SELECT max(seq) FROM journal"))[0])


async def _journal_since(services: Services, seq: int) -> list[tuple[str, str, str | None, bool]]:
    """(action, path now, from_path, whether the row's moved_seq is this entry) of each
    entry after ``seq``, in order; every row's seq is its last entry's."""
    rows = await services.db.fetchall(
        "SELECT j.seq, j.action, j.from_path, f.folder, f.name, f.seq AS row_seq,"
        " f.moved_seq, j.device_id IS NOT NULL AS by_device FROM journal j"
        " JOIN files f ON f.id = j.file_id WHERE j.seq > ? ORDER BY j.seq", (seq,))
    last = {}
    for r in rows:
        last[(r["folder"], r["name"])] = r
    for r in last.values():
        assert r["row_seq"] == r["seq"], dict(r)
    return [(r["action"], f"{r['folder'].rstrip('/')}/{r['name']}", r["from_path"],
             r["moved_seq"] == r["seq"]) for r in rows]


async def test_a_delete_with_an_old_token_conflicts_on_the_shallowest_file_changed(
        client, services, make_user, sign_in):
    """With a token from before other devices' changes, the delete is a conflict naming
    the shallowest file below the folder whose content another device changed, or that
    it moved in; the device's own moves, and moves inside the folder, do not count."""
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    ids = {p: await store(client, phone, p.encode(), name=p.rsplit("/", 1)[1],
                          folder=p.rsplit("/", 1)[0])
           for p in ("/album/a.jpg", "/album/B.jpg", "/album/deep/er/z.jpg",
                     "/album/deep/y.jpg", "/album/sub/w.jpg", "/inbox/in.jpg",
                     "/inbox/mine.jpg")}
    album = await _mkdir(client, phone, "/album")
    stale = (await pull(client, phone))["nextSyncToken"]
    # The tablet: a new version deep down, a file moved in, files moved about inside.
    await store(client, tablet, b"v2", name="z.jpg", folder="/album/deep/er",
                file_id=ids["/album/deep/er/z.jpg"])
    await push(client, tablet, None,
               change("move", fileId=ids["/inbox/in.jpg"], folder="/album/sub"),
               change("move", "l2", fileId=ids["/album/B.jpg"], folder="/album/sub"),
               change("rename", "l3", fileId=ids["/album/deep/y.jpg"], name="Y.jpg"))
    # The phone's own move in never counts against it.
    await push(client, phone, stale, change("move", fileId=ids["/inbox/mine.jpg"],
                                            folder="/album"))
    before = await _head(services)

    out = await push(client, phone, stale, change("delete", fileId=album))
    [result] = out["results"]
    assert (result["status"], result["fileId"]) == ("conflict", album)
    [conflict] = (await pull(client, phone))["conflicts"]
    assert (conflict["type"], conflict["remote"]["fileId"], conflict["remote"]["folder"]) == (
        "delete_modify", ids["/inbox/in.jpg"], "/album/sub")
    assert await _journal_since(services, before) == []

    # Without the move in, the new version deep down is the one.
    await push(client, tablet, None, change("move", fileId=ids["/inbox/in.jpg"],
                                            folder="/inbox"))
    out = await push(client, phone, stale, change("delete", "l2", fileId=album))
    assert out["results"][0]["status"] == "conflict"
    conflicts = (await pull(client, phone))["conflicts"]
    assert [c["remote"]["fileId"] for c in conflicts if c["local"]["localId"] == "l2"] == [
        ids["/album/deep/er/z.jpg"]]


async def test_a_delete_with_an_old_token_of_only_moves_inside_journals_every_entry(
        client, services, make_user, sign_in):
    """Nothing new to the device below the folder (its own moves in, others' moves inside
    it): applied, one delete entry per member, the folder first, shallowest first."""
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    ids = {p: await store(client, phone, p.encode(), name=p.rsplit("/", 1)[1],
                          folder=p.rsplit("/", 1)[0])
           for p in ("/album/a.jpg", "/album/B.jpg", "/album/deep/er/z.jpg",
                     "/album/deep/y.jpg", "/inbox/mine.jpg")}
    album = await _mkdir(client, phone, "/album")
    stale = (await pull(client, phone))["nextSyncToken"]
    await push(client, tablet, None,
               change("move", fileId=ids["/album/B.jpg"], folder="/album/deep"),
               change("rename", "l2", fileId=ids["/album/deep/y.jpg"], name="Y.jpg"),
               change("rename", "l3", fileId=album, name="Album"))
    await push(client, phone, stale, change("move", fileId=ids["/inbox/mine.jpg"],
                                            folder="/Album/deep/er"))
    before = await _head(services)

    out = await push(client, phone, stale, change("delete", fileId=album))
    assert [(r["status"], r["fileId"]) for r in out["results"]] == [("applied", album)]
    assert await _journal_since(services, before) == [
        ("delete", p, None, False) for p in (
            "/Album", "/Album/a.jpg", "/Album/deep", "/Album/deep/B.jpg", "/Album/deep/er",
            "/Album/deep/Y.jpg", "/Album/deep/er/mine.jpg", "/Album/deep/er/z.jpg")]


async def test_a_merge_restore_answers_and_journals_each_entry_in_order(
        client, services, make_user, sign_in):
    """A trashed folder merged into the live one at its place: one restore entry per
    entry that comes back, in the order the merge walks them (names in key order, a
    merging sub-folder's entries at its place, a folder's own entries after it,
    shallowest first); names taken get " (restored)", also a name an earlier suffix
    took; a shared sub-folder, a file meeting a folder and a folder meeting a file keep
    theirs apart; what was purged stays purged; the folders merged away are closed."""
    await make_user()
    await make_user("bob@example.com", "Bob")
    phone = await sign_in()
    paths = ("/album/a.jpg", "/album/C.jpg", "/album/x", "/album/x (restored)",
             "/album/sub/c.txt", "/album/sub/d.txt", "/album/sub/deep/e.txt",
             "/album/sub/Inner/i.txt", "/album/Sub2/f.txt", "/album/Sub2/g/h.txt",
             "/album/Sub2/gone/k.txt", "/album/shared/s.txt", "/album/y.txt/t.txt",
             "/album/z.jpg")
    ids = {p: await store(client, phone, p.encode(), name=p.rsplit("/", 1)[1],
                          folder=p.rsplit("/", 1)[0]) for p in paths}
    album = await _mkdir(client, phone, "/album")
    shared = await _mkdir(client, phone, "/album/shared")
    gone = await _mkdir(client, phone, "/album/Sub2/gone")
    await share(client, phone, shared, "bob@example.com")
    await push(client, phone, None, change("delete", fileId=album))
    r = await client.delete(f"{API}/trash/{gone}", headers=phone.auth)
    assert r.status_code == 200, r.text
    # What is at the place now: a.jpg restored alone made /album again; more made there.
    r = await client.post(f"{API}/trash/{ids['/album/a.jpg']}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    live = {p: await store(client, phone, b"new " + p.encode(), name=p.rsplit("/", 1)[1],
                           folder=p.rsplit("/", 1)[0])
            for p in ("/album/x", "/album/SUB/c.txt", "/album/SUB/inner/j.txt",
                      "/album/z.jpg/q.txt", "/album/y.txt")}
    live_album = await _mkdir(client, phone, "/album")
    await _mkdir(client, phone, "/album/shared")
    before = await _head(services)

    r = await client.post(f"{API}/trash/{album}/restore", headers=phone.auth)
    assert r.status_code == 200, r.text
    answer = r.json()["data"]["file"]
    assert (answer["id"], answer["folder"], answer["name"]) == (live_album, "/", "album")
    assert await _journal_since(services, before) == [
        ("restore", "/album/C.jpg", None, False),
        ("restore", "/album/shared (restored)", None, True),
        ("restore", "/album/shared (restored)/s.txt", None, True),
        ("restore", "/album/SUB/c (restored).txt", None, True),
        ("restore", "/album/SUB/d.txt", None, True),
        ("restore", "/album/SUB/deep", None, True),
        ("restore", "/album/SUB/deep/e.txt", None, True),
        ("restore", "/album/SUB/inner/i.txt", None, True),
        ("restore", "/album/Sub2", None, False),
        ("restore", "/album/Sub2/f.txt", None, False),
        ("restore", "/album/Sub2/g", None, False),
        ("restore", "/album/Sub2/g/h.txt", None, False),
        ("restore", "/album/x (restored)", None, True),
        ("restore", "/album/x (restored) (restored)", None, True),
        ("restore", "/album/y (restored).txt", None, True),
        ("restore", "/album/y (restored).txt/t.txt", None, True),
        ("restore", "/album/z (restored).jpg", None, True),
    ]
    merged = await services.db.fetchall(
        "SELECT id FROM files WHERE purged_at IS NOT NULL AND kind = 'folder'"
        " AND deleted_at IS NOT NULL ORDER BY folder, name")
    assert {m["id"] for m in merged} >= {album}
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert r.json()["data"]["items"] == []
    assert (await services.db.fetchone(
        "SELECT purged_at IS NOT NULL FROM files WHERE id = ?",
        (ids["/album/Sub2/gone/k.txt"],)))[0] == 1
    assert set(live.values()) <= {
        e["id"] for e in (await pull(client, phone))["changes"]["created"]}
    assert checksum(b"/album/x") in {
        e["checksum"] for e in (await pull(client, phone))["changes"]["created"]}
