"""Reading the change journal: deltas since a sync position, and positions for times.

A delta is a range scan of ``files`` on ``(user_id, seq)``: every entry changed after
position ``after`` appears once, as it is now, in journal order. That collapses a file
created and edited since the token into one entry, and makes paging a matter of
continuing from the last row's seq.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from homesync.paths import name_key
from homesync.store.db import Conn, Reads, Row, fetchall, fetchone

__all__ = [
    "DELTA_COLUMNS",
    "DeltaRow",
    "feed_end",
    "head",
    "journal_end",
    "page",
    "positions",
    "recipients_fed_after",
    "seq_before",
    "seqs_before",
    "users_changed_after",
]

# The columns of a delta row, in this order. Rows are plain tuples read by index: a
# page may hold 10 000 of them, and building sqlite3.Row objects would cost more.
DELTA_COLUMNS = ("id, kind, name, folder, size, modified_at, checksum, mime_type,"
                 " deleted_at, created_seq, seq, in_view")
DeltaRow = tuple[Any, ...]


async def head(conn: Conn, user_id: str) -> int:
    """The user's latest journal position (0 before their first change)."""
    row = await fetchone(conn, "SELECT max(seq) FROM journal WHERE user_id = ?", (user_id,))
    return int(row[0] or 0) if row else 0


async def seq_before(conn: Conn, user_id: str, at_ms: int) -> int:
    """The position just before the user's first change at or after ``at_ms``.

    A delta from there holds every change made at ``at_ms`` or later (and perhaps a few
    older ones, which is harmless; missing one would not be).

    0 ("saw nothing") when ``at_ms`` is before the user's sync horizon: entries from then
    may be compacted away (``store.horizon``), and the first one left would name a later
    position, as if the changes in between had been seen. Conflict checks then judge
    conservatively (``since_token.content_changed_since``); ``GET /sync/status`` answers such a
    ``lastSync`` with a full listing before asking.
    """
    row = await fetchone(
        conn,
        "SELECT (SELECT min(seq) FROM journal WHERE user_id = ?1 AND at >= ?2),"
        " (SELECT sync_horizon_at FROM users WHERE id = ?1)",
        (user_id, at_ms))
    if row is not None and row[1] is not None and at_ms < row[1]:
        return 0
    if row is None or row[0] is None:
        return await head(conn, user_id)
    return int(row[0]) - 1


async def seqs_before(conn: Conn, user_id: str, times: Sequence[int]) -> dict[int, int]:
    """:func:`seq_before` of each of ``times`` (by time), reading the journal since the
    earliest once rather than once for each: a batch of queued operations, each with its
    own ``createdAt`` from a week ago, read the week's journal 500 times (36 s at 200 000
    entries, under the write lock) where this reads it once.

    ``at`` follows ``seq`` only while the clock does, so each answer is still the least
    position at or after its time: the least of its own slice ``[time, next time)`` and
    of every later slice."""
    wanted = sorted(set(times))
    if not wanted:
        return {}
    row = await fetchone(conn, "SELECT sync_horizon_at FROM users WHERE id = ?", (user_id,))
    horizon = row[0] if row is not None else None
    end = await head(conn, user_id)
    found: dict[int, int] = {}
    least: int | None = None  # the least seq stamped at or after the time in hand
    for at_ms, until in reversed(list(zip(wanted, [*wanted[1:], None], strict=True))):
        sql = "SELECT min(seq) FROM journal WHERE user_id = ? AND at >= ?"
        args: tuple[Any, ...] = (user_id, at_ms)
        if until is not None:
            sql, args = sql + " AND at < ?", (*args, until)
        first = await fetchone(conn, sql, args)
        if first is not None and first[0] is not None:
            least = int(first[0]) if least is None else min(least, int(first[0]))
        if horizon is not None and at_ms < horizon:
            found[at_ms] = 0
        else:
            found[at_ms] = least - 1 if least is not None else end
    return found


async def positions(conn: Reads, user_id: str, seq: int, shared_pos: int = 0) -> Row:
    """One read for a sync call: ``head`` (the user's latest position), ``open_conflicts``
    (how many) and ``in_gap``: whether ``seq`` was issued by a database that a backup
    restore replaced (``homesync backup restore`` records the positions it skipped; a
    token in that range names changes this database never saw). For what others share
    with the user: ``shared_head`` (their latest share-feed position), ``share_owners``
    (the sharers' ids, comma-separated, or NULL) and ``in_shared_gap`` (``in_gap`` for the
    share-feed position ``shared_pos``). The user's sync horizon
    (``store.horizon``): ``horizon_seq``, ``horizon_at`` and ``shared_horizon``."""
    row = await fetchone(
        conn,
        "SELECT (SELECT coalesce(max(seq), 0) FROM journal WHERE user_id = ?1) AS head,"
        " (SELECT count(*) FROM conflicts WHERE user_id = ?1 AND resolved_at IS NULL)"
        " AS open_conflicts,"
        " EXISTS (SELECT 1 FROM restores WHERE ?2 > snapshot_seq AND ?2 <= resumed_seq)"
        " AS in_gap,"
        " EXISTS (SELECT 1 FROM restores WHERE ?3 > snapshot_pos AND ?3 <= resumed_pos)"
        " AS in_shared_gap,"
        " (SELECT coalesce(max(pos), 0) FROM share_feed WHERE recipient_id = ?1) AS shared_head,"
        " (SELECT group_concat(DISTINCT owner_id) FROM shares WHERE recipient_id = ?1)"
        " AS share_owners,"
        " u.sync_horizon_seq AS horizon_seq, u.sync_horizon_at AS horizon_at,"
        " u.shared_horizon_pos AS shared_horizon"
        " FROM (SELECT 1) LEFT JOIN users u ON u.id = ?1",
        (user_id, seq, shared_pos),
    )
    assert row is not None
    return row


# SQL true for a deleted ``files`` row that a device (both parameters) changed itself
# (made, edited, moved: it holds the entry) but did not delete: its latest change,
# ``files.seq``, is the delete.
_TOUCHED_NOT_DELETED = (
    "(EXISTS (SELECT 1 FROM journal j WHERE j.file_id = files.id AND j.device_id = ?)"
    " AND NOT EXISTS (SELECT 1 FROM journal d WHERE d.seq = files.seq AND d.device_id = ?))")


# A row's folder as names collide (``paths.name_key``: casefolded, NFC), for syncFolders.
# An ASCII path's key is SQLite's lower(), with no call into Python (a full listing reads
# every row); other paths call ``path_key`` (``store.connections`` registers it).
_FOLDER_KEY = ("(CASE WHEN length(CAST(folder AS BLOB)) = length(folder) THEN lower(folder)"
               " ELSE path_key(folder) END)")


def _view_filter(folders: Sequence[str]) -> tuple[str, list[Any]]:
    """SQL true for entries at or below one of ``folders`` (the device's syncFolders),
    matched the way names collide: ``/dcim`` is ``/DCIM``, and whatever spelling the
    folder has now (created later, renamed to another case), the entries follow it."""
    clauses: list[str] = []
    params: list[Any] = []
    for root in folders:
        if root == "/":
            return "1", []
        key = name_key(root)  # a path: casefolded, NFC, as each of its names is
        parent, _, name = key.rpartition("/")
        # Below it: "folder/" starts with "root/". The folder entry itself sits in its parent.
        clauses.append(f"(substr({_FOLDER_KEY} || '/', 1, ?) = ?"
                       f" OR (name_key = ? AND {_FOLDER_KEY} = ?))")
        params += [len(key) + 1, key + "/", name, parent or "/"]
    return " OR ".join(clauses), params


async def page(conn: Conn, user_id: str, *, after: int | None, limit: int,
               folders: Sequence[str] = (), device_id: str | None = None,
               since: int | None = None) -> list[DeltaRow]:
    """Up to ``limit`` entries changed after position ``after``, in journal order.

    ``after`` None lists every live entry. Otherwise deleted entries come too, except
    those created after ``after`` (the device never saw them) — unless ``device_id``
    changed them itself (it uploaded the file, and so holds it) and another device
    deleted them: that deletion is news to it. With ``folders``, only
    entries in those folders come, plus entries that moved out of them since ``since``
    (``in_view`` is 0 for those: the device should drop them). ``since`` is where a paged
    delta started (``after`` by default): an entry moved out before ``after`` but changed
    after it was on none of the pages before.
    """
    view, view_params = _view_filter(folders) if folders else ("1", [])
    sql = f"SELECT {DELTA_COLUMNS} FROM (SELECT *, ({view}) AS in_view FROM files" \
          " WHERE user_id = ? AND seq > ?"
    params: list[Any] = [*view_params, user_id, after or 0]
    if after is None:
        sql += " AND deleted_at IS NULL"
    else:
        sql += " AND (deleted_at IS NULL OR created_seq <= ?"
        params.append(after)
        if device_id is not None:
            sql += f" OR {_TOUCHED_NOT_DELETED}"
            params += [device_id, device_id]
        sql += ")"
    sql += ")"
    if view != "1":
        sql += " WHERE in_view" if after is None else " WHERE in_view OR moved_seq > ?"
        if after is not None:
            params.append(after if since is None else min(since, after))
    sql += " ORDER BY seq LIMIT ?"
    params.append(limit)
    async with conn.execute(sql, params) as cur:
        cur.row_factory = None
        return cast(list[DeltaRow], list(await cur.fetchall()))


async def journal_end(conn: Conn) -> int:
    """The latest journal position of all users."""
    row = await fetchone(conn, "SELECT max(seq) FROM journal")
    return int(row[0] or 0) if row else 0


async def users_changed_after(conn: Conn, seq: int) -> list[Row]:
    """(user_id, latest seq) of every user with journal entries after ``seq``."""
    return await fetchall(conn, "SELECT user_id, max(seq) AS seq FROM journal WHERE seq > ?"
                                " GROUP BY user_id", (seq,))


async def feed_end(conn: Conn) -> int:
    """The latest share-feed position of all recipients."""
    row = await fetchone(conn, "SELECT max(pos) FROM share_feed")
    return int(row[0] or 0) if row else 0


async def recipients_fed_after(conn: Conn, pos: int) -> list[Row]:
    """(recipient_id, latest pos) of every recipient with share-feed entries after ``pos``:
    what others share with them changed, though perhaps with no journal entry of anyone's
    (an owner's account removed, its shares ending)."""
    return await fetchall(conn, "SELECT recipient_id, max(pos) AS pos FROM share_feed"
                                " WHERE pos > ? GROUP BY recipient_id", (pos,))
