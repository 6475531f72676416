"""The share-feed triggers feed exactly what those of 0007 and 0016 fed: the same
entries, in the same order, each at the time 0026's stamp gave it (0028 writes it in the
fan-out itself). A rewrite of the triggers for speed (bench/share_feed.py and
bench/folder_ops.py --shared measure them) must keep this passing; a change of what is
fed replaces the reference.

The reference triggers run beside the ones in place in the same database, writing to a
copy of share_feed, while owners create, change, move, trash and restore entries through
the store and share and unshare them at random (nested shares, same-named shares, shares
of trashed entries, a share with no account behind it)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from homesync import clock
from homesync.errors import NameConflict
from homesync.paths import join
from homesync.store import files, shares, tree
from homesync.store.db import Conn, Database, fetchall
from homesync.store.migrate import migrations

USERS = ("alice", "bob", "carol")
NAMES = ["a.jpg", "A.JPG", "a (2).jpg", "b.txt", "p", "q"]


def old_triggers() -> list[str]:
    """0007's insert and update triggers and 0016's root trigger, in their order (the
    newest fires first), and 0026's stamp of each entry's time, as old_… writing to
    old_feed."""
    sql = {name: text for _n, name, text in migrations()}
    found = []
    for migration, trigger in (("0007_share_writes.sql", "share_feed_on_insert"),
                               ("0007_share_writes.sql", "share_feed_on_update"),
                               ("0016_share_feed_hidden_roots.sql", "share_feed_on_root_renamed"),
                               ("0026_share_feed_times.sql", "share_feed_stamp")):
        text = sql[migration]
        start = text.index(f"CREATE TRIGGER {trigger} ")
        found.append(text[start:text.index("END;", start) + 4]
                     .replace(f"TRIGGER {trigger} ", f"TRIGGER old_{trigger} ")
                     .replace("INSERT INTO share_feed ", "INSERT INTO old_feed ")
                     .replace(" ON share_feed ", " ON old_feed ")
                     .replace("UPDATE share_feed ", "UPDATE old_feed "))
    return ["CREATE TABLE old_feed (pos INTEGER PRIMARY KEY AUTOINCREMENT,"
            " recipient_id TEXT, file_id TEXT, seq INTEGER, at INTEGER NOT NULL DEFAULT 0)",
            *found]


async def live(tx: Conn, user: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await tree.live_descendants(tx, user, "/")]


async def step(tx: Conn, rng: random.Random, now: int) -> None:
    user = rng.choice(["alice", "alice", "bob"])
    entries = await live(tx, user)
    folders = ["/"] + [join(e["folder"], e["name"]) for e in entries if e["kind"] == "folder"]
    action = rng.choice(["create"] * 4 + ["mkdir"] * 2 + ["update"] + ["move"] * 2
                        + ["trash", "restore"] + ["share"] * 2 + ["unshare"])
    kw: dict[str, Any] = {"user_id": user, "device_id": None, "now": now}
    try:
        if action in ("create", "mkdir"):
            folder = rng.choice(folders)
            if action == "mkdir":
                await files.ensure_folder(tx, folder=join(folder, rng.choice(NAMES)), **kw)
            else:
                await files.commit_version(
                    tx, file_id=None, folder=folder, name=rng.choice(NAMES), size=0,
                    checksum="sha256:0", mime_type="text/plain", metadata={}, modified_at=now,
                    chunk_hashes=[], **kw)
        elif action == "update" and any(e["kind"] == "file" for e in entries):
            entry = rng.choice([e for e in entries if e["kind"] == "file"])
            await files.commit_version(
                tx, file_id=entry["id"], folder="", name="", size=0, checksum="sha256:1",
                mime_type="text/plain", metadata={}, modified_at=now, chunk_hashes=[], **kw)
        elif action in ("move", "trash") and entries:
            row = await tree.get(tx, user, rng.choice(entries)["id"])
            assert row is not None
            if action == "trash":
                await tree.trash(tx, row=row, **kw)
                return
            path = join(row["folder"], row["name"])
            folder = rng.choice([f for f in folders if f != path and not f.startswith(path + "/")])
            name = rng.choice([row["name"], *NAMES])
            if await files.find_by_name(tx, user, folder, name) is None:
                await tree.move(tx, row=row, folder=folder, name=name, **kw)
        elif action == "restore":
            roots = await fetchall(tx, "SELECT id FROM files WHERE user_id = ? AND trash_root = id"
                                       " AND deleted_at IS NOT NULL", (user,))
            if roots:
                row = await tree.get(tx, user, rng.choice(roots)["id"])
                assert row is not None
                if (row["folder"] in folders
                        and await files.find_by_name(tx, user, row["folder"], row["name"]) is None):
                    await tree.restore_group(tx, row=row, folder=row["folder"], name=row["name"],
                                             **kw)
        elif action == "share":
            everything = await fetchall(tx, "SELECT id FROM files WHERE user_id = ?", (user,))
            if everything:
                recipient = rng.choice([u for u in (*USERS, None) if u != user])
                await shares.upsert(tx, share_id=f"share_{now}", owner_id=user,
                                    file_id=rng.choice(everything)["id"],
                                    email=f"{recipient or 'nobody'}@example.com",
                                    recipient_id=recipient, permission="read", now=now)
        elif action == "unshare":
            mine = await shares.outgoing(tx, user)
            if mine:
                await shares.delete(tx, rng.choice(mine)["id"])
    except NameConflict:
        pass  # a file where a folder was to be, or the name taken: nothing changed


@pytest.mark.parametrize("seed", range(6))
async def test_the_triggers_feed_what_the_reference_ones_fed(tmp_path: Path, seed: int) -> None:
    clock.set_now(lambda: 0.0)  # a journal entry's time is then its step's ``now``
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        async with db.transaction() as tx:
            for sql in old_triggers():
                await tx.execute(sql)
            for user in USERS:
                await tx.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                                 " password_changed_at) VALUES (?, ?, ?, 'x', 0, 0)",
                                 (user, f"{user}@example.com", user))
        rng = random.Random(seed)
        for now in range(1, 401):
            async with db.transaction() as tx:
                await step(tx, rng, now)
        # A change whose seq has no journal entry (yet): the journal's latest time.
        async with db.transaction() as tx:
            await tx.execute("UPDATE files SET seq = seq + 100000 WHERE user_id IN"
                             " (SELECT owner_id FROM shares WHERE recipient_id IS NOT NULL)")
        columns = "recipient_id, file_id, seq, at"
        new = await db.fetchall(f"SELECT {columns} FROM share_feed ORDER BY pos")
        old = await db.fetchall(f"SELECT {columns} FROM old_feed ORDER BY pos")
    finally:
        await db.close()
    assert len(old) > 40  # the workload reached shared entries
    assert len({r["at"] for r in old}) > 20  # of many steps
    assert any(r["seq"] > 100000 for r in old)  # and the journal's latest
    assert [tuple(r) for r in new] == [tuple(r) for r in old]
