"""GET /readyz answers anyone: ready or not, and which check failed; the rest goes to the log."""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from homesync.api import health
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.uploads.flow import file_entry, init, path_of, put_chunks

SECRET = "/srv/private/homesync"  # a path the log may show and the answer must not


async def test_ready_says_only_that(client: Any) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"success": True, "data": {"status": "ready"}}  # no pid


async def test_a_failing_database_is_named_and_its_error_is_only_logged(
        client: Any, services: Services, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    async def broken() -> NoReturn:
        raise sqlite3.OperationalError(f"unable to open database file {SECRET}/homesync.sqlite3")

    monkeypatch.setattr(services.db, "ping", broken)
    with caplog.at_level(logging.WARNING, logger="homesync.api.health"):
        r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"success": False, "error": {
        "code": "UNAVAILABLE", "message": "Not ready: the database does not answer",
        "details": {"failed": ["database"]}}}
    assert SECRET in caplog.text


async def test_an_unwritable_data_dir_is_named_without_its_path(
        client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:  # tests run as root: chmod would not do
        raise PermissionError(13, "Permission denied", f"{SECRET}/.readyz-x")

    monkeypatch.setattr(health.tempfile, "NamedTemporaryFile", refuse)
    with caplog.at_level(logging.WARNING, logger="homesync.api.health"):
        r = await client.get("/readyz")
    assert r.status_code == 503
    error = r.json()["error"]
    assert error["details"] == {"failed": ["dataDir"]}
    assert error["message"] == "Not ready: the data dir is not writable"
    assert SECRET not in r.text and "Permission denied" not in r.text
    assert SECRET in caplog.text


async def test_a_failing_check_is_logged_when_it_starts_and_stops_failing(
        client: Any, services: Services, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A monitor probing every few seconds must not fill the log while the check fails."""
    real_ping = services.db.ping

    async def broken() -> NoReturn:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(services.db, "ping", broken)
    with caplog.at_level(logging.INFO, logger="homesync.api.health"):
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 503
        monkeypatch.setattr(services.db, "ping", real_ping)
        for _ in range(2):
            assert (await client.get("/readyz")).status_code == 200
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "not ready: the database does not answer: disk I/O error"),
        ("INFO", "ready again: the database check passes"),
    ]


@contextmanager
def mounted_read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a directory) behind a read-only bind mount of itself: what a
    read-only volume or a filesystem remounted read-only after disk errors looks like.
    Needs mount rights (the test is skipped without them). chmod would prove nothing
    here: the tests run as root, which writes whatever the mode bits say."""
    done = subprocess.run(["mount", "--bind", str(path), str(path)], capture_output=True,
                          text=True)
    if done.returncode:
        pytest.skip(f"cannot bind-mount here: {done.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(path), str(path)], check=True,
                       capture_output=True)
        yield
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.mark.parametrize(("relpath", "check", "message"), [
    ("homesync.sqlite3", "databaseFile", "the database file is not writable"),
    ("chunks", "chunksDir", "the chunks dir is not writable"),
    ("tmp", "tmpDir", "the tmp dir is not writable"),
])
async def test_a_read_only_database_or_chunk_dir_is_named_as_not_ready(
        client: Any, services: Services, caplog: pytest.LogCaptureFixture,
        relpath: str, check: str, message: str) -> None:
    """The data dir's root stays writable: only the named part is read-only. (The kernel
    refuses to make a mount read-only while the server holds the database open for
    writing, so this mounts over its path: it shows that /readyz asks the kernel about the
    real paths, which is what a restart, or a forced read-only remount, meets.)"""
    path = services.settings.data_path / relpath
    with caplog.at_level(logging.WARNING, logger="homesync.api.health"), \
            mounted_read_only(path):
        r = await client.get("/readyz")
    assert r.status_code == 503, r.text
    assert r.json()["error"] == {"code": "UNAVAILABLE", "message": f"Not ready: {message}",
                                 "details": {"failed": [check]}}
    assert str(path) not in r.text
    assert str(path) in caplog.text
    assert (await client.get("/readyz")).status_code == 200  # writable again: ready


@contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``path`` refuses every write, root's too (``chattr +i``): what a directory another
    user owns is to the server's user. Skipped where the filesystem has no such flag."""
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot make a directory immutable here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


async def test_a_chunks_subdirectory_that_refused_a_chunk_is_named_until_writable_again(
        client: Any, services: Services, make_user: MakeUser, sign_in: SignIn,
        caplog: pytest.LogCaptureFixture) -> None:
    """chunks/ab/cd are too many to probe, so a refused chunk write is remembered: the
    check fails while the directory it was refused in is still not writable."""
    await make_user()
    dev = await sign_in()
    data = b"a chunk for a directory nobody may write" * 10
    digest = hashlib.sha256(data).hexdigest()
    subdir = services.settings.data_path / "chunks" / digest[:2] / digest[2:4]
    subdir.mkdir(parents=True)
    r = await init(client, dev.auth, file_entry(data))
    item = r.json()["data"]["files"][0]
    with caplog.at_level(logging.WARNING, logger="homesync.api.health"), immutable(subdir):
        r = await client.put(path_of(item["chunks"][0]["uploadUrl"]), content=data)
        assert r.status_code == 503, r.text
        r = await client.get("/readyz")
        assert r.status_code == 503, r.text
        assert r.json()["error"] == {
            "code": "UNAVAILABLE", "message": "Not ready: a directory under chunks is not writable",
            "details": {"failed": ["chunkWrites"]}}
        assert str(subdir) not in r.text
        assert str(subdir) in caplog.text
    assert (await client.get("/readyz")).status_code == 200  # writable again: ready
    await put_chunks(client, item, data)
    assert (subdir / digest).read_bytes() == data


async def test_a_tmp_dir_deleted_by_hand_is_no_reason_to_be_not_ready(
        client: Any, services: Services, make_user: MakeUser, sign_in: SignIn,
        caplog: pytest.LogCaptureFixture) -> None:
    """The server makes tmp/ again when a chunk comes: a monitor that took it out of
    service for a missing tmp/ would keep away the very chunk that puts it right."""
    await make_user()
    dev = await sign_in()
    tmp = services.settings.data_path / "tmp"
    tmp.rmdir()
    with caplog.at_level(logging.WARNING, logger="homesync.api.health"):
        r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert caplog.records == []
    data = b"a chunk after tmp/ went"
    r = await init(client, dev.auth, file_entry(data))
    await put_chunks(client, r.json()["data"]["files"][0], data)


async def test_head_asks_what_get_asks_without_the_body(
        client: Any, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """RFC 9110: a server answers HEAD wherever it answers GET; uptime monitors that ask
    with HEAD (UptimeRobot's default) were told 405, a server that is down."""
    for path in ("/healthz", "/readyz"):
        r = await client.head(path)
        assert (r.status_code, r.content) == (200, b""), path

    async def broken() -> NoReturn:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(services.db, "ping", broken)
    r = await client.head("/readyz")
    assert (r.status_code, r.content) == (503, b"")
    assert (await client.head("/healthz")).status_code == 200


async def test_a_data_dir_whose_disk_is_gone_gets_no_tmp_dir(
        client: Any, services: Services) -> None:
    """The disk unmounted, its empty mount point left: not ready, and nothing is made
    there (a tmp/ in the mount point would hide under the disk mounted again)."""
    data = services.settings.data_path
    for part in ("chunks", "tmp"):
        shutil.rmtree(data / part)
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert {"chunksDir", "tmpDir"} <= set(r.json()["error"]["details"]["failed"])
    assert not (data / "tmp").exists()


async def test_a_monitor_probing_a_server_not_ready_adds_no_line_per_probe(
        client: Any, services: Services, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Why it is not ready is logged once (above); the access line of every failing
    probe (a 503, so written by default) filled the log all the same."""
    async def broken() -> NoReturn:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(services.db, "ping", broken)
    with caplog.at_level(logging.INFO):
        for _ in range(5):
            assert (await client.get("/readyz")).status_code == 503
            assert (await client.head("/readyz")).status_code == 503
    assert [(r.name, r.getMessage()) for r in caplog.records
            if r.name.startswith("homesync")] == [
        ("homesync.api.health", "not ready: the database does not answer: disk I/O error")]
