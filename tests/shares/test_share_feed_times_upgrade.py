"""Upgrading to migration 0026 (share-feed entries say when they were written): entries
from before have no time, so a ``lastSync`` from before the upgrade maps to no feed
position (the full listing, reset), one after it does, and new entries get their time."""

from __future__ import annotations

from pathlib import Path

from homesync import clock
from homesync.store import files, share_feed, shares
from homesync.store.db import Database
from tests.helpers import database_at


async def test_entries_from_before_the_upgrade_count_as_old(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = database_at(path, 25)
    for user in ("alice", "bob", "carol"):
        conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                     " password_changed_at) VALUES (?, ?, ?, 'x', 0, 0)",
                     (user, f"{user}@example.com", user))
    conn.execute("INSERT INTO share_feed (recipient_id, file_id, seq) VALUES ('bob', 'f', 0)")
    conn.close()
    before = clock.now_ms() - 1
    db = await Database.open(path)
    try:
        after = clock.now_ms() + 10  # past the upgrade, to the millisecond and more
        assert await share_feed.pos_before(db.reader, "bob", before) is None
        assert await share_feed.pos_before(db.reader, "bob", after) == 1  # the head: none since
        # Carol has no entry from before: any time maps to a position.
        assert await share_feed.pos_before(db.reader, "carol", before) == 0

        # A new entry fed by a change (a folder made in a shared one) gets its journal
        # entry's time.
        clock.set_now(lambda: (after + 5) / 1000)
        kw = {"user_id": "alice", "device_id": None, "now": after + 5}
        async with db.transaction() as tx:
            await files.ensure_folder(tx, folder="/shared", **kw)
            shared = await files.find_by_name(tx, "alice", "/", "shared")
            assert shared is not None
            await shares.upsert(tx, share_id="share_1", owner_id="alice", file_id=shared["id"],
                                email="bob@example.com", recipient_id="bob", permission="read",
                                now=after + 5)
            await files.ensure_folder(tx, folder="/shared/g", **kw)
        assert await share_feed.pos_before(db.reader, "bob", after) == 1
        assert await share_feed.pos_before(db.reader, "bob", after + 5) == 1
        assert await share_feed.pos_before(db.reader, "bob", after + 6) == 2
    finally:
        await db.close()
