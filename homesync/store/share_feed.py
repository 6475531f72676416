"""The share feed: what each recipient's sync must look at again (``share_feed``).

The triggers in ``0005_shares.sql`` append the owner's changes to shared files; the shares
service appends a shared item's subtree when a share starts or ends (:func:`add_subtree`).
A recipient's latest position is read with the rest of a sync call's positions
(:func:`homesync.store.changes.positions`). Each entry says when it was written (``at``,
migration 0026), so a ``lastSync`` time maps to a feed position (:func:`pos_before`):
the triggers write it with the entry (0028), and so must any other INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence

from homesync import clock
from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone

__all__ = ["add_subtree", "changed_files", "pos_before", "rows_by_id", "seen_seq"]

# The columns :func:`rows_by_id` reads, enough to build a delta entry.
_FILE_COLUMNS = ("id, user_id, kind, name, folder, size, modified_at, checksum, mime_type,"
                 " deleted_at")
_IN_CHUNK = 500  # ids per ``IN (…)``: well under SQLite's bound-parameter limit


async def add_subtree(conn: Conn, *, recipient_id: str, file_id: str) -> None:
    """Append the live shared item ``file_id`` and, for a folder, everything live below it.

    The recipient's next delta judges each entry from the shares live then: called when
    a share starts they appear, when it ends they are deleted. Each entry's ``seq`` is the
    journal's end: the delta shows the entries as they are now. Their ``at`` is now, inside
    the transaction: later than any ``lastSyncAt`` a sync that did not see them answered.
    """
    await execute(
        conn,
        "WITH root AS (SELECT user_id, kind, id,"
        " CASE folder WHEN '/' THEN '/' || name ELSE folder || '/' || name END AS path"
        " FROM files WHERE id = ?2),"
        " clock AS (SELECT coalesce(max(seq), 0) AS seq FROM journal)"
        " INSERT INTO share_feed (recipient_id, file_id, seq, at)"
        " SELECT ?1, f.id, c.seq, ?3 FROM root r CROSS JOIN clock c"
        " JOIN files f ON f.user_id = r.user_id"
        " WHERE f.deleted_at IS NULL AND (f.id = r.id OR (r.kind = 'folder' AND"
        " (f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')))"
        " ORDER BY f.folder, f.name",
        (recipient_id, file_id, clock.now_ms()),
    )


async def changed_files(conn: Conn, recipient_id: str, *, after: int, limit: int,
                        device_id: str = "") -> list[Row]:
    """Files with feed entries after ``after``, once each, in order of their latest entry.

    Columns: ``file_id``, ``pos`` (the latest entry), ``known`` (whether the file had
    an entry at or before ``after``: the device may hold it) and ``touched`` (whether
    ``device_id`` changed the file itself, through a write share: it holds it too).
    """
    return await fetchall(
        conn,
        "SELECT n.file_id, max(n.pos) AS pos, EXISTS (SELECT 1 FROM share_feed o"
        " WHERE o.recipient_id = ?1 AND o.file_id = n.file_id AND o.pos <= ?2) AS known,"
        " EXISTS (SELECT 1 FROM journal j WHERE j.file_id = n.file_id AND j.device_id = ?4)"
        " AS touched"
        " FROM share_feed n WHERE n.recipient_id = ?1 AND n.pos > ?2"
        " GROUP BY n.file_id ORDER BY pos LIMIT ?3",
        (recipient_id, after, limit, device_id),
    )


async def rows_by_id(conn: Conn, file_ids: Sequence[str]) -> dict[str, Row]:
    """The ``files`` rows of ``file_ids`` that still exist, by id."""
    found: dict[str, Row] = {}
    for start in range(0, len(file_ids), _IN_CHUNK):
        chunk = list(file_ids[start:start + _IN_CHUNK])
        marks = ", ".join("?" * len(chunk))
        for row in await fetchall(conn, f"SELECT {_FILE_COLUMNS} FROM files WHERE id IN"
                                        f" ({marks})", chunk):
            found[row["id"]] = row
    return found


async def seen_seq(conn: Conn, recipient_id: str, pos: int) -> int:
    """The journal position a device at feed position ``pos`` has seen the shared entries
    up to: every change to them after it has a feed entry after ``pos`` (0 at none)."""
    row = await fetchone(conn, "SELECT seq FROM share_feed WHERE recipient_id = ? AND pos <= ?"
                               " ORDER BY pos DESC LIMIT 1", (recipient_id, pos))
    return int(row["seq"]) if row is not None else 0


async def pos_before(conn: Reads, recipient_id: str, at_ms: int) -> int | None:
    """The feed position just before the recipient's first entry at or after ``at_ms``
    (their feed head when there is none): a delta from there holds every shared change
    made at ``at_ms`` or later, as :func:`homesync.store.changes.seq_before` does for the
    journal.

    None when ``at_ms`` is before ``users.share_feed_timed_at``: the recipient has entries
    written before the feed recorded times (migration 0026), which may be newer than
    ``at_ms``; no position is known to have missed none of them.
    """
    row = await fetchone(
        conn,
        "SELECT (SELECT share_feed_timed_at FROM users WHERE id = ?1),"
        " (SELECT min(pos) FROM share_feed WHERE recipient_id = ?1 AND at >= ?2),"
        " (SELECT coalesce(max(pos), 0) FROM share_feed WHERE recipient_id = ?1)",
        (recipient_id, at_ms))
    if row is None or at_ms < (row[0] or 0):
        return None
    return int(row[1]) - 1 if row[1] is not None else int(row[2])
