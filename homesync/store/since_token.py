"""What other devices did since a device's sync token: the journal questions conflict
checks ask before a change from that device is applied (:mod:`homesync.services.sync.engine`,
an upload's new version in :mod:`homesync.services.uploads.decide`, the offline queue).

A device's own changes never count against it: it knows about them even when its token
is older (two edits queued offline, a retried request). Below the owner's sync horizon
the journal may be compacted (``store.horizon``), and the answers err towards a conflict,
which keeps both sides where an overwrite would lose one.
"""

from __future__ import annotations

import msgspec

from homesync.paths import join
from homesync.store.db import Conn, Row, fetchall, fetchone

__all__ = ["CONTENT_ACTIONS", "content_changed_among", "content_changed_since", "last_change",
           "moved_in_since", "path_at"]

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


async def content_changed_among(conn: Conn, file_ids: list[str], base_seq: int,
                                device_id: str | None) -> set[str]:
    """Those of ``file_ids`` whose content another device changed after ``base_seq`` (the
    rules of :func:`content_changed_since`), in one query for a folder of any size."""
    if not file_ids:
        return set()
    sql = _changed_since_sql("IN (SELECT value FROM json_each(?1))", limit=False)
    rows = await fetchall(conn, sql, (msgspec.json.encode(file_ids).decode(), base_seq,
                                      device_id or "", *CONTENT_ACTIONS))
    return {str(row["file_id"]) for row in rows}


def _changed_since_sql(ids: str, *, limit: bool = True) -> str:
    """:func:`content_changed_since` for the file ids ``file_id {ids}`` matches (?1); ?2
    the base seq, ?3 the device, then :data:`CONTENT_ACTIONS`. Without ``limit``, every
    such change."""
    placeholders = ", ".join(f"?{4 + i}" for i in range(len(CONTENT_ACTIONS)))
    return (
        f"SELECT seq, action, device_id, at, file_id FROM journal WHERE file_id {ids}"
        f" AND seq > ?2 AND action IN ({placeholders})"
        " AND (device_id IS NULL OR device_id != ?3)"
        " UNION ALL"
        " SELECT f.seq, 'update', NULL, f.modified_at, f.id FROM files f JOIN users u"
        f" ON u.id = f.user_id WHERE f.id {ids} AND ?2 < u.sync_horizon_seq"
        " AND f.created_seq <= u.sync_horizon_seq AND f.seq > ?2"
        + (" ORDER BY seq DESC LIMIT 1" if limit else "")
    )


async def moved_in_since(conn: Conn, folder: Row, below: list[Row], base_seq: int,
                         device_id: str | None) -> set[str]:
    """Those of ``below`` (live entries below the live ``folder`` now) that were not below
    it at ``base_seq`` and that another device moved (them, or a folder carrying them) or
    brought back from the trash since: a device whose token is ``base_seq`` never saw them
    in ``folder``, as it never saw a file created there since.

    Where an entry was at ``base_seq`` is read off the journal: the path its first move or
    rename after ``base_seq`` left (``from_path``), else where it is now; not live at all if
    its first entry after ``base_seq`` made it (a create, a mkdir) or restored it. The same
    for ``folder``, so another device renaming or moving ``folder`` itself, or moving
    entries about inside it, brings nothing new: the device saw them all in it. An entry
    only the device itself moved never counts (it knows where it put it); one moved both
    by it and by another device does, as does a move journaled without ``from_path``
    (before it was recorded): where it came from is unknown. Below the sync horizon the
    journal may be incomplete, and :func:`content_changed_among` already counts every file
    from before the horizon that changed since ``base_seq``.
    """
    if not below:
        return set()
    ids = msgspec.json.encode([folder["id"], *(r["id"] for r in below)]).decode()
    entries = await fetchall(
        conn,
        "SELECT file_id, action, device_id, from_path FROM journal"
        " WHERE file_id IN (SELECT value FROM json_each(?)) AND seq > ?"
        " AND action IN ('create', 'mkdir', 'delete', 'restore', 'move', 'rename')"
        " ORDER BY seq",
        (ids, base_seq),
    )
    first: dict[str, Row] = {}
    first_move: dict[str, str | None] = {}
    moved_by_others: set[str] = set()
    for entry in entries:
        file_id = str(entry["file_id"])
        first.setdefault(file_id, entry)
        if entry["action"] in ("move", "rename"):
            first_move.setdefault(file_id, entry["from_path"])
        if entry["action"] in ("move", "rename", "restore") \
                and (entry["device_id"] is None or entry["device_id"] != device_id):
            moved_by_others.add(file_id)

    def path_then(row: Row) -> str | None:
        """Where ``row`` was at ``base_seq``; None if not live or not known."""
        made = first.get(row["id"])
        if made is not None and made["action"] in ("create", "mkdir", "restore"):
            return None
        if row["id"] in first_move:
            return first_move[row["id"]]
        return join(row["folder"], row["name"])

    root = path_then(folder)
    return {row["id"] for row in below if row["id"] in moved_by_others
            and not ((then := path_then(row)) and root and then.startswith(root + "/"))}


async def path_at(conn: Conn, user_id: str, file_id: str, base_seq: int) -> str | None:
    """Where ``user_id``'s entry ``file_id`` was at ``base_seq``: the ``from_path`` of its
    first move or rename since (by any device), else where it is now. None when the
    journal cannot tell: no such entry of the user's, ``base_seq`` below the user's sync
    horizon (moves since may be compacted away), or a move journaled before paths were."""
    row = await fetchone(
        conn, "SELECT f.folder, f.name, u.sync_horizon_seq FROM files f JOIN users u"
              " ON u.id = f.user_id WHERE f.id = ? AND f.user_id = ?", (file_id, user_id))
    if row is None or base_seq < row["sync_horizon_seq"]:
        return None
    moved = await fetchone(
        conn, "SELECT from_path FROM journal WHERE file_id = ? AND seq > ?"
              " AND action IN ('move', 'rename') ORDER BY seq LIMIT 1", (file_id, base_seq))
    if moved is None:
        return join(row["folder"], row["name"])
    return None if moved["from_path"] is None else str(moved["from_path"])


async def last_change(conn: Conn, file_id: str) -> Row | None:
    """The latest journal entry of ``file_id`` (``seq``, ``action``, ``device_id``, ``at``).

    None when the file's entries were compacted past the sync horizon: only a conflict's
    "changed by which device" reads it, and shows no device then.
    """
    return await fetchone(conn, "SELECT seq, action, device_id, at FROM journal WHERE file_id = ?"
                                " ORDER BY seq DESC LIMIT 1", (file_id,))
