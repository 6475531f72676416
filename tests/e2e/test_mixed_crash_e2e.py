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

import os
import random
import threading
import time

import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.gc_loop import GcLoop
from tests.e2e.mixed_checks import (
    check_files,
    check_no_leaked_chunks,
    check_storage,
    check_uploads,
)
from tests.e2e.mixed_phones import EMAIL, Device, Model
from tests.e2e.mixed_workload import Organizer, Uploader, Worker
from tests.helpers import PASSWORD, ServerProcess

pytestmark = pytest.mark.e2e

ROUNDS = int(os.environ.get("MIXED_CRASH_ROUNDS", "2"))
SEED = int(os.environ.get("MIXED_CRASH_SEED", "20240121"))

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


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def connect_all(server: ServerProcess, devices: list[Device]) -> None:
    """Sign every device in to the server, at the start and after each restart."""
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
    collected = server.cli("gc", "--grace", "0s")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    check_storage(server)
    check_no_leaked_chunks(server)
    steps = uploader.steps + organizer.steps
    print(f"\nmixed crash: {ROUNDS} rounds, {steps} steps, {len(model.files)} files,"
          f" gc runs {gc_runs} (killed {gc_killed}); crashes cut short:"
          f" {dict(uploader.interrupted + organizer.interrupted)}")
    assert steps >= ROUNDS
