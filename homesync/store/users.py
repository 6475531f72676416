"""Accounts: the ``users`` table."""

from __future__ import annotations

from homesync.store import chunk_index
from homesync.store.db import Conn, Row, execute, fetchall, fetchone

__all__ = [
    "add_usage",
    "any_user",
    "by_email",
    "by_id",
    "delete",
    "insert",
    "list_all",
    "record_login_failure",
    "record_login_success",
    "rehash_password",
    "set_lock",
    "set_password",
    "set_quota",
]

_COLUMNS = (
    "id, email, name, password_hash, is_admin, quota_bytes, used_bytes, created_at, "
    "password_changed_at, failed_logins, login_blocked_until, locked"
)


async def insert(
    conn: Conn, *, user_id: str, email: str, name: str, password_hash: str,
    is_admin: bool, quota_bytes: int, now: int,
) -> None:
    await execute(
        conn,
        "INSERT INTO users (id, email, name, password_hash, is_admin, quota_bytes, created_at,"
        " password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, email, name, password_hash, int(is_admin), quota_bytes, now, now),
    )


async def any_user(conn: Conn) -> bool:
    return await fetchone(conn, "SELECT 1 FROM users LIMIT 1") is not None


async def by_email(conn: Conn, email: str) -> Row | None:
    return await fetchone(conn, f"SELECT {_COLUMNS} FROM users WHERE email = ?", (email,))


async def by_id(conn: Conn, user_id: str) -> Row | None:
    return await fetchone(conn, f"SELECT {_COLUMNS} FROM users WHERE id = ?", (user_id,))


async def list_all(conn: Conn) -> list[Row]:
    return await fetchall(
        conn,
        f"SELECT {_COLUMNS}, (SELECT count(*) FROM devices d WHERE d.user_id = users.id"
        " AND d.removed_at IS NULL) AS device_count FROM users ORDER BY email",
    )


async def set_password(conn: Conn, user_id: str, password_hash: str, now: int) -> int:
    return await execute(
        conn,
        "UPDATE users SET password_hash = ?, password_changed_at = ?, failed_logins = 0,"
        " login_blocked_until = 0, locked = 0 WHERE id = ?",
        (password_hash, now, user_id),
    )


async def rehash_password(conn: Conn, user_id: str, old_hash: str, new_hash: str) -> int:
    """Upgrade the stored hash of the same password, unless the password changed meanwhile."""
    return await execute(
        conn, "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
        (new_hash, user_id, old_hash),
    )


async def set_quota(conn: Conn, user_id: str, quota_bytes: int) -> int:
    return await execute(conn, "UPDATE users SET quota_bytes = ? WHERE id = ?", (quota_bytes, user_id))


async def set_lock(conn: Conn, user_id: str, locked: bool) -> int:
    return await execute(
        conn,
        "UPDATE users SET locked = ?, failed_logins = 0, login_blocked_until = 0 WHERE id = ?",
        (int(locked), user_id),
    )


async def delete(conn: Conn, user_id: str, *, now: int) -> int:
    """Delete the account; every row of it goes too (foreign-key cascades)."""
    await chunk_index.let_go_of_versions(
        conn, "SELECT id FROM file_versions WHERE user_id = ?", (user_id,), now)
    return await execute(conn, "DELETE FROM users WHERE id = ?", (user_id,))


async def record_login_failure(
    conn: Conn, user_id: str, *, failures: int, blocked_until: int, lock: bool
) -> None:
    """Store the account's strikes after a failed sign-in (computed by the caller)."""
    await execute(
        conn,
        "UPDATE users SET failed_logins = ?, login_blocked_until = ?, locked = max(locked, ?)"
        " WHERE id = ?",
        (failures, blocked_until, int(lock), user_id),
    )


async def record_login_success(conn: Conn, user_id: str) -> None:
    await execute(
        conn,
        "UPDATE users SET failed_logins = 0, login_blocked_until = 0 WHERE id = ?"
        " AND (failed_logins != 0 OR login_blocked_until != 0)",
        (user_id,),
    )


async def add_usage(conn: Conn, user_id: str, delta: int) -> None:
    """Adjust the bytes charged to a user's quota (never below zero)."""
    await execute(
        conn,
        "UPDATE users SET used_bytes = max(0, used_bytes + ?) WHERE id = ?",
        (delta, user_id),
    )
