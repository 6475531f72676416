"""A download from a real `homesync serve` while its file is purged and `homesync gc` runs
in a process of its own.

The client reads the first MiB, then stops reading: the server can only be as far ahead
as the socket buffers let it (a few MiB of a 24 MiB file), so most chunks are not opened
yet when gc runs. With the default grace, gc must leave them (they were let go a moment
ago, however old they are) and the download completes byte-identical; with
``--grace 0s`` they go, and the download must fail visibly (fewer bytes than its
Content-Length), never end as if whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.helpers import API, PASSWORD, ServerProcess, device_info

pytestmark = pytest.mark.e2e

ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    "HOMESYNC_STORAGE_DISK_RESERVE": "0",
}
CHUNK = 256 * 1024  # the smallest chunk the default config allows
CHUNKS = 96  # 24 MiB: far more than the socket buffers hold
DAY_MS = 86400 * 1000


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def store(server: ServerProcess, http: httpx.Client, data: bytes) -> tuple[str, str]:
    """(access token, file id) of ``data`` uploaded as a month-old file: its chunks' rows
    and files are dated back 30 days, far past gc's grace (48 h) by age."""
    added = server.cli("user", "add", "alice@example.com", "--password-stdin",
                       input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    r = http.post(f"{API}/auth/register", json={"email": "alice@example.com",
                                                "password": PASSWORD, "deviceInfo": device_info()})
    assert r.status_code == 201, r.text
    token = r.json()["tokens"]["accessToken"]
    auth = {"Authorization": f"Bearer {token}"}
    r = http.post(f"{API}/upload/init", headers=auth, json={
        "files": [{"localId": "l1", "name": "VID_0001.mp4", "folder": "/camera",
                   "size": len(data), "mimeType": "video/mp4", "checksum": sha(data)}],
        "uploadOptions": {"chunkSize": CHUNK}})
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    for chunk in item["chunks"]:
        r = http.put(chunk["uploadUrl"], content=data[chunk["start"]:chunk["end"] + 1])
        assert r.status_code == 200, r.text
    r = http.post(f"{API}/upload/complete", headers=auth,
                  json={"uploadId": item["uploadId"], "checksum": sha(data)})
    assert r.status_code == 200, r.text
    db = sqlite3.connect(server.data_dir / "homesync.sqlite3")
    with db:
        db.execute("UPDATE chunks SET created_at = created_at - ?", (30 * DAY_MS,))
    db.close()
    month_ago = time.time() - 30 * 86400
    for path in (server.data_dir / "chunks").rglob("*"):
        if path.is_file():
            os.utime(path, (month_ago, month_ago))
    return token, r.json()["data"]["fileId"]


class SlowReader:
    """A GET of the content over a raw socket with a small receive buffer."""

    def __init__(self, server: ServerProcess, token: str, file_id: str) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.sendall(f"GET {API}/files/{file_id}/content HTTP/1.1\r\nHost: e2e\r\n"
                          f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            piece = self.sock.recv(4096)
            assert piece, head
            head += piece
        head, _, self.body = head.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 200 OK", lines
        headers = dict(line.split(": ", 1) for line in lines[1:])
        self.length = int(headers["content-length"])

    def read(self, upto: int | None = None) -> bytes:
        """Read on until ``upto`` bytes of body (None: until the server closes)."""
        while upto is None or len(self.body) < upto:
            piece = self.sock.recv(256 * 1024)
            if not piece:
                break
            self.body += piece
        return self.body

    def close(self) -> None:
        self.sock.close()


def purge(http: httpx.Client, token: str, file_id: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    r = http.post(f"{API}/sync/files", headers=auth, json={
        "localChanges": [{"action": "delete", "localId": "l1", "fileId": file_id}]})
    assert r.status_code == 200, r.text
    r = http.delete(f"{API}/trash/{file_id}", headers=auth)
    assert r.status_code == 200, r.text


def gc(server: ServerProcess, *args: str) -> int:
    done = server.cli("gc", "--json", *args)
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["removedChunks"])


def server_log(server: ServerProcess) -> str:
    return Path(server.data_dir.parent / f"server-{server.port}.log").read_text()


def test_a_download_finishes_when_its_file_is_purged_and_gc_runs_beside_it(server):
    server.start()
    data = os.urandom(CHUNKS * CHUNK)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        token, file_id = store(server, http, data)
        download = SlowReader(server, token, file_id)
        try:
            assert download.length == len(data)
            download.read(1024 * 1024)
            purge(http, token, file_id)
            assert gc(server) == 0  # let go just now: the grace counts from here
            assert download.read() == data
        finally:
            download.close()
        assert gc(server, "--grace", "0s") == CHUNKS  # garbage all the same


def test_gc_without_grace_fails_a_running_download_visibly(server):
    server.start()
    data = os.urandom(CHUNKS * CHUNK)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        token, file_id = store(server, http, data)
        download = SlowReader(server, token, file_id)
        try:
            download.read(1024 * 1024)
            purge(http, token, file_id)
            assert gc(server, "--grace", "0s") == CHUNKS
            got = download.read()
        finally:
            download.close()
    assert len(got) < download.length and data.startswith(got)
    assert "download of VID_0001.mp4 cut short: gc removed chunk" in server_log(server)
