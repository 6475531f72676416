"""A real `homesync serve` through its life: one server per data dir, a graceful stop
with work in flight, a start after `kill -9`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV as DEVICE_ENV
from tests.e2e.devices import ParkedPolls, content, put, start_with_accounts
from tests.e2e.devices import sign_in as dev_sign_in
from tests.e2e.test_upload_e2e import ENV, sign_in
from tests.helpers import API, ServerProcess
from tests.sync.helpers import pull
from tests.uploads.flow import complete, file_entry, init, path_of, put_chunks

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def second_serve(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    """Another `homesync serve` on the same data dir (on any free port: 0); it must not
    stay up."""
    return subprocess.run(
        [sys.executable, "-m", "homesync", "serve", "--data-dir", str(server.data_dir),
         "--port", "0"],
        capture_output=True, text=True, env=server.env, timeout=30)


def test_a_second_server_on_the_same_data_dir_refuses_and_the_first_keeps_serving(
        server: ServerProcess) -> None:
    server.start()
    with httpx.Client(base_url=server.base, timeout=10) as http:
        auth = sign_in(server, http)
        second = second_serve(server)
        assert second.returncode == 4, second.stdout + second.stderr
        assert f"pid {server.proc.pid}" in second.stderr  # type: ignore[union-attr]
        assert "already running" in second.stderr
        assert http.get(f"{API}/devices", headers=auth).status_code == 200
    # The kernel drops the lock with the process: a killed server is no obstacle.
    server.kill9()
    server.start()
    assert httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200


async def test_sigterm_answers_a_parked_poll_at_once_lets_a_chunk_finish_and_closes_the_db(
        make_server: MakeServer) -> None:
    server = make_server(DEVICE_ENV, metrics=True)
    parked_polls = ParkedPolls(server)
    start_with_accounts(server)
    tmp = server.data_dir / "tmp"
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        dev = await dev_sign_in(http, "alice@example.com", "phone")
        await put(http, dev, b"first", "a.txt")
        token = (await pull(http, dev))["nextSyncToken"]
        poll = asyncio.create_task(http.get(f"{API}/sync/status", headers=dev.auth,
                                            params={"syncToken": token, "wait": 300}))
        await parked_polls.reach(http)
        data = os.urandom(64 * 1024)
        r = await init(http, dev.auth, file_entry(data, name="clip.mp4"), chunk_size=32 * 1024)
        item = r.json()["data"]["files"][0]
        rest = asyncio.Event()
        chunk = await _stalled_first_chunk(http, item, data[:32 * 1024], tmp, rest)

        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        # The poll answers now, as a wait that ran out would, not after the 30 s grace.
        answer = await asyncio.wait_for(poll, 10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["hasChanges"] is False
        rest.set()  # the chunk in flight may finish, and is stored whole
        assert (await chunk).status_code == 200
        assert await asyncio.to_thread(server.proc.wait, 20) == 0
        # Closed, not killed: SQLite removes the WAL when the last connection closes.
        assert not (server.data_dir / "homesync.sqlite3-wal").exists()
        assert list(tmp.iterdir()) == []

        server.start()
        assert (await http.get("/readyz")).status_code == 200
        state = (await http.get(f"{API}/upload/{item['uploadId']}", headers=dev.auth)).json()
        assert state["data"]["completedChunks"] == [0]
        await put_chunks(http, item, data, only=[1])
        done = await complete(http, dev.auth, item["uploadId"], data)
        assert done.status_code == 200, done.text
        assert await content(http, dev, done.json()["data"]["fileId"]) == data


async def test_a_second_ctrl_c_while_requests_drain_cuts_them_off_and_exits_130(
        make_server: MakeServer) -> None:
    """uvicorn's "Waiting for connections to close. (CTRL+C to force quit)": the second
    Ctrl-C ends the wait for a slow chunk, which is answered 503, and the server exits as
    README's table says (130), having closed the database; not 0, as a clean stop would."""
    server = make_server(DEVICE_ENV)
    start_with_accounts(server)
    tmp = server.data_dir / "tmp"
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        dev = await dev_sign_in(http, "alice@example.com", "phone")
        data = os.urandom(64 * 1024)
        r = await init(http, dev.auth, file_entry(data, name="clip.mp4"), chunk_size=64 * 1024)
        item = r.json()["data"]["files"][0]
        never = asyncio.Event()  # a phone that stalls mid-chunk
        chunk = await _stalled_first_chunk(http, item, data, tmp, never)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGINT)
        while b"Waiting for connections to close" not in server.log_path.read_bytes():
            assert server.proc.poll() is None  # the server says so: nothing to await
            await asyncio.sleep(0.01)
        server.proc.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(server.proc.wait, 20) == 130
        never.set()  # the rest of the body meets a closed connection, or the answer
        with contextlib.suppress(httpx.TransportError):
            await chunk
    assert re.search(r"PUT /api/mobile/upload/chunk/\S+ 503 ", server.log_path.read_text())
    assert not (server.data_dir / "homesync.sqlite3-wal").exists()  # closed, not abandoned
    assert list(tmp.iterdir()) == []


async def test_a_hangup_stops_the_server_as_gracefully_as_sigterm(
        make_server: MakeServer) -> None:
    """The terminal `homesync serve` runs in closes (an ssh session ends): SIGHUP killed
    the process where it stood, a parked poll's connection reset, the database left open."""
    server = make_server(DEVICE_ENV, metrics=True)
    parked_polls = ParkedPolls(server)
    start_with_accounts(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        dev = await dev_sign_in(http, "alice@example.com", "phone")
        token = (await pull(http, dev))["nextSyncToken"]
        poll = asyncio.create_task(http.get(f"{API}/sync/status", headers=dev.auth,
                                            params={"syncToken": token, "wait": 300}))
        await parked_polls.reach(http)
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        answer = await asyncio.wait_for(poll, 10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["hasChanges"] is False
        assert await asyncio.to_thread(server.proc.wait, 20) == 0
    assert not (server.data_dir / "homesync.sqlite3-wal").exists()  # closed, not killed


def test_a_server_started_with_hangups_ignored_keeps_ignoring_them(
        server: ServerProcess) -> None:
    """`nohup homesync serve &`: the hangup it was started to outlive must not stop it."""
    server.program = ("nohup", *server.program)
    server.start()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    with httpx.Client(base_url=server.base, timeout=10) as http:
        auth = sign_in(server, http)  # requests after the hangup: it is still serving
        assert http.get(f"{API}/devices", headers=auth).status_code == 200
    assert server.proc.poll() is None


def test_restore_force_refuses_the_data_dir_of_a_running_server(
        server: ServerProcess, tmp_path: Path) -> None:
    server.start()
    dest = tmp_path / "backup"
    with httpx.Client(base_url=server.base, timeout=10) as http:
        auth = sign_in(server, http)
        made = server.cli("backup", "create", str(dest))
        assert made.returncode == 0, made.stdout + made.stderr
        before = sorted(p.name for p in server.data_dir.iterdir())
        restored = server.cli("backup", "restore", str(dest), "--force")
        assert restored.returncode == 4, restored.stdout + restored.stderr
        assert "server is running" in restored.stdout + restored.stderr
        # Nothing moved from under the server: it keeps serving the same database.
        assert sorted(p.name for p in server.data_dir.iterdir()) == before
        assert http.get(f"{API}/devices", headers=auth).status_code == 200
    server.stop()
    restored = server.cli("backup", "restore", str(dest), "--force")
    assert restored.returncode == 0, restored.stdout + restored.stderr


async def _stalled_first_chunk(http: httpx.AsyncClient, item: dict[str, Any], chunk: bytes,
                               tmp: Path, go_on: asyncio.Event) -> asyncio.Task[httpx.Response]:
    """The PUT of ``item``'s first chunk (``chunk``, its bytes): 16 KiB sent, the rest
    held until ``go_on`` is set. Returns once the server is writing it (its temp file)."""

    async def body() -> AsyncIterator[bytes]:
        yield chunk[:16 * 1024]
        await go_on.wait()
        yield chunk[16 * 1024:]

    put = asyncio.create_task(http.put(path_of(item["chunks"][0]["uploadUrl"]), content=body()))
    while not os.listdir(tmp):  # the server is writing the chunk: it is in flight
        assert not put.done(), put.result().text
        await asyncio.sleep(0.01)
    return put
