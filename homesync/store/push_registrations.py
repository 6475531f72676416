"""A device's push registration and notification preferences.

The registration is ``devices.push_token`` and ``devices.platform`` (one source of truth
with sign-in and device removal); the preferences are ``notification_preferences``.
"""

from __future__ import annotations

from homesync.store.db import Conn, Row, execute, fetchone

__all__ = [
    "PREFERENCE_COLUMNS",
    "drop_token",
    "forget_token",
    "preferences",
    "registration",
    "set_registration",
    "upsert_preferences",
]

PREFERENCE_COLUMNS = (
    "uploads", "shares", "storage", "security",
    "quiet_enabled", "quiet_start", "quiet_end", "quiet_timezone",
)


async def registration(conn: Conn, device_id: str) -> Row | None:
    """The live device's ``id, user_id, client_id, platform, push_token``."""
    return await fetchone(
        conn,
        "SELECT id, user_id, client_id, platform, push_token FROM devices"
        " WHERE id = ? AND removed_at IS NULL",
        (device_id,),
    )


async def set_registration(conn: Conn, device_id: str, *, token: str | None, platform: str) -> None:
    """Point the device's pushes at ``token`` (``None``: stop pushing to it).

    A trigger (0004_notifications.sql) takes the token away from any other device row.
    """
    await execute(
        conn, "UPDATE devices SET push_token = ?, platform = ? WHERE id = ?",
        (token, platform, device_id),
    )


async def drop_token(conn: Conn, device_id: str, token: str) -> int:
    """Forget a token the push service called gone, unless the device has a newer one."""
    return await execute(
        conn, "UPDATE devices SET push_token = NULL WHERE id = ? AND push_token = ?",
        (device_id, token),
    )


async def forget_token(conn: Conn, device_id: str) -> None:
    """Stop pushing to the device, whatever token it had."""
    await execute(conn, "UPDATE devices SET push_token = NULL WHERE id = ?", (device_id,))


async def preferences(conn: Conn, device_id: str) -> Row | None:
    return await fetchone(
        conn,
        f"SELECT {', '.join(PREFERENCE_COLUMNS)}, updated_at FROM notification_preferences"
        " WHERE device_id = ?",
        (device_id,),
    )


async def upsert_preferences(
    conn: Conn, device_id: str, *, uploads: bool, shares: bool, storage: bool, security: bool,
    quiet_enabled: bool, quiet_start: int, quiet_end: int, quiet_timezone: str, now: int,
) -> None:
    await execute(
        conn,
        f"INSERT INTO notification_preferences (device_id, {', '.join(PREFERENCE_COLUMNS)},"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (device_id) DO UPDATE SET uploads = excluded.uploads,"
        " shares = excluded.shares, storage = excluded.storage, security = excluded.security,"
        " quiet_enabled = excluded.quiet_enabled, quiet_start = excluded.quiet_start,"
        " quiet_end = excluded.quiet_end, quiet_timezone = excluded.quiet_timezone,"
        " updated_at = excluded.updated_at",
        (device_id, int(uploads), int(shares), int(storage), int(security), int(quiet_enabled),
         quiet_start, quiet_end, quiet_timezone, now),
    )
