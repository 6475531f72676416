"""What other devices did since a device's sync token: the journal questions conflict
checks ask before a change from that device is applied (:mod:`homesync.services.sync.engine`,
an upload's new version in :mod:`homesync.services.uploads.decide`, the offline queue).

A device's own changes never count against it: it knows about them even when its token
is older (two edits queued offline, a retried request). Below the owner's sync horizon
the journal may be compacted (``store.horizon``), and the answers err towards a conflict,
which keeps both sides where an overwrite would lose one.
"""

from __future__ import annotations

from homesync.paths import join
from homesync.store.db import Conn, Row, fetchall, fetchone
from homesync.store.files import FILE_COLUMNS
from homesync.store.tree import descendants_filter

__all__ = ["CONTENT_ACTIONS", "content_changed_since", "entry_path", "first_changed_below",
           "last_change", "relocations_after"]

# Journal actions that change what a file contains (as opposed to where it is).
CONTENT_ACTIONS = ("create", "update")


async def content_changed_since(conn: Conn, file_id: str, base_seq: int,
                                device_id: str | None) -> Row | None:
    """The latest content change of ``file_id`` after ``base_seq`` made by another device.

    A device's own changes never conflict with it: it knows about them even when its
    sync token is older (two edits queued offline, a retried request).

    Below the owner's sync horizon the journal may be compacted (``store.horizon``), so
    for a ``base_seq`` there, a file that existed before the horizon and changed after
    ``base_seq`` in any way counts as changed by an unknown device (a row with
    ``device_id`` NULL and ``action`` ``update``): whether it was its content, and by whom,
    can no longer be told, and a conflict keeps both sides where an overwrite would lose
    one. Journal entries after the horizon are all there and judge exactly.
    """
    return await fetchone(conn, _changed_since_sql("= ?1"),
                          (file_id, base_seq, device_id or "", *CONTENT_ACTIONS))


def _changed_since_sql(ids: str) -> str:
    """:func:`content_changed_since` for the file ids ``file_id {ids}`` matches (?1); ?2
    the base seq, ?3 the device, then :data:`CONTENT_ACTIONS`."""
    placeholders = ", ".join(f"?{4 + i}" for i in range(len(CONTENT_ACTIONS)))
    return (
        f"SELECT seq, action, device_id, at, file_id FROM journal WHERE file_id {ids}"
        f" AND seq > ?2 AND action IN ({placeholders})"
        " AND (device_id IS NULL OR device_id != ?3)"
        " UNION ALL"
        " SELECT f.seq, 'update', NULL, f.modified_at, f.id FROM files f JOIN users u"
        f" ON u.id = f.user_id WHERE f.id {ids} AND ?2 < u.sync_horizon_seq"
        " AND f.created_seq <= u.sync_horizon_seq AND f.seq > ?2 ORDER BY seq DESC LIMIT 1"
    )


async def first_changed_below(conn: Conn, user_id: str, folder: Row, base_seq: int,
                              device_id: str | None) -> Row | None:
    """The shallowest live file below the live ``folder`` (by folder, then name) that
    deleting ``folder`` would throw away unseen by a device whose token is ``base_seq``:
    its content changed by another device since (the rules of
    :func:`content_changed_since`), or another device moved it (or a folder carrying it)
    in or brought it back from the trash since.

    Where an entry was at ``base_seq`` is read off the journal: the path its first move or
    rename after ``base_seq`` left (``from_path``), else where it is now; not live at all if
    its first entry after ``base_seq`` made it (a create, a mkdir) or restored it. The same
    for ``folder``, so another device renaming or moving ``folder`` itself, or moving
    entries about inside it, brings nothing new: the device saw them all in it. An entry
    only the device itself moved never counts (it knows where it put it); one moved both
    by it and by another device does, as does a move journaled without ``from_path``
    (before it was recorded): where it came from is unknown. Below the sync horizon the
    journal may be incomplete: every file from before the horizon that changed since
    ``base_seq`` counts.

    One statement, whatever the folder holds (20 000 photos): only files changed since
    ``base_seq`` are looked at, each by a few lookups in ``journal_file_seq``.
    """
    where, params = descendants_filter(join(folder["folder"], folder["name"]), "c.folder")
    # Numbered: ?1 user, ?2 base seq, ?3 device, ?4 the folder's id; the filter's after.
    return await fetchone(
        conn,
        f"SELECT {', '.join('c.' + c.strip() for c in FILE_COLUMNS.split(','))}"
        " FROM files c JOIN users u ON u.id = c.user_id"
        f" JOIN (SELECT {_path_then('f')} AS path FROM files f WHERE f.id = ?4) r"
        f" WHERE {where} AND c.user_id = ?1 AND c.deleted_at IS NULL AND c.kind = 'file'"
        " AND c.seq > ?2 AND ("
        # Its content changed by another device (or, below the horizon, changed at all).
        "  EXISTS (SELECT 1 FROM journal j WHERE j.file_id = c.id AND j.seq > ?2"
        f"   AND j.action IN {_CONTENT} AND {_BY_OTHERS})"
        "  OR (?2 < u.sync_horizon_seq AND c.created_seq <= u.sync_horizon_seq)"
        # Moved or restored by another device, from a place not below the folder then.
        "  OR (EXISTS (SELECT 1 FROM journal j WHERE j.file_id = c.id AND j.seq > ?2"
        f"   AND j.action IN ('move', 'rename', 'restore') AND {_BY_OTHERS})"
        f"   AND NOT coalesce(substr({_path_then('c')}, 1, length(r.path) + 1)"
        "    = r.path || '/', 0)))"
        " ORDER BY length(c.folder), c.folder, c.name_key LIMIT 1",
        [user_id, base_seq, device_id, folder["id"], *params],
    )


# A journal entry (``j``) made by a device other than ?3 (or by none).
_BY_OTHERS = "(j.device_id IS NULL OR j.device_id IS NOT ?3)"
_CONTENT = "(" + ", ".join(f"'{action}'" for action in CONTENT_ACTIONS) + ")"


def _path_then(alias: str) -> str:
    """SQL: where the entry ``alias`` was at the base seq (?2): NULL if it was not live
    (its first entry since made or restored it) or the move that took it away did not
    record where from; else the first move's ``from_path``, else where it is now."""
    since = f"FROM journal j WHERE j.file_id = {alias}.id AND j.seq > ?2"
    moves = f"{since} AND j.action IN ('move', 'rename') ORDER BY j.seq LIMIT 1"
    return (
        f"(CASE WHEN (SELECT j.action {since} AND j.action IN ('create', 'mkdir', 'delete',"
        " 'restore', 'move', 'rename') ORDER BY j.seq LIMIT 1) IN ('create', 'mkdir', 'restore')"
        f" THEN NULL WHEN EXISTS (SELECT 1 {moves}) THEN (SELECT j.from_path {moves})"
        f" WHEN {alias}.folder = '/' THEN '/' || {alias}.name"
        f" ELSE {alias}.folder || '/' || {alias}.name END)"
    )


async def entry_path(conn: Conn, user_id: str, file_id: str, base_seq: int) -> str | None:
    """Where ``user_id``'s entry ``file_id`` is now, for reading where it was at ``base_seq``
    off its moves and renames since (:func:`relocations_after`): the path at ``base_seq``
    is the first one's ``from_path``, else where it is now. None when the journal cannot
    tell: no such entry of the user's, or ``base_seq`` below the user's sync horizon (moves
    since may be compacted away)."""
    row = await fetchone(
        conn, "SELECT f.folder, f.name, u.sync_horizon_seq FROM files f JOIN users u"
              " ON u.id = f.user_id WHERE f.id = ? AND f.user_id = ?", (file_id, user_id))
    if row is None or base_seq < row["sync_horizon_seq"]:
        return None
    return join(row["folder"], row["name"])


async def relocations_after(conn: Conn, file_id: str, after: int) -> list[Row]:
    """The moves and renames of ``file_id`` after journal position ``after`` (by any
    device), oldest first: ``(seq, device_id, from_path)``, the path each one left (None
    for a move journaled before paths were)."""
    return await fetchall(
        conn, "SELECT seq, device_id, from_path FROM journal WHERE file_id = ? AND seq > ?"
              " AND action IN ('move', 'rename') ORDER BY seq", (file_id, after))


async def last_change(conn: Conn, file_id: str) -> Row | None:
    """The latest journal entry of ``file_id`` (``seq``, ``action``, ``device_id``, ``at``).

    None when the file's entries were compacted past the sync horizon: only a conflict's
    "changed by which device" reads it, and shows no device then.
    """
    return await fetchone(conn, "SELECT seq, action, device_id, at FROM journal WHERE file_id = ?"
                                " ORDER BY seq DESC LIMIT 1", (file_id,))
