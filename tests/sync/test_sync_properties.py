"""D8 as properties: two devices edit, delete, rename, create and resolve in random
interleavings, and whatever happens

- every version the server ever acknowledged is still retrievable (current, in a file's
  history, in the trash, or as a conflicted copy) — retention is off here;
- independent changes (to different files) give the same final tree in any arrival order;
- a delta from any token, applied to what the server held at that token, gives the
  server's state, and so does a full listing.

The scenarios run against the real services: SQLite in a temp dir and chunk files on disk.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homesync.models import Principal
from homesync.services.auth.sessions import DeviceRegistration
from homesync.services.container import Services
from homesync.services.sync.resolutions import Resolution
from homesync.services.sync.types import Actor, LocalChange
from homesync.services.uploads.types import FileRequest, UploadOptions
from homesync.store import files as file_store
from tests.helpers import PASSWORD, examples, make_settings
from tests.sync.conftest import SMALL_CHUNKS

NAMES = ["a.txt", "b.txt", "c.txt", "A.TXT", "d.txt"]  # A.TXT collides with a.txt
Tree = dict[str, tuple[str, str, str, str | None]]  # id → (kind, folder, name, checksum)


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


class World:
    """One Services instance on its own loop; every scenario gets a fresh user."""

    _emails = itertools.count()

    def __init__(self, root: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.svc: Services = self.run(Services.open(make_settings(
            root, uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
            sync={"keep_versions": 0, "version_retention": "0d", "trash_retention": "0d"})))

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.svc.close())
        self.loop.close()

    async def user(self, devices: int = 2) -> list[Phone]:
        email = f"user{next(self._emails)}@example.com"
        await self.svc.accounts.create_user(email, PASSWORD, name="Pat Doe")
        phones = []
        for n in range(devices):
            signed = await self.svc.sessions.register(
                email, PASSWORD, DeviceRegistration(platform="android", model=f"Phone {n}",
                                                    os_version="14", app_version="1",
                                                    client_id=f"install-{n}"), "127.0.0.1")
            principal = await self.svc.sessions.principal(signed.tokens.access_token)
            phones.append(Phone(self.svc, principal))
        return phones

    async def server_tree(self, user_id: str) -> Tree:
        rows = await self.svc.db.fetchall(
            "SELECT id, kind, folder, name, checksum FROM files WHERE user_id = ?"
            " AND deleted_at IS NULL", (user_id,))
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    async def retrievable(self, user_id: str) -> set[str]:
        """Checksums whose bytes the server can still produce, read back from the chunks."""
        rows = await self.svc.db.fetchall(
            "SELECT id, checksum FROM file_versions WHERE user_id = ?", (user_id,))
        found = set()
        for version_id, checksum in rows:
            chunks = await file_store.manifest(self.svc.db.reader, version_id)
            sha, _ = await self.svc.chunks.sha256_of([h for h, _ in chunks])
            assert f"sha256:{sha}" == checksum
            found.add(checksum)
        return found


class Phone:
    """A device: what it has synced, its token, and conflicts waiting for the user."""

    def __init__(self, svc: Services, principal: Principal) -> None:
        self.svc = svc
        self.principal = principal
        self.tree: Tree = {}
        self.token: str | None = None
        self.pending: list[tuple[str, bytes]] = []  # (conflict id, the device's content)
        self.acked: set[str] = set()

    def actor(self) -> Actor:
        p = self.principal
        return Actor(user_id=p.user_id, device_id=p.device_id, device_name=p.device_name,
                     base_seq=0, now=0)

    async def sync(self, limit: int = 3) -> None:
        """Pull every page (small pages, so paging is exercised too)."""
        while True:
            status = await self.svc.sync.changes.status(self.principal, sync_token=self.token,
                                                       limit=limit)
            apply_status(self.tree, status)
            self.token = status.next_token
            if not status.has_more:
                return

    def files(self) -> list[str]:
        return sorted(i for i, e in self.tree.items() if e[0] == "file")

    async def upload(self, data: bytes, folder: str, name: str,
                     file_id: str | None = None) -> str | None:
        """upload/init → chunk → complete, as the app does after ``upload_required``."""
        p = self.principal
        init = await self.svc.uploads.init(
            user_id=p.user_id, device_id=p.device_id, options=UploadOptions(),
            requests=[FileRequest(local_id="x", name=name, folder=folder, size=len(data),
                                  checksum=digest(data), file_id=file_id, restore=True)])
        entry = init.entries[0]
        if entry.status == "deduplicated":
            self.acked.add(digest(data))
            return entry.file_id
        if entry.status != "upload":
            return None  # the name was taken meanwhile: the change stays the device's
        assert entry.upload_id is not None
        target = await self.svc.uploads.receiver.chunk_target(entry.upload_id, 0, user_id=p.user_id)
        await self.svc.uploads.receiver.receive_chunk(target, _one(data))
        done = await self.svc.uploads.complete(user_id=p.user_id, device_id=p.device_id,
                                               upload_id=entry.upload_id,
                                               checksum=digest(data), metadata={})
        self.acked.add(digest(data))
        return done.file.id

    async def change(self, change: LocalChange, content: bytes | None = None) -> str:
        [result] = (await self.svc.sync.local.apply(self.principal, self.token,
                                                    [change])).results
        if result.status == "upload_required":
            assert content is not None
            folder, name = change.folder or "/docs", change.name or "x"
            if change.file_id is not None:
                folder, name = self.tree[change.file_id][1], self.tree[change.file_id][2]
            await self.upload(content, folder, name, change.file_id)
        elif result.status == "deduplicated" and content is not None:
            self.acked.add(digest(content))
        elif result.status == "conflict":
            assert result.conflict_id is not None
            self.pending.append((result.conflict_id, content or b""))
        assert result.status != "rejected" or result.error is not None
        return result.status

    async def resolve(self, choice: str) -> None:
        conflict_id, content = self.pending.pop(0)
        item = Resolution(conflict_id=conflict_id, resolution=choice)  # type: ignore[arg-type]
        for _ in range(3):
            [result] = await self.svc.sync.resolver.resolve(self.actor(), [item])
            if result.status != "upload_required":
                break
            assert result.upload_to is not None
            target = result.upload_to
            await self.upload(content, target.folder, target.name, target.file_id)
        assert result.status == "resolved", result


def apply_status(tree: Tree, status: Any) -> None:
    if status.reset:
        tree.clear()
    for row in status.created + status.updated:
        tree[row[0]] = (row[1], row[3], row[2], row[6])
    for row in status.deleted:
        tree.pop(row[0], None)


@pytest.fixture
def world() -> Iterator[World]:
    with tempfile.TemporaryDirectory() as root:
        w = World(Path(root) / "data")
        try:
            yield w
        finally:
            w.close()


devices = st.integers(0, 1)
steps = st.lists(st.one_of(
    st.tuples(st.just("edit"), devices, st.integers(0, 9), st.integers(0, 30)),
    st.tuples(st.just("delete"), devices, st.integers(0, 9)),
    st.tuples(st.just("rename"), devices, st.integers(0, 9), st.sampled_from(NAMES)),
    st.tuples(st.just("create"), devices, st.sampled_from(NAMES), st.integers(0, 30)),
    st.tuples(st.just("sync"), devices),
    st.tuples(st.just("resolve"), devices,
              st.sampled_from(["keep_local", "keep_remote", "keep_both"])),
), min_size=1, max_size=25)

PROPERTY_SETTINGS = settings(max_examples=examples(40), deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(steps=steps, final=st.sampled_from(["keep_local", "keep_remote", "keep_both"]))
def test_nothing_acknowledged_is_ever_lost_and_deltas_replay(world: World, steps, final):
    world.run(_interleaving(world, steps, final))


async def _interleaving(world: World, steps: list[tuple[Any, ...]], final: str) -> None:
    phones = await world.user()
    first = phones[0]
    for i, name in enumerate(NAMES[:3]):
        await first.upload(f"initial {i}".encode(), "/docs", name)
    for phone in phones:
        await phone.sync()
    user_id = first.principal.user_id
    checkpoints: list[tuple[str, Tree]] = []
    for step in steps:
        phone = phones[step[1]]
        known = phone.files()
        if step[0] == "edit" and known:
            file_id = known[step[2] % len(known)]
            data = f"edit {step[3]} by {step[1]}".encode()
            _, folder, name, _ = phone.tree[file_id]
            await phone.change(LocalChange(action="upload", local_id="e", file_id=file_id,
                                           folder=folder, name=name, size=len(data),
                                           checksum=digest(data)), data)
        elif step[0] == "delete" and known:
            await phone.change(LocalChange(action="delete", local_id="d",
                                           file_id=known[step[2] % len(known)]))
        elif step[0] == "rename" and known:
            await phone.change(LocalChange(action="rename", local_id="r",
                                           file_id=known[step[2] % len(known)], name=step[3]))
        elif step[0] == "create":
            data = f"new {step[3]} by {step[1]}".encode()
            await phone.change(LocalChange(action="upload", local_id="c", folder="/docs",
                                           name=step[2], size=len(data),
                                           checksum=digest(data)), data)
        elif step[0] == "sync":
            await phone.sync()
            checkpoints.append((phone.token or "", dict(await world.server_tree(user_id))))
        elif step[0] == "resolve" and phone.pending:
            await phone.resolve(step[2])
        # Nothing the server acknowledged has gone, whatever just happened.
        acked = set().union(*(p.acked for p in phones))
        assert acked <= await world.retrievable(user_id)
    for phone in phones:
        while phone.pending:
            await phone.resolve(final)
    acked = set().union(*(p.acked for p in phones))
    assert acked <= await world.retrievable(user_id)
    # Every device converges on the server's state, from wherever it was...
    server = await world.server_tree(user_id)
    for phone in phones:
        await phone.sync()
        assert phone.tree == server
    # ...and so does any earlier token applied to the state at that token.
    for token, snapshot in checkpoints:
        replay = Phone(world.svc, first.principal)
        replay.tree, replay.token = dict(snapshot), token
        await replay.sync(limit=2)
        assert replay.tree == server
    fresh = Phone(world.svc, first.principal)
    await fresh.sync(limit=4)
    assert fresh.tree == server
    assert not await world.svc.sync.conflicts.open_for(user_id)


independent = st.lists(st.one_of(
    st.tuples(st.just("edit"), devices, st.integers(0, 99)),
    st.tuples(st.just("delete"), devices),
    st.tuples(st.just("rename"), devices),
), min_size=2, max_size=6)


@PROPERTY_SETTINGS
@given(changes=independent, order=st.randoms(use_true_random=False))
def test_independent_changes_commute(world: World, changes, order):
    """Each change touches its own file; two arrival orders give the same tree."""
    arrival = list(range(len(changes)))
    order.shuffle(arrival)
    first = world.run(_apply_in_order(world, changes, list(range(len(changes)))))
    second = world.run(_apply_in_order(world, changes, arrival))
    assert first == second


async def _apply_in_order(world: World, changes: list[tuple[Any, ...]],
                          arrival: list[int]) -> dict[int, tuple[str, str | None] | None]:
    phones = await world.user()
    ids = [await phones[0].upload(f"file {i}".encode(), "/docs", f"f{i}.txt")
           for i in range(len(changes))]
    for phone in phones:
        await phone.sync()  # both devices saw the same state, then went offline
    for i in arrival:
        kind, dev = changes[i][0], changes[i][1]
        file_id = ids[i]
        assert file_id is not None
        phone = phones[dev]
        if kind == "edit":
            data = f"edit {changes[i][2]} of {i}".encode()
            status = await phone.change(LocalChange(
                action="upload", local_id=str(i), file_id=file_id, folder="/docs",
                name=f"f{i}.txt", size=len(data), checksum=digest(data)), data)
        elif kind == "delete":
            status = await phone.change(LocalChange(action="delete", local_id=str(i),
                                                    file_id=file_id))
        else:
            status = await phone.change(LocalChange(action="rename", local_id=str(i),
                                                    file_id=file_id, name=f"renamed {i}.txt"))
        assert status in ("applied", "deduplicated", "upload_required"), status
    tree = await world.server_tree(phones[0].principal.user_id)
    return {i: (tree[f][2], tree[f][3]) if f in tree else None for i, f in enumerate(ids)
            if f is not None}
