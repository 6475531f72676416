"""D10 with a mixed workload: kill -9 lands during anything a phone does, with gc running.

Each round, against a real `homesync serve`:

- an *uploader* device uploads new files and new versions in chunks, parks uploads
  half-way (left open across rounds, later finished or cancelled) and re-uses content the
  user already stores (dedup);
- an *organizer* (two devices of the same user) creates and edits files, deletes, moves
  and renames them through ``/sync/files`` and the offline queue, restores from the trash,
  empties it, restores old versions, and makes and resolves conflicts (one device edits or
  deletes, the other sends a stale edit, then resolves it keep_local/keep_remote/keep_both);
- ``homesync gc --grace 0s`` runs over and over in a separate process (and the server's
  own gc every second, with no grace either);

then the server (and, half the time, the gc process) is killed with SIGKILL: at a random
moment, or, every other round, a moment after a step of a kind drawn for the round starts
(the quick ones would hardly ever be hit otherwise). After the restart:

- SQLite's integrity and foreign-key checks pass and ``homesync fsck`` reports no damage;
- every version whose upload or operation was acknowledged (2xx) is there, byte-identical
  (the current one downloaded, older ones read back from the chunk store by their
  manifest), and every file is where the acknowledged operations put it — except for what
  the one request a device had in flight may or may not have done;
- ``GET /upload/{id}`` of every open upload reports the acknowledged chunks, plus at most
  those whose PUT was in flight;
- each device then retries its interrupted request (every step here is safe to repeat:
  op ids, upload resumption, conflict fingerprints), and everything is checked strictly.

At the end every open upload is finished or cancelled, and after ``homesync gc --grace 0s``
the chunk files on disk are exactly the chunks the remaining versions use.

The two files sets never overlap (the uploader's under /up, the organizer's under /org),
so each device's in-flight request can only blur its own files; content is shared across
them on purpose (dedup), so gc has chunks that one file let go and another still uses.

More rounds: MIXED_CRASH_ROUNDS=100 (and MIXED_CRASH_SEED to vary the workload; a
HOMESYNC_* name would be read as a server option).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.helpers import API, PASSWORD, ServerProcess, device_info

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("MIXED_CRASH_ROUNDS", "2"))
SEED = int(os.environ.get("MIXED_CRASH_SEED", "20240121"))

CHUNK = 16 * 1024
ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0",  # a load test: no per-device limit
    "HOMESYNC_STORAGE_DISK_RESERVE": "0",
    "HOMESYNC_UPLOADS_MIN_CHUNK_SIZE": "4KiB",
    # The server's own gc too, every second and without grace.
    "HOMESYNC_UPLOADS_GC_GRACE": "0s",
    "HOMESYNC_UPLOADS_GC_INTERVAL": "1s",
    # Retention off: every acknowledged version must stay (only an explicit purge frees).
    "HOMESYNC_SYNC_KEEP_VERSIONS": "0",
    "HOMESYNC_SYNC_VERSION_RETENTION": "0d",
    "HOMESYNC_SYNC_TRASH_RETENTION": "0d",
}
EMAIL = "pat@example.com"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
    info = info or dev.data("GET", f"/files/{file_id}")
    with model.lock:
        model.blobs[sha(job.data)] = job.data
    model.acked_content(file_id, sha(job.data), info["folder"], info["name"])
    return info


# -- the workloads --------------------------------------------------------------------

Step = Callable[[], None]


class Worker:
    """Runs random steps until the server goes away; remembers the one in flight.

    Every step is safe to run again from its start (op ids, upload resumption,
    conflict fingerprints, stored resolution outcomes), which is how it is settled after
    the restart; ``touched`` are the files its unknown effect may have changed.
    """

    def __init__(self, model: Model, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.inflight: Step | None = None
        self.touched: set[str] = set()
        self.purging = False
        self.error: BaseException | None = None
        self.steps = 0
        self.interrupted: Counter[str] = Counter()  # kinds of step a crash cut short
        self.kind = ""
        self.armed: str | None = None
        self.hit = threading.Event()
        self.stop = threading.Event()
        self.ended = threading.Event()  # set by whichever worker stops first
        self.names = itertools.count()

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.names)}.bin"

    KINDS: tuple[str, ...] = ()

    def next_step(self) -> tuple[Step, set[str]]:
        raise NotImplementedError

    def plan(self, kind: str, step: Step, touched: set[str]) -> tuple[Step, set[str]]:
        self.kind = kind
        if kind == self.armed:
            self.armed = None
            self.hit.set()  # the crash may land now
        return step, touched

    def arm(self, kind: str, hit: threading.Event) -> None:
        """Set ``hit`` when a step of this kind starts (the crash is aimed at it)."""
        self.armed, self.hit = kind, hit

    def loop(self) -> None:
        try:
            while not self.stop.is_set():
                if self.inflight is None:
                    self.inflight, self.touched = self.next_step()
                self.inflight()
                self.inflight, self.touched, self.purging = None, set(), False
                self.steps += 1
        except Lost:
            self.interrupted[self.kind] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc
        finally:
            self.ended.set()

    def settle(self) -> None:
        """Run the interrupted step again, now that the server is back."""
        if self.inflight is not None:
            self.inflight()
        self.inflight, self.touched, self.purging = None, set(), False


class Uploader(Worker):
    KINDS = ("new", "version", "park", "resume", "cancel", "dedup")

    def __init__(self, model: Model, rng: random.Random, dev: Device) -> None:
        super().__init__(model, rng)
        self.dev = dev
        self.parked: list[Job] = []

    def data(self) -> bytes:
        return os.urandom(self.rng.randint(1, 6) * CHUNK - self.rng.randint(0, 999))

    def next_step(self) -> tuple[Step, set[str]]:
        rng, dev, model = self.rng, self.dev, self.model
        kind = rng.choice(["new", "new", "version", "version", "park", "resume", "cancel",
                           "dedup"])
        target = model.pick(rng, "/up")
        if kind == "version" and target is not None:
            job = Job(target.folder, target.name, self.data(), file_id=target.id)
            return self.plan("version", partial(self._upload, job), {target.id})
        if kind == "park" and len(self.parked) < 3:
            job = Job("/up", self.name("p"), self.data())
            job_chunks = rng.randint(0, max(0, -(-len(job.data) // CHUNK) - 1))

            def park() -> None:
                if run_upload(dev, model, job, chunks=job_chunks) is None:
                    if job not in self.parked:
                        self.parked.append(job)
            return self.plan("park", park, set())
        if kind in ("resume", "cancel") and self.parked:
            job = self.parked[0]
            if kind == "cancel":
                return self.plan("cancel", partial(self._cancel, job), set())
            return self.plan("resume", partial(self._resume, job), set())
        if kind == "dedup":
            with model.lock:
                stored = sorted({c for e in model.files.values() if e.state != "purged"
                                 for c in e.versions})
            if stored:
                job = Job("/up", self.name("d"), model.blobs[rng.choice(stored)])
                return self.plan("dedup", partial(self._upload, job), set())
        job = Job("/up", self.name("u"), self.data())
        return self.plan("new", partial(self._upload, job), set())

    def _upload(self, job: Job) -> None:
        run_upload(self.dev, self.model, job)

    def _resume(self, job: Job) -> None:
        run_upload(self.dev, self.model, job)
        self.parked.remove(job)

    def _cancel(self, job: Job) -> None:
        assert job.upload_id is not None
        job.cancelling = True
        state = self.dev.data("DELETE", f"/upload/{job.upload_id}")
        assert state["status"] == "cancelled", state
        with self.model.lock:
            self.model.jobs.pop(job.upload_id, None)
        self.parked.remove(job)

    def finish_all(self) -> None:
        for job in list(self.parked):
            if self.rng.random() < 0.5:
                self._resume(job)
            else:
                self._cancel(job)


class Organizer(Worker):
    KINDS = ("create", "copy", "edit", "delete_sync", "delete_queue", "move_queue",
             "rename_queue", "move_sync", "restore", "purge", "old_version", "conflict")

    def __init__(self, model: Model, rng: random.Random, a: Device, b: Device) -> None:
        super().__init__(model, rng)
        self.a, self.b = a, b
        self.ops = itertools.count()
        self.folders = ["/org/a", "/org/b", "/org/c/d"]

    def op_id(self) -> str:
        return f"op-{next(self.ops)}"

    def next_step(self) -> tuple[Step, set[str]]:
        rng, model = self.rng, self.model
        dev = rng.choice([self.a, self.b])
        kind = rng.choice(["create", "create", "copy", "edit", "delete_sync", "delete_queue",
                           "move_queue", "rename_queue", "move_sync", "restore", "restore",
                           "purge", "old_version", "conflict", "conflict"])
        live = model.pick(rng, "/org")
        trashed = model.pick(rng, "/org", "trash")
        if kind == "copy":
            with model.lock:
                stored = sorted({c for e in model.files.values() if e.state != "purged"
                                 for c in e.versions})
            if stored:
                checksum, folder, name = rng.choice(stored), rng.choice(self.folders), \
                    self.name("c")
                return self.plan("copy", partial(self._copy, dev, checksum, folder, name), set())
        if kind in ("edit", "delete_sync", "delete_queue", "move_queue", "rename_queue",
                    "move_sync", "old_version", "conflict") and live is not None:
            f = live
            if kind == "edit":
                job = Job(f.folder, f.name, os.urandom(rng.randint(1, 2) * CHUNK - 7),
                          file_id=f.id)
                return self.plan("edit", partial(self._edit, dev, job), {f.id})
            if kind == "delete_sync":
                return self.plan("delete_sync", partial(self._delete_sync, dev, f), {f.id})
            if kind == "delete_queue":
                op = {"id": self.op_id(), "type": "delete", "fileId": f.id}
                return self.plan("delete_queue", partial(self._queue, dev, op, f, "trash"),
                                 {f.id})
            if kind in ("move_queue", "rename_queue"):
                folder = rng.choice(self.folders) if kind == "move_queue" else f.folder
                op = {"id": self.op_id(), "type": kind.split("_")[0], "fileId": f.id,
                      "remotePath": f"{folder}/{self.name('m')}"}
                return self.plan(kind, partial(self._queue, dev, op, f, "live"), {f.id})
            if kind == "move_sync":
                folder, name = rng.choice(self.folders), self.name("s")
                return self.plan("move_sync", partial(self._move_sync, dev, f, folder, name),
                                 {f.id})
            if kind == "old_version" and len(f.versions) > 1:
                checksum = rng.choice(f.versions[:-1])
                return self.plan("old_version", partial(self._restore_version, dev, f, checksum),
                                 {f.id})
            if kind == "conflict":
                return self.plan("conflict", self._conflict(f), {f.id})
        if kind == "restore" and trashed is not None:
            return self.plan("restore", partial(self._restore, dev, trashed), {trashed.id})
        if kind == "purge" and trashed is not None:
            self.purging = True
            return self.plan("purge", partial(self._purge, dev, trashed), {trashed.id})
        job = Job(rng.choice(self.folders), self.name("o"),
                  os.urandom(rng.randint(1, 2) * CHUNK - rng.randint(0, 99)))
        return self.plan("create", partial(self._create, dev, job), set())

    # -- steps --------------------------------------------------------------------------

    def _create(self, dev: Device, job: Job) -> None:
        run_upload(dev, self.model, job)

    def _edit(self, dev: Device, job: Job) -> None:
        """A new version as an app sends it: /sync/files says upload_required, then upload."""
        assert job.file_id is not None
        token = dev.sync()
        if job.upload_id is None:
            [result] = dev.data("POST", "/sync/files", json={"syncToken": token, "localChanges": [{
                "action": "upload", "localId": "edit", "fileId": job.file_id,
                "size": len(job.data), "checksum": sha(job.data)}]})["results"]
            assert result["status"] in ("upload_required", "applied"), result
        run_upload(dev, self.model, job, sync_token=token)

    def _copy(self, dev: Device, checksum: str, folder: str, name: str) -> None:
        """Content the user already stores, under a new name: no bytes sent."""
        data = self.model.blobs[checksum]
        [result] = dev.data("POST", "/sync/files", json={"syncToken": dev.sync(), "localChanges": [{
            "action": "upload", "localId": "copy", "folder": folder, "name": name,
            "size": len(data), "checksum": checksum, "restore": True}]})["results"]
        assert result["status"] in ("deduplicated", "applied"), result
        self.model.acked_content(result["fileId"], checksum, folder, name)

    def _delete_sync(self, dev: Device, f: Entry) -> None:
        [result] = dev.data("POST", "/sync/files", json={"syncToken": dev.sync(), "localChanges": [{
            "action": "delete", "localId": "rm", "fileId": f.id}]})["results"]
        assert result["status"] == "applied", result
        f.state = "trash"

    def _move_sync(self, dev: Device, f: Entry, folder: str, name: str) -> None:
        [result] = dev.data("POST", "/sync/files", json={"syncToken": dev.sync(), "localChanges": [{
            "action": "move", "localId": "mv", "fileId": f.id, "folder": folder,
            "name": name}]})["results"]
        assert result["status"] == "applied", result
        f.folder, f.name = folder, name

    def _queue(self, dev: Device, op: dict[str, Any], f: Entry, state: str) -> None:
        [view] = dev.data("POST", "/queue/add", json={
            "syncToken": dev.sync(), "operations": [op]})["operations"]
        assert view["status"] == "done", view
        f.state = state
        if "remotePath" in op:
            f.folder, _, f.name = op["remotePath"].rpartition("/")

    def _restore(self, dev: Device, f: Entry) -> None:
        r = dev.call("POST", f"/trash/{f.id}/restore", ok=(200, 404))
        if r.status_code == 404:  # restored before the crash: it is live again
            info = dev.data("GET", f"/files/{f.id}")
        else:
            info = r.json()["data"]["file"]
        f.state, f.folder, f.name = "live", info["folder"], info["name"]

    def _purge(self, dev: Device, f: Entry) -> None:
        r = dev.call("DELETE", f"/trash/{f.id}", ok=(200, 404))
        if r.status_code == 404:  # emptied before the crash: nothing of it is listed
            assert f.id not in {i["id"] for i in dev.data("GET", "/trash",
                                                          params={"limit": 1000})["items"]}
        with self.model.lock:
            f.state, f.versions = "purged", []

    def _restore_version(self, dev: Device, f: Entry, checksum: str) -> None:
        versions = dev.data("GET", f"/files/{f.id}/versions")["versions"]
        old = next(v for v in versions if v["checksum"] == checksum)
        info = dev.data("POST", f"/files/{f.id}/versions/{old['id']}/restore")["file"]
        assert info["checksum"] == checksum, info
        self.model.acked_content(f.id, checksum, f.folder, f.name)

    def _conflict(self, f: Entry) -> Step:
        """Device A changes (or deletes) ``f``; B, which saw it before that, sends an edit;
        B resolves the conflict. A state machine, so that running it again after a crash
        carries on where the acknowledged answers got to."""
        rng, model = self.rng, self.model
        a, b = self.a, self.b
        deletes = rng.random() < 0.3
        choice = rng.choice(["keep_local", "keep_remote", "keep_both"])
        theirs = Job(f.folder, f.name, os.urandom(CHUNK + 5), file_id=f.id)
        mine = os.urandom(CHUNK - 3)
        st: dict[str, Any] = {"stage": 0}

        def step() -> None:
            if st["stage"] == 0:
                st["token"] = b.sync()  # what B saw
                st["stage"] = 1
            if st["stage"] == 1:
                if deletes:
                    self._delete_sync(a, f)
                else:
                    self._edit(a, theirs)
                st["stage"] = 2
            if st["stage"] == 2:
                [result] = b.data("POST", "/sync/files", json={
                    "syncToken": st["token"], "localChanges": [{
                        "action": "upload", "localId": "stale", "fileId": f.id,
                        "size": len(mine), "checksum": sha(mine)}]})["results"]
                assert result["status"] == "conflict", result
                st["conflict"] = result["conflictId"]
                st["stage"] = 3
            while st["stage"] == 3:
                [res] = b.data("POST", "/conflicts/resolve", json={"conflicts": [{
                    "conflictId": st["conflict"], "resolution": choice,
                    "fileId": f.id}]})["results"]
                if res["status"] == "resolved":
                    st["result"] = res
                    st["stage"] = 4
                    break
                assert res["status"] == "upload_required", res
                to = res["uploadTo"]
                job = st.get("job")
                if job is None or (job.folder, job.name, job.file_id) != (
                        to["folder"], to["name"], to.get("fileId")):
                    job = st["job"] = Job(to["folder"], to["name"], mine,
                                          file_id=to.get("fileId"))
                run_upload(b, model, job)
            res = st["result"]
            with model.lock:
                model.blobs[sha(mine)] = mine
            if choice == "keep_local":
                kept = model.files[res["fileId"]]
                assert kept.current == sha(mine) and kept.state == "live", (kept, res)
            elif choice == "keep_both":
                copy = model.files[res["copyFileId"]]
                assert copy.current == sha(mine), (copy, res)
                if deletes:  # the server's file came back from the trash
                    info = b.data("GET", f"/files/{f.id}")
                    f.state, f.folder, f.name = "live", info["folder"], info["name"]
        return step


# -- checks ---------------------------------------------------------------------------

def read_db(server: ServerProcess) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{server.data_dir / 'homesync.sqlite3'}?mode=ro", uri=True)


def stored_content(server: ServerProcess, db: sqlite3.Connection, version_id: str) -> bytes:
    chunks = [h for (h,) in db.execute(
        "SELECT chunk_hash FROM version_chunks WHERE version_id = ? ORDER BY idx", (version_id,))]
    root = server.data_dir / "chunks"
    return b"".join((root / h[:2] / h[2:4] / h).read_bytes() for h in chunks)


def check_storage(server: ServerProcess) -> None:
    db = read_db(server)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute(
            "SELECT f.id FROM files f JOIN version_chunks vc ON vc.version_id = f.version_id"
            " JOIN chunks c ON c.hash = vc.chunk_hash GROUP BY f.id HAVING sum(c.size) != f.size"
        ).fetchall() == []
        # A file's row agrees with its current version.
        assert db.execute(
            "SELECT f.id FROM files f LEFT JOIN file_versions v ON v.id = f.version_id"
            " WHERE f.kind = 'file' AND f.purged_at IS NULL AND (v.id IS NULL"
            " OR v.file_id != f.id OR v.checksum != f.checksum OR v.size != f.size)"
        ).fetchall() == []
        # Every live entry is in a live folder (none is out of every listing's reach).
        assert db.execute(
            "SELECT f.id, f.folder FROM files f WHERE f.deleted_at IS NULL AND f.folder != '/'"
            " AND NOT EXISTS (SELECT 1 FROM files p WHERE p.user_id = f.user_id"
            " AND p.kind = 'folder' AND p.deleted_at IS NULL AND f.folder ="
            " (CASE p.folder WHEN '/' THEN '/' || p.name ELSE p.folder || '/' || p.name END))"
        ).fetchall() == []
        # The running counts agree with what they count.
        assert db.execute(
            "SELECT u.id, u.used_bytes FROM users u WHERE u.used_bytes !="
            " (SELECT coalesce(sum(v.size), 0) FROM file_versions v WHERE v.user_id = u.id)"
        ).fetchall() == []
        assert db.execute(
            "SELECT u.id FROM uploads u WHERE u.status IN ('pending', 'uploading', 'paused',"
            " 'failed') AND (u.received_chunks !="
            " (SELECT count(*) FROM upload_chunks c WHERE c.upload_id = u.id)"
            " OR u.received_bytes != (SELECT coalesce(sum(c.size), 0) FROM upload_chunks c"
            " WHERE c.upload_id = u.id))"
        ).fetchall() == []
    finally:
        db.close()
    fsck = server.cli("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def check_files(server: ServerProcess, model: Model, dev: Device, blurred: set[str],
                purging: set[str]) -> None:
    """Everything acknowledged is there; ``blurred`` files may differ in what the requests
    in flight may or may not have done (their versions must still all be there, unless
    that request was emptying them out of the trash: ``purging``)."""
    db = read_db(server)
    try:
        with model.lock:
            entries = list(model.files.values())
        for e in entries:
            row = db.execute("SELECT folder, name, checksum, deleted_at, purged_at FROM files"
                             " WHERE id = ?", (e.id,)).fetchone()
            assert row is not None, f"{e} is gone"
            folder, name, checksum, deleted_at, purged_at = row
            versions: dict[str, str] = dict(db.execute(
                "SELECT checksum, id FROM file_versions WHERE file_id = ?", (e.id,)).fetchall())
            if e.id not in purging:
                for c in e.versions:  # byte-identical, read back by the manifest
                    assert c in versions, f"version {c} of {e} is gone"
                    assert sha(stored_content(server, db, versions[c])) == c, (e, c)
            if e.id in blurred:
                continue
            if e.state == "purged":
                assert purged_at is not None, e
                continue
            assert (deleted_at is not None, purged_at is not None) == (e.state == "trash", False), \
                (e, row)
            assert (folder, name, checksum) == (e.folder, e.name, e.current), (e, row)
            if e.state == "live":
                got = dev.call("GET", f"/files/{e.id}/content")
                assert got.content == model.blobs[e.current], e
    finally:
        db.close()


def check_uploads(model: Model, dev: Device, worker: Worker | None = None) -> None:
    """``GET /upload/{id}`` reports the acknowledged chunks, and of the chunk PUTs in flight
    at the crash, those that it says arrived are whole (or the upload completed, if its
    complete was in flight)."""
    with model.lock:
        jobs = list(model.jobs.items())
    for upload_id, job in jobs:
        state = dev.data("GET", f"/upload/{upload_id}")
        if state["status"] == "completed":
            assert job.completing, (upload_id, state)
            continue
        if state["status"] == "cancelled":
            assert job.cancelling, (upload_id, state)
            continue
        reported = set(state["completedChunks"])
        assert job.acked <= reported <= job.acked | job.inflight, (upload_id, job.acked,
                                                                    job.inflight, reported)
        job.acked, job.inflight = reported, set()
        assert state["bytesUploaded"] == sum(
            min(CHUNK, len(job.data) - i * CHUNK) for i in reported), state


# -- gc in its own process ------------------------------------------------------------

class GcLoop:
    """``homesync gc --grace 0s`` again and again beside the server, until stopped."""

    def __init__(self, server: ServerProcess) -> None:
        self.server = server
        self.stop = threading.Event()
        self.proc: subprocess.Popen[str] | None = None
        self.lock = threading.Lock()
        self.runs = 0
        self.killed = 0
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._loop)

    def _loop(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.stop.is_set():
                    return
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "homesync", "gc", "--grace", "0s", "--json",
                     "--data-dir", str(self.server.data_dir)],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                    env=self.server.env)
            _, err = self.proc.communicate()
            if self.proc.returncode == -9:
                self.killed += 1
            elif self.proc.returncode != 0:
                self.failures.append(err)
            self.runs += 1

    def start(self) -> None:
        self.thread.start()

    def halt(self, kill: bool) -> None:
        with self.lock:
            self.stop.set()
            if kill and self.proc is not None and self.proc.poll() is None:
                self.proc.kill()
        self.thread.join()


# -- the test -------------------------------------------------------------------------

@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def connect_all(server: ServerProcess, devices: list[Device]) -> None:
    for dev in devices:
        dev.connect(server.base)


def test_mixed_workload_survives_random_kills(server: ServerProcess) -> None:
    rng = random.Random(SEED)
    added = server.cli("user", "add", EMAIL, "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    server.start()
    up, a, b = Device("uploader"), Device("organizer-a"), Device("organizer-b")
    devices = [up, a, b]
    connect_all(server, devices)
    model = Model()
    uploader = Uploader(model, random.Random(rng.random()), up)
    organizer = Organizer(model, random.Random(rng.random()), a, b)
    workers: list[Worker] = [uploader, organizer]
    gc_runs = gc_killed = 0
    for round_no in range(ROUNDS):
        gc = GcLoop(server)
        threads = [threading.Thread(target=w.loop) for w in workers]
        wake = threading.Event()  # a worker failed, or the step aimed at has started
        for w in workers:
            w.stop.clear()
            w.ended, w.armed = wake, None
        # Every other round the crash is aimed at one kind of step, a moment after it
        # starts (the quick ones would hardly ever be hit at random); else it comes at a
        # random moment.
        aim = rng.choice([*uploader.KINDS, *organizer.KINDS]) if round_no % 2 else None
        for w in workers:
            if aim in w.KINDS:
                w.arm(aim, wake)
        gc.start()
        for t in threads:
            t.start()
        if aim is None:
            wake.wait(rng.uniform(0.2, 1.5))
        elif wake.wait(3) and not any(w.error for w in workers):
            time.sleep(rng.uniform(0, 0.04))  # the random moment within the step
        server.kill9()
        gc.halt(kill=rng.random() < 0.5)
        for w in workers:
            w.stop.set()
        for t in threads:
            t.join()
        for w in workers:
            if w.error is not None:
                raise w.error
        assert gc.failures == [], gc.failures
        gc_runs, gc_killed = gc_runs + gc.runs, gc_killed + gc.killed

        server.start()
        connect_all(server, devices)
        check_storage(server)
        check_files(server, model, a, set().union(*(w.touched for w in workers)),
                    set().union(*(w.touched for w in workers if w.purging)))
        check_uploads(model, up)
        for w in workers:
            w.settle()
        check_uploads(model, up)
        check_files(server, model, a, set(), set())

    uploader.finish_all()
    assert model.jobs == {}
    check_files(server, model, a, set(), set())
    server.stop()
    gc = server.cli("gc", "--grace", "0s")
    assert gc.returncode == 0, gc.stdout + gc.stderr
    check_storage(server)
    db = read_db(server)
    try:
        used = {h for (h,) in db.execute("SELECT chunk_hash FROM version_chunks")}
        known = {h for (h,) in db.execute("SELECT hash FROM chunks")}
        open_chunks = db.execute("SELECT count(*) FROM upload_chunks").fetchone()[0]
    finally:
        db.close()
    on_disk = {p.name for p in (server.data_dir / "chunks").rglob("*") if p.is_file()}
    assert open_chunks == 0
    assert on_disk == used == known  # purged versions' chunks went; nothing else did
    assert os.listdir(server.data_dir / "tmp") == []
    steps = uploader.steps + organizer.steps
    print(f"\nmixed crash: {ROUNDS} rounds, {steps} steps, {len(model.files)} files,"
          f" gc runs {gc_runs} (killed {gc_killed}); crashes cut short:"
          f" {dict(uploader.interrupted + organizer.interrupted)}")
    assert steps >= ROUNDS
