"""Upgrading to migration 0016 (a share inside another shared folder takes no name):
devices synced before saw the younger same-named share with a " (2)" it no longer has,
so those shares come again in their recipient's feed, and nothing else does."""

from __future__ import annotations

from pathlib import Path

from homesync.store.db import Database
from tests.helpers import database_at

# (id, kind, folder, name) of Alice's files.
FILES = [("photos", "folder", "/", "photos"), ("inner", "file", "/photos", "a.jpg"),
         ("elsewhere", "folder", "/", "elsewhere"), ("other", "file", "/elsewhere", "A.JPG"),
         ("b", "file", "/elsewhere", "b.jpg")]
# (share id, file id, recipient), oldest first.
SHARES = [("s1", "inner", "bob"), ("s2", "photos", "bob"), ("s3", "other", "bob"),
          ("s4", "b", "bob"), ("s5", "other", "carol"), ("s6", "inner", "carol")]


async def test_the_shares_named_like_an_inner_share_come_again(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    conn = database_at(path, 15)
    for user in ("alice", "bob", "carol"):
        conn.execute("INSERT INTO users (id, email, name, password_hash, created_at,"
                     " password_changed_at) VALUES (?, ?, ?, 'x', 0, 0)",
                     (user, f"{user}@example.com", user))
    conn.execute("INSERT INTO journal (user_id, file_id, action, at) VALUES"
                 " ('alice', 'b', 'create', 0)")
    for file_id, kind, folder, name in FILES:
        conn.execute("INSERT INTO files (id, user_id, kind, folder, name, name_key,"
                     " modified_at, created_at, created_seq, seq) VALUES"
                     " (?, 'alice', ?, ?, ?, ?, 0, 0, 1, 1)",
                     (file_id, kind, folder, name, name.casefold()))
    for at, (share_id, file_id, recipient) in enumerate(SHARES):
        conn.execute("INSERT INTO shares (id, owner_id, file_id, recipient_email, recipient_id,"
                     " permission, created_at, updated_at) VALUES"
                     " (?, 'alice', ?, ?, ?, 'read', ?, ?)",
                     (share_id, file_id, f"{recipient}@example.com", recipient, at, at))
    conn.execute("DELETE FROM share_feed")
    conn.close()
    db = await Database.open(path)
    try:
        rows = await db.fetchall("SELECT recipient_id, file_id, seq FROM share_feed")
    finally:
        await db.close()
    # Bob's a.jpg is inside his shared /photos: his A.JPG (and the a.jpg) come again;
    # b.jpg and /photos do not. Carol has no share inside another one: nothing.
    assert sorted(tuple(r) for r in rows) == [("bob", "inner", 1), ("bob", "other", 1)]
