"""What the share-feed triggers cost a big folder delete, move and restore.

    python bench/share_feed.py [--files 5000] [--others 20000] [--rounds 9]

One owner (Alice) has a folder /big of ``--files`` files (in 10 subfolders) and
``--others`` files elsewhere (/elsewhere/d0 … d9). Through the store, in one write
transaction each, as the services run them: trash /big, restore it, move it to /moved
(and back). For each sharing setting

- no shares: Alice shares nothing,
- other share: Alice shares /elsewhere with Bob,
- 50 other shares: Alice shares 50 single files of /elsewhere with Bob,
- share of /big: Alice shares /big itself with Bob (every row reaches Bob's feed),

with the triggers as they are ("now") and as migration 0018 left them ("0018"), and with
no share_feed triggers at all and no shares (the lower bound). Medians of ``--rounds``
of the CPU time of the process (the store's thread included: steadier than wall time on
a busy machine), the databases taken in turn. "feed" is the share_feed rows one round
(delete, restore, move, move back) adds.

On the shared 2-core machine (busy), --rounds 11:

                          delete restore    move    feed
no shares                    180     207     198       0
other share                  244     228     263       0
50 other shares              385     414     372       0
share of /big                302     314     330   20044
no triggers                  132     155     148       0
an empty trigger             168     177     158       0

- The triggers' guards use indexes (EXPLAIN QUERY PLAN: shares_owner for the owner's
  shares, sqlite_autoindex_shares_2 for a shared file_id); share_feed_on_root_renamed
  costs one index probe for a row that is not itself shared.
- For an owner who shares nothing, most of what the triggers add is what any row
  trigger adds ("an empty trigger"): each of the store's one-row UPDATEs (executemany)
  runs the trigger programs and keeps a statement journal.
- For an owner who shares anything, each row runs the INSERT … SELECT over all of the
  owner's shares (a files lookup each): the cost grows with rows x shares. Looking for a
  covering share in the WHEN first saved about 10% with a share elsewhere and cost about
  as much when the folder itself is shared (it is looked for twice): not worth a
  migration. What would help is fewer statements per subtree: one UPDATE for the whole
  subtree instead of one per row (in raw SQLite, a 5,000-row delete with one folder
  share elsewhere: 105 ms instead of 165), or the fan-out done once per subtree.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from homesync.paths import name_key  # noqa: E402
from homesync.store import tree  # noqa: E402
from homesync.store.db import Database  # noqa: E402

TRIGGERS = ("share_feed_on_insert", "share_feed_on_update", "share_feed_on_root_renamed")
SHARING = ("no shares", "other share", "50 other shares", "share of /big")
# (sharing, triggers): the share_feed triggers, none, or one that does nothing.
SETUPS = ([(sharing, "share_feed") for sharing in SHARING]
          + [("no shares", "none"), ("no shares", "empty")])
# What any row trigger costs an UPDATE of files, whatever it does.
EMPTY = "CREATE TRIGGER empty AFTER UPDATE OF seq ON files WHEN 0 BEGIN SELECT 1; END"


async def build(db: Database, n_files: int, n_others: int) -> None:
    """Alice and Bob; Alice's /big and /elsewhere, written in bulk (rows as the store
    writes them, seq 1 for all: only the changes timed below need real seqs)."""
    rows: list[tuple[str, str, str, str]] = [("big", "folder", "/", "big"),
                                             ("elsewhere", "folder", "/", "elsewhere")]
    for top, count in (("big", n_files), ("elsewhere", n_others)):
        rows += [(f"{top}_d{d}", "folder", f"/{top}", f"d{d}") for d in range(10)]
        rows += [(f"{top}_{i}", "file", f"/{top}/d{i % 10}", f"IMG_{i:06d}.jpg")
                 for i in range(count)]
    async with db.transaction() as tx:
        for user in ("alice", "bob"):
            await tx.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                             " password_changed_at) VALUES (?, ?, ?, 'x', 0, 0)",
                             (user, f"{user}@example.com", user))
        await tx.execute("INSERT INTO journal (user_id, file_id, action, at)"
                         " VALUES ('alice', 'big', 'mkdir', 0)")
        await tx.executemany(
            "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
            " created_at, created_seq, seq) VALUES (?, 'alice', ?, ?, ?, ?, 0, 0, 1, 1)",
            [(fid, kind, folder, name, name_key(name)) for fid, kind, folder, name in rows])


async def set_up(db: Database, sharing: str, triggers: str) -> None:
    shared = {"other share": ["elsewhere"], "share of /big": ["big"],
              "50 other shares": [f"elsewhere_{i}" for i in range(50)]}.get(sharing, [])
    async with db.transaction() as tx:
        for n, file_id in enumerate(shared):
            await tx.execute("INSERT INTO shares (id, owner_id, file_id, recipient_email,"
                             " recipient_id, permission, created_at, updated_at) VALUES"
                             " (?, 'alice', ?, 'bob@example.com', 'bob', 'read', ?, ?)",
                             (f"share_{n}", file_id, n, n))
        if triggers != "share_feed":
            for trigger in TRIGGERS:
                await tx.execute(f"DROP TRIGGER {trigger}")
        if triggers == "empty":
            await tx.execute(EMPTY)


async def timed(db: Database, change: Callable[[Any, Any], Awaitable[Any]]) -> float:
    async with db.transaction() as tx:
        row = await tree.get(tx, "alice", "big")
        start = time.process_time()
        await change(tx, row)
        return (time.process_time() - start) * 1000


async def one_round(db: Database, times: dict[str, list[float]]) -> None:
    kw: dict[str, Any] = {"user_id": "alice", "device_id": None, "now": 1}
    times["delete"].append(await timed(db, lambda tx, row: tree.trash(tx, row=row, **kw)))
    times["restore"].append(await timed(
        db, lambda tx, row: tree.restore_group(tx, row=row, folder="/", name="big", **kw)))
    times["move"].append(await timed(
        db, lambda tx, row: tree.move(tx, row=row, folder="/", name="moved", **kw)))
    await timed(db, lambda tx, row: tree.move(tx, row=row, folder="/", name="big", **kw))


async def feed_size(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) FROM share_feed")
    assert row is not None
    return int(row[0])


async def run(root: Path, n_files: int, n_others: int,
              rounds: int) -> dict[tuple[str, str], dict[str, float]]:
    """Every setup's database, the rounds taken in turn (a busy machine slows all alike)."""
    dbs = {}
    for n, setup in enumerate(SETUPS):
        dbs[setup] = db = await Database.open(root / f"db{n}.sqlite3")
        await build(db, n_files, n_others)
        await set_up(db, *setup)
    try:
        before = {s: await feed_size(db) for s, db in dbs.items()}
        times: dict[tuple[str, str], dict[str, list[float]]] = {
            s: {"delete": [], "restore": [], "move": []} for s in SETUPS}
        for _ in range(rounds):
            for setup, db in dbs.items():
                await one_round(db, times[setup])
        results = {}
        for setup, db in dbs.items():
            results[setup] = {op: statistics.median(t) for op, t in times[setup].items()}
            results[setup]["feed"] = (await feed_size(db) - before[setup]) / rounds
        return results
    finally:
        for db in dbs.values():
            await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--others", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    print(f"/big of {args.files} files, {args.others} others; median CPU ms of {args.rounds}")
    with tempfile.TemporaryDirectory(prefix="homesync-bench-") as root:
        results = asyncio.run(run(Path(root), args.files, args.others, args.rounds))
    print(f"{'':24}{'delete':>8}{'restore':>8}{'move':>8}{'feed':>8}")
    names = {"none": "no triggers", "empty": "an empty trigger"}
    for (sharing, triggers), r in results.items():
        print(f"{names.get(triggers, sharing):24}{r['delete']:8.0f}{r['restore']:8.0f}"
              f"{r['move']:8.0f}{r['feed']:8.0f}")


if __name__ == "__main__":
    main()
