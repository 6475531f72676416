"""D6 on a real disk: the data dir is a small tmpfs that fills up under a running server.

Writes that cannot fit answer ``507 DISK_FULL`` and record nothing — also when it is the
database's WAL that cannot grow, after the free-space check let the request in — while
reads keep working; once space is freed the same requests succeed, without a restart.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.devices import ENV, content, put, sign_in, start_with_accounts
from tests.helpers import API, ServerProcess
from tests.uploads.flow import complete, file_entry, init, put_chunks

pytestmark = pytest.mark.e2e


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs to be the data dir (the test is skipped where mounting is not allowed)."""
    mount = tmp_path / "data"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def db_rows(data: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(f"file:{data / 'homesync.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def free_bytes(disk: Path) -> int:
    st = os.statvfs(disk)
    return st.f_bavail * st.f_frsize


def fill(disk: Path, leave: int) -> Path:
    """Fill the disk until at most ``leave`` bytes are free (the server may write too)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        while (free := free_bytes(disk)) > leave:
            try:
                os.write(fd, b"\0" * (free - leave))
            except OSError as exc:  # the server took some of it meanwhile: look again
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_and_a_wal_that_cannot_grow_give_507_and_recover_without_restart(
        small_disk: Path) -> None:
    server = ServerProcess(small_disk, env=ENV)
    try:
        start_with_accounts(server)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            dev = await sign_in(http, "alice@example.com", "phone")
            kept = {await put(http, dev, os.urandom(20_000), f"kept{i}.bin"): b""
                    for i in range(3)}
            for file_id in kept:
                kept[file_id] = await content(http, dev, file_id)
            # An empty WAL: the next commit must grow it, and one free page is too little
            # for its header and first frame.
            db = sqlite3.connect(small_disk / "homesync.sqlite3")
            assert db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0
            db.close()
            filler = fill(small_disk, leave=4096)
            uploads_before = db_rows(small_disk, "SELECT count(*) FROM uploads")
            journal_before = db_rows(small_disk, "SELECT max(seq) FROM journal")

            small = b"a note" * 100  # passes the free-space check: only the database fails
            r = await init(http, dev.auth, file_entry(small, name="note.txt"))
            assert r.status_code == 507, r.text
            assert r.json()["error"]["code"] == "DISK_FULL"
            assert db_rows(small_disk, "SELECT count(*) FROM uploads") == uploads_before
            assert db_rows(small_disk, "SELECT max(seq) FROM journal") == journal_before
            # Reads keep working, also those that note when the device last synced.
            assert (await http.get("/readyz")).status_code == 200
            r = await http.get(f"{API}/sync/status", headers=dev.auth)
            assert r.status_code == 200, r.text
            r = await http.get(f"{API}/files", headers=dev.auth, params={"folder": "/docs"})
            assert r.status_code == 200, r.text
            assert (await http.get(f"{API}/devices", headers=dev.auth)).status_code == 200
            for file_id, data in kept.items():
                assert await content(http, dev, file_id) == data

            filler.unlink()  # space comes back: no restart needed
            r = await init(http, dev.auth, file_entry(small, name="note.txt"))
            assert r.status_code == 200, r.text
            item = r.json()["data"]["files"][0]
            await put_chunks(http, item, small)
            done = await complete(http, dev.auth, item["uploadId"], small)
            assert done.status_code == 200, done.text
            assert await content(http, dev, done.json()["data"]["fileId"]) == small
            r = await http.get(f"{API}/files/{next(iter(kept))}", headers=dev.auth)
            assert r.status_code == 200
        server.stop()
        assert db_rows(small_disk, "PRAGMA integrity_check") == [("ok",)]
        checked = server.cli("fsck")
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        server.stop()


async def test_a_start_on_a_full_disk_serves_reads_or_says_the_disk_is_full(
        small_disk: Path) -> None:
    server = ServerProcess(small_disk, env=ENV)
    try:
        start_with_accounts(server)
        async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
            dev = await sign_in(http, "alice@example.com", "phone")
            data = os.urandom(20_000)
            file_id = await put(http, dev, data, "kept.bin")

            # After a crash SQLite's files are all there: the server starts and serves
            # reads (the first request of each device notes its activity: skipped).
            server.kill9()
            (small_disk / "server.lock").unlink()  # as in a data dir older than the lock
            filler = fill(small_disk, leave=0)
            server.start()
            assert await content(http, dev, file_id) == data
            r = await http.get(f"{API}/sync/status", headers=dev.auth)
            assert r.status_code == 200, r.text
            server.stop()
            filler.unlink()

            # After a clean stop SQLite must make its shared-memory file again, which a
            # full disk refuses: the server says so and exits (it used to hang).
            server.start()
            server.stop()
            filler = fill(small_disk, leave=0)
            with pytest.raises(RuntimeError, match="server exited with 1"):
                server.start()
            log = (small_disk.parent / f"server-{server.port}.log").read_text()
            assert f"cannot open the data dir {small_disk}" in log
            assert "(the disk is full: 0 bytes free; free some space and start again)" in log

            filler.unlink()
            server.start()
            assert await content(http, dev, file_id) == data
    finally:
        server.stop()
