"""A big folder's listing (``GET /files?folder=``), and what an index for it costs writes.

    python bench/listing.py [--files 100000] [--limit 100] [--rounds 7] [--requests 20]
                            [--write-files 20000]

Listings, against real ``homesync serve`` processes: one data dir per index variant (one
account, a folder /big of ``--files`` files and no sub-folders), each with its own
server, the requests to them taken in turn (a busy machine slows all alike). Per round
and server, ``--requests`` times: the first page of /big (``limit=--limit``), and the
page after it (the files already reached: no search for sub-folders). Medians in ms.

Writes, in this process through the store (no HTTP): in a database per variant, with a
folder /big of ``--write-files`` files in 10 sub-folders, the process CPU time of storing
2,000 new files in /new (``files.commit_version``, 200 per transaction: an upload burst),
then of trashing /big, restoring it and moving it (one transaction each). Medians of
``--rounds``.

The variants: ``none`` (no index for the sub-folders: files_live_name, which holds files
and folders alike, is searched for them), ``folders`` (migration 0021: an index of live
folders only), ``kind`` (an index of every live entry on user_id, folder, kind, name_key).

On the shared 2-core machine (load 7-8, 2026-11-28), two runs (--rounds 7, then 5):

    index    first page   next page   store 2000   trash   restore   move
    none       128 / 53    14 / 7.8    544 / 487   1294 / 1264   1391 / 1559   1283 / 1269
    folders     16 / 8.9   15 / 8.0    446 / 465   1200 / 1183   1248 / 1297   1127 / 1251
    kind        19 / 9.2   16 / 8.7    617 / 552   1370 / 1247   1447 / 1426   1408 / 1428

The first page finds its (no) sub-folders by a probe instead of walking 100 000 files.
An index of folders only is not written when files are stored, trashed or moved; one of
every entry costs ~10 % more CPU on those, for no faster listing: 0021 is the former.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from download import LIGHT_ARGON2, serve  # noqa: E402
from upload import PASSWORD, Server, sign_in  # noqa: E402

from homesync.config import load_settings  # noqa: E402
from homesync.paths import name_key  # noqa: E402
from homesync.services.container import Services  # noqa: E402
from homesync.store import files, tree  # noqa: E402
from homesync.store.db import Conn, Database  # noqa: E402

NEW_INDEX = "files_live_folders"
KIND_INDEX = ("CREATE INDEX files_live_kind ON files(user_id, folder, kind, name_key)"
              " WHERE deleted_at IS NULL")
VARIANTS = ("none", "folders", "kind")
CHUNK = "0" * 64


async def set_variant(tx: Conn, variant: str) -> None:
    """The schema as this checkout's migrations left it, made into ``variant``."""
    has_new = await (await tx.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?", (NEW_INDEX,)
    )).fetchone()
    if has_new and variant != "folders":
        await tx.execute(f"DROP INDEX {NEW_INDEX}")
    if not has_new and variant == "folders":
        raise SystemExit(f"this checkout has no {NEW_INDEX} index: run a newer one")
    if variant == "kind":
        await tx.execute(KIND_INDEX)


def rows(user_id: str, top: str, n_files: int, subfolders: int) -> list[tuple[Any, ...]]:
    """``/top`` and ``n_files`` files in it (or spread over ``subfolders`` in it)."""
    out: list[tuple[Any, ...]] = [(top, user_id, "folder", "/", top, name_key(top))]
    out += [(f"{top}_d{d}", user_id, "folder", f"/{top}", f"d{d}", f"d{d}")
            for d in range(subfolders)]
    for i in range(n_files):
        folder = f"/{top}/d{i % subfolders}" if subfolders else f"/{top}"
        name = f"IMG_{i:06d}.jpg"
        out.append((f"{top}_{i}", user_id, "file", folder, name, name_key(name)))
    return out


async def insert(tx: Conn, found: list[tuple[Any, ...]]) -> None:
    # Rows as the store writes them (seq 1 for all: only the changes timed need real ones).
    await tx.executemany(
        "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
        " created_at, created_seq, seq) VALUES (?, ?, ?, ?, ?, ?, 0, 0, 1, 1)", found)


# -- listing through HTTP ------------------------------------------------------------------


async def build_listing(data_dir: Path, n_files: int, variant: str) -> None:
    settings = load_settings(None, environ={}, overrides={
        "data_dir": str(data_dir), "storage": {"fsync": False}, "auth": LIGHT_ARGON2})
    services = await Services.open(settings)
    try:
        user = await services.accounts.create_user("bench@example.com", PASSWORD, name="Bench")
        async with services.db.transaction() as tx:
            await insert(tx, rows(user.id, "big", n_files, 0))
            await set_variant(tx, variant)
        await services.db.checkpoint()
    finally:
        await services.close()


def timed_get(http: httpx.Client, url: str, params: dict[str, Any],
              auth: dict[str, str]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    r = http.get(url, params=params, headers=auth)
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise SystemExit(f"GET {url} {params} → {r.status_code} {r.text[:200]}")
    return elapsed, r.json()["data"]


def listings(work: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    servers: dict[str, Server] = {}
    try:
        for variant in VARIANTS:
            data_dir = work / f"data-{variant}"
            asyncio.run(build_listing(data_dir, args.files, variant))
            servers[variant] = serve(data_dir, work / "servers.log")
        auths = {v: sign_in(s) for v, s in servers.items()}
        times: dict[str, dict[str, list[float]]] = {v: {"first": [], "next": []}
                                                    for v in VARIANTS}
        with httpx.Client(timeout=60) as http:
            for n in range(args.rounds + 1):  # the first round warms up
                for variant, server in servers.items():
                    url = f"{server.base}/api/mobile/files"
                    first = {"folder": "/big", "limit": args.limit}
                    for _ in range(args.requests):
                        secs, page = timed_get(http, url, first, auths[variant])
                        if n:
                            times[variant]["first"].append(secs)
                        secs, _ = timed_get(http, url, {**first, "cursor": page["nextCursor"]},
                                            auths[variant])
                        if n:
                            times[variant]["next"].append(secs)
                print(f"listing round {n}/{args.rounds} done", file=sys.stderr)
    finally:
        for server in servers.values():
            server.stop()
    return {v: {k: statistics.median(t) * 1000 for k, t in ts.items()}
            for v, ts in times.items()}


# -- writes through the store ----------------------------------------------------------


async def build_writes(db: Database, n_files: int, variant: str) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                         " password_changed_at) VALUES ('alice', 'a@example.com', 'A', 'x',"
                         " 0, 0)")
        await tx.execute("INSERT INTO journal (user_id, file_id, action, at)"
                         " VALUES ('alice', 'big', 'mkdir', 0)")
        await tx.execute("INSERT INTO chunks (hash, size, created_at) VALUES (?, 1, 0)",
                         (CHUNK,))
        await insert(tx, rows("alice", "big", n_files, 10))
        await set_variant(tx, variant)


async def cpu_ms(db: Database, change: Callable[[Conn, Any], Awaitable[Any]]) -> float:
    async with db.transaction() as tx:
        row = await tree.get(tx, "alice", "big")
        start = time.process_time()
        await change(tx, row)
        return (time.process_time() - start) * 1000


async def store_files(db: Database, round_no: int) -> float:
    total = 0.0
    for batch in range(10):
        async def two_hundred(tx: Conn, _row: Any, batch: int = batch) -> None:
            for i in range(200):
                await files.commit_version(
                    tx, user_id="alice", file_id=None, folder=f"/new{round_no}",
                    name=f"IMG_{batch * 200 + i:06d}.jpg", size=1, checksum="sha256:x",
                    mime_type="image/jpeg", metadata={}, modified_at=0,
                    chunk_hashes=[CHUNK], device_id=None, now=1)
        total += await cpu_ms(db, two_hundred)
    return total


async def one_write_round(db: Database, round_no: int, times: dict[str, list[float]]) -> None:
    kw: dict[str, Any] = {"user_id": "alice", "device_id": None, "now": 1}
    times["store 2000"].append(await store_files(db, round_no))
    times["trash"].append(await cpu_ms(db, lambda tx, row: tree.trash(tx, row=row, **kw)))
    times["restore"].append(await cpu_ms(
        db, lambda tx, row: tree.restore_group(tx, row=row, folder="/", name="big", **kw)))
    times["move"].append(await cpu_ms(
        db, lambda tx, row: tree.move(tx, row=row, folder="/", name="moved", **kw)))
    await cpu_ms(db, lambda tx, row: tree.move(tx, row=row, folder="/", name="big", **kw))


async def writes(work: Path, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    dbs = {}
    try:
        for variant in VARIANTS:
            dbs[variant] = db = await Database.open(work / f"writes-{variant}.sqlite3")
            await build_writes(db, args.write_files, variant)
        times: dict[str, dict[str, list[float]]] = {
            v: {"store 2000": [], "trash": [], "restore": [], "move": []} for v in VARIANTS}
        for n in range(args.rounds):
            for variant, db in dbs.items():
                await one_write_round(db, n, times[variant])
            print(f"write round {n + 1}/{args.rounds} done", file=sys.stderr)
    finally:
        for db in dbs.values():
            await db.close()
    return {v: {k: statistics.median(t) for k, t in ts.items()} for v, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--write-files", type=int, default=20_000)
    ap.add_argument("--skip-listing", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="homesync-bench-listing-"))
    try:
        listed = {} if args.skip_listing else listings(work, args)
        written = asyncio.run(writes(work, args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if listed:
        print(f"\nGET /files?folder=/big&limit={args.limit}, /big holding {args.files:,} files;"
              f" ms, medians of {args.rounds} x {args.requests}\n")
        print(f"{'index':>8} {'first page':>11} {'next page':>10}")
        for variant, t in listed.items():
            print(f"{variant:>8} {t['first']:11.1f} {t['next']:10.1f}")
    print(f"\nWrites, /big holding {args.write_files:,} files in 10 sub-folders; CPU ms,"
          f" medians of {args.rounds}\n")
    print(f"{'index':>8} {'store 2000':>11} {'trash':>8} {'restore':>8} {'move':>8}")
    for variant, t in written.items():
        print(f"{variant:>8} {t['store 2000']:11.0f} {t['trash']:8.0f} {t['restore']:8.0f}"
              f" {t['move']:8.0f}")


if __name__ == "__main__":
    main()
