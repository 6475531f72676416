"""D10 for the biggest single change a phone makes: `kill -9` while a folder of 3,000
files moves. After each restart SQLite's checks pass and the folder is wholly at its old
place or wholly at its new one (never split), and an acknowledged move is there."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, put, sign_in, start_with_accounts, top_folder_id
from tests.helpers import API
from tests.uploads.flow import checksum

pytestmark = pytest.mark.e2e

FILES = 3000


def places(db_path: object) -> dict[str, int]:
    """Where big's live files are (``/`` or ``/archive``), after SQLite's own checks."""
    db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        rows = db.execute("SELECT substr(folder, 1, instr(substr(folder, 2), '/')), count(*)"
                          " FROM files WHERE kind = 'file' AND deleted_at IS NULL"
                          " AND folder LIKE '%/big/%' GROUP BY 1").fetchall()
        # The first path component: "/big" when big sits at the top, else where it went.
        return {"/" if top == "/big" else top: n for top, n in rows}
    finally:
        db.close()


async def test_kill_9_during_a_move_of_thousands_of_files_leaves_it_whole(
        make_server: MakeServer) -> None:
    server = make_server(ENV)
    start_with_accounts(server)
    rng = random.Random()
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        dev = await sign_in(http, "alice@example.com", "phone")
        content = b"the same photo" * 100
        await put(http, dev, content, "seed.jpg", folder="/seed")  # then no bytes are sent
        changes = [{"action": "upload", "localId": f"l{i}", "name": f"IMG_{i:05}.jpg",
                    "folder": f"/big/{i % 7}", "size": len(content),
                    "checksum": checksum(content), "lastModified": "2026-01-01T00:00:00Z"}
                   for i in range(FILES)]
        token = None
        for start in range(0, len(changes), 1000):
            r = await http.post(f"{API}/sync/files", headers=dev.auth, json={
                "syncToken": token, "localChanges": changes[start:start + 1000]})
            assert r.status_code == 200, r.text
            token = r.json()["data"]["nextSyncToken"]
        big = await top_folder_id(http, dev, "big")

        async def move(to: str) -> httpx.Response:
            return await http.post(f"{API}/sync/files", headers=dev.auth, json={
                "syncToken": None, "localChanges": [
                    {"action": "move", "localId": to, "fileId": big, "folder": to,
                     "name": "big"}]})

        r = await http.post(f"{API}/sync/files", headers=dev.auth, json={
            "syncToken": None, "localChanges": [{"action": "mkdir", "localId": "m",
                                                 "folder": "/archive"}]})
        assert r.status_code == 200, r.text
        started = time.monotonic()
        assert (await move("/archive")).status_code == 200
        took = time.monotonic() - started
        where = "/archive"
        for _ in range(4):
            to = "/" if where == "/archive" else "/archive"
            request = asyncio.create_task(move(to))
            await asyncio.sleep(rng.uniform(0, took))
            server.kill9()
            acked = False
            try:
                acked = (await request).status_code == 200
            except httpx.TransportError:
                pass
            found = places(server.data_dir / "homesync.sqlite3")
            assert list(found.values()) == [FILES], found  # all in one place
            top = next(iter(found))
            assert top in (where, to) and (top == to or not acked), (found, where, to, acked)
            server.start()
            r = await move(to)  # the phone sends its move again
            assert r.status_code == 200, r.text
            assert r.json()["data"]["results"][0]["status"] == "applied"
            where = to
            assert places(server.data_dir / "homesync.sqlite3") == {where: FILES}
