"""Whole-folder operations on a big folder, and how long they keep other requests waiting.

    python bench/folder_ops.py [--files 20000] [--rounds 3] [--shared N] [--baseline DIR]

Builds a data dir (one account; per round a folder /bigN of ``--files`` files spread over
20 sub-folders, all versions of one tiny stored chunk, committed through the store as
uploads are), starts ``homesync serve`` on it (fsync off) and, per round, on that
round's folder, through the API:

* ``delete``: ``POST /sync/files`` action delete (to the trash);
* ``restore``: ``POST /trash/{id}/restore``;
* ``rename``: ``POST /sync/files`` action rename (/bigN → /bigN-renamed);
* ``move``: ``POST /sync/files`` action move (into /elsewhere);
* ``stale delete``: ``POST /sync/files`` action delete sent with the token the device held
  before ``rename`` (its view is behind: every file below changed since, by its own
  moves, and each is checked for what another device did to it);
* ``merge``: ``POST /trash/{id}/restore`` once the folder's place and its 20 sub-folders
  were made again (untimed): the restore merges the 20 000 files into them;
* ``delete 2`` (the folder merged into), then ``purge``: ``DELETE /trash/{id}``.

Each is timed (the request, ms), and meanwhile a thread asks ``GET /healthz`` every
10 ms: its slowest answer is how long the operation kept the event loop from every other
request. The server's CPU time during it (ms, all its threads) comes in a second table:
on a loaded machine it varies much less than the request's time. The server runs pinned to core 0 and this client to core 1 (taskset). The table
shows medians of ``--rounds``.

``--shared N``: each /bigN is shared (read) with N other accounts, so that every change to
a file below it also writes one share-feed entry per recipient (the fan-out triggers).

``--baseline DIR``: also serve a copy of the same data dir with the code of checkout DIR
(a ``git worktree`` of the commit before a change), the two servers' requests taken in
turn, so that both see the same load of the shared machine.

On the shared 2-core machine (load ~12, 2026-11-28), --files 20000 --rounds 2, before
(baseline: ccee5b8) and after the change that brought it in; ms, the request / the
slowest /healthz meanwhile:

                 delete          restore        rename          move            delete 2        purge
    baseline  200867/200126   7505/6844   106550/105895  196872/196193  266105/265358  9260/8479
    this        3408/120      3604/53       4257/84        5461/91        5947/415    11472/331

With the conflict check's reads of a folder delete moved off the loop too (f92a8e4),
one round at lower load: 2936/30 1704/27 2810/42 2556/68 2276/33 4819/48.

With ``stale delete`` and ``merge`` (load ~12, other tests running), before (c7bb37e)
and after the two changes that made them set-based:

                               stale delete      merge
    one round       c7bb37e      4201/125       8861/8118
                    185fca3      2396/21       (merge not changed yet)
    --rounds 2      c7bb37e     11110/391      16296/15476
                    e8c7fce      8922/227       9760/183
    (the quieter of those two rounds: 9127/251 -> 5487/46 and 10268/9428 -> 6936/58)

The stale delete judged each of the 20 000 files in Python on the event loop (their rows
and journal entries brought back); the merge read every entry into Python and restored it
with statements of its own, inline: now one query and a few statements on the writer's
thread. The other operations' code did not change in that run (their differences: noise).

Before, a delete or move through ``POST /sync/files`` wrote a statement per entry inside
the savepoint each change runs in (SQLite's cost per statement grew with what the
savepoint held: minutes for 20 000), all on the event loop; now a few set-based
statements, on the writer's thread.

With ``--shared 2`` (each file's change also writes an entry to each recipient's share
feed), before and after migration 0028 (the fan-out triggers write each entry's time
instead of 0026's trigger updating every entry just written), --rounds 3, load ~10. The
server's CPU ms, medians; the requests took 12-33 s either way (the machine's load) and
/healthz waited the same (the work is on the writer's thread):

              delete  restore  rename  move  stale delete  merge  delete 2  purge
    0026        4880     4680    4980  4670          5110   5090      5320   2530
    0028        4330     4390    4790  4500          4800   4490      5220   2740
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from download import LIGHT_ARGON2  # noqa: E402
from processes import free_port  # noqa: E402
from upload import CLIENT_CORE, PASSWORD, Server, pinned, sign_in  # noqa: E402

from homesync.config import load_settings  # noqa: E402
from homesync.models import Principal  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.store import files  # noqa: E402
from homesync.store.db import fetchall  # noqa: E402

SUBFOLDERS = 20
PER_TRANSACTION = 1000
OPS = ("delete", "restore", "rename", "move", "stale delete", "merge", "delete 2", "purge")
API = "/api/mobile"


async def build(data_dir: Path, n_files: int, rounds: int, shared: int) -> None:
    """One account, /elsewhere, and per round /bigN holding ``n_files`` files, shared with
    ``shared`` other accounts."""
    settings = load_settings(None, environ={}, overrides={
        "data_dir": str(data_dir), "storage": {"fsync": False}, "auth": LIGHT_ARGON2})
    services = await Services.open(settings)
    try:
        user = await services.accounts.create_user("bench@example.com", PASSWORD, name="Bench")
        piece = b"tiny photo"
        digest = hashlib.sha256(piece).hexdigest()
        path = services.chunks.path_for(digest)  # type: ignore[attr-defined]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(piece)
        async with services.db.transaction() as tx:
            await tx.execute("INSERT INTO chunks (hash, size, created_at) VALUES (?, ?, 0)",
                             (digest, len(piece)))
            await files.ensure_folder(tx, user_id=user.id, folder="/elsewhere",
                                      device_id=None, now=0)
        for r in range(rounds):
            for start in range(0, n_files, PER_TRANSACTION):
                async with services.db.transaction() as tx:
                    for i in range(start, min(n_files, start + PER_TRANSACTION)):
                        await files.commit_version(
                            tx, user_id=user.id, file_id=None,
                            folder=f"/big{r}/d{i % SUBFOLDERS:02d}", name=f"IMG_{i:06d}.jpg",
                            size=len(piece), checksum=f"sha256:{digest}",
                            mime_type="image/jpeg", metadata={}, modified_at=0,
                            chunk_hashes=[digest], device_id=None, now=0)
            print(f"built /big{r}", file=sys.stderr)
        await share_rounds(services, user.id, rounds, shared)
        await services.db.checkpoint()
    finally:
        await services.close()


async def share_rounds(services: Services, owner_id: str, rounds: int, recipients: int) -> None:
    """Share every /bigN (read) with ``recipients`` new accounts."""
    emails = [f"friend{i}@example.com" for i in range(recipients)]
    for email in emails:
        await services.accounts.create_user(email, PASSWORD)
    owner = Principal(user_id=owner_id, email="bench@example.com", name="Bench",
                      is_admin=False, device_id="", client_id="", device_name="",
                      family_id="", settings={})
    async with services.db.transaction() as tx:
        ids = {row["name"]: row["id"] for row in await fetchall(
            tx, "SELECT id, name FROM files WHERE user_id = ? AND folder = '/'", (owner_id,))}
    for r in range(rounds):
        for email in emails:
            await services.shares.share(owner, file_id=ids[f"big{r}"], email=email,
                                        permission="read")


def serve(code: Path, data_dir: Path, log: Path, name: str) -> Server:
    """``homesync serve`` on ``data_dir`` running the code of checkout ``code``."""
    env = {**os.environ, "PYTHONPATH": str(code), "HOMESYNC_DATA_DIR": str(data_dir),
           "HOMESYNC_STORAGE_FSYNC": "false", "HOMESYNC_STORAGE_DISK_RESERVE": "0",
           "HOMESYNC_SERVER_LOG_LEVEL": "warning", "HOMESYNC_AUTH_ACCESS_TOKEN_TTL": "3h",
           "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "0"}
    port = free_port()
    proc = subprocess.Popen(
        pinned([sys.executable, "-m", "homesync", "serve", "--data-dir", str(data_dir),
                "--port", str(port)]),
        cwd=code, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    server = Server(name, port, proc)
    server.wait_ready()
    return server


class Poller:
    """``GET /healthz`` every 10 ms on its own thread; the slowest answer while it ran
    (counted up to the end of the operation when one is still waiting then)."""

    def __init__(self, base: str) -> None:
        self._base, self._stop = base, threading.Event()
        self._asked = 0.0  # when the answer being waited for was asked (0: none)
        self.slowest = 0.0
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with httpx.Client(base_url=self._base, timeout=600) as http:
            while not self._stop.wait(0.01):
                self._asked = time.perf_counter()
                http.get("/healthz").raise_for_status()
                self.slowest = max(self.slowest, time.perf_counter() - self._asked)
                self._asked = 0.0

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._asked:
            self.slowest = max(self.slowest, time.perf_counter() - self._asked)
        self._stop.set()
        self._thread.join()


class Client:
    """One signed-in device of one server."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base + API, timeout=600,
                                 headers=sign_in(server))

    def call(self, method: str, url: str, body: Any = None,
             params: dict[str, Any] | None = None) -> Any:
        r = self.http.request(method, url, json=body, params=params)
        if r.status_code != 200:
            raise SystemExit(f"{self.server.name}: {method} {url} → {r.status_code}"
                             f" {r.text[:300]}")
        return r.json()["data"]

    def token(self) -> str:
        """A sync token past every change so far (what a device in sync holds)."""
        token, more = None, True
        while more:
            params = {"limit": 10000, **({"syncToken": token} if token else {})}
            page = self.call("GET", "/sync/status", params=params)
            token, more = page["nextSyncToken"], page["hasMore"]
        return str(token)

    def folder_id(self, folder: str, name: str) -> str:
        listing = self.call("GET", "/files", params={"folder": folder})
        return next(f["id"] for f in listing["files"] if f["name"] == name)

    def change(self, token: str, *changes: dict[str, Any]) -> None:
        body = {"syncToken": token, "localChanges": [
            {"localId": str(i), **change} for i, change in enumerate(changes)]}
        results = self.call("POST", "/sync/files", body)["results"]
        for change, result in zip(changes, results, strict=True):
            if result["status"] != "applied":
                raise SystemExit(f"{self.server.name}: {change} → {result}")


class Folder:
    """The round's folder on one server: its id (the live folder a merge went into, after
    ``merge``), and the token its device held before ``rename`` (``stale delete`` sends it)."""

    def __init__(self, folder_id: str, name: str) -> None:
        self.id, self.name = folder_id, name
        self.stale_token = ""


def timed(client: Client, op: str, folder: Folder) -> tuple[float, float, float]:
    """Run ``op`` on the folder; (ms it took, slowest /healthz meanwhile in ms, the
    server's CPU ms)."""
    token = client.token()  # as a device in sync sends it (paging it is not timed)
    if op == "rename":
        folder.stale_token = token
    elif op == "merge":  # its place and sub-folders made again (/elsewhere/bigN-renamed)
        place = f"/elsewhere/{folder.name}-renamed"
        client.change(token, *[{"action": "mkdir", "folder": f"{place}/d{i:02d}"}
                               for i in range(SUBFOLDERS)])
    with Poller(client.server.base) as poller:
        cpu0 = client.server.cpu_seconds()
        t0 = time.perf_counter()
        if op in ("delete", "delete 2"):
            client.change(token, {"action": "delete", "fileId": folder.id})
        elif op == "stale delete":
            client.change(folder.stale_token, {"action": "delete", "fileId": folder.id})
        elif op in ("restore", "merge"):
            restored = client.call("POST", f"/trash/{folder.id}/restore")["file"]
        elif op == "rename":
            client.change(token, {"action": "rename", "fileId": folder.id,
                                  "name": f"{folder.name}-renamed"})
        elif op == "move":
            client.change(token, {"action": "move", "fileId": folder.id, "folder": "/elsewhere"})
        else:
            client.call("DELETE", f"/trash/{folder.id}")
        took = time.perf_counter() - t0
        cpu = client.server.cpu_seconds() - cpu0
    if op == "merge":
        folder.id = restored["id"]
    return took * 1000, poller.slowest * 1000, cpu * 1000


Times = dict[str, dict[str, list[tuple[float, float, float]]]]


def run(servers: dict[str, Server], rounds: int) -> Times:
    clients = {label: Client(server) for label, server in servers.items()}
    times: Times = {
        label: {op: [] for op in OPS} for label in servers}
    for r in range(rounds):
        name = f"big{r}"
        folders = {label: Folder(c.folder_id("/", name), name) for label, c in clients.items()}
        for op in OPS:
            for label, client in clients.items():
                took, worst, cpu = timed(client, op, folders[label])
                times[label][op].append((took, worst, cpu))
                print(f"{label} {op}: {took:.0f} ms, /healthz waited {worst:.0f} ms,"
                      f" server CPU {cpu:.0f} ms", file=sys.stderr)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)
    for client in clients.values():
        client.http.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--shared", type=int, default=0, metavar="N",
                    help="share each folder with N other accounts")
    ap.add_argument("--baseline", type=Path, help="a checkout to compare with")
    args = ap.parse_args()
    if shutil.which("taskset"):
        os.sched_setaffinity(0, {CLIENT_CORE})
    work = Path(tempfile.mkdtemp(prefix="homesync-bench-folder-ops-"))
    servers: dict[str, Server] = {}
    failed = True
    try:
        asyncio.run(build(work / "data", args.files, args.rounds, args.shared))
        codes = {"this": ROOT}
        if args.baseline:
            shutil.copytree(work / "data", work / "data-baseline")
            codes = {"baseline": args.baseline.resolve(), **codes}
        for label, code in codes.items():
            data = work / ("data-baseline" if label == "baseline" else "data")
            servers[label] = serve(code, data, work / f"{label}.log", label)
        times = run(servers, args.rounds)
        failed = False
    finally:
        for server in servers.values():
            server.stop()
        for log in work.glob("*.log") if failed else ():
            if log.stat().st_size:
                print(f"--- {log.name}\n{log.read_text()[-2000:]}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    shared = f", shared with {args.shared}" if args.shared else ""
    print(f"\nA folder of {args.files:,} files in {SUBFOLDERS} sub-folders{shared}; ms, medians of"
          f" {args.rounds}: the request / the slowest GET /healthz meanwhile\n")
    print(f"{'code':>9} " + " ".join(f"{op:>15}" for op in OPS))
    for label, by_op in times.items():
        cells = []
        for op in OPS:
            took = statistics.median(t for t, _, _ in by_op[op])
            worst = statistics.median(w for _, w, _ in by_op[op])
            cells.append(f"{took:7.0f} /{worst:6.0f}")
        print(f"{label:>9} " + " ".join(f"{c:>15}" for c in cells))
    print("\nThe server's CPU time during each (ms, medians)\n")
    for label, by_op in times.items():
        print(f"{label:>9} " + " ".join(
            f"{statistics.median(c for _, _, c in by_op[op]):15.0f}" for op in OPS))


if __name__ == "__main__":
    main()
