"""Databases from homesync's first day, made before migrations were numbered without gaps.

0006 (operations) landed before 0004 (notifications) and 0005 (shares), and the first
0005 had no share feed (it was added to 0005 in place later). Such a database says schema
version 6 yet lacks 0004, 0005, or 0005's share feed, and 0007 (which alters the share
feed) failed on it with "no such table: share_feed": the server never started again.
Before the migrations after 6 run, what such a database lacks of 0004 and 0005 is made,
and the feed gets the items its shares already reach.
"""

from __future__ import annotations

import logging

import aiosqlite

__all__ = ["fill_early_gaps"]

log = logging.getLogger("homesync.store.migrate")

# Where 0005 (pinned: never edited again) begins its share feed: the part the first 0005
# lacked.
_SHARE_FEED_PART = "CREATE TABLE share_feed"

# Shares made without a feed have no entries in it, and a recipient's sync lists shared
# items from the feed: each live shared item, and what is live below a shared folder, gets
# an entry, as when a share starts (store/share_feed.add_subtree).
_FEED_FOR_EXISTING_SHARES = """
INSERT INTO share_feed (recipient_id, file_id)
SELECT r.recipient_id, f.id FROM share_roots r JOIN files f ON f.user_id = r.owner_id
WHERE f.deleted_at IS NULL AND (f.id = r.file_id OR (r.kind = 'folder' AND
      (f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')))
ORDER BY r.recipient_id, f.folder, f.name;
"""


async def fill_early_gaps(conn: aiosqlite.Connection, current: int,
                          sql_of: dict[int, str]) -> None:
    """Make 0004's and 0005's objects missing from a version-6 database, in one transaction
    (cut off, the next start finds the same gaps). Any other version has none: a database
    gets past 6 only through 0007, which needs them."""
    if current != 6:
        return
    async with conn.execute("SELECT name FROM sqlite_master") as cur:
        names = {row[0] for row in await cur.fetchall()}
    parts: list[tuple[str, str]] = []
    if "notification_preferences" not in names:
        parts.append(("0004_notifications.sql", sql_of[4]))
    if "shares" not in names:
        parts.append(("0005_shares.sql", sql_of[5]))
    elif "share_feed" not in names:
        shares = sql_of[5]
        parts.append(("0005_shares.sql (its share feed)",
                      shares[shares.index(_SHARE_FEED_PART):] + _FEED_FOR_EXISTING_SHARES))
    if not parts:
        return
    log.info("the database says schema version 6 but lacks %s (made before they were"
             " numbered in order): applying them first", ", ".join(name for name, _ in parts))
    body = "\n".join(sql for _, sql in parts)
    try:
        await conn.executescript(f"BEGIN IMMEDIATE;\n{body}\nCOMMIT;")
    except Exception:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
