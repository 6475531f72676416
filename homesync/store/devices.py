"""Devices: the ``devices`` table."""

from __future__ import annotations

from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone

__all__ = [
    "by_client_id",
    "by_id",
    "insert",
    "list_all",
    "list_for_user",
    "mark_removed",
    "removed_ids_by_client_id",
    "set_push_token",
    "set_settings",
    "touch_active",
    "touch_sync",
    "update_info",
]

_COLUMNS = (
    "id, user_id, client_id, name, platform, model, os_version, app_version, push_token,"
    " settings, registered_at, last_active_at, last_sync_at, removed_at"
)


async def insert(
    conn: Conn, *, device_id: str, user_id: str, client_id: str, name: str, platform: str,
    model: str, os_version: str, app_version: str, push_token: str | None, settings: str, now: int,
) -> None:
    await execute(
        conn,
        "INSERT INTO devices (id, user_id, client_id, name, platform, model, os_version,"
        " app_version, push_token, settings, registered_at, last_active_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (device_id, user_id, client_id, name, platform, model, os_version, app_version,
         push_token, settings, now, now),
    )


async def update_info(
    conn: Conn, device_id: str, *, name: str, platform: str, model: str, os_version: str,
    app_version: str, push_token: str | None, now: int,
) -> None:
    """Re-registration of a known install: refresh what the app reports about itself."""
    await execute(
        conn,
        "UPDATE devices SET name = ?, platform = ?, model = ?, os_version = ?, app_version = ?,"
        " push_token = coalesce(?, push_token), last_active_at = ? WHERE id = ?",
        (name, platform, model, os_version, app_version, push_token, now, device_id),
    )


async def by_id(conn: Conn, device_id: str) -> Row | None:
    return await fetchone(conn, f"SELECT {_COLUMNS} FROM devices WHERE id = ?", (device_id,))


async def by_client_id(conn: Conn, user_id: str, client_id: str) -> Row | None:
    """The live device of this user registered under the app's own id."""
    return await fetchone(
        conn,
        f"SELECT {_COLUMNS} FROM devices WHERE user_id = ? AND client_id = ? AND removed_at IS NULL",
        (user_id, client_id),
    )


async def removed_ids_by_client_id(conn: Conn, user_id: str, client_id: str) -> list[str]:
    """The ids of this user's removed devices registered under the app's own id (the
    install signed in again after each removal), the last removed first."""
    rows = await fetchall(
        conn, "SELECT id FROM devices WHERE user_id = ? AND client_id = ?"
              " AND removed_at IS NOT NULL ORDER BY removed_at DESC, rowid DESC",
        (user_id, client_id))
    return [str(r["id"]) for r in rows]


async def list_for_user(conn: Reads, user_id: str) -> list[Row]:
    return await fetchall(
        conn,
        f"SELECT {_COLUMNS} FROM devices WHERE user_id = ? AND removed_at IS NULL"
        " ORDER BY registered_at, id",
        (user_id,),
    )


async def list_all(conn: Conn) -> list[Row]:
    return await fetchall(
        conn,
        f"SELECT d.{_COLUMNS.replace(', ', ', d.')}, u.email FROM devices d"
        " JOIN users u ON u.id = d.user_id WHERE d.removed_at IS NULL"
        " ORDER BY u.email, d.registered_at",
    )


async def set_settings(conn: Conn, device_id: str, settings: str) -> None:
    await execute(conn, "UPDATE devices SET settings = ? WHERE id = ?", (settings, device_id))


async def set_push_token(conn: Conn, device_id: str, push_token: str | None) -> None:
    await execute(conn, "UPDATE devices SET push_token = ? WHERE id = ?", (push_token, device_id))


async def mark_removed(conn: Conn, device_id: str, now: int) -> int:
    return await execute(
        conn,
        "UPDATE devices SET removed_at = ?, push_token = NULL WHERE id = ? AND removed_at IS NULL",
        (now, device_id),
    )


async def touch_active(conn: Conn, device_id: str, now: int) -> None:
    await execute(conn, "UPDATE devices SET last_active_at = ? WHERE id = ?", (now, device_id))


async def touch_sync(conn: Conn, device_id: str, now: int) -> None:
    await execute(
        conn, "UPDATE devices SET last_sync_at = ?, last_active_at = ? WHERE id = ?",
        (now, now, device_id),
    )
