"""Conflicts: the ``conflicts`` table (one row per change that could not be applied safely)."""

from __future__ import annotations

from typing import Any

import msgspec

from homesync.paths import name_key
from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.uploads import OPEN_STATUSES

__all__ = [
    "CONFLICT_COLUMNS",
    "ask_upload",
    "asked_upload",
    "by_id",
    "insert",
    "list_open",
    "mark_resolved",
    "open_by_fingerprint",
    "open_uploads_asked",
    "prune_resolved",
]

CONFLICT_COLUMNS = (
    "id, user_id, device_id, file_id, kind, action, local_id, local, remote, created_at,"
    " resolved_at, resolution, outcome"
)


async def insert(
    tx: Conn, *, conflict_id: str, user_id: str, device_id: str | None, file_id: str | None,
    kind: str, action: str, local_id: str | None, local: dict[str, Any],
    remote: dict[str, Any], fingerprint: str, now: int,
) -> None:
    await execute(
        tx,
        "INSERT INTO conflicts (id, user_id, device_id, file_id, kind, action, local_id, local,"
        " remote, fingerprint, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (conflict_id, user_id, device_id, file_id, kind, action, local_id,
         msgspec.json.encode(local).decode(), msgspec.json.encode(remote).decode(),
         fingerprint, now),
    )


async def open_by_fingerprint(conn: Conn, user_id: str, fingerprint: str) -> Row | None:
    return await fetchone(
        conn,
        f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE user_id = ? AND fingerprint = ?"
        " AND resolved_at IS NULL",
        (user_id, fingerprint),
    )


async def by_id(conn: Conn, user_id: str, conflict_id: str) -> Row | None:
    """A conflict of ``user_id`` (open or resolved); None for anyone else's."""
    return await fetchone(conn, f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE id = ?"
                                " AND user_id = ?", (conflict_id, user_id))


# An open conflict whose two sides agree since (settled by another path): the file holds
# the device's content (an upload), the entry the device deleted is not live (a delete),
# the entry is where the device put it (a rename or move). ``local`` is the device's side.
_SETTLED = (
    "CASE action"
    " WHEN 'upload' THEN EXISTS (SELECT 1 FROM files f WHERE f.id = conflicts.file_id"
    "  AND f.deleted_at IS NULL AND f.kind = 'file' AND f.checksum = local ->> '$.checksum')"
    " WHEN 'delete' THEN NOT EXISTS (SELECT 1 FROM files f"
    "  WHERE f.id = coalesce(local ->> '$.file_id', conflicts.file_id) AND f.deleted_at IS NULL)"
    " ELSE EXISTS (SELECT 1 FROM files f WHERE f.id = local ->> '$.file_id'"
    "  AND f.deleted_at IS NULL AND f.folder = local ->> '$.folder'"
    "  AND f.name = local ->> '$.name') END"
)


async def list_open(conn: Conn, user_id: str, limit: int) -> list[Row]:
    """The user's open conflicts, oldest first; not those settled by another path since
    (nothing is left to choose: :data:`_SETTLED`). Resolving one still answers."""
    return await fetchall(
        conn,
        f"SELECT {CONFLICT_COLUMNS} FROM conflicts WHERE user_id = ? AND resolved_at IS NULL"
        f" AND NOT ({_SETTLED}) ORDER BY created_at, id LIMIT ?",
        (user_id, limit),
    )


async def mark_resolved(tx: Conn, conflict_id: str, *, resolution: str,
                        outcome: dict[str, Any], now: int) -> None:
    await execute(
        tx,
        "UPDATE conflicts SET resolved_at = ?, resolution = ?, outcome = ? WHERE id = ?"
        " AND resolved_at IS NULL",
        (now, resolution, msgspec.json.encode(outcome).decode(), conflict_id),
    )


async def ask_upload(tx: Conn, conflict_id: str, *, folder: str, name: str) -> None:
    """Remember where the device was asked to upload its content (``upload_required``)."""
    await execute(
        tx,
        "UPDATE conflicts SET asked_folder = ?, asked_name = ? WHERE id = ?"
        " AND resolved_at IS NULL",
        (folder, name, conflict_id),
    )


async def asked_upload(conn: Conn, conflict_id: str) -> tuple[str, str] | None:
    """(folder, name) the device was last asked to upload its content to, if any."""
    row = await fetchone(
        conn, "SELECT asked_folder, asked_name FROM conflicts WHERE id = ?", (conflict_id,))
    if row is None or row[0] is None:
        return None
    return str(row[0]), str(row[1])


async def open_uploads_asked(conn: Conn, user_id: str, *, file_id: str | None,
                             asked: tuple[str, str] | None, checksums: list[str]) -> list[str]:
    """Ids of the user's open uploads of ``checksums`` that resolving a conflict asked
    for: a new version of its file ``file_id``, or a file at the place it last asked
    (``asked``: folder, name)."""
    folder, key = (asked[0], name_key(asked[1])) if asked is not None else (None, None)
    rows = await fetchall(
        conn,
        "SELECT id FROM uploads WHERE user_id = ? AND status IN (SELECT value FROM json_each(?))"
        " AND checksum IN (SELECT value FROM json_each(?))"
        " AND (target_file_id = ? OR (folder = ? AND name_key = ?))",
        (user_id, msgspec.json.encode(OPEN_STATUSES).decode(),
         msgspec.json.encode(checksums).decode(), file_id, folder, key),
    )
    return [str(r[0]) for r in rows]


async def prune_resolved(tx: Conn, before: int, limit: int = 1000) -> int:
    """Forget conflicts resolved before ``before``; how many went."""
    return await execute(
        tx,
        "DELETE FROM conflicts WHERE id IN (SELECT id FROM conflicts"
        " WHERE resolved_at IS NOT NULL AND resolved_at < ? LIMIT ?)",
        (before, limit),
    )
