"""What the phones of the mixed crash test know, and how they talk to the server.

``Model`` holds only what acknowledged (2xx) answers told the phones, so that after a
kill -9 the checks can tell what must have survived; ``Device`` turns a request the kill
cut short into ``Lost`` (its effect unknown); ``run_upload`` can run again from the
start after one.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import API, PASSWORD, device_info
from tests.uploads.flow import checksum as sha

CHUNK = 16 * 1024
EMAIL = "pat@example.com"


class Lost(Exception):
    """The server went away under a request (its effect is unknown)."""


# -- what the phones know -------------------------------------------------------------

@dataclass
class Entry:
    """A file as the phones know it from acknowledged answers."""

    id: str
    folder: str
    name: str
    current: str  # checksum of the current content
    versions: list[str]  # every acknowledged content: all must stay retrievable
    state: str = "live"  # live, trash, purged


@dataclass
class Job:
    """One file's upload, safe to run again from the start after a crash."""

    folder: str
    name: str
    data: bytes
    file_id: str | None = None  # a new version of this file
    upload_id: str | None = None
    acked: set[int] = field(default_factory=set)  # chunk PUTs answered 200
    inflight: set[int] = field(default_factory=set)  # chunk PUTs sent, not answered
    completing: bool = False
    cancelling: bool = False


class Model:
    """All that acknowledged answers told the phones: contents by checksum, files by id and
    open uploads; shared by the workers' threads, hence the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blobs: dict[str, bytes] = {}
        self.files: dict[str, Entry] = {}
        self.jobs: dict[str, Job] = {}  # open uploads by id

    def acked_content(self, file_id: str, checksum: str, folder: str, name: str) -> Entry:
        """An upload or copy of ``checksum`` to ``file_id`` was acknowledged."""
        with self.lock:
            entry = self.files.get(file_id)
            if entry is None:
                entry = self.files[file_id] = Entry(file_id, folder, name, checksum, [])
            entry.current = checksum
            if checksum not in entry.versions:
                entry.versions.append(checksum)
            entry.state, entry.folder, entry.name = "live", folder, name
            return entry

    def pick(self, rng: random.Random, prefix: str, state: str = "live") -> Entry | None:
        with self.lock:
            found = sorted((e for e in self.files.values()
                            if e.state == state and e.folder.startswith(prefix)),
                           key=lambda e: e.id)
        return rng.choice(found) if found else None


# -- a device over HTTP ---------------------------------------------------------------

class Device:
    """A signed-in phone over HTTP; a request the kill cut short raises ``Lost``."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        self.http: httpx.Client | None = None
        self.auth: dict[str, str] = {}
        self.token: str | None = None

    def connect(self, base: str) -> None:
        if self.http is not None:
            self.http.close()
        self.http = httpx.Client(base_url=base, timeout=30)
        r = self.http.post(f"{API}/auth/register", json={
            "email": EMAIL, "password": PASSWORD, "deviceInfo": device_info(self.client_id)})
        assert r.status_code in (200, 201), r.text
        self.auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}

    def call(self, method: str, path: str, ok: tuple[int, ...] = (200,),
             **kw: Any) -> httpx.Response:
        assert self.http is not None
        try:
            r = self.http.request(method, f"{API}{path}", headers=self.auth, **kw)
        except httpx.TransportError as exc:
            raise Lost(f"{method} {path}") from exc
        assert r.status_code in ok, f"{method} {path}: {r.status_code} {r.text}"
        return r

    def data(self, method: str, path: str, **kw: Any) -> Any:
        return self.call(method, path, **kw).json()["data"]

    def sync(self) -> str:
        """Catch up with the journal (what the device has seen); the new token."""
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if self.token:
                params["syncToken"] = self.token
            status = self.data("GET", "/sync/status", params=params)
            self.token = status["nextSyncToken"]
            if not status["hasMore"]:
                return self.token

    def put_chunk(self, url: str, body: bytes) -> None:
        """A chunk PUT to its signed URL, as an OS background uploader sends it; 503 (gc
        took the chunk while it arrived) is sent again."""
        for _ in range(20):
            try:
                r = httpx.put(url, content=body, timeout=30)
            except httpx.TransportError as exc:
                raise Lost("chunk PUT") from exc
            if r.status_code != 503:
                assert r.status_code == 200, r.text
                return
        raise AssertionError("chunk PUT kept answering 503")


def run_upload(dev: Device, model: Model, job: Job, *, chunks: int | None = None,
               sync_token: str | None = None) -> dict[str, Any] | None:
    """Init (an answer lost to a crash resumes the same upload), send the missing chunks
    (only ``chunks`` of them, then leave it open), complete. The file's data once done."""
    if job.upload_id is None:
        entry: dict[str, Any] = {"localId": job.name, "name": job.name, "folder": job.folder,
                                 "size": len(job.data), "checksum": sha(job.data),
                                 "restore": True}
        if job.file_id:
            entry["fileId"] = job.file_id
            if sync_token:
                entry["syncToken"] = sync_token
        item = dev.data("POST", "/upload/init", json={
            "files": [entry], "uploadOptions": {"chunkSize": CHUNK}})["files"][0]
        if item["status"] == "deduplicated":  # done before: an answer lost to a crash
            return finished(dev, model, job, item["fileId"])
        assert "uploadId" in item, item
        job.upload_id = item["uploadId"]
        with model.lock:
            model.jobs[job.upload_id] = job
    state = dev.data("GET", f"/upload/{job.upload_id}")
    if state["status"] != "completed":
        for chunk in state["chunks"][:chunks]:
            job.inflight.add(chunk["index"])
            dev.put_chunk(chunk["uploadUrl"],
                          job.data[chunk["start"]:chunk["end"] + 1])
            job.acked.add(chunk["index"])
            job.inflight.discard(chunk["index"])
        if chunks is not None and len(state["chunks"]) > chunks:
            return None  # parked
    job.completing = True
    done = dev.data("POST", "/upload/complete",
                    json={"uploadId": job.upload_id, "checksum": sha(job.data)})
    with model.lock:
        model.jobs.pop(job.upload_id, None)
    return finished(dev, model, job, done["fileId"], done["file"])


def finished(dev: Device, model: Model, job: Job, file_id: str,
             info: dict[str, Any] | None = None) -> dict[str, Any]:
    """Record the acknowledged upload in the model; the file's data."""
    info = info or dev.data("GET", f"/files/{file_id}")
    with model.lock:
        model.blobs[sha(job.data)] = job.data
    model.acked_content(file_id, sha(job.data), info["folder"], info["name"])
    return info
