"""Storage that cannot be written (D6, I2): a clear 503 or 507 in the envelope, never a
bare 500; nothing is recorded, reads keep answering, and writes work again once the
storage does. (A real full disk under a real server: tests/e2e/test_disk_full_e2e.py.)"""

from __future__ import annotations

import shutil
import sqlite3
import time
from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.uploads.flow import file_entry, init, upload


async def test_a_database_that_refuses_writes_gives_503_changes_nothing_and_reads_go_on(
        client: AsyncTestClient[Any], services: Services, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    dev = await sign_in()
    writer = services.db._writer  # what a read-only file or mount does to every write
    await writer.execute("PRAGMA query_only = ON")
    try:
        r = await init(client, dev.auth, file_entry(b"x" * 100))
        assert r.status_code == 503, r.text
        assert r.json() == {"success": False, "error": {
            "code": "UNAVAILABLE", "message": "The server cannot write to its storage",
            "details": {}}}
        # Every request notes when its device was last active (once a minute), and a sync
        # call when it last synced: those writes are skipped, not fatal.
        later = time.time() + 120
        clock.set_now(lambda: later)
        assert (await client.get(f"{API}/files", headers=dev.auth)).status_code == 200
        r = await client.get(f"{API}/sync/status", headers=dev.auth)
        assert r.status_code == 200, r.text
    finally:
        await writer.execute("PRAGMA query_only = OFF")
    row = await services.db.fetchone("SELECT count(*) FROM uploads")
    assert row is not None and row[0] == 0
    r = await init(client, dev.auth, file_entry(b"x" * 100))
    assert r.status_code == 200, r.text


async def test_uploads_and_gc_go_on_after_someone_removes_tmp_under_a_running_server(
        client: AsyncTestClient[Any], services: Services, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    dev = await sign_in()
    # "Temp files": an admin cleaning up removes the whole directory, not just its files.
    shutil.rmtree(services.settings.data_path / "tmp")
    data = b"after the clean-up" * 300
    done = await upload(client, dev.auth, data, name="note.txt")
    r = await client.get(f"{API}/files/{done['fileId']}/content", headers=dev.auth)
    assert r.content == data
    shutil.rmtree(services.settings.data_path / "tmp")
    report = await services.gc.collect()
    assert report.removed_temp == 0


async def test_a_database_locked_by_another_process_for_too_long_gives_503(
        client: AsyncTestClient[Any], services: Services, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    dev = await sign_in()
    # What a long `homesync gc` or `user remove` beside the server does: hold the write
    # lock past the server's busy timeout (5 s).
    other = sqlite3.connect(services.settings.db_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        r = await init(client, dev.auth, file_entry(b"x" * 100))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "UNAVAILABLE"
    assert r.headers["retry-after"] == "5"
    r = await init(client, dev.auth, file_entry(b"x" * 100))
    assert r.status_code == 200, r.text
