"""Restoring a trashed folder into the live folder at its place: a merge, set-based.

What merges (:mod:`homesync.services.files.trash` has the rules): the trashed folder into
the live one, and below it each trashed sub-folder that meets a live folder of its name
(a "pair": trashed id, its path, the live folder's path, and its order key). Every other
trashed entry directly in a merging folder is a "place": it comes back into the live
folder with its group below it, under its own name or, where a live entry holds that
name, under the one :mod:`homesync.services.files.trash` picked (``renamed``).

The journal is what restoring each place in turn wrote: the places in the order a walk of
the merging folders meets them (names in ``name_key`` order, a merging sub-folder's places
at its own place in that order), each followed by its group below it, shallowest first.
Each statement works through the whole folder at once, on the writer's thread: one
statement per entry held the event loop for seconds with 20 000 photos
(bench/folder_ops.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from homesync.paths import MAX_DEPTH, MAX_PATH_BYTES
from homesync.store import journal
from homesync.store.db import Conn, Row, execute, fetchall, fetchone, on_its_thread
from homesync.store.tree import check_restored_folder

__all__ = ["colliding", "entries_in", "merged_into", "merging_folders", "restore_merged"]

# A trashed entry of the group (?3) of the user (?2), not purged: by files_trash_root.
_IN_GROUP = ("+{t}.user_id = ?2 AND {t}.trash_root = ?3 AND {t}.deleted_at IS NOT NULL"
             " AND {t}.purged_at IS NULL")

# Order keys join the name_keys of the merging folders on the way with char(1), which
# sorts before any character a name may hold: as strings they sort as the walk goes.
_PAIRS = ("pairs(tid, tpath, lpath, ord, lo, hi) AS MATERIALIZED (SELECT value ->> 0,"
          " value ->> 1, value ->> 2, value ->> 3, (value ->> 1) || '/', (value ->> 1) || '0'"
          " FROM json_each(?1))")

# The places: ?1 the pairs, ?2 user, ?3 group, ?4 {id: [name, name_key]} of those renamed.
# "CROSS JOIN": the group is read once (files_trash_root), not once per merging folder.
_PLACES = (
    "renamed AS MATERIALIZED (SELECT key AS id, value ->> 0 AS name, value ->> 1 AS key"
    " FROM json_each(?4)),"
    " places AS MATERIALIZED (SELECT c.id, c.kind, c.folder AS tfolder, c.name, c.name_key,"
    " c.folder || '/' || c.name AS old_path, p.lpath, p.ord || c.name_key AS ord,"
    " coalesce(rn.name, c.name) AS new_name, rn.key AS new_key"
    " FROM files c CROSS JOIN pairs p LEFT JOIN renamed rn ON rn.id = c.id"
    f" WHERE p.tpath = c.folder AND {_IN_GROUP.format(t='c')}"
    " AND c.id NOT IN (SELECT tid FROM pairs))"
)

# Every entry that comes back: (id, kind, ord, below, its folder's length, its folder,
# its name_key: the journal's order), where it goes (new_folder, new_name, new_key: NULL
# for one unchanged) and whether that moves it. An entry below a place is found by the
# deepest merging folder above it (the only one whose next segment is a place); entries
# directly in a merging folder (places, or merging themselves) are left out first.
_MEMBERS = (
    "members AS (SELECT id, kind, ord, 0 AS below, 0 AS len, '' AS folder, '' AS key,"
    " lpath AS new_folder, new_name, new_key, lpath != tfolder OR new_name != name AS moved"
    " FROM places UNION ALL"
    " SELECT m.id, m.kind, pl.ord, 1, length(m.folder), m.folder, m.name_key,"
    " pl.lpath || '/' || pl.new_name || substr(m.folder, length(pl.old_path) + 1), m.name,"
    " NULL, pl.lpath || '/' || pl.new_name != pl.old_path"
    " FROM files m CROSS JOIN pairs p ON m.folder >= p.lo AND m.folder < p.hi"
    " JOIN places pl ON pl.old_path = p.tpath || '/' || substr(m.folder, length(p.tpath) + 2,"
    "  instr(substr(m.folder, length(p.tpath) + 2) || '/', '/') - 1)"
    f" WHERE {_IN_GROUP.format(t='m')} AND m.folder NOT IN (SELECT tpath FROM pairs))"
)

_ORDER = "ord, below, len, folder, key"


async def merging_folders(conn: Conn, *, user_id: str, trashed: Row, live: Row) -> list[Row]:
    """The pairs of merging folders (``tid``, ``tpath``, ``lpath``, ``ord``, ``lid``: the
    live folder's id): the trashed folder ``trashed`` into the live folder ``live``, and
    each trashed sub-folder of a merging one that meets a live folder of its name there
    and is not shared."""
    group = trashed["trash_root"] or trashed["id"]
    with on_its_thread(conn):
        return await fetchall(
            conn,
            # The group's folders first: the group is read once, not once per pair.
            "WITH RECURSIVE folders AS MATERIALIZED (SELECT c.id, c.folder, c.name,"
            f" c.name_key FROM files c WHERE {_IN_GROUP.format(t='c')} AND c.kind = 'folder'"
            " AND NOT EXISTS (SELECT 1 FROM shares s WHERE s.file_id = c.id)),"
            " pairs(tid, tpath, lpath, ord, lid) AS (SELECT ?4, ?5, ?6, '', ?7"
            " UNION ALL SELECT c.id, p.tpath || '/' || c.name, p.lpath || '/' || l.name,"
            " p.ord || c.name_key || char(1), l.id"
            " FROM pairs p JOIN folders c ON c.folder = p.tpath"
            " JOIN files l ON l.user_id = ?2 AND l.folder = p.lpath"
            " AND l.name_key = c.name_key AND l.deleted_at IS NULL AND l.kind = 'folder')"
            " SELECT tid, tpath, lpath, ord, lid FROM pairs",
            (None, user_id, group, trashed["id"], _path(trashed), _path(live), live["id"]))


async def colliding(conn: Conn, *, user_id: str, trashed: Row,
                    pairs: Sequence[Row]) -> list[Row]:
    """The places whose name a live entry holds in the folder they go into (``id``,
    ``name``, ``name_key``, ``kind``, ``tfolder``: the trashed folder they are in,
    ``lpath``), in the walk's order: they need another name. Few, whatever the folder
    holds."""
    with on_its_thread(conn):
        return await fetchall(
            conn,
            f"WITH {_PAIRS}, {_PLACES} SELECT id, name, name_key, kind, tfolder, lpath"
            " FROM places pl"
            " WHERE EXISTS (SELECT 1 FROM files l WHERE l.user_id = ?2 AND l.folder = pl.lpath"
            " AND l.name_key = pl.name_key AND l.deleted_at IS NULL) ORDER BY ord",
            _params(user_id, trashed, pairs, {}))


async def entries_in(conn: Conn, *, user_id: str, trashed: Row, folder: str) -> list[Row]:
    """The entries of ``trashed``'s group (not purged) directly in the trashed ``folder``
    (``id``, ``name``, ``name_key``, ``kind``): read once for a folder where names were
    taken."""
    with on_its_thread(conn):
        return await fetchall(
            conn, f"SELECT id, name, name_key, kind FROM files c"
                  f" WHERE {_IN_GROUP.format(t='c')}"
                  " AND c.folder = ?4",
            (None, user_id, trashed["trash_root"] or trashed["id"], folder))


async def restore_merged(tx: Conn, *, user_id: str, trashed: Row, pairs: Sequence[Row],
                         renamed: Mapping[str, tuple[str, str]], device_id: str | None,
                         now: int) -> None:
    """Bring every place of the merge back (``renamed``: id → (name, name_key) of those
    not under their own name) with its group below it, and close the trashed folders
    merged away (purged rows: deletion tombstones for devices that held them), each
    naming the live folder it merged into (``merged_into``: :func:`merged_into`).

    InvalidPath, changing nothing, if a folder would get a path no request can name (the
    first such one in the journal's order, as restoring place after place found it).
    """
    for pair in pairs:
        check_restored_folder(len(pair["lpath"].encode()), pair["lpath"].count("/"))
    params = _params(user_id, trashed, pairs, renamed)
    with on_its_thread(tx):
        # Where each one goes, in order, as one JSON array built by SQLite.
        got = await fetchone(
            tx,
            f"WITH {_PAIRS}, {_PLACES}, {_MEMBERS} SELECT json_group_array(json_array(id,"
            " new_folder, new_name, new_key, moved, kind, n)) FROM (SELECT *, row_number()"
            f" OVER (ORDER BY {_ORDER}) AS n FROM members)", params)
        assert got is not None
        plan = str(got[0])
        too_long = await fetchone(
            tx,
            "SELECT length(CAST(path AS BLOB)) AS size,"
            " length(path) - length(replace(path, '/', '')) AS depth FROM"
            " (SELECT value ->> 1 || '/' || (value ->> 2) AS path, value ->> 6 AS n"
            "  FROM json_each(?) WHERE value ->> 5 = 'folder')"
            " WHERE length(CAST(path AS BLOB)) > ? OR"
            " length(path) - length(replace(path, '/', '')) > ? ORDER BY n LIMIT 1",
            (plan, MAX_PATH_BYTES, MAX_DEPTH))
        if too_long is not None:
            check_restored_folder(too_long["size"], too_long["depth"])
        await execute(
            tx,
            "INSERT INTO journal (user_id, file_id, action, device_id, at, from_path)"
            " SELECT ?, value ->> 0, 'restore', ?, ?, NULL FROM json_each(?)"
            " ORDER BY value ->> 6",
            (user_id, device_id, journal.stamp(now), plan))
        last_seq = "(SELECT max(j.seq) FROM journal j WHERE j.file_id = files.id)"
        await execute(
            tx,
            "UPDATE files SET deleted_at = NULL, trash_root = NULL, folder = p.value ->> 1,"
            " name = p.value ->> 2, name_key = coalesce(p.value ->> 3, name_key),"
            f" seq = {last_seq},"
            f" moved_seq = CASE WHEN p.value ->> 4 THEN {last_seq} ELSE moved_seq END"
            " FROM json_each(?) p WHERE files.id = p.value ->> 0", (plan,))
        await execute(
            tx, "UPDATE files SET purged_at = ?, merged_into = p.value ->> 1"
                " FROM json_each(?) p WHERE files.id = p.value ->> 0 AND files.user_id = ?"
                " AND files.deleted_at IS NOT NULL AND files.purged_at IS NULL",
            (now, msgspec.json.encode([[p["tid"], p["lid"]] for p in pairs]).decode(),
             user_id))


async def merged_into(conn: Conn, *, user_id: str, file_id: str) -> str | None:
    """The id of the live folder the trashed folder ``file_id`` merged into when it was
    restored (:func:`restore_merged`), if it did; None for any other entry (a purge by
    hand, another user's)."""
    row = await fetchone(
        conn, "SELECT merged_into FROM files WHERE id = ? AND user_id = ?"
              " AND purged_at IS NOT NULL AND merged_into IS NOT NULL", (file_id, user_id))
    return None if row is None else str(row[0])


def _params(user_id: str, trashed: Row, pairs: Sequence[Row],
            renamed: Mapping[str, tuple[str, str]]) -> tuple[Any, ...]:
    return (msgspec.json.encode([list(p) for p in pairs]).decode(), user_id,
            trashed["trash_root"] or trashed["id"],
            msgspec.json.encode({k: list(v) for k, v in renamed.items()}).decode())


def _path(row: Row) -> str:
    return f"/{row['name']}" if row["folder"] == "/" else f"{row['folder']}/{row['name']}"
