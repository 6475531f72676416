"""Uploads end to end against a real `homesync serve`: a phone-like client uploads, the
server is killed (-9) half-way and restarted, the client resumes from what
``GET /upload/{id}`` reports, completes, downloads byte-identical content, and `gc`
leaves nothing behind. Also: an interrupted new version leaves the old one intact (D5)."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
MIB = 1024 * 1024
CHUNK = 256 * 1024  # the smallest chunk the default config allows


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def proc_io(pid: int, field: str) -> int:
    """A counter of /proc/PID/io: ``rchar`` is every byte the process read (sockets too)."""
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sign_in(server: ServerProcess, http: httpx.Client) -> dict[str, str]:
    added = server.cli("user", "add", "alice@example.com", "--password-stdin",
                       input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    r = http.post(f"{API}/auth/register", json={"email": "alice@example.com",
                                                "password": PASSWORD, "deviceInfo": device_info()})
    assert r.status_code == 201, r.text
    return {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}


def init(http: httpx.Client, auth: dict[str, str], data: bytes, **extra: Any) -> dict[str, Any]:
    r = http.post(f"{API}/upload/init", headers=auth, json={
        "files": [{"localId": "l1", "name": "VID_0001.mp4", "folder": "/camera", "size": len(data),
                   "mimeType": "video/mp4", "checksum": sha(data), **extra}],
        "uploadOptions": {"chunkSize": CHUNK, "wifiOnly": True, "maxRetries": 5}})
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


def put(url: str, data: bytes, chunk: dict[str, Any]) -> httpx.Response:
    # The absolute URL as the server handed it out, with no Bearer header: what an OS
    # background uploader would do.
    return httpx.put(url, content=data[chunk["start"]:chunk["end"] + 1], timeout=30)


def wait_for_partial_chunk(tmp_dir: Path, size: int) -> None:
    """Until the server has written ``size`` bytes of a chunk to its temp file: the one
    sign, from outside the process, that the half-sent chunk reached its disk."""
    deadline = time.monotonic() + 10
    while not any(p.stat().st_size >= size for p in tmp_dir.glob("*.part")):
        assert time.monotonic() < deadline, "the half-sent chunk never reached the disk"
        time.sleep(0.01)


def test_kill_restart_resume_complete_download_gc(server: ServerProcess) -> None:
    server.start()
    data = os.urandom(12 * CHUNK + 12_345)  # 13 chunks, the last one short
    with httpx.Client(base_url=server.base, timeout=30) as http:
        auth = sign_in(server, http)
        item = init(http, auth, data)
        upload_id = item["uploadId"]
        assert item["totalChunks"] == 13
        acked = []
        for chunk in item["chunks"][:6]:
            r = put(chunk["uploadUrl"], data, chunk)
            assert r.status_code == 200, r.text
            acked.append(chunk["index"])

        # Chunk 6 is half sent when the server dies.
        sent, server_gone = threading.Event(), threading.Event()

        def half_then_stall() -> Iterator[bytes]:
            c = item["chunks"][6]
            yield data[c["start"]:c["start"] + CHUNK // 2]
            sent.set()
            server_gone.wait(30)
            yield data[c["start"] + CHUNK // 2:c["end"] + 1]

        def doomed() -> None:
            try:
                httpx.put(item["chunks"][6]["uploadUrl"], content=half_then_stall(), timeout=10,
                          headers={"Content-Length": str(CHUNK)})
            except httpx.HTTPError:
                pass

        t = threading.Thread(target=doomed)
        t.start()
        assert sent.wait(10)
        wait_for_partial_chunk(server.data_dir / "tmp", CHUNK // 2)
        server.kill9()
        server_gone.set()
        t.join()

    server.start()
    with httpx.Client(base_url=server.base, timeout=30) as http:
        state = http.get(f"{API}/upload/{upload_id}", headers=auth).json()["data"]
        # Exactly what was acknowledged: the half-sent chunk is absent, never partial.
        assert state["completedChunks"] == acked
        assert state["missingChunks"] == list(range(6, 13))
        assert state["bytesUploaded"] == 6 * CHUNK
        assert state["wifiOnly"] is True and state["maxRetries"] == 5
        for chunk in state["chunks"]:  # fresh URLs for what is missing
            r = put(chunk["uploadUrl"], data, chunk)
            assert r.status_code == 200, r.text
        r = http.post(f"{API}/upload/complete", headers=auth,
                      json={"uploadId": upload_id, "checksum": sha(data),
                            "metadata": {"capturedAt": "2024-01-20T12:00:00Z"}})
        assert r.status_code == 200, r.text
        file_id = r.json()["data"]["fileId"]
        got = http.get(f"{API}/files/{file_id}/content", headers=auth)
        assert got.status_code == 200 and got.content == data
        assert got.headers["content-type"] == "video/mp4"
        part = http.get(f"{API}/files/{file_id}/content",
                        headers={**auth, "Range": f"bytes={CHUNK - 10}-{CHUNK + 9}"})
        assert part.status_code == 206 and part.content == data[CHUNK - 10:CHUNK + 10]

        gc = server.cli("gc", "--grace", "0s", "--json")
        assert gc.returncode == 0, gc.stderr
        assert os.listdir(server.data_dir / "tmp") == []
        stored = sorted(p.name for p in (server.data_dir / "chunks").rglob("*") if p.is_file())
        wanted = sorted({hashlib.sha256(data[i:i + CHUNK]).hexdigest()
                         for i in range(0, len(data), CHUNK)})
        assert stored == wanted  # nothing leaked: only the file's own chunks remain
        fsck = server.cli("fsck")
        assert fsck.returncode == 0, fsck.stdout + fsck.stderr
        # Still byte-identical after gc, from the running server.
        assert http.get(f"{API}/files/{file_id}/content", headers=auth).content == data


def test_killed_new_version_leaves_old_version_intact(server: ServerProcess) -> None:
    server.start()
    v1 = os.urandom(3 * CHUNK)
    v2 = os.urandom(4 * CHUNK)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        auth = sign_in(server, http)
        item = init(http, auth, v1)
        for chunk in item["chunks"]:
            assert put(chunk["uploadUrl"], v1, chunk).status_code == 200
        r = http.post(f"{API}/upload/complete", headers=auth,
                      json={"uploadId": item["uploadId"], "checksum": sha(v1)})
        file_id = r.json()["data"]["fileId"]
        new = init(http, auth, v2, fileId=file_id)
        for chunk in new["chunks"][:2]:
            assert put(chunk["uploadUrl"], v2, chunk).status_code == 200
        server.kill9()
    server.start()
    with httpx.Client(base_url=server.base, timeout=30) as http:
        got = http.get(f"{API}/files/{file_id}/content", headers=auth)
        assert got.content == v1 and got.headers["etag"] == f'"{sha(v1)}"'
        meta = http.get(f"{API}/files/{file_id}", headers=auth).json()["data"]
        assert meta["size"] == len(v1) and meta["checksum"] == sha(v1)
        for chunk in new["chunks"][2:]:
            assert put(chunk["uploadUrl"], v2, chunk).status_code == 200
        r = http.post(f"{API}/upload/complete", headers=auth,
                      json={"uploadId": new["uploadId"], "checksum": sha(v2)})
        assert r.status_code == 200 and r.json()["data"]["fileId"] == file_id
        assert http.get(f"{API}/files/{file_id}/content", headers=auth).content == v2


def test_oversized_chunk_body_is_cut_off_early(server: ServerProcess) -> None:
    """D3: a chunk body without Content-Length that never ends is refused (413) once it
    passes the chunk's length: the server reads at most 512 KiB past it (counted by the
    kernel: /proc/PID/io), whatever the client goes on sending, and does not hold the
    body in memory."""
    server.start()
    assert server.proc is not None
    pid = server.proc.pid
    data = os.urandom(2 * CHUNK)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        auth = sign_in(server, http)
        item = init(http, auth, data)
        pulled = 0

        def endless() -> Iterator[bytes]:
            nonlocal pulled
            piece = b"x" * (1024 * 1024)
            for _ in range(1024):  # 1 GiB if nobody stops us
                pulled += len(piece)
                yield piece

        # Warm up first (chunk 1 stored, a too-long declared body refused unread): the
        # modules these load are read once, and would otherwise count as body read below.
        assert put(item["chunks"][1]["uploadUrl"], data, item["chunks"][1]).status_code == 200
        assert httpx.put(item["chunks"][0]["uploadUrl"], content=data,
                         timeout=30).status_code == 413
        baseline_rss = status_kib(pid, "VmRSS:") * 1024
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM starts again from here
        read_before = proc_io(pid, "rchar")
        status = None
        try:
            r = httpx.put(item["chunks"][0]["uploadUrl"], content=endless(), timeout=30)
            status = r.status_code
            assert r.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        except httpx.HTTPError:
            pass  # the server answered and closed while we were still sending
        read = proc_io(pid, "rchar") - read_before
        grew = status_kib(pid, "VmHWM:") * 1024 - baseline_rss
        assert status in (None, 413)
        assert pulled < 64 * MIB, pulled
        # All the server read meanwhile: the chunk, what uvicorn had taken in before the
        # app said no (one socket read of up to 256 KiB on top of its 64 KiB buffer) and
        # a few database pages; 1 MiB more would be a late cut-off.
        past = read - CHUNK
        assert past <= 512 * 1024, f"read {past} bytes past a {CHUNK}-byte chunk"
        assert grew < 32 * MIB, f"peak RSS grew by {grew / MIB:.1f} MiB"
        state = http.get(f"{API}/upload/{item['uploadId']}", headers=auth).json()["data"]
        assert state["completedChunks"] == [1] and state["bytesUploaded"] == CHUNK
        assert os.listdir(server.data_dir / "tmp") == []
