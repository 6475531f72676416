"""Upload sessions, uploads and the chunks received for them (migration 0002)."""

from __future__ import annotations

from homesync import paths
from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone

__all__ = [
    "OPEN_STATUSES",
    "advance_base",
    "count_open_for_device",
    "count_open_sessions_for_device",
    "count_received",
    "delete_finished_before",
    "due_for_expiry",
    "find_kept_copies",
    "find_resumable",
    "forget_chunks",
    "get",
    "insert",
    "insert_session",
    "keep_open",
    "mark_checksum_failed",
    "mark_completed",
    "mark_ended",
    "open_into",
    "open_of_device",
    "put_chunk",
    "received",
    "reserved_bytes",
    "set_status",
    "touch",
]

# An upload in one of these states can still receive chunks and be completed.
OPEN_STATUSES = ("pending", "uploading", "paused", "failed")
_OPEN_SQL = "('pending', 'uploading', 'paused', 'failed')"

_COLUMNS = (
    "u.id, u.session_id, u.user_id, u.device_id, u.local_id, u.folder, u.name, u.name_key,"
    " u.size, u.mime_type, u.checksum, u.priority, u.target_file_id, u.chunk_size,"
    " u.total_chunks, u.status, u.received_chunks, u.received_bytes, u.reported_bytes,"
    " u.reported_at, u.checksum_failed, u.file_id, u.version_id, u.created_at, u.updated_at,"
    " u.expires_at, u.finished_at, u.owner_id, u.base_seq, u.conflicted_with,"
    " u.share_root_id, s.wifi_only,"
    " s.max_retries,"
    " d.removed_at AS device_removed_at"
)
_FROM = ("FROM uploads u JOIN upload_sessions s ON s.id = u.session_id"
         " JOIN devices d ON d.id = u.device_id")


async def insert_session(tx: Conn, *, session_id: str, user_id: str, device_id: str,
                         wifi_only: bool, max_retries: int, chunk_size: int, now: int) -> None:
    await execute(
        tx,
        "INSERT INTO upload_sessions (id, user_id, device_id, wifi_only, max_retries, chunk_size,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, user_id, device_id, int(wifi_only), max_retries, chunk_size, now),
    )


async def insert(tx: Conn, *, upload_id: str, session_id: str, user_id: str, device_id: str,
                 local_id: str, folder: str, name: str, name_key: str, size: int, mime_type: str,
                 checksum: str, priority: str, target_file_id: str | None, chunk_size: int,
                 total_chunks: int, now: int, expires_at: int,
                 owner_id: str | None = None, base_seq: int | None = None,
                 share_root_id: str | None = None) -> None:
    """A new upload; ``owner_id`` when it lands in someone else's shared item (and
    ``share_root_id``, the shared item it goes through: migration 0025), ``base_seq`` the
    journal position a new version is based on (migration 0008)."""
    await execute(
        tx,
        "INSERT INTO uploads (id, session_id, user_id, device_id, local_id, folder, name, name_key,"
        " size, mime_type, checksum, priority, target_file_id, chunk_size, total_chunks, status,"
        " created_at, updated_at, expires_at, owner_id, base_seq, share_root_id)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)",
        (upload_id, session_id, user_id, device_id, local_id, folder, name, name_key, size,
         mime_type, checksum, priority, target_file_id, chunk_size, total_chunks, now, now,
         expires_at, owner_id, base_seq, share_root_id),
    )


async def get(conn: Reads, upload_id: str) -> Row | None:
    """An upload with its session's options (any user: callers check ``user_id``)."""
    return await fetchone(conn, f"SELECT {_COLUMNS} {_FROM} WHERE u.id = ?", (upload_id,))


async def find_resumable(conn: Conn, *, user_id: str, device_id: str, folder: str, name_key: str,
                         checksum: str, size: int, target_file_id: str | None,
                         now: int) -> Row | None:
    """An open, unexpired upload of the same content to the same place by the same device.

    An app that lost its upload id (reinstalled, crashed before saving it) and asks again
    gets the upload it already started, with the chunks already received. The place is
    compared as names are, without case: "/DCIM" is the "/dcim" of the earlier upload.
    """
    rows = await fetchall(
        conn,
        f"SELECT {_COLUMNS} {_FROM} WHERE u.user_id = ? AND u.device_id = ?"
        f" AND u.name_key = ? AND u.checksum = ? AND u.size = ? AND u.status IN {_OPEN_SQL}"
        " AND u.target_file_id IS ? AND u.expires_at > ? ORDER BY u.created_at DESC",
        (user_id, device_id, name_key, checksum, size, target_file_id, now),
    )
    place = paths.place_key(folder, name_key)
    return next((row for row in rows if paths.place_key(row["folder"], name_key) == place), None)


async def find_kept_copies(conn: Conn, *, user_id: str, device_id: str, folder: str,
                           name_key: str, checksum: str, size: int,
                           target_file_id: str | None) -> list[Row]:
    """Completed uploads of the same content to the same place by the same device that
    were kept as a conflicted copy (``conflicted_with``, migration 0018), newest first:
    an app asking again for a file it lost track of finds that copy."""
    rows = await fetchall(
        conn,
        f"SELECT {_COLUMNS} {_FROM} WHERE u.user_id = ? AND u.device_id = ?"
        " AND u.name_key = ? AND u.checksum = ? AND u.size = ? AND u.status = 'completed'"
        " AND u.conflicted_with IS NOT NULL AND u.target_file_id IS ?"
        " ORDER BY u.finished_at DESC",
        (user_id, device_id, name_key, checksum, size, target_file_id),
    )
    place = paths.place_key(folder, name_key)
    return [row for row in rows if paths.place_key(row["folder"], name_key) == place]


async def reserved_bytes(conn: Conn, user_id: str, now: int) -> int:
    """Bytes promised to open uploads into the user's tree (counted against the quota at
    init): their own, and those of people they share a folder with (``owner_id``)."""
    row = await fetchone(
        conn,
        f"SELECT (SELECT coalesce(sum(size), 0) FROM uploads WHERE user_id = ?1"
        f" AND owner_id IS NULL AND status IN {_OPEN_SQL} AND expires_at > ?2)"
        f" + (SELECT coalesce(sum(size), 0) FROM uploads WHERE owner_id = ?1"
        f" AND status IN {_OPEN_SQL} AND expires_at > ?2)",
        (user_id, now),
    )
    return int(row[0]) if row else 0


async def open_into(conn: Conn, *, user_id: str, owner_id: str, now: int) -> list[Row]:
    """``user_id``'s open uploads into ``owner_id``'s tree (through a share), unexpired."""
    return await fetchall(
        conn,
        f"SELECT {_COLUMNS} {_FROM} WHERE u.owner_id = ? AND u.user_id = ?"
        f" AND u.status IN {_OPEN_SQL} AND u.expires_at > ?",
        (owner_id, user_id, now),
    )


async def open_of_device(conn: Conn, device_id: str, now: int) -> list[str]:
    """The ids of ``device_id``'s open, unexpired uploads."""
    rows = await fetchall(
        conn,
        f"SELECT id FROM uploads WHERE device_id = ? AND status IN {_OPEN_SQL}"
        " AND expires_at > ?",
        (device_id, now),
    )
    return [row["id"] for row in rows]


async def count_open_for_device(conn: Conn, device_id: str, now: int) -> int:
    row = await fetchone(
        conn,
        f"SELECT count(*) FROM uploads WHERE device_id = ? AND status IN {_OPEN_SQL}"
        " AND expires_at > ?",
        (device_id, now),
    )
    return int(row[0]) if row else 0


async def count_open_sessions_for_device(conn: Conn, device_id: str, now: int, *,
                                        besides: str) -> int:
    """Upload sessions of ``device_id`` with an upload still open, other than ``besides``."""
    row = await fetchone(
        conn,
        f"SELECT count(DISTINCT session_id) FROM uploads WHERE device_id = ?"
        f" AND status IN {_OPEN_SQL} AND expires_at > ? AND session_id != ?",
        (device_id, now, besides),
    )
    return int(row[0]) if row else 0


async def received(conn: Conn, upload_id: str) -> list[Row]:
    """(idx, chunk_hash, size) of every chunk received, by index."""
    return await fetchall(
        conn, "SELECT idx, chunk_hash, size FROM upload_chunks WHERE upload_id = ? ORDER BY idx",
        (upload_id,),
    )


async def received_from(conn: Reads, upload_id: str, *, first: int, limit: int) -> list[Row]:
    """(idx, chunk_hash) of the chunks received at index ``first`` or after, by index."""
    return await fetchall(
        conn, "SELECT idx, chunk_hash FROM upload_chunks WHERE upload_id = ? AND idx >= ?"
              " ORDER BY idx LIMIT ?", (upload_id, first, limit))


async def put_chunk(tx: Conn, *, upload_id: str, idx: int, chunk_hash: str, size: int,
                    replace: bool, now: int) -> int | None:
    """Record that index ``idx`` holds ``chunk_hash``: the bytes this adds to the upload's
    count (0 when the index already had a chunk), or None if it holds other bytes.

    The same bytes again just refresh ``received_at``; other bytes replace the stored
    ones only when ``replace`` is set. The chunk's bytes and ``chunks`` row must exist.
    """
    held = await fetchone(tx, "SELECT chunk_hash FROM upload_chunks WHERE upload_id = ? AND idx = ?",
                          (upload_id, idx))
    if held is None:
        await execute(
            tx,
            "INSERT INTO upload_chunks (upload_id, idx, chunk_hash, size, received_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (upload_id, idx, chunk_hash, size, now),
        )
        return size
    if held["chunk_hash"] != chunk_hash and not replace:
        return None
    await execute(
        tx,
        "UPDATE upload_chunks SET chunk_hash = ?, size = ?, received_at = ?"
        " WHERE upload_id = ? AND idx = ?",
        (chunk_hash, size, now, upload_id, idx),
    )
    return 0  # an index's length never changes: the count stays


async def count_received(tx: Conn, upload_id: str, *, added_bytes: int, now: int,
                         expires_at: int) -> Row | None:
    """Add what :func:`put_chunk` added to an open upload's counters (a running count: an
    upload of 10,000 chunks must not count them all again for each) and mark it
    ``uploading``.

    Returns (received_chunks, total_chunks, status), or None when the upload is no longer
    open (completed, cancelled, expired): then the caller rolls back.
    """
    return await fetchone(
        tx,
        "UPDATE uploads SET received_chunks = received_chunks + (?2 > 0),"
        " received_bytes = received_bytes + ?2, status = 'uploading',"
        " updated_at = ?3, expires_at = max(expires_at, ?4)"
        f" WHERE id = ?1 AND status IN {_OPEN_SQL} AND expires_at > ?3"
        " RETURNING received_chunks, total_chunks, status",
        (upload_id, added_bytes, now, expires_at),
    )


async def forget_chunks(tx: Conn, upload_id: str, indexes: list[int]) -> None:
    """Uncount chunks (their bytes were found missing): they are reported missing again."""
    await tx.executemany("DELETE FROM upload_chunks WHERE upload_id = ? AND idx = ?",
                         [(upload_id, i) for i in indexes])
    await execute(
        tx,
        "UPDATE uploads SET received_chunks = (SELECT count(*) FROM upload_chunks WHERE upload_id = ?),"
        " received_bytes = (SELECT coalesce(sum(size), 0) FROM upload_chunks WHERE upload_id = ?)"
        " WHERE id = ?",
        (upload_id, upload_id, upload_id),
    )


async def advance_base(tx: Conn, upload_id: str, base_seq: int) -> None:
    """A resumed upload's later syncToken position: kept when newer than its base (or
    when it had none), so complete judges other devices' changes from the token the
    device sent last; an older position never replaces a newer one."""
    await execute(
        tx, "UPDATE uploads SET base_seq = max(coalesce(base_seq, ?2), ?2) WHERE id = ?1",
        (upload_id, base_seq),
    )


async def touch(tx: Conn, upload_id: str, now: int, expires_at: int) -> None:
    """A sign of life: push the expiry forward."""
    await execute(
        tx, "UPDATE uploads SET updated_at = ?, expires_at = max(expires_at, ?) WHERE id = ?",
        (now, expires_at, upload_id),
    )


async def keep_open(tx: Conn, upload_id: str, now: int, expires_at: int) -> None:
    """:func:`touch` for an upload that is still open (not expired, ended or completed)."""
    await execute(
        tx, "UPDATE uploads SET updated_at = ?1, expires_at = max(expires_at, ?2)"
            f" WHERE id = ?3 AND status IN {_OPEN_SQL} AND expires_at > ?1",
        (now, expires_at, upload_id),
    )


async def set_status(tx: Conn, upload_id: str, *, status: str, reported_bytes: int | None,
                     now: int, expires_at: int) -> None:
    """Record what the app reported (an open status); counts as a sign of life."""
    await execute(
        tx,
        "UPDATE uploads SET status = ?, reported_bytes = ?, reported_at = ?, updated_at = ?,"
        " expires_at = max(expires_at, ?) WHERE id = ?",
        (status, reported_bytes, now, now, expires_at, upload_id),
    )


async def mark_checksum_failed(tx: Conn, upload_id: str, now: int) -> None:
    await execute(tx, "UPDATE uploads SET checksum_failed = 1, updated_at = ? WHERE id = ?",
                  (now, upload_id))


async def mark_completed(tx: Conn, upload_id: str, *, file_id: str, version_id: str | None,
                         now: int, conflicted_with: str | None = None) -> None:
    """The upload became (or matched) a file: its chunk list is the version's manifest now.
    ``conflicted_with``: the file it was kept beside as a conflicted copy (migration 0018)."""
    await execute(
        tx,
        "UPDATE uploads SET status = 'completed', file_id = ?, version_id = ?, updated_at = ?,"
        " finished_at = ?, conflicted_with = ? WHERE id = ?",
        (file_id, version_id, now, now, conflicted_with, upload_id),
    )
    await execute(tx, "DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))


async def mark_ended(tx: Conn, upload_id: str, status: str, now: int) -> None:
    """Cancelled or expired: the received chunks are let go (gc frees unused bytes), and
    so are their counts (``GET /upload/{id}`` lists none and counts no bytes)."""
    await execute(
        tx,
        "UPDATE uploads SET status = ?, updated_at = ?, finished_at = ?, received_chunks = 0,"
        " received_bytes = 0 WHERE id = ?",
        (status, now, now, upload_id),
    )
    await execute(tx, "DELETE FROM upload_chunks WHERE upload_id = ?", (upload_id,))


async def due_for_expiry(conn: Conn, now: int, limit: int) -> list[Row]:
    """Open uploads idle past their expiry."""
    return await fetchall(
        conn,
        f"SELECT {_COLUMNS} {_FROM} WHERE u.status IN {_OPEN_SQL} AND u.expires_at <= ?"
        " ORDER BY u.expires_at LIMIT ?",
        (now, limit),
    )


async def delete_finished_before(tx: Conn, cutoff: int, *, limit: int) -> tuple[int, int]:
    """Forget up to ``limit`` uploads that ended before ``cutoff``, and up to ``limit``
    sessions from before it left empty: (uploads, sessions) forgotten. A batch at a time:
    a month of uploads after a phone's first backup is tens of thousands."""
    removed = await execute(
        tx, f"DELETE FROM uploads WHERE id IN (SELECT id FROM uploads WHERE status NOT IN"
            f" {_OPEN_SQL} AND finished_at < ? LIMIT ?)", (cutoff, limit))
    sessions = await execute(
        tx,
        "DELETE FROM upload_sessions WHERE id IN (SELECT s.id FROM upload_sessions s"
        " WHERE s.created_at < ? AND NOT EXISTS"
        " (SELECT 1 FROM uploads u WHERE u.session_id = s.id) LIMIT ?)",
        (cutoff, limit),
    )
    return removed, sessions
