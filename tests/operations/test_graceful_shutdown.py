"""SIGTERM while a chunk is arriving: the chunk finishes and is recorded whole, then the
server exits cleanly; after a restart the upload completes and downloads intact."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import API, PASSWORD, ServerProcess
from tests.operations.phone import ENV, Phone, sha

pytestmark = pytest.mark.e2e

CHUNK = 4 * 1024 * 1024


def wait_for_part_file(tmp_dir: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not any(tmp_dir.glob("chunk-*.part")):
        assert time.monotonic() < deadline, "the server never started writing the chunk"
        time.sleep(0.01)


def test_sigterm_lets_an_inflight_chunk_finish(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data", env=ENV)
    try:
        server.start()
        assert server.cli("user", "add", "alice@example.com", "--password-stdin",
                          input=PASSWORD + "\n").returncode == 0
        phone = Phone(server.base, "alice@example.com", "pixel")
        data = os.urandom(CHUNK)
        r = phone.http.post(f"{API}/upload/init", headers=phone.auth, json={
            "files": [{"localId": "v", "name": "VID.mp4", "folder": "/camera", "size": len(data),
                       "mimeType": "video/mp4", "checksum": sha(data), "priority": "normal"}],
            "uploadOptions": {"chunkSize": CHUNK}})
        item = r.json()["data"]["files"][0]

        def slow_body() -> Iterator[bytes]:
            for start in range(0, CHUNK, 256 * 1024):
                yield data[start:start + 256 * 1024]
                time.sleep(0.05)  # a phone on a slow uplink: ~0.8 s for the chunk

        answer: list[httpx.Response] = []
        sender = threading.Thread(target=lambda: answer.append(httpx.put(
            item["chunks"][0]["uploadUrl"], content=slow_body(),
            headers={"Content-Length": str(CHUNK)}, timeout=60)))
        sender.start()
        # The chunk's temp file shows the server is handling the PUT. Bytes still in the
        # socket buffers are not enough: a connection whose request uvicorn has not read
        # yet counts as idle, and a stop closes it (the phone retries; not this test's case).
        wait_for_part_file(server.data_dir / "tmp")
        assert server.proc is not None
        server.proc.terminate()  # SIGTERM mid-chunk
        sender.join(timeout=60)
        server.proc.wait(timeout=60)
        assert answer and answer[0].status_code == 200, answer and answer[0].text
        log = (tmp_path / f"server-{server.port}.log").read_text()
        assert "Application shutdown complete" in log
        assert list((server.data_dir / "tmp").iterdir()) == []  # no half chunk left behind

        server.start()
        phone.http = httpx.Client(base_url=server.base, timeout=60)
        state = phone.http.get(f"{API}/upload/{item['uploadId']}", headers=phone.auth).json()["data"]
        assert state["completedChunks"] == [0] and state["missingChunks"] == []
        done = phone.http.post(f"{API}/upload/complete", headers=phone.auth,
                               json={"uploadId": item["uploadId"], "checksum": sha(data)})
        assert done.status_code == 200, done.text
        body = phone.download(done.json()["data"]["fileId"]).content
        assert hashlib.sha256(body).digest() == hashlib.sha256(data).digest()
    finally:
        server.stop()
