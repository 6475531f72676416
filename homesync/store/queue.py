"""The offline queue: the ``queue_ops`` table, one row per operation an app queued."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.since_token import CONTENT_ACTIONS

__all__ = [
    "OP_COLUMNS",
    "applied_spans",
    "cancel_pending",
    "cancel_pending_of_removed_devices",
    "completed_uploads",
    "count_pending_uploads",
    "devices_with_pending",
    "drop_forgotten",
    "entries_in_the_way",
    "finish_uploads",
    "forget_finished",
    "forgotten_many",
    "get",
    "get_many",
    "insert_if_new",
    "list_page",
    "open_upload_places",
    "pending_server_ops",
    "pending_uploads",
    "set_status",
    "settle_uploads",
    "unsettled_uploads",
    "uploads_stored_after",
    "uploads_finished_since",
]

OP_COLUMNS = (
    "device_id, op_id, user_id, type, local_path, remote_path, file_id, priority, created_at,"
    " received_at, base_seq, shared_seq, status, error, result_file_id, conflict_id,"
    " updated_at"
)
_IDS_PER_QUERY = 500  # well under SQLite's 32 766 bound parameters
_RANK = "CASE priority WHEN 'high' THEN 0 WHEN 'normal' THEN 1 ELSE 2 END"


async def insert_if_new(
    tx: Conn, *, device_id: str, op_id: str, user_id: str, type: str, local_path: str | None,
    remote_path: str | None, file_id: str | None, priority: str, created_at: int,
    base_seq: int, shared_seq: int | None, now: int,
) -> bool:
    """Queue an operation; False (and nothing changes) when the device already sent ``op_id``.

    ``base_seq`` is what the device had seen of its user's own tree, ``shared_seq`` of the
    entries others share with the user (None: no token, judged by ``created_at``)."""
    changed = await execute(
        tx,
        "INSERT INTO queue_ops (device_id, op_id, user_id, type, local_path, remote_path,"
        " file_id, priority, created_at, received_at, base_seq, shared_seq, status,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)"
        " ON CONFLICT (device_id, op_id) DO NOTHING",
        (device_id, op_id, user_id, type, local_path, remote_path, file_id, priority,
         created_at, now, base_seq, shared_seq, now),
    )
    return changed > 0


async def get(conn: Conn, device_id: str, op_id: str) -> Row | None:
    return await fetchone(conn, f"SELECT {OP_COLUMNS} FROM queue_ops WHERE device_id = ?"
                                " AND op_id = ?", (device_id, op_id))


async def get_many(conn: Conn, device_id: str, op_ids: list[str]) -> list[Row]:
    # Bound parameters, not json_each: SQLite cuts a JSON string at an escaped NUL, so an
    # app's id holding one ("a\u0000") would not be found.
    rows: list[Row] = []
    for start in range(0, len(op_ids), _IDS_PER_QUERY):
        some = op_ids[start:start + _IDS_PER_QUERY]
        rows += await fetchall(
            conn, f"SELECT {OP_COLUMNS} FROM queue_ops WHERE device_id = ?"
                  f" AND op_id IN ({', '.join('?' for _ in some)})", (device_id, *some))
    return rows


async def list_page(conn: Conn, device_id: str, *, after: int, limit: int,
                    status: str | None = None) -> list[Row]:
    """Up to ``limit`` of the device's operations in the order they arrived, from after
    ``position`` ``after`` (0: from the first); with ``status``, only those."""
    only = " AND status = ?" if status is not None else ""
    return await fetchall(
        conn,
        f"SELECT rowid AS position, {OP_COLUMNS} FROM queue_ops WHERE device_id = ?"
        f" AND rowid > ?{only} ORDER BY rowid LIMIT ?",  # queue_ops_device(_status), in order
        (device_id, after, *((status,) if status is not None else ()), limit),
    )


async def pending_server_ops(conn: Conn, device_id: str) -> list[Row]:
    """Pending operations the server carries out itself, in the order to apply them:
    priority (high, normal, low), then when the app queued them, then arrival
    (``position``)."""
    return await fetchall(
        conn,
        f"SELECT rowid AS position, {OP_COLUMNS} FROM queue_ops WHERE device_id = ?"
        " AND status IN ('pending', 'processing') AND type != 'upload'"
        f" ORDER BY {_RANK}, created_at, rowid",
        (device_id,),
    )


async def pending_uploads(conn: Conn, device_id: str) -> list[Row]:
    return await fetchall(
        conn,
        f"SELECT {OP_COLUMNS} FROM queue_ops WHERE device_id = ? AND status = 'pending'"
        " AND type = 'upload' ORDER BY rowid",
        (device_id,),
    )


# Upload operations an upload to their place may still make done: waiting, or answered
# conflict or deleted_on_server by upload/init or sync/files (the app may yet upload there).
_UNSETTLED = "('pending', 'conflict', 'failed')"


async def unsettled_uploads(conn: Conn, device_id: str) -> list[Row]:
    """The device's upload operations not done (nor cancelled): see ``_UNSETTLED``."""
    return await fetchall(
        conn,
        f"SELECT {OP_COLUMNS} FROM queue_ops WHERE device_id = ? AND status IN {_UNSETTLED}"
        " AND type = 'upload' ORDER BY rowid",
        (device_id,),
    )


async def count_pending_uploads(conn: Conn, device_id: str) -> int:
    row = await fetchone(conn, "SELECT count(*) FROM queue_ops WHERE device_id = ?"
                               " AND status = 'pending' AND type = 'upload'", (device_id,))
    return int(row[0]) if row else 0


async def devices_with_pending(conn: Conn) -> list[Row]:
    """(device_id, user_id) of devices with server-side operations left pending (a crash)."""
    return await fetchall(
        conn,
        "SELECT DISTINCT device_id, user_id FROM queue_ops"
        " WHERE status IN ('pending', 'processing') AND type != 'upload'",
    )


async def set_status(
    tx: Conn, device_id: str, op_id: str, *, status: str, now: int,
    error: dict[str, Any] | None = None, result_file_id: str | None = None,
    conflict_id: str | None = None, applied: tuple[int, int] | None = None,
) -> None:
    """``applied``: the journal positions ``(after, up_to]`` the operation wrote, for a
    move or rename (:func:`applied_spans`)."""
    after, up_to = applied if applied is not None else (None, None)
    await execute(
        tx,
        "UPDATE queue_ops SET status = ?, error = ?, result_file_id = ?, conflict_id = ?,"
        " updated_at = ?, applied_after = coalesce(?, applied_after),"
        " applied_up_to = coalesce(?, applied_up_to) WHERE device_id = ? AND op_id = ?",
        (status, msgspec.json.encode(error).decode() if error else None, result_file_id,
         conflict_id, now, after, up_to, device_id, op_id),
    )


async def applied_spans(conn: Conn, device_id: str) -> list[Row]:
    """``(created_at, position, applied_after, applied_up_to)`` of the device's moves and
    renames that wrote to the journal, in the positions ``(after, up_to]``."""
    return await fetchall(
        conn,
        "SELECT created_at, rowid AS position, applied_after, applied_up_to FROM queue_ops"
        " WHERE device_id = ? AND applied_up_to > applied_after",
        (device_id,),
    )


async def finish_uploads(tx: Conn, device_id: str, done: list[tuple[str, str]], now: int) -> None:
    """Upload operations ``(op_id, file_id)`` are done with that file; those no longer
    pending (cancelled meanwhile) stay as they are."""
    await tx.executemany(
        "UPDATE queue_ops SET status = 'done', error = NULL, result_file_id = ?,"
        " conflict_id = NULL, updated_at = ? WHERE device_id = ? AND op_id = ?"
        f" AND status IN {_UNSETTLED}",
        [(file_id, now, device_id, op_id) for op_id, file_id in done],
    )


async def settle_uploads(tx: Conn, device_id: str,
                         answered: Sequence[tuple[str, str, dict[str, str] | None,
                                                  str | None, str | None]],
                         now: int) -> None:
    """Upload operations ``(op_id, status, error, result_file_id, conflict_id)`` that an
    answer for their place ended (``conflict``, ``failed``); only those still pending: the
    first answer stays."""
    await tx.executemany(
        "UPDATE queue_ops SET status = ?, error = ?, result_file_id = ?, conflict_id = ?,"
        " updated_at = ? WHERE device_id = ? AND op_id = ? AND status = 'pending'",
        [(status, msgspec.json.encode(error).decode() if error else None, file_id,
          conflict_id, now, device_id, op_id)
         for op_id, status, error, file_id, conflict_id in answered],
    )


async def completed_uploads(conn: Conn, device_id: str,
                            wanted: list[tuple[str, str, str, int]]) -> dict[int, str]:
    """For each ``(user_id, folder, name_key, base_seq)`` of ``wanted`` (by its index): the
    file there if ``device_id`` stored content in it after journal position ``base_seq``
    (what the device had seen when it queued the upload). One query for all of them."""
    if not wanted:
        return {}
    placeholders = ", ".join("?" for _ in CONTENT_ACTIONS)
    rows = await fetchall(
        conn,
        "SELECT w.key AS i, f.id FROM json_each(?) w JOIN files f"
        " ON f.user_id = json_extract(w.value, '$[0]')"
        " AND f.folder = json_extract(w.value, '$[1]')"
        " AND f.name_key = json_extract(w.value, '$[2]') AND f.deleted_at IS NULL"
        " WHERE f.kind = 'file' AND EXISTS (SELECT 1 FROM journal j WHERE j.file_id = f.id"
        f" AND j.device_id = ? AND j.action IN ({placeholders})"
        " AND j.seq > json_extract(w.value, '$[3]'))",
        (msgspec.json.encode(wanted).decode(), device_id, *CONTENT_ACTIONS),
    )
    return {int(r["i"]): str(r["id"]) for r in rows}


async def entries_in_the_way(conn: Conn, device_id: str,
                             wanted: list[tuple[str, str, str, int | None]]) -> dict[int, str]:
    """For each ``(user_id, folder, name_key, seen_up_to)`` of ``wanted`` (by its index):
    the live entry there (a file or a folder) when ``seen_up_to`` is None; else a folder
    there, or a file that a device other than ``device_id`` made, moved, renamed or
    restored there after journal position ``seen_up_to`` (one the device did not know
    of). One query for all of them."""
    if not wanted:
        return {}
    return {int(r["i"]): str(r["id"]) for r in await fetchall(
        conn,
        "SELECT w.key AS i, f.id FROM json_each(?) w JOIN files f"
        " ON f.user_id = json_extract(w.value, '$[0]')"
        " AND f.folder = json_extract(w.value, '$[1]')"
        " AND f.name_key = json_extract(w.value, '$[2]') AND f.deleted_at IS NULL"
        " WHERE json_extract(w.value, '$[3]') IS NULL OR f.kind = 'folder'"
        " OR EXISTS (SELECT 1 FROM journal j WHERE j.file_id = f.id"  # journal_file_seq
        " AND j.seq > json_extract(w.value, '$[3]')"
        " AND j.action IN ('create', 'move', 'rename', 'restore')"
        " AND (j.device_id IS NULL OR j.device_id != ?))",
        (msgspec.json.encode(wanted).decode(), device_id),
    )}


_FINISHED = "('done', 'failed', 'conflict', 'cancelled')"
# What a pruned operation leaves in queue_forgotten_ops: enough to answer a retry.
_FORGOTTEN_COLUMNS = (
    "device_id, op_id, type, remote_path, file_id, priority, created_at, received_at,"
    " status, error, result_file_id, conflict_id, updated_at"
)


async def forget_finished(tx: Conn, before: int, limit: int = 1000) -> int:
    """Prune finished operations last touched before ``before``; each leaves its id and
    outcome in ``queue_forgotten_ops`` (a removed device's too: its install, signed in
    again, may resend them, services.sync.queue_predecessors)."""
    rowids = [r[0] for r in await fetchall(
        tx, f"SELECT rowid FROM queue_ops WHERE status IN {_FINISHED} AND updated_at < ?"
            " LIMIT ?", (before, limit))]
    if not rowids:
        return 0
    marks = ", ".join("?" for _ in rowids)
    await execute(
        tx,
        f"INSERT OR REPLACE INTO queue_forgotten_ops ({_FORGOTTEN_COLUMNS})"
        f" SELECT {_FORGOTTEN_COLUMNS} FROM queue_ops WHERE rowid IN ({marks})",
        tuple(rowids),
    )
    return await execute(tx, f"DELETE FROM queue_ops WHERE rowid IN ({marks})", tuple(rowids))


async def forgotten_many(conn: Conn, device_id: str, op_ids: list[str]) -> list[Row]:
    """The pruned operations of ``op_ids``, in the columns :func:`get` has (no local path,
    base_seq or shared_seq: they are not kept)."""
    rows: list[Row] = []
    for start in range(0, len(op_ids), _IDS_PER_QUERY):
        some = op_ids[start:start + _IDS_PER_QUERY]
        rows += await fetchall(
            conn, f"SELECT {_FORGOTTEN_COLUMNS}, NULL AS local_path FROM queue_forgotten_ops"
                  f" WHERE device_id = ? AND op_id IN ({', '.join('?' for _ in some)})",
            (device_id, *some))
    return rows


async def drop_forgotten(tx: Conn, before: int, limit: int = 1000) -> int:
    """Forget for good the ids of operations that finished before ``before``."""
    return await execute(
        tx,
        "DELETE FROM queue_forgotten_ops WHERE rowid IN (SELECT rowid FROM"
        " queue_forgotten_ops WHERE updated_at < ? LIMIT ?)",
        (before, limit),
    )


async def cancel_pending(tx: Conn, device_id: str, error: dict[str, Any], now: int) -> int:
    """Cancel the device's operations still waiting, saying why (``error``)."""
    return await execute(
        tx,
        "UPDATE queue_ops SET status = 'cancelled', error = ?, updated_at = ?"
        " WHERE device_id = ? AND status IN ('pending', 'processing')",
        (msgspec.json.encode(error).decode(), now, device_id),
    )


async def cancel_pending_of_removed_devices(tx: Conn, error: dict[str, Any], now: int,
                                            limit: int = 1000) -> int:
    """:func:`cancel_pending` for every removed device, ``limit`` operations at a time."""
    return await execute(
        tx,
        "UPDATE queue_ops SET status = 'cancelled', error = ?, updated_at = ?"
        # From the removed devices (few) to their waiting operations (queue_ops_device_status).
        " WHERE rowid IN (SELECT q.rowid FROM devices d JOIN queue_ops q ON q.device_id = d.id"
        " AND q.status IN ('pending', 'processing') WHERE d.removed_at IS NOT NULL LIMIT ?)",
        (msgspec.json.encode(error).decode(), now, limit),
    )


async def uploads_stored_after(conn: Conn, device_id: str,
                               wanted: list[tuple[str, int]]) -> list[Row]:
    """For each ``(name_key, base_seq)`` of ``wanted`` (by its index, ``i``): ``device_id``'s
    completed uploads of that name whose file it stored content in after journal position
    ``base_seq``, wherever that file is now: ``(i, folder, name_key, file_id)``, earliest
    first (the folder as the app spelt it: compare with ``paths.place_key``)."""
    if not wanted:
        return []
    placeholders = ", ".join("?" for _ in CONTENT_ACTIONS)
    return await fetchall(
        conn,
        "SELECT w.key AS i, u.folder, u.name_key, u.file_id FROM json_each(?) w"
        " JOIN uploads u ON u.device_id = ? AND u.status = 'completed'"
        " AND u.name_key = json_extract(w.value, '$[0]') AND u.file_id IS NOT NULL"
        " WHERE EXISTS (SELECT 1 FROM journal j WHERE j.file_id = u.file_id"
        f" AND j.device_id = u.device_id AND j.action IN ({placeholders})"
        " AND j.seq > json_extract(w.value, '$[1]'))"
        " ORDER BY u.finished_at, u.rowid",
        (msgspec.json.encode(wanted).decode(), device_id, *CONTENT_ACTIONS),
    )


async def uploads_finished_since(conn: Conn, device_id: str, since: int) -> list[Row]:
    """(folder, name_key, file_id, finished_at) of the uploads ``device_id`` completed at or
    after ``since``, earliest first. The folder is as the app spelt it at init; the file is
    where the content went (the file, a conflicted copy beside it, or the same content
    already there), wherever that file is now."""
    return await fetchall(
        conn,
        "SELECT folder, name_key, file_id, finished_at FROM uploads WHERE device_id = ?"
        " AND status = 'completed' AND finished_at >= ? AND file_id IS NOT NULL"
        " ORDER BY finished_at, rowid",
        (device_id, since),
    )


async def open_upload_places(conn: Conn, device_id: str) -> list[Row]:
    """(folder, name_key) of ``device_id``'s open uploads: the folder as the app spelt it,
    which may differ in case from an operation's (compare with ``paths.place_key``)."""
    return await fetchall(
        conn,
        "SELECT folder, name_key FROM uploads WHERE device_id = ?"
        " AND status IN ('pending', 'uploading', 'paused')",
        (device_id,),
    )
