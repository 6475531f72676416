"""Delta sync at scale: paged listings, deltas and long polls against bare baselines.

    python bench/sync.py [--files 100000] [--journal 1000000] [--rounds 15] [--polls 500]
                         [--keep DIR]      # reuse (or keep) the generated data dir

Builds a data dir through the store (migrations, then the ``files`` and ``journal`` rows
the services write, inserted in bulk): one user with 100 000 files in 200 folders and a
journal of 1 000 000 entries (the creates, then edits of random files). Then, in one run:

- through the whole app in process (ASGI calls: auth, routing, the sync service,
  encoding — no network, no HTTP client), medians of ``--rounds`` requests of
    * the full paged listing (no token, pages of 10 000),
    * a delta page of 1 000 changes and one of 10 000 from a recent token,
    * an empty delta (the token is the head),
  each against its baseline measured the same way in the same run: a bare ``SELECT`` of
  the same rows on the same connection plus msgspec encoding of them, and for the empty
  delta a bare authenticated route (a Bearer check and a tiny answer);
- against a real ``homesync serve`` on the same data dir: the server's RSS and threads
  before and with ``--polls`` long polls parked, and the time until a change answers them
  all.

Goals (issue 4): each delta page within 1.5x its bare SELECT + encoding; the empty delta
within 2x the bare authenticated route; 500 parked polls under 50 MiB extra RSS and no
thread each. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from litestar import Request, get  # noqa: E402
from processes import free_port  # noqa: E402

from homesync.api.deps import CurrentPrincipal  # noqa: E402
from homesync.app import create_app  # noqa: E402
from homesync.config import load_settings  # noqa: E402
from homesync.paths import name_key  # noqa: E402
from homesync.services.auth.sessions import DeviceRegistration  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.services.sync.tokens import SyncTokens  # noqa: E402
from homesync.store.changes import DELTA_COLUMNS  # noqa: E402
from homesync.store.keys import load_or_create_secret  # noqa: E402

API = "/api/mobile"
PASSWORD = "bench horse battery staple"
EMAIL = "bench@example.com"
FOLDERS = 200
BATCH = 50_000
MiB = 1024 * 1024
GOALS = {"delta page of 1 000": 1.5, "delta page of 10 000": 1.5, "empty delta": 2.0}


# One device makes every request, far past the per-device limit (20 a second): it is off.
NO_RATE_LIMIT = {"api_requests_per_second": 0}


def settings_for(data: Path, fsync: bool = True) -> Any:
    return load_settings(None, environ={}, overrides={
        "data_dir": str(data), "storage": {"fsync": fsync},
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1,
                 "access_token_ttl": "1d", **NO_RATE_LIMIT}})


# -- the data ----------------------------------------------------------------------------


async def build(data: Path, n_files: int, n_journal: int, seed: int) -> None:
    """One user, ``n_files`` files, ``n_journal`` journal entries, written in bulk.

    The rows are those commit_version and ensure_folder write (a file's ``seq`` is its
    last journal entry); versions and chunks are left out, as deltas never read them.
    """
    rng = random.Random(seed)
    services = await Services.open(settings_for(data, fsync=False))
    try:
        user = await services.accounts.create_user(EMAIL, PASSWORD, name="Bench Mark")
        uid, now = user.id, int(time.time() * 1000) - n_journal
        folders = [(f"file_dir{i:03d}", "/photos", f"f{i:03d}") for i in range(FOLDERS)]
        entries: list[list[Any]] = [[fid, "folder", folder, name, 0, None, None]
                                    for fid, folder, name in folders]
        for i in range(n_files):
            entries.append([f"file_{i:012d}", "file", f"/photos/f{i % FOLDERS:03d}",
                            f"IMG_{i:06d}.jpg", rng.randint(10_000, 8_000_000),
                            "sha256:" + hashlib.sha256(str(i).encode()).hexdigest(),
                            "image/jpeg"])
        created = {e[0]: n for n, e in enumerate(entries, start=2)}  # seq 1: the /photos row
        last = dict(created)
        journal: list[tuple[int, str, str, int]] = [(1, "file_photos", "mkdir", now)]
        journal += [(seq, fid, "mkdir" if fid.startswith("file_dir") else "create", now + seq)
                    for fid, seq in created.items()]
        file_ids = [e[0] for e in entries[FOLDERS:]]
        for seq in range(len(journal) + 1, n_journal + 1):
            fid = rng.choice(file_ids)
            journal.append((seq, fid, "update", now + seq))
            last[fid] = seq
        async with services.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
                " created_at, created_seq, seq) VALUES ('file_photos', ?, 'folder', '/',"
                " 'photos', 'photos', ?, ?, 1, 1)", (uid, now, now))
        for start in range(0, len(entries), BATCH):
            async with services.db.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO files (id, user_id, kind, folder, name, name_key, size,"
                    " checksum, mime_type, modified_at, created_at, created_seq, seq)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(e[0], uid, e[1], e[2], e[3], name_key(e[3]), e[4], e[5], e[6],
                      now + created[e[0]], now, created[e[0]], last[e[0]])
                     for e in entries[start:start + BATCH]])
        for start in range(0, len(journal), BATCH):
            async with services.db.transaction() as tx:
                await tx.executemany(
                    "INSERT INTO journal (seq, user_id, file_id, action, device_id, at)"
                    " VALUES (?, ?, ?, ?, NULL, ?)",
                    [(seq, uid, fid, action, at) for seq, fid, action, at
                     in journal[start:start + BATCH]])
        await services.db.checkpoint()
    finally:
        await services.close()


# -- timing ------------------------------------------------------------------------------


async def paired_ms(ours: Callable[[], Awaitable[Any]], base: Callable[[], Awaitable[Any]],
                    rounds: int) -> tuple[float, float]:
    """Median milliseconds of each, run alternately so both see the same machine (the
    host is shared: a burst of other work lands on both sides alike)."""
    await ours()  # warm caches once
    await base()
    ours_ms, base_ms = [], []
    for _ in range(rounds):
        for fn, times in ((ours, ours_ms), (base, base_ms)):
            started = time.perf_counter()
            await fn()
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(ours_ms), statistics.median(base_ms)


@get("/bench/whoami")
async def whoami(request: Request[Any, Any, Any], principal: CurrentPrincipal) -> bytes:
    """The baseline route: a Bearer check and a tiny answer, nothing else."""
    return msgspec.json.encode({"success": True, "data": {"userId": principal.user_id}})


class _Paging(msgspec.Struct, rename="camel"):
    has_more: bool
    next_sync_token: str
    changes: dict[str, list[msgspec.Raw]]


class _PageHead(msgspec.Struct):
    data: _Paging


class AppCaller:
    """Requests straight into the ASGI app: what the server does, without any HTTP
    client's own costs (which would count against homesync but not the baseline)."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self._app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def get(self, path: str, **params: Any) -> tuple[int, bytes]:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": query.encode(), "client": ("127.0.0.1", 1),
            "server": ("bench", 80), "headers": [(b"host", b"bench"), *self._headers],
        }
        sent: list[dict[str, Any]] = []
        done = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                done.set()

        await self._app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return sent[0]["status"], body

    async def data(self, path: str, **params: Any) -> dict[str, Any]:
        status, body = await self.get(path, **params)
        assert status == 200, body
        return dict(msgspec.json.decode(body)["data"])


async def in_process(data: Path, rounds: int) -> list[tuple[str, float, float]]:
    services = await Services.open(settings_for(data))
    encoder = msgspec.json.Encoder()
    try:
        signed = await services.sessions.register(
            EMAIL, PASSWORD, DeviceRegistration(platform="android", model="Bench",
                                                os_version="14", app_version="1",
                                                client_id="bench"), "127.0.0.1")
        principal = await services.sessions.principal(signed.tokens.access_token)
        uid = principal.user_id
        app = create_app(services.settings, services)
        app.register(whoami)
        app.state.services = services
        # No Accept-Encoding: the sync cost alone (phones ask for brotli, see the README).
        call = AppCaller(app, {"Authorization": f"Bearer {signed.tokens.access_token}"})
        tokens = services.sync.tokens
        status_path = f"{API}/sync/status"
        columns = DELTA_COLUMNS.replace(", in_view", "")

        async def seq_with_changes_after(n: int) -> int:
            row = await services.db.fetchone(
                "SELECT seq FROM files WHERE user_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
                (uid, n))
            return int(row[0])

        async def bare_rows(after: int, limit: int, live_only: bool = False) -> list[Any]:
            """The bare SELECT: the same rows, as plain tuples, on the same connections."""
            sql = (f"SELECT {columns} FROM files WHERE user_id = ? AND seq > ?"
                   f"{' AND deleted_at IS NULL' if live_only else ''} ORDER BY seq LIMIT ?")
            async with services.db.reader.execute(sql, (uid, after, limit)) as cur:
                cur.row_factory = None
                return list(await cur.fetchall())

        async def listing() -> int:
            token, total = None, 0
            while True:
                _, body = await call.get(status_path, limit=10_000, syncToken=token)
                page = msgspec.json.decode(body, type=_PageHead).data  # what a client needs
                total += sum(len(v) for v in page.changes.values())
                token = page.next_sync_token
                if not page.has_more:
                    return total

        async def bare_listing() -> int:
            after, total = 0, 0
            while True:
                rows = await bare_rows(after, 10_001, live_only=True)
                encoder.encode(rows[:10_000])
                total += min(len(rows), 10_000)
                if len(rows) <= 10_000:
                    return total
                after = rows[9_999][10]

        results: list[tuple[str, float, float]] = []
        assert await listing() == await bare_listing()
        results.append(("full listing, pages of 10 000",
                        *await paired_ms(listing, bare_listing, 3)))
        for n in (1_000, 10_000):
            after = await seq_with_changes_after(n)
            token = tokens.encode(uid, after)
            page = await call.data(status_path, syncToken=token, limit=n)
            assert sum(len(v) for v in page["changes"].values()) == n, n
            assert not page["hasMore"]

            async def delta(token: str = token, n: int = n) -> None:
                await call.get(status_path, syncToken=token, limit=n)

            async def baseline(after: int = after, n: int = n) -> None:
                encoder.encode(await bare_rows(after, n))

            results.append((f"delta page of {n:,}".replace(",", " "),
                            *await paired_ms(delta, baseline, rounds)))
        head = tokens.encode(uid, await seq_with_changes_after(0))
        assert (await call.data(status_path, syncToken=head))["hasChanges"] is False

        async def empty() -> None:
            await call.get(status_path, syncToken=head)

        async def bare_route() -> None:
            status, _ = await call.get("/bench/whoami")
            assert status == 200

        results.append(("empty delta", *await paired_ms(empty, bare_route, rounds * 10)))
        return results
    finally:
        await services.close()


# -- long polls on a real server ---------------------------------------------------------


def proc_status(pid: int) -> tuple[int, int]:
    """(RSS bytes, threads) of a process, from /proc."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) * 1024, int(fields["Threads"])


async def raw_get(port: int, target: str, headers: dict[str, str]) -> bytes:
    """One GET on its own connection, answered body (httpx's connection pool, not the
    server, is what slows down when 500 answers arrive at once)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    return body



async def parked_polls(data: Path, polls: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "1d",
           "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0",  # 500 polls from one device
           "HOMESYNC_SYNC_MAX_POLLS_PER_DEVICE": str(polls),  # all parked, none pushed out
           "HOMESYNC_AUTH_ARGON2_TIME_COST": "1", "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
           "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1", "HOMESYNC_SERVER_LOG_LEVEL": "warning"}
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "homesync", "serve", "--data-dir", str(data), "--port", str(port),
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    limits = httpx.Limits(max_connections=polls + 10, max_keepalive_connections=polls + 10)
    try:
        async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
            for _ in range(300):
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            r = await http.post(f"{API}/auth/register", json={
                "email": EMAIL, "password": PASSWORD, "deviceInfo": {
                    "platform": "android", "model": "Bench", "osVersion": "14",
                    "appVersion": "1", "deviceId": "bench-polls"}})
            auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
            uid = r.json()["user"]["id"]
            secret = load_or_create_secret(data)
            status = await http.get(f"{API}/sync/status", params={"limit": 1}, headers=auth)
            assert status.status_code == 200
            head_seq = await _head_seq(data, uid)
            token = SyncTokens(secret).encode(uid, head_seq)
            for _ in range(20):  # warm up the route
                await http.get(f"{API}/sync/status", params={"syncToken": token}, headers=auth)
            rss_before, threads_before = proc_status(server.pid)
            target = f"{API}/sync/status?syncToken={token}&wait=120"
            tasks = [asyncio.create_task(raw_get(port, target, auth)) for _ in range(polls)]
            # Nothing tells a client that a remote request is parked: give them all time to
            # arrive, then check that none has answered (there is nothing to answer with).
            await asyncio.sleep(5)
            assert not any(t.done() for t in tasks), "a poll answered with nothing new"
            rss_parked, threads_parked = proc_status(server.pid)
            started = time.perf_counter()
            r = await http.post(f"{API}/sync/files", headers=auth, json={
                "localChanges": [{"action": "mkdir", "localId": "x",
                                  "folder": f"/woken-{time.time_ns()}"}]})
            assert r.status_code == 200, r.text
            answers = await asyncio.gather(*tasks)
            woken_ms = (time.perf_counter() - started) * 1000
            assert all(msgspec.json.decode(a)["data"]["hasChanges"] for a in answers)
            return {"rss_before": rss_before, "rss_parked": rss_parked,
                    "threads_before": threads_before, "threads_parked": threads_parked,
                    "woken_ms": woken_ms}
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), 30)


async def _head_seq(data: Path, uid: str) -> int:
    with sqlite3.connect(data / "homesync.sqlite3") as conn:
        row = conn.execute("SELECT max(seq) FROM journal WHERE user_id = ?", (uid,)).fetchone()
    return int(row[0])


# -- main --------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--journal", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--polls", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="data dir to reuse or keep")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="homesync-bench-sync-"))
    data = root / "data"
    try:
        if not (data / "homesync.sqlite3").exists():
            started = time.perf_counter()
            asyncio.run(build(data, args.files, args.journal, args.seed))
            print(f"built {args.files:,} files and a {args.journal:,}-entry journal in"
                  f" {time.perf_counter() - started:.1f} s")
        rows = asyncio.run(in_process(data, args.rounds))
        polls = asyncio.run(parked_polls(data, args.polls))
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    failed = False
    print(f"\n{'measure':<32}{'homesync ms':>13}{'baseline ms':>13}{'ratio':>8}{'goal':>8}")
    for name, ours, base in rows:
        goal = GOALS.get(name)
        ratio = ours / base
        verdict = "" if goal is None else (f"<={goal}" if ratio <= goal else f"MISSED {goal}")
        failed |= goal is not None and ratio > goal
        print(f"{name:<32}{ours:>13.2f}{base:>13.2f}{ratio:>8.2f}{verdict:>8}")
    print("(baselines: a bare SELECT of the same rows + msgspec encoding; for the empty"
          " delta, a bare authenticated route)")
    extra = (polls["rss_parked"] - polls["rss_before"]) / MiB
    threads = polls["threads_parked"] - polls["threads_before"]
    print(f"\n{args.polls} parked long polls on a real server: +{extra:.1f} MiB RSS"
          f" ({polls['rss_before'] / MiB:.0f} → {polls['rss_parked'] / MiB:.0f} MiB),"
          f" threads {polls['threads_before']:.0f} → {polls['threads_parked']:.0f};"
          f" one change answered them all in {polls['woken_ms']:.0f} ms")
    if extra >= 50 or threads > 0:
        print("MISSED: 500 parked polls must cost < 50 MiB and no thread each")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
