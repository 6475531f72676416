"""Same-named shared items as a property: two owners both called "Alice" share items whose
names differ only by case or by a " (n)" (the names the recipient's numbering makes), then
rename, trash, restore and move them (into one another's shared folders and out) at random. After every step, over HTTP, Bob's delta sync
(on his previous state) shows every shared entry where a full sync from scratch does: the
share feed brings every item whose " (2)" place moved, however it got there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import PASSWORD, Device, examples
from tests.server_on_loop import ServerOnLoop
from tests.uploads.flow import upload

# Names that collide with each other once numbered, and a few that never do.
NAMES = ["a.txt", "A.TXT", "a (2).txt", "A (2) (2).TXT", "a (3).txt", "a (x).txt", "a",
         "A (2)", ".a", ".a (2)", "b.txt"]


class World(ServerOnLoop):
    def __init__(self, root: Path) -> None:
        super().__init__(root, storage={"disk_reserve": "0"},
                         auth={"api_requests_per_second": 0, "api_request_burst": 0})
        self.examples = 0

    async def user(self, email: str, name: str) -> Device:
        await self.svc.accounts.create_user(email, PASSWORD, name=name)
        return await self.sign_in(email, f"{email}-phone")


async def synced(w: World, bob: Device, entries: dict[str, str], token: str | None) -> str:
    """Bring ``entries`` (id → path) up to date with Bob's sync from ``token``."""
    while True:
        params: dict[str, Any] = {"limit": 3}
        if token:
            params["syncToken"] = token
        r = await w.call("GET", "/sync/status", bob, params=params)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        for e in data["changes"]["created"] + data["changes"]["updated"]:
            entries[e["id"]] = e["folder"].rstrip("/") + "/" + e["name"]
        for e in data["changes"]["deleted"]:
            entries.pop(e["id"], None)
        token = data["nextSyncToken"]
        if not data["hasMore"]:
            return str(token)


async def _scenario(w: World, items: list[tuple[int, bool]],
                    ops: list[tuple[str, int, int]]) -> None:
    n = w.examples
    owners = [await w.user(f"alice{n}-{i}@example.com", "Alice") for i in range(2)]
    bob = await w.user(f"bob{n}@example.com", "Bob")
    made: list[tuple[Device, str, bool]] = []
    for i, (name, is_folder) in enumerate(items):
        owner = owners[i % 2]
        folder = f"/f{i}"
        if is_folder:  # a folder with a file in it: its whole subtree moves with it
            await upload(w.http, owner.auth, os.urandom(8), name="in.txt",
                         folder=f"{folder}/{NAMES[name]}")
            r = await w.call("GET", "/files", owner, params={"folder": folder})
            file_id = r.json()["data"]["files"][0]["id"]
        else:
            file_id = (await upload(w.http, owner.auth, os.urandom(8), name=NAMES[name],
                                    folder=folder))["fileId"]
        r = await w.call("POST", "/shares", owner, json={
            "fileId": file_id, "email": bob.email, "permission": "read"})
        assert r.status_code == 201, r.text
        made.append((owner, file_id, is_folder))
    seen: dict[str, str] = {}
    token = await synced(w, bob, seen, None)
    for what, i, name in ops:
        owner, file_id, _ = made[i % len(made)]
        if what == "move":  # into another shared folder of its owner's, or back home
            into, into_id, is_folder = made[name % len(made)]
            folder = f"/f{i % len(made)}"
            if is_folder and into is owner and into_id != file_id:
                r = await w.call("GET", f"/files/{into_id}", owner)
                if r.status_code == 200:  # not in the trash
                    at = r.json()["data"]
                    folder = at["folder"].rstrip("/") + "/" + at["name"]
            r = await w.call("POST", "/sync/files", owner, json={"localChanges": [
                {"action": "move", "localId": "m", "fileId": file_id, "folder": folder}]})
        elif what == "rename":
            r = await w.call("POST", "/sync/files", owner, json={"localChanges": [
                {"action": "rename", "localId": "r", "fileId": file_id, "name": NAMES[name]}]})
        elif what == "trash":
            r = await w.call("POST", "/sync/files", owner, json={"localChanges": [
                {"action": "delete", "localId": "d", "fileId": file_id}]})
        else:
            r = await w.call("POST", f"/trash/{file_id}/restore", owner)
        assert r.status_code < 500, r.text
        token = await synced(w, bob, seen, token)
        fresh: dict[str, str] = {}
        await synced(w, bob, fresh, None)
        assert seen == fresh, (what, i, name)


@pytest.fixture
def world() -> Iterator[World]:
    with World.in_temp_dir() as w:
        yield w


names = st.integers(0, len(NAMES) - 1)


@settings(max_examples=examples(20), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(items=st.lists(st.tuples(names, st.booleans()), min_size=2, max_size=6),
       ops=st.lists(st.tuples(st.sampled_from(["rename", "trash", "restore", "move"]),
                              st.integers(0, 5), names), min_size=1, max_size=8))
def test_a_delta_places_same_named_items_as_a_full_sync(
    world: World, items: list[tuple[int, bool]], ops: list[tuple[str, int, int]],
) -> None:
    world.examples += 1
    world.run(_scenario(world, items, ops))
