"""Sharing as a property: Alice changes her tree and her shares with Bob at random, Bob
(read or write) changes what she shared, both sync, and after every step, over HTTP:

- Bob's sync (a delta on his previous state, and a full one from scratch), GET /files/{id}
  of every id he ever saw, GET /shares and GET /shares/{id}/files show exactly Alice's
  live entries that his live shares cover, where README "Sharing" puts them (and the
  content matches their checksum); every other id is 404 for him, content included;
- Bob's writes land in Alice's tree when a write share allows them, and are 403 and
  change nothing when only a read share shows the entry; Bob stores nothing himself;
- Carol, whom nobody shares with, gets 404 for every id and every share;
- nothing answers 5xx.

The expected view is computed here from Alice's tree and her live shares, independently
of homesync.services.sharing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import (
    PASSWORD,
    Device,
    examples,
)
from tests.server_on_loop import ServerOnLoop
from tests.shares.share_model import Expected, Root, expected_view
from tests.sync.conftest import SMALL_CHUNKS
from tests.uploads.flow import complete, file_entry, init, put_chunks

FOLDERS = ["p", "q", "r"]
FILES = ["a.txt", "b.txt", "c", "A (2).txt"]
BOBS = "/Shared with me/Alice"
Tree = dict[str, tuple[str, str, str, str | None]]  # id → (kind, folder, name, checksum)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


class World(ServerOnLoop):
    """One server for every example (each has its own Alice, Bob and Carol)."""

    def __init__(self, root: Path) -> None:
        super().__init__(
            root, uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
            # Each step makes dozens of calls from one device: no per-device rate limit.
            auth={"api_requests_per_second": 0, "api_request_burst": 0})
        self.examples = 0

    async def user(self, email: str, name: str) -> Device:
        await self.svc.accounts.create_user(email, PASSWORD, name=name)
        return await self.sign_in(email, f"{email}-phone")

    async def tree(self, user_id: str) -> Tree:
        rows = await self.svc.db.fetchall(
            "SELECT id, kind, folder, name, checksum FROM files WHERE user_id = ?"
            " AND deleted_at IS NULL", (user_id,))
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    async def trashed(self, user_id: str) -> list[str]:
        rows = await self.svc.db.fetchall(
            "SELECT id FROM files WHERE user_id = ? AND deleted_at IS NOT NULL"
            " AND purged_at IS NULL ORDER BY id", (user_id,))
        return [r[0] for r in rows]

    async def usage(self, user_id: str) -> int:
        row = await self.svc.db.fetchone("SELECT used_bytes FROM users WHERE id = ?", (user_id,))
        assert row is not None
        return int(row[0])


class Replica:
    """A device's synced view: id → (kind, path, checksum)."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, str, str | None]] = {}
        self.token: str | None = None

    async def sync(self, w: World, dev: Device, limit: int = 4) -> None:
        while True:
            params: dict[str, Any] = {"limit": limit}
            if self.token:
                params["syncToken"] = self.token
            r = await w.call("GET", "/sync/status", dev, params=params)
            assert r.status_code == 200, r.text
            data = r.json()["data"]
            if data.get("reset"):
                self.entries.clear()
            for e in data["changes"]["created"] + data["changes"]["updated"]:
                self.entries[e["id"]] = (e["type"], join(e["folder"], e["name"]), e["checksum"])
            for e in data["changes"]["deleted"]:
                self.entries.pop(e["id"], None)
            self.token = data["nextSyncToken"]
            if not data["hasMore"]:
                return


class Scenario:
    def __init__(self, w: World, n: int) -> None:
        self.w = w
        self.n = n
        self.roots: dict[str, Root] = {}  # share id → the live share with Bob
        self.ever: set[str] = set()  # every id anyone saw
        self.bob_view = Replica()

    async def setup(self) -> None:
        w, n = self.w, self.n
        self.alice = await w.user(f"alice{n}@example.com", "Alice")
        self.bob = await w.user(f"bob{n}@example.com", "Bob")
        self.carol = await w.user(f"carol{n}@example.com", "Carol")

    # -- Alice ---------------------------------------------------------------------------

    async def token(self, dev: Device) -> str:
        r = await self.w.call("GET", "/sync/status", dev, params={"limit": 1000})
        return str(r.json()["data"]["nextSyncToken"])

    async def push(self, dev: Device, change: dict[str, Any]) -> dict[str, Any]:
        body = {"syncToken": await self.token(dev), "localChanges": [change]}
        r = await self.w.call("POST", "/sync/files", dev, json=body)
        assert r.status_code == 200, r.text
        [result] = r.json()["data"]["results"]
        return dict(result)

    async def upload(self, dev: Device, data: bytes, folder: str, name: str,
                     file_id: str | None = None) -> tuple[int, dict[str, Any] | None]:
        """init → chunks → complete; (init status code, the entry or None)."""
        extra: dict[str, Any] = {"fileId": file_id} if file_id else {}
        r = await init(self.w.http, dev.auth,
                       file_entry(data, name=name, folder=folder, restore=True, **extra))
        assert r.status_code < 500, r.text
        if r.status_code != 200:
            return r.status_code, None
        item = r.json()["data"]["files"][0]
        if "uploadId" in item:  # not deduplicated, nor refused
            await put_chunks(self.w.http, item, data)
            done = await complete(self.w.http, dev.auth, item["uploadId"], data)
            assert done.status_code == 200, done.text
            self.ever.add(done.json()["data"]["fileId"])
        return 200, item

    async def alice_tree(self) -> Tree:
        tree = await self.w.tree(self.alice.user_id)
        self.ever.update(tree)
        return tree

    def pick(self, tree: Tree, i: int, kind: str | None = None) -> str | None:
        # By path, not by (random) id: the same draw picks the same entry every run.
        ids = sorted((join(v[1], v[2]), k) for k, v in tree.items() if kind is None or v[0] == kind)
        return ids[i % len(ids)][1] if ids else None

    def folder_of(self, tree: Tree, i: int) -> str:
        folders = ["/"] + sorted(join(v[1], v[2]) for v in tree.values() if v[0] == "folder")
        return folders[i % len(folders)]

    async def step(self, op: tuple[Any, ...]) -> None:
        kind, a, b = op[0], op[1], op[2]
        tree = await self.alice_tree()
        if kind == "mkdir":
            await self.push(self.alice, {"action": "mkdir", "localId": "m",
                                         "folder": self.folder_of(tree, a),
                                         "name": FOLDERS[b % len(FOLDERS)]})
        elif kind == "upload":
            data = f"alice {b}".encode()
            await self.upload(self.alice, data, self.folder_of(tree, a), FILES[b % len(FILES)])
        elif kind == "version" and (f := self.pick(tree, a, "file")):
            _, folder, name, _ = tree[f]
            await self.upload(self.alice, f"alice v{b}".encode(), folder, name, f)
        elif kind == "move" and (f := self.pick(tree, a)):
            await self.push(self.alice, {"action": "move", "localId": "v", "fileId": f,
                                         "folder": self.folder_of(tree, b)})
        elif kind == "rename" and (f := self.pick(tree, a)):
            names = FOLDERS if tree[f][0] == "folder" else FILES
            await self.push(self.alice, {"action": "rename", "localId": "r", "fileId": f,
                                         "name": names[b % len(names)]})
        elif kind == "delete" and (f := self.pick(tree, a)):
            await self.push(self.alice, {"action": "delete", "localId": "d", "fileId": f})
        elif kind == "restore":
            trashed = await self.w.trashed(self.alice.user_id)
            if trashed:
                await self.w.call("POST", f"/trash/{trashed[a % len(trashed)]}/restore",
                                  self.alice)
        elif kind == "share" and (f := self.pick(tree, a)):
            await self.share(f, "write" if b % 2 else "read")
        elif kind == "unshare" and self.roots:
            share_id = sorted(self.roots)[a % len(self.roots)]
            who = self.bob if b % 2 else self.alice  # Bob leaves, or Alice revokes
            r = await self.w.call("DELETE", f"/shares/{share_id}", who)
            if who is self.bob and self.roots[share_id].file_id not in tree:
                # Its item is in Alice's trash: nothing of the share shows to Bob, not
                # even to leave it (cd630bd); a restore brings it back.
                assert r.status_code == 404, r.text
            else:
                assert r.status_code == 200, r.text
                del self.roots[share_id]
        elif kind == "bob":
            await self.bob_writes(op[1:])
        elif kind == "sync":
            await self.bob_view.sync(self.w, self.bob)
        await self.check()

    async def share(self, file_id: str, permission: str) -> None:
        r = await self.w.call("POST", "/shares", self.alice, json={
            "fileId": file_id, "email": self.bob.email, "permission": permission})
        assert r.status_code in (200, 201), r.text
        made = r.json()["data"]["share"]
        old = self.roots.get(made["id"])
        assert (old is not None) == (r.status_code == 200)
        self.roots[made["id"]] = Root(share_id=made["id"], file_id=file_id,
                                      permission=permission, order=(0, ""))

    # -- Bob -----------------------------------------------------------------------------

    async def bob_writes(self, args: tuple[Any, ...]) -> None:
        what, a, b = args
        before = await self.alice_tree()
        view = await self.expected(before)
        bob_ids = sorted(view.entries, key=lambda k: view.entries[k][1])
        if not bob_ids:
            return
        target = bob_ids[a % len(bob_ids)]
        kind, path, _ = view.entries[target]
        if what == "upload":
            folder = path if kind == "folder" else path.rsplit("/", 1)[0] or "/"
            data = f"bob {b}".encode()
            name = f"bob{b % 3}.txt"
            status, item = await self.upload(self.bob, data, folder, name)
            self.check_refusal(status, item, view.writable_folder(folder), before)
            self.check_no_leak(item, view, join(folder, name), data)
        elif what == "version" and kind == "file":
            data = f"bob v{b}".encode()
            status, item = await self.upload(self.bob, data, path.rsplit("/", 1)[0] or "/",
                                             path.rsplit("/", 1)[1], target)
            self.check_refusal(status, item, view.writable_content(target), before)
            self.check_no_leak(item, view, path, data)
        elif what in ("rename", "delete", "mkdir"):
            if what == "rename":
                change = {"action": "rename", "localId": "r", "fileId": target,
                          "name": f"bob{b % 3}" + (".txt" if kind == "file" else "")}
                allowed = view.inside_write(target)
            elif what == "delete":
                change = {"action": "delete", "localId": "d", "fileId": target}
                allowed = view.inside_write(target)
            else:
                if kind != "folder":
                    return
                change = {"action": "mkdir", "localId": "m", "folder": path, "name": f"bd{b % 2}"}
                allowed = view.writable_folder(path)
            result = await self.push(self.bob, change)
            if result["status"] == "rejected":
                code = result["error"]["code"]
                assert code != "NOT_FOUND", (change, result)
                if code == "FORBIDDEN":
                    assert not allowed, (change, result)
                    assert await self.w.tree(self.alice.user_id) == before
            else:
                assert allowed, (change, result, view)
        assert await self.w.tree(self.bob.user_id) == {}, "Bob stored something himself"
        assert await self.w.usage(self.bob.user_id) == 0

    def check_refusal(self, status: int, item: dict[str, Any] | None, allowed: bool,
                      before: Tree) -> None:
        assert status in (200, 403), status
        assert (status == 200) == allowed, (status, item, allowed)

    @staticmethod
    def check_no_leak(item: dict[str, Any] | None, view: Expected, path: str,
                      data: bytes) -> None:
        """Nothing of Alice's is told: "deduplicated" only for the very entry Bob sees at
        that place with that content (README: never for what else she stores)."""
        if item is None:
            return
        assert item["status"] != "deleted_on_server", item
        if item["status"] == "deduplicated":
            assert (path, digest(data)) in {(p, c) for _, p, c in view.entries.values()}, item

    # -- invariants ----------------------------------------------------------------------

    async def expected(self, tree: Tree) -> Expected:
        r = await self.w.call("GET", "/shares", self.alice)
        created = {s["id"]: (s["createdAt"], s["id"]) for s in r.json()["data"]["shared"]}
        assert set(created) == set(self.roots)
        roots = [Root(share_id=s.share_id, file_id=s.file_id, permission=s.permission,
                      order=created[s.share_id]) for s in self.roots.values()]
        return expected_view(tree, roots, BOBS)

    async def check(self) -> None:
        w, bob = self.w, self.bob
        view = await self.expected(await self.alice_tree())
        # Sync: the delta on what Bob had, and a full sync from scratch.
        await self.bob_view.sync(w, bob)
        assert self.bob_view.entries == view.entries
        fresh = Replica()
        await fresh.sync(w, bob, limit=3)
        assert fresh.entries == view.entries
        self.ever.update(self.bob_view.entries)
        # GET /shares: each live share where Bob sees its item.
        r = await w.call("GET", "/shares", bob)
        listed = {s["id"]: s["path"] for s in r.json()["data"]["sharedWithMe"]}
        assert listed == view.share_paths
        # GET /shares/{id}/files: a shared folder's contents, relative to it.
        for share_id, root_path in view.folder_shares.items():
            assert await self.listing(share_id) == view.listing(root_path)
        # GET /files/{id} (and content) for every id ever seen.
        for file_id in sorted(self.ever):
            r = await w.call("GET", f"/files/{file_id}", bob)
            content = await w.call("GET", f"/files/{file_id}/content", bob)
            if file_id in view.entries:
                kind, path, checksum = view.entries[file_id]
                assert r.status_code == 200, r.text
                info = r.json()["data"]
                assert join(info["folder"], info["name"]) == path
                if kind == "file":
                    assert content.status_code == 200
                    assert digest(content.content) == checksum
            else:
                assert (r.status_code, content.status_code) == (404, 404), (file_id, r.text)
            for who in (self.carol,):
                assert (await w.call("GET", f"/files/{file_id}", who)).status_code == 404
        for share_id in self.roots:
            r = await w.call("GET", f"/shares/{share_id}/files", self.carol)
            assert r.status_code == 404

    async def listing(self, share_id: str) -> dict[str, str | None]:
        """path → checksum of everything in the shared folder, walked with its listings."""
        found: dict[str, str | None] = {}
        todo = ["/"]
        while todo:
            folder = todo.pop()
            r = await self.w.call("GET", f"/shares/{share_id}/files", self.bob,
                                  params={"folder": folder})
            assert r.status_code == 200, r.text
            for e in r.json()["data"]["files"]:
                found[e["path"]] = e.get("checksum")
                if e["type"] == "folder":
                    todo.append(e["path"])
        return found


@pytest.fixture
def world() -> Iterator[World]:
    with World.in_temp_dir() as w:
        yield w


small = st.integers(0, 7)
operations = st.lists(st.one_of(
    st.tuples(st.sampled_from(["mkdir", "upload", "version", "move", "rename", "delete",
                               "restore", "share", "unshare", "sync"]), small, small),
    st.tuples(st.just("bob"), st.sampled_from(["upload", "version", "rename", "delete",
                                                "mkdir"]), small, small),
), min_size=1, max_size=20)


@settings(max_examples=examples(15), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=operations)
def test_bob_sees_exactly_what_alice_shares(world: World, ops: list[tuple[Any, ...]]) -> None:
    world.examples += 1
    world.run(_scenario(world, ops))


async def _scenario(world: World, ops: list[tuple[Any, ...]]) -> None:
    s = Scenario(world, world.examples)
    await s.setup()
    # A starting tree: /p (with a.txt) and /q, nothing shared yet.
    for op in (("mkdir", 0, 0), ("mkdir", 0, 1), ("upload", 1, 0)):
        await s.step(op)
    for op in ops:
        await s.step(op)
