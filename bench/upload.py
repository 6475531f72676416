"""Upload and download throughput of a real `homesync serve`, against bare baselines.

    python bench/upload.py [--size-mib 512] [--rounds 5] [--chunks 1,8] [--inflight 1,4]
                           [--no-fsync] [--engines uvicorn,granian]
    python bench/upload.py --quick        # 64 MiB, 2 rounds: a smoke run

Uploads a random file over loopback with 1 MiB and 8 MiB chunks, one chunk at a time and
with 4 in flight, to:

- ``homesync``: a real server on a fresh data dir (real SQLite, fsync on unless
  ``--no-fsync``), through the contract: init, signed chunk URLs, complete;
- ``litestar``: a bare Litestar route streaming ``request.stream()`` through sha256 into a
  file (bench/upload_baselines.py) — the baseline the goals are stated against;
- ``asgi``: a raw ASGI app doing the same — the Python ceiling on this machine;
- ``durable`` (fsync on only): the litestar route with homesync's blob discipline (temp
  file, fsync, rename, fsync of the directory): the ``x durable`` column is homesync's
  own overhead, with what durability costs on this disk taken out;
- with granian installed (``pip install granian``; not a dependency): ``hs/granian``, the
  same homesync app under granian (``homesync.asgi:app_from_environment``), and
  ``lit/granian``, the litestar route under granian, so the two HTTP servers can be
  compared for uploads (``serve`` runs uvicorn; the issue asks to keep the faster one).

The servers run pinned to core 0 and this client to core 1 (taskset); every round runs
each target once per configuration, interleaved, and the table shows medians. Per run:
MiB/s of the chunk transfer, and for homesync also end to end (init + chunks + complete)
and how long ``complete`` took (its check of the whole file's sha256, D4, is mostly done
while the chunks arrive: services/uploads/digest.py), server CPU seconds (process tree,
user + system) and peak RSS. Then: homesync's idle RSS and its peak with 8 uploads
in flight, and download MiB/s whole and by 8 MiB ranges.

Goals (issue 3): chunks at 8 MiB ≥ 0.85 × litestar, at 1 MiB ≥ 0.80 × litestar;
≤ 1.4 server CPU-seconds per 512 MiB; RSS ≤ 60 MiB idle and ≤ +16 MiB with 8 uploads.

Reading the CPU column: with fsync on (homesync's default, and what it promises phones),
the server itself writes each chunk back to disk before answering, so that kernel work is
charged to its threads; the baselines never fsync and leave it to the kernel's flusher.
``--no-fsync`` compares like with like. One chunk at a time, small chunks are bound by
the fsync latency of the disk (file, directory, then the SQLite WAL), not by the CPU.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from processes import free_port, stop, wait_healthy

MiB = 1024 * 1024
HERE = Path(__file__).resolve().parent
SERVER_CORE, CLIENT_CORE = 0, 1
PASSWORD = "bench horse battery staple"


# -- processes ---------------------------------------------------------------------------



def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server may run workers as children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    ticks: float = field(default_factory=lambda: float(os.sysconf("SC_CLK_TCK")))

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_healthy(self.proc, self.base, self.name)

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in _tree(self.proc.pid):
            try:
                with open(f"/proc/{pid}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / self.ticks
        return total

    def _status(self, key: str) -> int:
        kib = 0
        for pid in _tree(self.proc.pid):
            try:
                with open(f"/proc/{pid}/status") as fh:
                    for line in fh:
                        if line.startswith(key):
                            kib += int(line.split()[1])
            except OSError:
                continue
        return kib * 1024

    def rss(self) -> int:
        return self._status("VmRSS:")

    def reset_peak(self) -> None:
        for pid in _tree(self.proc.pid):
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as fh:
                    fh.write("5")  # resets VmHWM to the current RSS
            except OSError:
                pass

    def peak_rss(self) -> int:
        return self._status("VmHWM:")

    def stop(self) -> None:
        stop(self.proc)


def pinned(cmd: list[str]) -> list[str]:
    return ["taskset", "-c", str(SERVER_CORE), *cmd] if shutil.which("taskset") else cmd


GRANIAN = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
           "--host", "127.0.0.1", "--workers", "1", "--loop", "uvloop", "--no-ws",
           "--no-access-log", "--log-level", "warning"]


def start_homesync(data_dir: Path, fsync: bool, log: Path, engine: str = "uvicorn") -> Server:
    """A user, then `homesync serve` on ``data_dir`` (or the same app under granian)."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "true" if fsync else "false",
           "HOMESYNC_STORAGE_DISK_RESERVE": "0",
           "HOMESYNC_AUTH_ARGON2_TIME_COST": "1", "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
           "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1", "HOMESYNC_SERVER_LOG_LEVEL": "warning",
           # A full run outlasts the 15 min access token, and the clients never refresh.
           "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "3h",
           # Downloading by 8 MiB ranges on loopback is ~50 requests a second from one
           # device, past the per-device limit (20/s): this measures bytes, not the limit.
           "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0"}
    cli = [sys.executable, "-m", "homesync"]
    subprocess.run([*cli, "user", "add", "bench@example.com", "--password-stdin",
                    "--data-dir", str(data_dir)], input=PASSWORD + "\n", text=True, env=env,
                   check=True, capture_output=True)
    port = free_port()
    if engine == "uvicorn":
        cmd, name = [*cli, "serve", "--data-dir", str(data_dir), "--port", str(port)], "homesync"
    else:
        cmd, name = [*GRANIAN, "--port", str(port), "homesync.asgi:app_from_environment"], \
            "hs/granian"
    proc = subprocess.Popen(pinned(cmd), stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**env, "HOMESYNC_DATA_DIR": str(data_dir)})
    return _ready(Server(name, port, proc))


def start_baseline(kind: str, target_dir: Path, log: Path, engine: str = "uvicorn") -> Server:
    target_dir.mkdir()
    port = free_port()
    env = {**os.environ, "BENCH_BASELINE_DIR": str(target_dir), "PYTHONPATH": str(HERE)}
    if engine == "uvicorn":
        cmd, name = [sys.executable, str(HERE / "upload_baselines.py"), kind, str(port)], kind
    else:
        cmd, name = [*GRANIAN, "--port", str(port), f"upload_baselines:{kind}_app"], \
            f"{kind[:3]}/granian"
    proc = subprocess.Popen(pinned(cmd), stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env=env)
    return _ready(Server(name, port, proc))


def _ready(server: Server) -> Server:
    # Before the next server picks a free port: one still starting has not bound its own.
    server.wait_ready()
    return server


# -- clients -----------------------------------------------------------------------------


def spans(size: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(size, start + chunk)) for start in range(0, size, chunk)]


def run_parallel(jobs: list[Callable[[httpx.Client], None]], inflight: int) -> None:
    """Run ``jobs`` with ``inflight`` connections, each on its own keep-alive client."""
    local = threading.local()
    clients: list[httpx.Client] = []

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=120)
            clients.append(local.client)
        c: httpx.Client = local.client
        return c

    try:
        with ThreadPoolExecutor(inflight) as pool:
            for f in [pool.submit(lambda j=j: j(client())) for j in jobs]:
                f.result()
    finally:
        for c in clients:
            c.close()


def put_checked(c: httpx.Client, url: str, body: bytes) -> None:
    r = c.put(url, content=body)
    if r.status_code != 200:
        raise SystemExit(f"PUT {url} → {r.status_code} {r.text[:300]}")


def upload_baseline(server: Server, data: bytes, chunk: int, inflight: int) -> float:
    jobs = [lambda c, s=s, e=e, i=i: put_checked(c, f"{server.base}/chunk/{i}", data[s:e])
            for i, (s, e) in enumerate(spans(len(data), chunk))]
    t0 = time.perf_counter()
    run_parallel(jobs, inflight)
    return time.perf_counter() - t0


@dataclass
class Homesync:
    server: Server
    auth: dict[str, str]
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def upload(self, data: bytes, chunk: int,
               inflight: int) -> tuple[float, float, float, str, bytes]:
        """(seconds for the chunks, for complete, end to end; file id, the bytes sent)."""
        n = next(self.ids)  # atomic under the GIL: threads get distinct numbers
        # A new first 8 bytes each time: new content, so init never answers "deduplicated".
        data = n.to_bytes(8, "big") + data[8:]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        t0 = time.perf_counter()
        with httpx.Client(base_url=self.server.base, timeout=300) as http:
            r = http.post("/api/mobile/upload/init", headers=self.auth, json={
                "files": [{"localId": "b", "name": f"bench-{n}.bin", "folder": "/bench",
                           "size": len(data), "mimeType": "application/octet-stream",
                           "checksum": digest}],
                "uploadOptions": {"chunkSize": chunk}})
            item = r.json()["data"]["files"][0]
            if "chunks" not in item:
                raise SystemExit(f"init did not ask for bytes: {item}")
            jobs = [lambda c, ch=ch: put_checked(c, ch["uploadUrl"],
                                                 data[ch["start"]:ch["end"] + 1])
                    for ch in item["chunks"]]
            t1 = time.perf_counter()
            run_parallel(jobs, inflight)
            t2 = time.perf_counter()
            r = http.post("/api/mobile/upload/complete", headers=self.auth,
                          json={"uploadId": item["uploadId"], "checksum": digest})
            if r.status_code != 200:
                raise SystemExit(f"complete → {r.status_code} {r.text[:300]}")
            t3 = time.perf_counter()
        return t2 - t1, t3 - t2, t3 - t0, str(r.json()["data"]["fileId"]), data


def sign_in(server: Server, device: str = "bench") -> dict[str, str]:
    r = httpx.post(f"{server.base}/api/mobile/auth/register", json={
        "email": "bench@example.com", "password": PASSWORD,
        "deviceInfo": {"platform": "android", "model": "Bench", "osVersion": "1",
                       "appVersion": "1", "deviceId": device}})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}


def download(server: Server, auth: dict[str, str], file_id: str, size: int,
             range_size: int | None) -> float:
    url = f"{server.base}/api/mobile/files/{file_id}/content"
    t0 = time.perf_counter()
    got = 0
    with httpx.Client(timeout=300) as http:
        ranges = [(0, None)] if range_size is None else \
            [(s, e - 1) for s, e in spans(size, range_size)]
        for start, end in ranges:
            headers = dict(auth)
            if end is not None:
                headers["Range"] = f"bytes={start}-{end}"
            with http.stream("GET", url, headers=headers) as r:
                if r.status_code not in (200, 206):
                    raise SystemExit(f"download → {r.status_code}")
                for piece in r.iter_raw(1024 * 1024):
                    got += len(piece)
    if got != size:
        raise SystemExit(f"downloaded {got} bytes of {size}")
    return time.perf_counter() - t0


# -- the run -----------------------------------------------------------------------------


@dataclass
class Sample:
    mbps: list[float] = field(default_factory=list)
    e2e_mbps: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    peak: list[int] = field(default_factory=list)


def measure(server: Server, fn: Callable[[], Any]) -> tuple[Any, float, int]:
    server.reset_peak()
    cpu0 = server.cpu_seconds()
    result = fn()
    return result, server.cpu_seconds() - cpu0, server.peak_rss()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mib", type=int, default=512)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--chunks", default="1,8", help="chunk sizes in MiB")
    ap.add_argument("--inflight", default="1,4", help="chunks in flight")
    ap.add_argument("--no-fsync", action="store_true", help="homesync with storage.fsync off")
    ap.add_argument("--quick", action="store_true", help="64 MiB, 2 rounds")
    ap.add_argument("--engines", default="uvicorn,granian",
                    help="HTTP servers; granian is measured when installed")
    args = ap.parse_args()
    engines = args.engines.split(",")
    if "granian" in engines and importlib.util.find_spec("granian") is None:
        print("granian is not installed (pip install granian): measuring uvicorn only",
              file=sys.stderr)
        engines.remove("granian")
    if args.quick:
        args.size_mib, args.rounds = 64, 2
    size = args.size_mib * MiB
    chunk_sizes = [int(c) * MiB for c in args.chunks.split(",")]
    inflights = [int(n) for n in args.inflight.split(",")]
    if hasattr(os, "sched_setaffinity") and os.cpu_count() and os.cpu_count() > 1:  # type: ignore[operator]
        os.sched_setaffinity(0, {CLIENT_CORE})

    work = Path(tempfile.mkdtemp(prefix="homesync-bench-upload-"))
    log = work / "servers.log"
    servers: list[Server] = []
    try:
        hs = start_homesync(work / "data", not args.no_fsync, log)
        servers = [hs, start_baseline("litestar", work / "litestar", log),
                   start_baseline("asgi", work / "asgi", log)]
        if not args.no_fsync:  # with fsync off there is nothing to compare it with
            servers.append(start_baseline("durable", work / "durable", log))
        clients = {hs.name: Homesync(hs, sign_in(hs))}
        if "granian" in engines:
            hg = start_homesync(work / "data-granian", not args.no_fsync, log, "granian")
            clients[hg.name] = Homesync(hg, sign_in(hg))
            servers += [hg, start_baseline("litestar", work / "litestar-granian", log,
                                           "granian")]
        client = clients[hs.name]
        time.sleep(1)
        idle_rss = hs.rss()

        results: dict[tuple[str, int, int], Sample] = {}
        last_file = ("", b"")
        for round_no in range(args.rounds):
            data = os.urandom(size)
            for chunk in chunk_sizes:
                for inflight in inflights:
                    for server in servers:  # interleaved: every target once per round
                        sample = results.setdefault((server.name, chunk, inflight), Sample())
                        if server.name in clients:
                            (secs, done, e2e, file_id, sent), cpu, peak = measure(
                                server, lambda d=data, c=chunk, n=inflight,
                                h=clients[server.name]: h.upload(d, c, n))
                            sample.e2e_mbps.append(size / MiB / e2e)
                            sample.complete_ms.append(done * 1000)
                            if server is hs:
                                last_file = (file_id, sent)
                        else:
                            secs, cpu, peak = measure(
                                server, lambda s=server, d=data, c=chunk, n=inflight:
                                upload_baseline(s, d, c, n))
                        sample.mbps.append(size / MiB / secs)
                        sample.cpu.append(cpu * (512 * MiB) / size)
                        sample.peak.append(peak)
            print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

        # 8 uploads in flight at once (64 MiB each, 8 MiB chunks, one connection each),
        # from two phones: a device may stream 4 chunks at once (uploads limits).
        hs.reset_peak()
        base_rss = hs.rss()
        phones = [client, Homesync(hs, sign_in(hs, "bench-2"), client.ids)]
        many = [os.urandom(64 * MiB) for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: phones[i % 2].upload(many[i], 8 * MiB, 1), range(8)))
        peak_8 = hs.peak_rss()

        file_id, data = last_file
        dl_whole = [size / MiB / download(hs, client.auth, file_id, size, None)
                    for _ in range(args.rounds)]
        dl_ranges = [size / MiB / download(hs, client.auth, file_id, size, 8 * MiB)
                     for _ in range(args.rounds)]
        report(args, [s.name for s in servers], results, chunk_sizes, inflights, idle_rss, base_rss, peak_8, dl_whole,
               dl_ranges)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


def report(args: argparse.Namespace, names: list[str],
           results: dict[tuple[str, int, int], Sample], chunk_sizes: list[int],
           inflights: list[int], idle_rss: int, base_rss: int, peak_8: int,
           dl_whole: list[float], dl_ranges: list[float]) -> None:
    med = statistics.median
    print(f"\nUpload of {args.size_mib} MiB over loopback (uvicorn unless named), fsync "
          f"{'off' if args.no_fsync else 'on'}; medians of {args.rounds} interleaved rounds;"
          f" server on core {SERVER_CORE}, client on core {CLIENT_CORE}\n")
    head = (f"{'chunk':>6} {'inflight':>8} {'target':>11} {'MiB/s':>8} {'e2e MiB/s':>9}"
            f" {'complete ms':>11} {'CPU s/512MiB':>13} {'peak RSS':>9} {'x litestar':>11} {'x asgi':>7}"
            f" {'x durable':>10}")
    print(head)
    print("-" * len(head))
    verdicts: list[str] = []
    for chunk in chunk_sizes:
        for inflight in inflights:
            lit = med(results[("litestar", chunk, inflight)].mbps)
            ceiling = med(results[("asgi", chunk, inflight)].mbps)
            durable = results.get(("durable", chunk, inflight))
            for name in names:
                s = results[(name, chunk, inflight)]
                mbps = med(s.mbps)
                e2e = f"{med(s.e2e_mbps):9.0f}" if s.e2e_mbps else f"{'':>9}"
                done = f"{med(s.complete_ms):11.0f}" if s.complete_ms else f"{'':>11}"
                vs_durable = f"{mbps / med(durable.mbps):10.2f}" if durable else ""
                print(f"{chunk // MiB:>4}Mi {inflight:>8} {name:>11} {mbps:8.0f} {e2e} {done}"
                      f" {med(s.cpu):13.2f} {med(s.peak) / MiB:7.0f}Mi"
                      f" {mbps / lit:11.2f} {mbps / ceiling:7.2f} {vs_durable}")
            hs = results[("homesync", chunk, inflight)]
            goal = {8 * MiB: 0.85, 1 * MiB: 0.80}.get(chunk)
            if goal is not None:
                ratio = med(hs.mbps) / lit
                verdicts.append(f"{chunk // MiB} MiB chunks x{inflight}: {ratio:.2f} x litestar"
                                f" (goal ≥ {goal}) {'ok' if ratio >= goal else 'MISSED'}")
            cpu = med(hs.cpu)
            verdicts.append(f"{chunk // MiB} MiB chunks x{inflight}: {cpu:.2f} server CPU-s per"
                            f" 512 MiB (goal ≤ 1.4) {'ok' if cpu <= 1.4 else 'MISSED'}")
            if "hs/granian" in names:
                hg = med(results[("hs/granian", chunk, inflight)].mbps)
                verdicts.append(f"{chunk // MiB} MiB chunks x{inflight}: homesync under granian"
                                f" {hg / med(hs.mbps):.2f} x under uvicorn")
    print()
    print(f"homesync RSS idle: {idle_rss / MiB:.1f} MiB (goal ≤ 60) "
          f"{'ok' if idle_rss <= 60 * MiB else 'MISSED'}")
    extra = peak_8 - base_rss
    print(f"homesync RSS with 8 uploads in flight: peak {peak_8 / MiB:.1f} MiB, "
          f"+{extra / MiB:.1f} MiB over {base_rss / MiB:.1f} (goal ≤ +16) "
          f"{'ok' if extra <= 16 * MiB else 'MISSED'}")
    print(f"download whole file: {med(dl_whole):.0f} MiB/s; by 8 MiB ranges: "
          f"{med(dl_ranges):.0f} MiB/s ({med(dl_ranges) / med(dl_whole):.2f} x whole)")
    print()
    for v in verdicts:
        print(v)


if __name__ == "__main__":
    main()
