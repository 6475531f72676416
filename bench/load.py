"""Home-server load against a real `homesync serve`: reliability-plan §3 (a), (b) and (d).

    python bench/load.py [--users 10] [--devices-per-user 5] [--duration 120] [--rps 100]
                         [--upload-mib 2048] [--soak 600] [--soak-rps 20]
    python bench/load.py --quick          # 30 s, 256 MiB, 60 s of soak: a smoke run

One server on a fresh data dir (real SQLite, fsync on, default settings except cheap
argon2 for the setup's sign-ins), ``--users`` accounts made with the CLI, each signed in
on ``--devices-per-user`` devices. Then, in turn:

- **(a) metadata:** ``--rps`` requests a second for ``--duration`` seconds, open loop
  (each request is sent at its scheduled time whether or not earlier ones have answered,
  and its latency counts from that time, so a stalled server cannot hide behind a client
  that waits: no coordinated omission), spread over all devices: sync status with the
  device's token, a folder listing, the device list, the inbox, and offline-queue
  operations that really change the tree. Targets: p95 < 150 ms, p99 < 500 ms, no 5xx,
  no "database is locked" in the server's log.
- **(b) uploads:** 8 devices upload ``--upload-mib`` in all at once, 8 MiB chunks, 4 in
  flight each (a first photo-library backup on several phones). Targets: ≥ 50 MB/s
  together, server RSS < 512 MiB, every file's sha256 checked (by ``complete``, and by
  downloading one back).
- **(d) soak:** ``--soak-rps`` for ``--soak`` seconds of the same mix. Targets: RSS grows
  < 10 %, the ``-wal`` file stays < 64 MiB, the open file count does not grow.

Prints a table per part; the exit status is 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from processes import free_port, stop, wait_healthy
from upload import Homesync, Server

API = "/api/mobile"
PASSWORD = "bench horse battery staple"
MiB = 1024 * 1024


@dataclass
class Device:
    email: str
    auth: dict[str, str]
    token: str | None = None  # its sync token
    ops: itertools.count[int] = field(default_factory=itertools.count)


@dataclass
class Outcomes:
    latencies: list[float] = field(default_factory=list)  # seconds, from the scheduled time
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # no answer at all

    def add(self, status: int | None, latency: float) -> None:
        if status is None:
            self.errors += 1
            return
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0

    def fives(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


# -- the server --------------------------------------------------------------------------


def start(work: Path, users: int) -> Server:
    data = work / "data"
    env = {**os.environ, "HOMESYNC_STORAGE_DISK_RESERVE": "0",
           "HOMESYNC_AUTH_ARGON2_TIME_COST": "1", "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
           "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1", "HOMESYNC_SERVER_LOG_LEVEL": "warning",
           # A full run outlasts the 15 min access token, and the clients never refresh.
           "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "3h"}
    cli = [sys.executable, "-m", "homesync"]
    for n in range(users):
        subprocess.run([*cli, "user", "add", f"user{n}@example.com", "--password-stdin",
                        "--data-dir", str(data)], input=PASSWORD + "\n", text=True, env=env,
                       check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*cli, "serve", "--data-dir", str(data), "--port", str(port)],
                            stdout=(work / "server.log").open("ab"), stderr=subprocess.STDOUT,
                            env=env)
    server = Server("homesync", port, proc)
    wait_healthy(proc, server.base, "homesync")
    return server


def sign_in(server: Server, email: str, device: str) -> Device:
    r = httpx.post(f"{server.base}{API}/auth/register", timeout=60, json={
        "email": email, "password": PASSWORD, "deviceInfo": {
            "platform": "android", "model": "Load", "osVersion": "14", "appVersion": "1",
            "deviceId": device}})
    r.raise_for_status()
    return Device(email, {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"})


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wal_bytes(work: Path) -> int:
    wal = work / "data" / "homesync.sqlite3-wal"
    return wal.stat().st_size if wal.exists() else 0


# -- (a) and (d): the metadata mix, open loop -------------------------------------------


async def one_request(http: httpx.AsyncClient, dev: Device) -> int:
    """One call of the mix, as a phone makes them; its status."""
    kind = random.random()
    if kind < 0.35:
        params = {"limit": 200, **({"syncToken": dev.token} if dev.token else {})}
        r = await http.get(f"{API}/sync/status", params=params, headers=dev.auth)
        if r.status_code == 200:
            dev.token = r.json()["data"]["nextSyncToken"]
    elif kind < 0.55:
        r = await http.get(f"{API}/files", params={"folder": "/"}, headers=dev.auth)
    elif kind < 0.70:
        r = await http.get(f"{API}/devices", headers=dev.auth)
    elif kind < 0.85:
        r = await http.get(f"{API}/notifications", headers=dev.auth)
    else:  # a change: the offline queue makes a folder (a write transaction, a journal row)
        n = next(dev.ops)
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        r = await http.post(f"{API}/queue/add", headers=dev.auth, json={"operations": [{
            "id": f"op-{id(dev)}-{n}", "type": "mkdir",
            "remotePath": f"/load/{id(dev) % 100000}/{n}", "createdAt": created}]})
    return r.status_code


async def open_loop(base: str, devices: list[Device], rps: float, seconds: float,
                    sample: Any = None) -> Outcomes:
    """``rps`` calls a second for ``seconds``, each sent at its time; ``sample()`` is
    called every 10 s (the soak's RSS, WAL and file readings)."""
    out = Outcomes()
    limits = httpx.Limits(max_connections=len(devices) * 2)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        started = time.perf_counter()

        async def call(at: float, dev: Device) -> None:
            await asyncio.sleep(max(0.0, started + at - time.perf_counter()))
            try:
                status: int | None = await one_request(http, dev)
            except httpx.HTTPError:
                status = None
            out.add(status, time.perf_counter() - (started + at))

        total = int(rps * seconds)
        tasks = [asyncio.create_task(call(i / rps, random.choice(devices)))
                 for i in range(total)]
        if sample is not None:
            for _ in range(int(seconds // 10)):
                await asyncio.sleep(10)
                sample()
        await asyncio.gather(*tasks)
    return out


# -- (b): first backups on several phones ----------------------------------------------


def upload_storm(server: Server, devices: list[Device], total_mib: int) -> dict[str, float]:
    per_phone = max(8, total_mib // len(devices)) * MiB
    names = itertools.count(1)  # one numbering: two phones of a user never pick one name
    phones = [Homesync(server, dev.auth, names) for dev in devices]
    files = [os.urandom(per_phone) for _ in phones]
    server.reset_peak()
    t0 = time.perf_counter()
    with ThreadPoolExecutor(len(phones)) as pool:
        done = list(pool.map(lambda i: phones[i].upload(files[i], 8 * MiB, 4), range(len(phones))))
    seconds = time.perf_counter() - t0
    # complete checked every file's sha256; download one back as well.
    _, _, _, file_id, sent = done[0]
    got = hashlib.sha256()
    with httpx.stream("GET", f"{server.base}{API}/files/{file_id}/content",
                      headers=devices[0].auth, timeout=300) as r:
        for piece in r.iter_raw(MiB):
            got.update(piece)
    return {"mbps": len(phones) * per_phone / 1e6 / seconds, "seconds": seconds,
            "peak_rss": server.peak_rss(),
            "verified": float(got.hexdigest() == hashlib.sha256(sent).hexdigest()),
            "mib": len(phones) * per_phone / MiB}


# -- the run ---------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=10)
    ap.add_argument("--devices-per-user", type=int, default=5)
    ap.add_argument("--duration", type=float, default=120)
    ap.add_argument("--rps", type=float, default=100)
    ap.add_argument("--upload-mib", type=int, default=2048)
    ap.add_argument("--soak", type=float, default=600)
    ap.add_argument("--soak-rps", type=float, default=20)
    ap.add_argument("--quick", action="store_true", help="30 s, 256 MiB, 60 s of soak")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.upload_mib, args.soak = 30, 256, 60
    random.seed(1)
    work = Path(tempfile.mkdtemp(prefix="homesync-bench-load-"))
    server = start(work, args.users)
    missed: list[str] = []
    try:
        devices = [sign_in(server, f"user{u}@example.com", f"dev-{u}-{d}")
                   for u in range(args.users) for d in range(args.devices_per_user)]

        a = asyncio.run(open_loop(server.base, devices, args.rps, args.duration))
        locked = (work / "server.log").read_text(errors="replace").count("database is locked")
        print(f"\n(a) metadata: {args.rps:g} rps for {args.duration:g} s over {len(devices)}"
              f" devices ({len(a.latencies)} answered, {a.errors} without an answer)")
        print(f"    p50 {a.pct(0.50):.1f} ms, p95 {a.pct(0.95):.1f} ms, p99 {a.pct(0.99):.1f}"
              f" ms; statuses {dict(sorted(a.statuses.items()))}; 'database is locked' {locked}")
        for ok, text in ((a.pct(0.95) < 150, "p95 < 150 ms"), (a.pct(0.99) < 500, "p99 < 500 ms"),
                         (a.fives() == 0 and a.errors == 0, "no 5xx, every call answered"),
                         (locked == 0, "no 'database is locked'")):
            print(f"    {text}: {'ok' if ok else 'MISSED'}")
            missed += [] if ok else [f"(a) {text}"]

        b = upload_storm(server, devices[:8], args.upload_mib)
        print(f"\n(b) uploads: {b['mib']:.0f} MiB from 8 devices at once (8 MiB chunks, 4 in"
              f" flight each) in {b['seconds']:.1f} s: {b['mbps']:.0f} MB/s; server peak RSS"
              f" {b['peak_rss'] / MiB:.0f} MiB; downloaded copy matches: {bool(b['verified'])}")
        for ok, text in ((b["mbps"] >= 50, "≥ 50 MB/s"), (b["peak_rss"] < 512 * MiB,
                         "RSS < 512 MiB"), (b["verified"] == 1.0, "sha256 verified")):
            print(f"    {text}: {'ok' if ok else 'MISSED'}")
            missed += [] if ok else [f"(b) {text}"]

        readings: list[tuple[int, int, int]] = []

        def sample() -> None:
            readings.append((server.rss(), wal_bytes(work), open_files(server.proc.pid)))

        sample()
        d = asyncio.run(open_loop(server.base, devices, args.soak_rps, args.soak, sample))
        rss = [r[0] for r in readings]
        growth = (rss[-1] - rss[0]) / rss[0] if rss else 0.0
        wal_max = max(r[1] for r in readings)
        fds = [r[2] for r in readings]
        print(f"\n(d) soak: {args.soak_rps:g} rps for {args.soak:g} s: RSS {rss[0] / MiB:.0f} →"
              f" {rss[-1] / MiB:.0f} MiB ({growth:+.1%}); WAL at most {wal_max / MiB:.1f} MiB;"
              f" open files {fds[0]} → {fds[-1]}; p99 {d.pct(0.99):.1f} ms,"
              f" statuses {dict(sorted(d.statuses.items()))}")
        for ok, text in ((growth < 0.10, "RSS grows < 10 %"), (wal_max < 64 * MiB, "WAL < 64 MiB"),
                         (fds[-1] <= fds[0] + 2, "open files stable"),
                         (d.fives() == 0 and d.errors == 0, "no 5xx, every call answered")):
            print(f"    {text}: {'ok' if ok else 'MISSED'}")
            missed += [] if ok else [f"(d) {text}"]
    finally:
        stop(server.proc)
        shutil.rmtree(work, ignore_errors=True)
    print("\nall targets met" if not missed else "\nMISSED: " + "; ".join(missed))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
