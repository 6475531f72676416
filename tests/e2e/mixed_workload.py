"""What runs against the server while the mixed crash test kills it.

Two workers, each a thread of random steps until the server goes away: the *uploader*
(new files and versions, parked, resumed and cancelled uploads, dedup) under /up and the
*organizer* (two devices: edits, deletes, moves and renames through sync and the queue,
trash restore and purge, version restore, conflicts) under /org. The two never touch
each other's files, so each one's request in flight at the kill can blur only its own.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from tests.e2e.mixed_phones import CHUNK, Device, Entry, Job, Lost, Model, run_upload
from tests.uploads.flow import checksum as sha

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
    """One device's uploads under /up: new files and versions, uploads parked half-way
    (finished or cancelled rounds later) and content the user already stores (dedup)."""

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
    """Two devices of the same user changing files under /org in every way an app does,
    including conflicts between the two."""

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
                    job = st.get("job")
                    if job is not None and job.completing:  # its answer may have been lost
                        with model.lock:
                            model.jobs.pop(job.upload_id, None)
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
                job = st.get("job")
                if kept.current != sha(mine) and job is not None and job.completing:
                    # The upload to uploadTo completed, but its answer was lost to a
                    # crash: resolving again found the file current. The server must
                    # hold this device's content.
                    info = b.data("GET", f"/files/{res['fileId']}")
                    kept = model.acked_content(res["fileId"], info["checksum"],
                                               info["folder"], info["name"])
                assert kept.current == sha(mine) and kept.state == "live", (kept, res)
            elif choice == "keep_both":
                copy = model.files.get(res["copyFileId"])
                if copy is None:
                    # The upload to uploadTo completed, but its answer was lost to a
                    # crash: resolving again found that copy, unknown to the model.
                    info = b.data("GET", f"/files/{res['copyFileId']}")
                    copy = model.acked_content(res["copyFileId"], info["checksum"],
                                               info["folder"], info["name"])
                assert copy.current == sha(mine), (copy, res)
                if deletes:  # the server's file came back from the trash
                    info = b.data("GET", f"/files/{f.id}")
                    f.state, f.folder, f.name = "live", info["folder"], info["name"]
        return step
