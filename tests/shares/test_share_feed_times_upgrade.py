"""Upgrading to migration 0026 (share-feed entries say when they were written): entries
from before have no time, so a ``lastSync`` from before the upgrade maps to no feed
position (the full listing, reset), one after it does, and new entries get their time."""

from __future__ import annotations

from pathlib import Path

from homesync import clock
from homesync.store import share_feed
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

        # A new entry fed by a change gets its journal entry's time.
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO journal (user_id, file_id, action, at)"
                             " VALUES ('alice', 'g', 'create', ?)", (after + 5,))
            await tx.execute("INSERT INTO share_feed (recipient_id, file_id, seq)"
                             " SELECT 'bob', 'g', max(seq) FROM journal")
        assert await share_feed.pos_before(db.reader, "bob", after) == 1
        assert await share_feed.pos_before(db.reader, "bob", after + 5) == 1
        assert await share_feed.pos_before(db.reader, "bob", after + 6) == 2
    finally:
        await db.close()
