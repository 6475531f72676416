"""Downloads of a real `homesync serve`: a file of a few large chunks against the same
bytes in very many small ones.

    python bench/download.py [--chunks 10000] [--chunk-size 4KiB] [--large-chunk 8MiB]
                             [--rounds 7] [--before DIR]

Builds a data dir (one account, two files of the same size: ``large.bin`` in chunks of
``--large-chunk``, ``many.bin`` in ``--chunks`` chunks of ``--chunk-size``, the smallest
``uploads.min_chunk_size`` may be set to), starts ``homesync serve`` on it (fsync off:
nothing is written) and, each round, for each file in turn:

* ``GET`` of the whole file: time to the first byte of the body (the server reads the
  manifest and checks that every chunk is there before it answers), MiB/s of the whole
  request, and of the body after its first byte;
* ``GET`` of a 1 MiB range in the middle (in ``many.bin`` it spans 256 chunks): time to
  the first byte and the whole request;
* meanwhile a ``GET /healthz`` every 10 ms: the slowest one tells how long the download
  kept the event loop from other requests.

The server runs pinned to core 0 and this client to core 1 (taskset); the table shows
medians of ``--rounds`` rounds. The data dir is built by this checkout's code, and the
server runs it too (PYTHONPATH).

``--before DIR`` compares with other code: ``DIR`` holds a ``homesync`` package (say
``git archive <commit> homesync | tar -x -C DIR``); it builds its own data dir (its
schema may be older) and runs a second server, and each round downloads from both in
turn, so the load of the moment weighs on both alike; the table has a row per code.

On the shared 2-core machine (load ~8, 2026-11-28), 39 MiB, --rounds 5, three runs of
each taken in turn, before and after 86a5581 (small chunks read joined into pieces of up
to 1 MiB, one thread trip each, instead of an open and a read per chunk on a thread):

                      first byte ms    MiB/s   body MiB/s   1 MiB range ms
    large.bin before       21-51      64-141       68-155             6-14
    large.bin after        17-84      64-114       74-122             7-24
    many.bin  before     507-1117        9-11        11-12          149-370
    many.bin  after       663-930       22-30        35-63          142-232

The first byte of many.bin waits for its 10 000-row manifest and a stat of each chunk
(the check that all are there): reading the chunks is no longer what costs most, and a
range still reads the whole manifest.

Same machine and load (~9.5), --rounds 5, --before: HEAD of 2026-11-28 13:41 against the
same tree without 4c25225 and d9f87a1 (a range reads only its rows of the manifest, found
by where each chunk begins; the whole manifest without the join to chunks; the check of
every chunk by access(2), each hash once):

      file   code  chunks first byte ms   MiB/s body MiB/s healthz max ms range first ms
    ---------------------------------------------------------------------------------------
 large.bin before       5          20.6      82         86           16.9            4.4
 large.bin  after       5          18.5      96        100           13.3            4.0
  many.bin before   10000         875.1      21         41          409.1          243.8
  many.bin  after   10000         634.0      25         43          164.5           27.8

Two earlier runs of the same pair (with other work in the tree) gave many.bin first byte
1057 -> 625 and 753 -> 725 ms, healthz max 189 -> 101 and 61 -> 61 ms, range first 237
-> 32 and 188 -> 25 ms: at this load the first byte and the stalls move with the box,
the range does not. Measured in-process by CPU time instead (steadier under load),
opening the 10 000-chunk download takes ~125 ms of CPU instead of ~170 (the check ~70
instead of ~95; the manifest read about the same, ~50, but no longer followed by passes
over its 10 000 rows in Python), ~8 ms of it on the event loop instead of ~17. What is left of the first byte is mostly
that check: one access(2) per chunk, kept before the first byte so a missing chunk is a
500 and not a 200 cut short.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The homesync code to build a data dir with (--build-into, run by main for each code).
CODE = Path(os.environ.get("HOMESYNC_BENCH_CODE", ROOT))
sys.path.insert(0, str(CODE))

import httpx  # noqa: E402
from processes import free_port  # noqa: E402
from upload import CLIENT_CORE, PASSWORD, Server, pinned, sign_in  # noqa: E402

from homesync.config import load_settings, parse_size  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.store import files  # noqa: E402

MiB = 1024 * 1024
RANGE = MiB
LIGHT_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1}


async def build(data_dir: Path, total: int, chunk_sizes: dict[str, int]) -> dict[str, str]:
    """One account and a file of ``total`` random bytes per name, cut into chunks of its
    size; their ids by name."""
    settings = load_settings(None, environ={}, overrides={
        "data_dir": str(data_dir), "storage": {"fsync": False}, "auth": LIGHT_ARGON2})
    services = await Services.open(settings)
    ids: dict[str, str] = {}
    try:
        user = await services.accounts.create_user("bench@example.com", PASSWORD, name="Bench")
        for name, chunk_size in chunk_sizes.items():
            data = os.urandom(total)
            hashes = []
            async with services.db.transaction() as tx:
                for start in range(0, total, chunk_size):
                    piece = data[start:start + chunk_size]
                    digest = hashlib.sha256(piece).hexdigest()
                    path = services.chunks.path_for(digest)  # type: ignore[attr-defined]
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(piece)
                    await tx.execute("INSERT OR IGNORE INTO chunks (hash, size, created_at)"
                                     " VALUES (?, ?, 0)", (digest, len(piece)))
                    hashes.append(digest)
                done = await files.commit_version(
                    tx, user_id=user.id, file_id=None, folder="/bench", name=name, size=total,
                    checksum="sha256:" + hashlib.sha256(data).hexdigest(),
                    mime_type="application/octet-stream", metadata={}, modified_at=0,
                    chunk_hashes=hashes, device_id=None, now=0)
            ids[name] = done.file_id
        await services.db.checkpoint()
    finally:
        await services.close()
    return ids


def build_with(code: Path, data_dir: Path, total: int,
               chunk_sizes: dict[str, int]) -> dict[str, str]:
    """:func:`build` run by ``code``'s homesync, in a process of its own; the ids."""
    done = subprocess.run(
        [sys.executable, __file__, "--build-into", str(data_dir), "--total", str(total),
         "--sizes", json.dumps(chunk_sizes)],
        env={**os.environ, "HOMESYNC_BENCH_CODE": str(code)}, check=True,
        stdout=subprocess.PIPE)
    ids: dict[str, str] = json.loads(done.stdout)
    return ids


def serve(data_dir: Path, log: Path, code: Path = ROOT) -> Server:
    env = {**os.environ, "PYTHONPATH": str(code), "HOMESYNC_DATA_DIR": str(data_dir),
           "HOMESYNC_STORAGE_FSYNC": "false", "HOMESYNC_STORAGE_DISK_RESERVE": "0",
           "HOMESYNC_SERVER_LOG_LEVEL": "warning", "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "3h",
           "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0"}
    port = free_port()
    proc = subprocess.Popen(
        pinned([sys.executable, "-m", "homesync", "serve", "--data-dir", str(data_dir),
                "--port", str(port)]),
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env,
        cwd=data_dir.parent)  # not a checkout: `python -m` puts the cwd before PYTHONPATH
    server = Server("homesync", port, proc)
    server.wait_ready()
    return server


class Pinger:
    """``GET /healthz`` every 10 ms on its own thread; the slowest answer while it ran."""

    def __init__(self, base: str) -> None:
        self._base, self._stop = base, threading.Event()
        self.slowest = 0.0
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base, timeout=30) as http:
            while not self._stop.wait(0.01):
                t0 = time.perf_counter()
                http.get("/healthz")
                self.slowest = max(self.slowest, time.perf_counter() - t0)

    def __enter__(self) -> Pinger:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def timed_get(http: httpx.Client, url: str, headers: dict[str, str],
              expect: int) -> tuple[float, float, int]:
    """(seconds to the first body byte, seconds in all, bytes) of one GET."""
    t0 = time.perf_counter()
    first, got = 0.0, 0
    with http.stream("GET", url, headers=headers) as r:
        if r.status_code != expect:
            raise SystemExit(f"GET {url} → {r.status_code}")
        for piece in r.iter_raw():  # as it comes: iter_raw(n) would wait for n bytes
            if not got:
                first = time.perf_counter() - t0
            got += len(piece)
    return first, time.perf_counter() - t0, got


@dataclass
class Sample:
    ttfb: list[float] = field(default_factory=list)
    mbps: list[float] = field(default_factory=list)
    body_mbps: list[float] = field(default_factory=list)
    stall: list[float] = field(default_factory=list)
    range_ttfb: list[float] = field(default_factory=list)
    range_total: list[float] = field(default_factory=list)


def one_round(server: Server, auth: dict[str, str], ids: dict[str, str], total: int,
              results: dict[str, Sample]) -> None:
    mid = total // 2
    with httpx.Client(timeout=300) as http:
        for name, file_id in ids.items():
            url = f"{server.base}/api/mobile/files/{file_id}/content"
            s = results.setdefault(name, Sample())
            with Pinger(server.base) as pinger:
                first, secs, got = timed_get(http, url, auth, 200)
            if got != total:
                raise SystemExit(f"{name}: {got} bytes of {total}")
            s.ttfb.append(first)
            s.mbps.append(total / MiB / secs)
            s.body_mbps.append(total / MiB / (secs - first))
            s.stall.append(pinger.slowest)
            first, secs, got = timed_get(
                http, url, {**auth, "Range": f"bytes={mid}-{mid + RANGE - 1}"}, 206)
            if got != RANGE:
                raise SystemExit(f"{name} range: {got} bytes of {RANGE}")
            s.range_ttfb.append(first)
            s.range_total.append(secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--chunks", type=int, default=10_000)
    ap.add_argument("--chunk-size", default="4KiB")
    ap.add_argument("--large-chunk", default="8MiB")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--before", type=Path, help="a directory holding the homesync code to"
                    " compare with")
    ap.add_argument("--build-into", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--total", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_into is not None:  # the child of build_with
        print(json.dumps(asyncio.run(build(args.build_into, args.total,
                                           json.loads(args.sizes)))))
        return
    small, large = parse_size(args.chunk_size), parse_size(args.large_chunk)
    total = args.chunks * small
    chunk_sizes = {"large.bin": large, "many.bin": small}
    codes = {"after": ROOT, "before": args.before.resolve()} if args.before else {"": ROOT}
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})
    work = Path(tempfile.mkdtemp(prefix="homesync-bench-download-"))
    servers: dict[str, tuple[Server, dict[str, str], dict[str, str]]] = {}
    try:
        for label, code in codes.items():
            data_dir = work / f"data-{label or 'here'}"
            ids = build_with(code, data_dir, total, chunk_sizes)
            server = serve(data_dir, work / f"server-{label or 'here'}.log", code)
            servers[label] = (server, sign_in(server), ids)
        results: dict[str, dict[str, Sample]] = {label: {} for label in codes}
        for server, auth, ids in servers.values():  # warm-up: page cache, first imports
            one_round(server, auth, ids, total, {})
        for n in range(args.rounds):
            # Turn about, the first in alternate rounds: neither always follows the other.
            order = list(servers.items())[::1 if n % 2 == 0 else -1]
            for label, (server, auth, ids) in order:
                one_round(server, auth, ids, total, results[label])
            print(f"round {n + 1}/{args.rounds} done", file=sys.stderr)
        report(args, total, chunk_sizes, codes, results)
    finally:
        for server, _, _ in servers.values():
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, total: int, chunk_sizes: dict[str, int],
           codes: dict[str, Path], results: dict[str, dict[str, Sample]]) -> None:
    med = statistics.median
    where = "; ".join(f"{label or 'code'}: {code}" for label, code in codes.items())
    print(f"\nDownload of {total / MiB:.1f} MiB over loopback ({where}); medians of "
          f"{args.rounds} rounds; a 1 MiB range from the middle\n")
    head = (f"{'file':>10} {'code':>6} {'chunks':>7} {'first byte ms':>13} {'MiB/s':>7}"
            f" {'body MiB/s':>10} {'healthz max ms':>14} {'range first ms':>14}"
            f" {'range ms':>9}")
    print(head)
    print("-" * len(head))
    for name, chunk_size in chunk_sizes.items():
        for label in sorted(codes, reverse=True):  # before, then after
            s = results[label][name]
            print(f"{name:>10} {label:>6} {-(-total // chunk_size):>7}"
                  f" {med(s.ttfb) * 1000:13.1f} {med(s.mbps):7.0f} {med(s.body_mbps):10.0f}"
                  f" {med(s.stall) * 1000:14.1f} {med(s.range_ttfb) * 1000:14.1f}"
                  f" {med(s.range_total) * 1000:9.1f}")


if __name__ == "__main__":
    main()
