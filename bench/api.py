"""API throughput and latency of a real `homesync serve`, against a bare Litestar baseline.

    python bench/api.py [--duration 3] [--rounds 3] [--connections 1,64]
                        [--engines uvicorn,granian]

How to run it: from the repository root with the project's venv
(``/work/venv/bin/python bench/api.py``); ``--duration 2 --rounds 1 --engines uvicorn``
is a quick look (~25 s), the defaults are the number to quote (~2-3 min). Run it on a
quiet machine: wrk, the server and the baseline share the CPUs, so other load moves the
ratios by 0.1 or more; note the load average next to any table you quote. Both servers
run under uvicorn with its fast paths (httptools parser, uvloop loop; homesync depends on
both), so the ratio is the cost of homesync's own work per request.

Measures, on loopback with wrk (Debian: apt-get install wrk) as the load generator:

- ``GET /api/mobile/devices`` with a Bearer token (JWT check, a database read, the
  device list encoded);
- ``POST /api/mobile/auth/refresh`` (a write transaction with fsync: each connection
  follows its own rotating refresh-token chain, as a phone would);

each at 1 and 64 concurrent connections, against a real ``homesync serve`` subprocess on
a fresh data dir (real SQLite, fsync on, default settings except cheap argon2 for the
setup's sign-ins, and the per-device rate limits off: one device goes far past 20
requests a second and 30 refreshes a minute) and against bench/bare_app.py, a bare
Litestar route answering the same bytes under the same HTTP server. With granian
installed it also runs the same app under granian (``homesync.asgi:app_from_environment``)
to compare the two servers. Rounds are interleaved (every target once per round) and the
table shows medians. Goals: GET /devices at least 0.35x the bare route's rate, refresh at
least 0.15x.

Latency is timed per request by the wrk script (one connection per wrk thread), not
taken from wrk's report, which adds made-up samples to its histogram (``percentile``);
p50 and p99 leave out each connection's first request, which also waits to be accepted
and is shown below the table on its own (``measure``).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from processes import free_port, stop, wait_healthy

ROOT = Path(__file__).resolve().parent.parent
API = "/api/mobile"
PASSWORD = "bench password 123"
GOALS = {"devices": 0.35, "refresh": 0.15}
BENCH_ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    # One device makes thousands of calls and refreshes a second, far more than a phone
    # would: the per-device limits (20 rps, 30 refreshes a minute) are off.
    "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0",
    "HOMESYNC_AUTH_REFRESH_PER_MINUTE": "0",
}

# Every wrk thread has one connection (threads = connections), so its requests and answers
# alternate and each latency is timed here, in microseconds: wrk's own percentiles are not
# the latencies it measured (see percentile). A connection's first answer is kept apart:
# it includes waiting to be accepted. One parsable line per run.
_MEASURE = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + math.floor(tonumber(clock.tv_nsec) / 1000)
end
latencies = {}
first = nil
local sent = nil
function started() sent = now_us() end
function answered()
  if not sent then return end
  if first then latencies[#latencies + 1] = now_us() - sent else first = now_us() - sent end
  sent = nil
end

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
  if setup_thread then setup_thread(thread, #threads) end
end
function done(summary, latency, requests)
  local e = summary.errors
  local all, firsts = {}, {}
  for _, thread in ipairs(threads) do
    for _, us in ipairs(thread:get("latencies")) do all[#all + 1] = us end
    firsts[#firsts + 1] = thread:get("first")
  end
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": %d, "latencies_us": [%s], ' ..
    '"first_us": [%s]}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
    table.concat(all, ","), table.concat(firsts, ",")))
end
"""

_GET_SCRIPT = """
local get
function init(args)
  get = wrk.format("GET", nil, {["Authorization"] = "Bearer {token}"})
end
function request()
  started()
  return get
end
function response(status, headers, body) answered() end
""" + _MEASURE

# One refresh-token chain per connection (wrk thread): each answer carries the next token.
_REFRESH_SCRIPT = """
local chains = {chains}
function setup_thread(thread, number)
  thread:set("token", chains[number][1])
  thread:set("client", chains[number][2])
end
function request()
  started()
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    '{"refreshToken":"' .. token .. '","deviceId":"' .. client .. '"}')
end
function response(status, headers, body)
  answered()
  local next_token = body:match('"refreshToken":"([^"]+)"')
  if status == 200 and next_token then token = next_token end
end
""" + _MEASURE



@dataclass
class Server:
    """One server process under test."""

    name: str  # "homesync" or "bare"
    engine: str
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        wait_healthy(self.proc, self.base, f"{self.name}/{self.engine}")

    def stop(self) -> None:
        stop(self.proc)


def start_homesync(engine: str, data_dir: Path, env: dict[str, str], log: Path) -> Server:
    """`homesync serve` itself (uvicorn), or the same app under granian."""
    port = free_port()
    if engine == "uvicorn":
        cmd = [sys.executable, "-m", "homesync", "serve", "--data-dir", str(data_dir),
               "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory", "--port",
               str(port), "--workers", "1", "--no-access-log", "--log-level", "warning",
               "homesync.asgi:app_from_environment"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            env={**env, "HOMESYNC_DATA_DIR": str(data_dir)})
    return Server("homesync", engine, port, proc)


def start_bare(engine: str, bodies: Path, log: Path) -> Server:
    port = free_port()
    env = {**os.environ, "BENCH_BARE_BODIES": str(bodies),
           "PYTHONPATH": str(ROOT / "bench")}
    if engine == "uvicorn":
        cmd = [sys.executable, "-m", "uvicorn", "--factory", "bare_app:create", "--port",
               str(port), "--no-access-log", "--log-level", "warning", "--lifespan", "on"]
    else:
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
               "--port", str(port), "--workers", "1", "--no-access-log", "--log-level",
               "warning", "bare_app:create"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    return Server("bare", engine, port, proc)


@dataclass
class Accounts:
    """The bench's users on the homesync data dir, and what the setup learned."""

    reader_tokens: dict[str, str] = field(default_factory=dict)  # per engine: own data dir
    devices_body: bytes = b""
    refresh_body: bytes = b""
    chain_users: int = 0

    def chains(self, server: Server, count: int) -> list[tuple[str, str]]:
        """``count`` fresh refresh-token chains: each chain user signs in again."""
        found: list[tuple[str, str]] = []
        with httpx.Client(base_url=server.base, timeout=30) as http:
            for i in range(count):
                body = register(http, f"chain{i}@bench.example", f"chain-{i}")
                found.append((body["tokens"]["refreshToken"], f"chain-{i}"))
        return found


def register(http: httpx.Client, email: str, client_id: str,
             model: str = "Pixel 7") -> dict[str, Any]:
    r = http.post(f"{API}/auth/register", json={
        "email": email, "password": PASSWORD,
        "deviceInfo": {"platform": "android", "model": model, "osVersion": "14",
                       "appVersion": "1.0", "deviceId": client_id}})
    if r.status_code not in (200, 201):
        raise SystemExit(f"register {email}: {r.status_code} {r.text}")
    body: dict[str, Any] = r.json()
    return body


def set_up_accounts(env: dict[str, str], data_dir: Path, chain_users: int) -> None:
    """The reader and one account per refresh chain, made in one process (as the CLI would)."""
    emails = ["reader@bench.example"] + [f"chain{i}@bench.example" for i in range(chain_users)]
    script = (
        "import asyncio, sys\n"
        "from homesync.config import load_settings\n"
        "from homesync.services.container import Services\n"
        "async def main():\n"
        "    s = await Services.open(load_settings())\n"
        "    for email in sys.argv[2:]:\n"
        "        await s.accounts.create_user(email, sys.argv[1])\n"
        "    await s.close()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", script, PASSWORD, *emails], check=True, timeout=300,
                   env={**env, "HOMESYNC_DATA_DIR": str(data_dir)})


def learn(server: Server, accounts: Accounts) -> None:
    """Sign the reader's devices in and record real answers for the bare baseline."""
    with httpx.Client(base_url=server.base, timeout=30) as http:
        reader = {}
        for client_id, model in (("phone", "Pixel 7"), ("tablet", "Galaxy Tab"),
                                 ("laptop", "ThinkPad")):
            reader = register(http, "reader@bench.example", client_id, model)
        token = reader["tokens"]["accessToken"]
        accounts.reader_tokens[server.engine] = token
        r = http.get(f"{API}/devices", headers={"Authorization": f"Bearer {token}"})
        r.raise_for_status()
        accounts.devices_body = r.content
        r = http.post(f"{API}/auth/refresh", json={
            "refreshToken": reader["tokens"]["refreshToken"], "deviceId": "laptop"})
        r.raise_for_status()
        accounts.refresh_body = r.content


@dataclass
class Sample:
    rate: float
    p50_ms: float
    p99_ms: float
    errors: int
    first_ms: float = 0.0  # the slowest first answer of a connection (see measure)


@dataclass
class Results:
    samples: dict[tuple[str, str, int, str], list[Sample]] = field(default_factory=dict)

    def add(self, key: tuple[str, str, int, str], sample: Sample) -> None:
        self.samples.setdefault(key, []).append(sample)

    def median(self, key: tuple[str, str, int, str]) -> Sample:
        got = self.samples[key]
        return Sample(rate=statistics.median(s.rate for s in got),
                      p50_ms=statistics.median(s.p50_ms for s in got),
                      p99_ms=statistics.median(s.p99_ms for s in got),
                      errors=sum(s.errors for s in got),
                      first_ms=statistics.median(s.first_ms for s in got))


def run_wrk(url: str, script: str, connections: int, threads: int, duration: int,
            workdir: Path) -> Sample:
    script_path = workdir / "script.lua"
    script_path.write_text(script)
    done = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s",
         "-s", str(script_path), url],
        capture_output=True, text=True, timeout=duration + 60,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")
    data = json.loads(line[len("BENCH "):])
    latencies = sorted(data["latencies_us"])
    if not latencies:
        raise SystemExit(f"wrk timed no requests:\n{done.stdout}\n{done.stderr}")
    return Sample(rate=data["requests"] / (data["duration_us"] / 1e6),
                  p50_ms=percentile(latencies, 50) / 1000,
                  p99_ms=percentile(latencies, 99) / 1000, errors=data["errors"],
                  first_ms=max(data["first_us"], default=0) / 1000)


def percentile(ordered: list[int], p: float) -> int:
    """The ``p``-th percentile of ``ordered`` (sorted): the value at rank ceil(p% of n).

    Why not wrk's own: before it reports (and before a script's ``done`` sees it), wrk
    "corrects" its latency histogram for coordinated omission (stats_correct in its
    stats.c): a request slower than twice a connection's average time between requests
    adds made-up samples below it, one per such interval, as if a waiting connection had
    owed requests on a schedule. This benchmark is closed-loop and owes none, and the
    made-up samples swamped the measured ones: at 64 connections the few dozen first
    requests that wait to be accepted (see measure), up to ~0.7 s, added ~7% samples
    between 20 and 700 ms, and wrk reported a p99 of 350-550 ms for homesync (115-190 ms
    for the bare route) where the same requests, timed one by one, gave ~40 ms (~20 ms).
    """
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def lua_chains(chains: list[tuple[str, str]]) -> str:
    return "{" + ", ".join(f'{{"{t}", "{c}"}}' for t, c in chains) + "}"


def measure(server: Server, endpoint: str, connections: int, duration: int,
            accounts: Accounts, workdir: Path) -> Sample:
    """One wrk run. p50 and p99 are of the requests after each connection's first.

    The first answer of a connection also waits for the server to accept it, and uvloop
    accepts one connection per turn of its event loop (libuv#3696, "don't accept() in a
    loop"); under load a turn first answers every request that is ready, so when wrk
    opens 64 connections at once the last ones wait up to 64 turns (0.3-0.9 s for
    homesync, 0.1-0.25 s for the bare route). That is how fast a busy server lets new
    clients in, not how long a request takes; it is reported on its own (``first_ms``).
    """
    if endpoint == "devices":
        # The bare route ignores the token; it is sent so the requests are the same bytes.
        script = _GET_SCRIPT.replace("{token}", accounts.reader_tokens[server.engine])
        return run_wrk(f"{server.base}{API}/devices", script, connections, connections,
                       duration, workdir)
    if server.name == "homesync":
        chains = accounts.chains(server, connections)
    else:  # the bare route ignores the body; same bytes on the wire
        chains = [("rt_mobile_" + "x" * 43, f"chain-{i}") for i in range(connections)]
    script = _REFRESH_SCRIPT.replace("{chains}", lua_chains(chains))
    return run_wrk(f"{server.base}{API}/auth/refresh", script, connections, connections,
                   duration, workdir)


@contextmanager
def servers(engines: list[str], work: Path, chain_users: int,
            accounts: Accounts) -> Iterator[dict[tuple[str, str], Server]]:
    env = {**os.environ, **BENCH_ENV}
    env.pop("HOMESYNC_STORAGE_FSYNC", None)  # fsync stays on: that is the real cost
    started: dict[tuple[str, str], Server] = {}
    try:
        data_dirs = {engine: work / f"data-{engine}" for engine in engines}
        for engine, data_dir in data_dirs.items():
            set_up_accounts(env, data_dir, chain_users)
            server = start_homesync(engine, data_dir, env, work / f"homesync-{engine}.log")
            started[("homesync", engine)] = server
            server.wait_ready()
            learn(server, accounts)
        bodies = work / "bodies.json"
        bodies.write_text(json.dumps({
            "devices": base64.b64encode(accounts.devices_body).decode(),
            "refresh": base64.b64encode(accounts.refresh_body).decode()}))
        for engine in engines:
            server = start_bare(engine, bodies, work / f"bare-{engine}.log")
            started[("bare", engine)] = server
            server.wait_ready()
        yield started
    finally:
        for server in started.values():
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="1,64")
    parser.add_argument("--engines", default="uvicorn,granian")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("bench/api.py needs wrk: apt-get install wrk")
    levels = [int(c) for c in args.connections.split(",")]
    engines = args.engines.split(",")
    if "granian" in engines and importlib.util.find_spec("granian") is None:
        print("granian is not installed (pip install granian): measuring uvicorn only",
              file=sys.stderr)
        engines.remove("granian")
    endpoints = ["devices", "refresh"]
    accounts = Accounts()
    results = Results()

    with tempfile.TemporaryDirectory(prefix="homesync-bench-") as tmp:
        work = Path(tmp)
        with servers(engines, work, max(levels), accounts) as running:
            # Warm up every server and path once, unmeasured.
            for server in running.values():
                for endpoint in endpoints:
                    measure(server, endpoint, 1, 1, accounts, work)
            for round_no in range(args.rounds):
                for endpoint in endpoints:
                    for connections in levels:
                        for engine in engines:
                            for name in ("bare", "homesync"):
                                sample = measure(running[(name, engine)], endpoint, connections,
                                                 args.duration, accounts, work)
                                results.add((endpoint, engine, connections, name), sample)
                print(f"round {round_no + 1}/{args.rounds} done", file=sys.stderr)

    report(results, endpoints, engines, levels, args)


def report(results: Results, endpoints: list[str], engines: list[str], levels: list[int],
           args: argparse.Namespace) -> None:
    labels = {"devices": "GET /devices", "refresh": "POST /auth/refresh"}
    print(f"\nhomesync API benchmark: {args.rounds} interleaved rounds of {args.duration:g} s, "
          f"medians; wrk on loopback, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print("homesync: real SQLite with fsync, default settings; bare: Litestar route, same bytes\n")
    header = (f"{'endpoint':<19} {'conns':>5} {'server':<8} {'homesync/s':>10} {'p50 ms':>7} "
              f"{'p99 ms':>7} {'bare/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} "
              f"{'goal':>5} {'errors':>6}")
    print(header)
    print("-" * len(header))
    for endpoint in endpoints:
        for connections in levels:
            for engine in engines:
                hs = results.median((endpoint, engine, connections, "homesync"))
                bare = results.median((endpoint, engine, connections, "bare"))
                ratio = hs.rate / bare.rate if bare.rate else 0.0
                goal = GOALS[endpoint]
                mark = "ok" if ratio >= goal else "MISS"
                print(f"{labels[endpoint]:<19} {connections:>5} {engine:<8} {hs.rate:>10.0f} "
                      f"{hs.p50_ms:>7.2f} {hs.p99_ms:>7.2f} {bare.rate:>8.0f} "
                      f"{bare.p50_ms:>7.2f} {bare.p99_ms:>7.2f} {ratio:>6.2f} "
                      f"{goal:>5.2f} {mark:>4} {hs.errors + bare.errors:>2}")
    print("\nslowest first answer on a new connection, ms (it waits to be accepted; see measure):")
    for endpoint in endpoints:
        for connections in levels:
            for engine in engines:
                hs = results.median((endpoint, engine, connections, "homesync"))
                bare = results.median((endpoint, engine, connections, "bare"))
                print(f"  {labels[endpoint]:<19} {connections:>3} conns {engine:<8} "
                      f"homesync {hs.first_ms:>6.1f}   bare {bare.first_ms:>6.1f}")
    if len(engines) > 1:
        base, *others = engines
        print(f"\nhomesync under each server, relative to {base} (requests/s):")
        for endpoint in endpoints:
            for connections in levels:
                ref = results.median((endpoint, base, connections, "homesync")).rate
                cells = []
                for engine in others:
                    rate = results.median((endpoint, engine, connections, "homesync")).rate
                    cells.append(f"{engine} {rate / ref:.2f}x" if ref else f"{engine} -")
                print(f"  {labels[endpoint]:<19} {connections:>3} conns: " + ", ".join(cells))


if __name__ == "__main__":
    main()
