"""A folder of many files is deleted, moved, restored and purged with a few statements.

A transaction's statements run on the event loop's thread (store/connections.py), so one
statement per file held up every request of the server: deleting a folder of 5 000 photos
took over a second. The count of statements must not grow with the folder.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from homesync.services.container import Services
from tests.helpers import API, Device
from tests.sync.helpers import Replica, change, checksum, pull, push, store


class _Statements:
    """Counts the statements sent to the writer connection (executemany counts once)."""

    def __init__(self, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        writer = services.db._writer
        for method in ("execute", "executemany", "execute_fetchall"):
            monkeypatch.setattr(writer, method, self._counting(getattr(writer, method)))

    def _counting(self, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return real(*args, **kwargs)
        return call

    async def during(self, action: Awaitable[Any]) -> int:
        before = self.count
        await action
        return self.count - before


async def _folder_of(client: Any, phone: Device, folder: str, n: int) -> str:
    """``folder`` with ``n`` files (of content the user stores: no uploads); its id."""
    made = await push(client, phone, None, change("mkdir", folder=folder), *[
        change("upload", f"u{i}", folder=f"{folder}/sub", name=f"IMG_{i}.jpg",
               size=len(b"photo"), checksum=checksum(b"photo")) for i in range(n)])
    assert {r["status"] for r in made["results"][1:]} == {"deduplicated"}
    return str(made["results"][0]["fileId"])


async def _ok(request: Awaitable[Any]) -> None:
    r = await request
    assert r.status_code == 200, r.text


async def test_statements_do_not_grow_with_the_folder(client, services, monkeypatch,
                                                      make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"photo", name="seed.jpg", folder="/")
    small, big = await _folder_of(client, phone, "/small", 2), \
        await _folder_of(client, phone, "/big", 60)
    replica = Replica()
    await replica.sync(client, phone)
    statements = _Statements(services, monkeypatch)
    counts: dict[str, list[int]] = {}

    async def step(name: str, action: Awaitable[Any]) -> None:
        counts.setdefault(name, []).append(await statements.during(action))

    for folder_id, path, n in ((small, "/small", 2), (big, "/big", 60)):
        token = replica.token
        await step("rename", push(client, phone, token,
                                  change("rename", fileId=folder_id, name=path[1:] + "2")))
        await step("delete", push(client, phone, token, change("delete", fileId=folder_id)))
        await step("restore", _ok(client.post(f"{API}/trash/{folder_id}/restore",
                                              headers=phone.auth)))
        # The devices saw every file go along, and come back.
        await replica.sync(client, phone)
        assert sorted(p for p in replica.paths() if p.startswith(f"{path}2/sub/")) == sorted(
            f"{path}2/sub/IMG_{i}.jpg" for i in range(n))
        await step("delete again", push(client, phone, replica.token,
                                        change("delete", fileId=folder_id)))
        await step("purge", _ok(client.delete(f"{API}/trash/{folder_id}", headers=phone.auth)))
        await replica.sync(client, phone)
        assert not [p for p in replica.paths() if p.startswith(path)]
    for name, (for_2, for_60) in counts.items():
        assert for_60 == for_2, (name, counts)
    r = await client.get(f"{API}/trash", headers=phone.auth)
    assert r.json()["data"]["items"] == []


async def test_a_trash_group_is_read_by_its_own_index(client, services, make_user, sign_in):
    """Restoring or purging a folder reads its group's rows, not every row in the user's
    trash: by ``files_trash_root``, where the planner took ``files_trash`` (45 ms a group
    with 50 000 files in the trash; the hourly purge does 200 groups in one transaction)."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"photo", name="seed.jpg", folder="/")
    folders = [await _folder_of(client, phone, f"/album{i}", 2) for i in range(2)]
    token = (await pull(client, phone))["nextSyncToken"]
    await push(client, phone, token, *[change("delete", f"d{i}", fileId=folder_id)
                                       for i, folder_id in enumerate(folders)])
    traced: list[str] = []
    await services.db._writer.set_trace_callback(traced.append)
    await _ok(client.post(f"{API}/trash/{folders[0]}/restore", headers=phone.auth))
    await _ok(client.delete(f"{API}/trash/{folders[1]}", headers=phone.auth))
    await services.db._writer.set_trace_callback(None)
    reads = [sql for sql in traced if sql.startswith("SELECT") and "trash_root =" in sql]
    assert len(reads) == 2, traced
    for sql in reads:
        plan = " ".join(row[3] for row in await services.db.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
        assert "files_trash_root" in plan, plan


async def test_statements_over_a_subtree_run_off_the_event_loop(client, services, monkeypatch,
                                                               make_user, sign_in):
    """Delete, restore, move and purge of a folder change its subtree with statements run
    on the writer's thread, where SQLite lets the loop go on serving other requests:
    inline, a folder of 20 000 photos held every request for seconds (bench/folder_ops.py)."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"photo", name="seed.jpg", folder="/")
    folder_id = await _folder_of(client, phone, "/album", 3)
    writer = services.db._writer
    ran: list[tuple[bool, str]] = []  # (inline, SQL) of each statement
    real = writer._execute

    async def recording(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if args and isinstance(args[0], str):
            ran.append((writer.inline, args[0]))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(writer, "_execute", recording)

    async def off_the_loop(action: Awaitable[Any]) -> list[str]:
        ran.clear()
        await action
        return [sql for inline, sql in ran if not inline]

    token = (await pull(client, phone))["nextSyncToken"]
    threaded = await off_the_loop(push(client, phone, token, change("delete", fileId=folder_id)))
    for what in ("SELECT", "INSERT INTO journal", "UPDATE files SET deleted_at",
                 "INSERT INTO tombstones"):
        assert any(sql.startswith(what) for sql in threaded), (what, ran)
    threaded = await off_the_loop(_ok(client.post(f"{API}/trash/{folder_id}/restore",
                                                  headers=phone.auth)))
    for what in ("INSERT INTO journal", "UPDATE files SET deleted_at = NULL"):
        assert any(sql.startswith(what) for sql in threaded), (what, ran)
    threaded = await off_the_loop(push(client, phone, token,
                                       change("move", fileId=folder_id, folder="/elsewhere")))
    for what in ("INSERT INTO journal", "UPDATE files SET folder"):
        assert any(sql.startswith(what) for sql in threaded), (what, ran)
    await push(client, phone, token, change("delete", fileId=folder_id))
    threaded = await off_the_loop(_ok(client.delete(f"{API}/trash/{folder_id}",
                                                    headers=phone.auth)))
    for what in ("DELETE FROM file_versions", "UPDATE files SET purged_at"):
        assert any(sql.startswith(what) for sql in threaded), (what, ran)


async def test_a_folders_journal_entries_name_each_entry_shallowest_first(client, services,
                                                                          make_user, sign_in):
    """What devices learn of a folder moved, deleted and restored: one entry per member,
    the folder first, then what is below it shallowest first (by folder, then name), each
    row's seq its own entry's; a move's entries say where each one was; of two files of
    one content deleted together, the tombstone names the later one."""
    await make_user()
    phone = await sign_in()
    await store(client, phone, b"photo", name="seed.jpg", folder="/")
    made = await push(client, phone, None, change("mkdir", folder="/album"), *[
        change("upload", f"u{i}", folder=folder, name=name, size=len(b"photo"),
               checksum=checksum(b"photo"))
        for i, (folder, name) in enumerate([
            ("/album/b/c", "z.jpg"), ("/album", "b.jpg"), ("/album/a", "y.jpg"),
            ("/album/b", "A.jpg"), ("/album/a b", "x.jpg"), ("/album", "a.jpg")])])
    folder_id = made["results"][0]["fileId"]
    user_id = (await services.db.fetchone("SELECT user_id FROM files WHERE id = ?",
                                          (folder_id,)))[0]
    paths = ["/album", "/album/a", "/album/a b", "/album/a.jpg", "/album/b", "/album/b.jpg",
             "/album/a/y.jpg", "/album/b/A.jpg", "/album/b/c", "/album/a b/x.jpg",
             "/album/b/c/z.jpg"]  # shallowest first: by folder's length, folder, name

    async def entries_since(seq: int) -> list[tuple[str, str, str | None]]:
        rows = await services.db.fetchall(
            "SELECT j.seq, j.action, j.from_path, f.folder, f.name, f.seq AS row_seq,"
            " f.moved_seq FROM journal j JOIN files f ON f.id = j.file_id"
            " WHERE j.seq > ? ORDER BY j.seq", (seq,))
        for r in rows:
            assert r["row_seq"] == r["seq"]
            if r["action"] in ("move", "rename"):
                assert r["moved_seq"] == r["seq"]
        return [(r["action"], f"{r['folder'].rstrip('/')}/{r['name']}", r["from_path"])
                for r in rows]

    async def head() -> int:
        return int((await services.db.fetchone("SELECT max(seq) FROM journal"))[0])

    token = (await pull(client, phone))["nextSyncToken"]
    before = await head()
    await push(client, phone, token, change("move", fileId=folder_id, folder="/elsewhere"))
    assert await entries_since(before) == [
        ("mkdir", "/elsewhere", None),
        *[("move", "/elsewhere" + p, p) for p in paths]]
    before = await head()
    await push(client, phone, token, change("delete", fileId=folder_id))
    assert await entries_since(before) == [("delete", "/elsewhere" + p, None) for p in paths]
    tombstone = await services.db.fetchone(
        "SELECT f.folder, f.name FROM tombstones t JOIN files f ON f.id = t.file_id"
        " WHERE t.user_id = ?", (user_id,))
    assert tuple(tombstone) == ("/elsewhere/album/b/c", "z.jpg")
    before = await head()
    await _ok(client.post(f"{API}/trash/{folder_id}/restore", headers=phone.auth))
    assert await entries_since(before) == [("restore", "/elsewhere" + p, None) for p in paths]
