"""A folder delete judged against an old sync token, and a trashed folder restored into a
live one of its name (merged): what they answer and journal, pinned on the code that
planned them entry by entry in Python; and that what they send to the database, and bring
back from it, does not grow with the folder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from homesync.services.container import Services
from tests.helpers import API, Device
from tests.shares.test_shares_api import share
from tests.sync.helpers import change, checksum, pull, push, store


async def _stored(client: Any, dev: Device, *paths: str) -> dict[str, str]:
    """Each path stored as a file holding its own path; path -> file id."""
    return {p: await store(client, dev, p.encode(), name=p.rsplit("/", 1)[1],
                           folder=p.rsplit("/", 1)[0]) for p in paths}


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
    ids = await _stored(client, phone,
                        "/album/a.jpg", "/album/B.jpg", "/album/deep/er/z.jpg",
                        "/album/deep/y.jpg", "/album/sub/w.jpg", "/inbox/in.jpg",
                        "/inbox/mine.jpg")
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
    ids = await _stored(client, phone,
                        "/album/a.jpg", "/album/B.jpg", "/album/deep/er/z.jpg",
                        "/album/deep/y.jpg", "/inbox/mine.jpg")
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
    ids = await _stored(client, phone, *paths)
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
        ("restore", "/album/y.txt (restored)", None, True),  # a folder: its whole name
        ("restore", "/album/y.txt (restored)/t.txt", None, True),
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


async def _statements_and_rows(services: Services, monkeypatch: pytest.MonkeyPatch
                               ) -> Callable[[Awaitable[Any]], Awaitable[tuple[int, int]]]:
    """A measure of an action: (statements sent to the writer, rows they brought back)."""
    writer = services.db._writer
    seen = [0, 0]
    real_execute, real_fetchall = writer.execute, writer.execute_fetchall

    def execute(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        return real_execute(*args, **kwargs)

    async def execute_fetchall(*args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        rows = await real_fetchall(*args, **kwargs)
        seen[1] += len(rows)
        return rows

    monkeypatch.setattr(writer, "execute", execute)
    monkeypatch.setattr(writer, "execute_fetchall", execute_fetchall)
    monkeypatch.setattr(writer, "executemany", execute)

    async def measure(action: Awaitable[Any]) -> tuple[int, int]:
        before = list(seen)
        await action
        return seen[0] - before[0], seen[1] - before[1]

    return measure


async def _restored(client: Any, dev: Device, file_id: str) -> None:
    r = await client.post(f"{API}/trash/{file_id}/restore", headers=dev.auth)
    assert r.status_code == 200, r.text


async def _grown(client: Any, services: Services, monkeypatch: pytest.MonkeyPatch,
                 phone: Device, *, merge: bool) -> dict[int, tuple[int, int]]:
    """For folders of 2 and 40 files: (statements, rows back) of a delete with no token
    (every file below is new to it), or (``merge``) of restoring it after its place and
    its sub-folders were made again."""
    await store(client, phone, b"photo", name="seed.jpg", folder="/")  # no uploads below
    measure = await _statements_and_rows(services, monkeypatch)
    counts: dict[int, tuple[int, int]] = {}
    for n in (2, 40):
        folder = f"/album{n}"
        made = await push(client, phone, None, change("mkdir", folder=folder), *[
            change("upload", f"u{i}", folder=f"{folder}/sub{i % 2}", name=f"IMG_{i}.jpg",
                   size=len(b"photo"), checksum=checksum(b"photo")) for i in range(n)])
        assert {r["status"] for r in made["results"][1:]} == {"deduplicated"}
        folder_id = made["results"][0]["fileId"]
        deleted = await measure(push(client, phone, None, change("delete", fileId=folder_id)))
        await push(client, phone, None, change("mkdir", folder=f"{folder}/sub0"),
                   change("mkdir", "l2", folder=f"{folder}/sub1"))
        merged = await measure(_restored(client, phone, folder_id))
        counts[n] = merged if merge else deleted
    return counts


async def test_a_delete_with_an_old_token_does_not_grow_with_the_folder(
        client, services, monkeypatch, make_user, sign_in):
    """The statements sent, and the rows brought back into Python (on the event loop),
    are as many for a folder of 40 files as for one of 2 when every file below changed
    since the token: judging 20 000 photos one by one held every request."""
    await make_user()
    counts = await _grown(client, services, monkeypatch, await sign_in(), merge=False)
    assert counts[40] == counts[2], counts


async def test_a_merge_restore_does_not_grow_with_the_folder(
        client, services, monkeypatch, make_user, sign_in):
    """Restoring a folder into a live one of its name (and its sub-folders into theirs)
    sends as many statements, and brings as many rows back into Python, for 40 files as
    for 2: a statement per file held every request for seconds (bench/folder_ops.py)."""
    await make_user()
    counts = await _grown(client, services, monkeypatch, await sign_in(), merge=True)
    assert counts[40] == counts[2], counts
