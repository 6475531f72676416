"""The push outbox: ``push_deliveries``, one row per (notification, device) to push to.

The worker in :mod:`homesync.services.notifications.outbox` fans new notifications out
into rows here and records each attempt's outcome; this module also cancels what may no
longer be pushed and keeps the outbox tidy. Claiming due rows under a lease is
:mod:`homesync.store.delivery_claims`. Statuses are listed in ``0004_notifications.sql``.
"""

from __future__ import annotations

from homesync.store import tokens
from homesync.store.db import Conn, Row, execute, fetchall, fetchone, note_change

__all__ = [
    "FRESH_UPLOADS",
    "add",
    "cancel_for_device",
    "cancel_run_out",
    "cancel_signed_out",
    "device_summary",
    "finish",
    "has_undispatched",
    "mark_dispatched",
    "may_push_sql",
    "next_wakeup",
    "postpone_uploads",
    "prune_inbox",
    "push_devices",
    "pushable_sql",
    "release_held",
    "reschedule",
    "retry_now",
    "undispatched",
]


# -- fan-out ------------------------------------------------------------------------


async def has_undispatched(conn: Conn) -> bool:
    return await fetchone(
        conn, "SELECT 1 FROM notifications WHERE dispatched_at IS NULL LIMIT 1") is not None


async def undispatched(conn: Conn, limit: int) -> list[Row]:
    """Notifications not yet turned into deliveries, oldest first."""
    return await fetchall(
        conn,
        "SELECT id, user_id, category, only_device_id, except_device_id, created_at"
        " FROM notifications WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT ?",
        (limit,),
    )


def may_push_sql(device: str, lifetimes: tokens.SignInLifetimes, *, category: str, made: str,
               now: str) -> str:
    """SQL: the device may be pushed a notification of ``category`` made at ``made`` (SQL
    for each, and for the time ``now``). A device is pushed to while it is signed in: one
    of its sign-ins (token families) is live (store.tokens.signed_in_sql), which a sign-in
    past its lifetimes is not, whether or not a refresh attempt recorded it. Once all
    have ended, only security notifications made while it was signed in still go — the
    notice of that very moment among them —, which name no file."""
    return (
        f"EXISTS (SELECT 1 FROM token_families f WHERE f.device_id = {device}"
        f" AND ({tokens.signed_in_sql('f', lifetimes, now)}"
        f" OR {category} = 'security' AND {tokens.signed_in_at_sql('f', lifetimes, made)}))"
    )


async def push_devices(conn: Conn, user_id: str, *, notification_id: str, category: str,
                       created_at: int, lifetimes: tokens.SignInLifetimes,
                       now: int) -> list[Row]:
    """The user's live devices that have a push token, are signed in (see may_push_sql) and
    had signed in when the notification was made (a device is not told about what
    happened before it existed), with their category switches.

    Times only go to the millisecond, so a sign-in in the notification's millisecond is
    ordered by rowid (the order rows were made in, as the inbox pages them): a new
    device's sign-in writes its ``new_device`` notification in the same transaction
    (``Sessions.register``), and the device existed first if that row came first.
    """
    return await fetchall(
        conn,
        "SELECT d.id, d.platform, d.push_token, coalesce(p.uploads, 1) AS uploads,"
        " coalesce(p.shares, 1) AS shares, coalesce(p.storage, 1) AS storage,"
        " coalesce(p.security, 1) AS security"
        " FROM devices d LEFT JOIN notification_preferences p ON p.device_id = d.id"
        " WHERE d.user_id = ?1 AND d.removed_at IS NULL AND d.push_token IS NOT NULL"
        f" AND {may_push_sql('d.id', lifetimes, category='?4', made='?2', now='?5')}"
        " AND (d.registered_at < ?2 OR d.registered_at = ?2 AND EXISTS (SELECT 1"
        " FROM notifications s WHERE s.user_id = ?1 AND s.created_at = ?2"
        " AND s.kind = 'new_device' AND s.except_device_id = d.id"
        " AND s.rowid < (SELECT rowid FROM notifications WHERE id = ?3)))",
        (user_id, created_at, notification_id, category, now),
    )


async def add(conn: Conn, *, notification_id: str, device_id: str, category: str, due: int,
              now: int) -> None:
    await execute(
        conn,
        "INSERT OR IGNORE INTO push_deliveries (notification_id, device_id, category,"
        " next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?)",
        (notification_id, device_id, category, due, now),
    )


# A device's upload pushes not tried yet, which a summary may still take in (?: the device).
FRESH_UPLOADS = (
    "device_id = ? AND category = 'uploads' AND status = 'pending' AND attempts = 0"
    " AND lease_until IS NULL"
)


async def postpone_uploads(conn: Conn, device_id: str, *, latest_at: int, delay_ms: int,
                           max_ms: int) -> None:
    """Debounce: the device's not-yet-sent upload pushes wait until ``delay_ms`` after the
    latest upload notification (made at ``latest_at``), but no longer than ``max_ms``
    after the oldest one."""
    row = await fetchone(
        conn,
        "SELECT min(n.created_at) FROM notifications n WHERE n.id IN"
        f" (SELECT notification_id FROM push_deliveries WHERE {FRESH_UPLOADS})",
        (device_id,),
    )
    if row is None or row[0] is None:
        return
    due = min(row[0] + max_ms, latest_at + delay_ms)
    await execute(
        conn,
        f"UPDATE push_deliveries SET next_attempt_at = max(next_attempt_at, ?)"
        f" WHERE {FRESH_UPLOADS} AND held_until IS NULL",
        (due, device_id),
    )


async def mark_dispatched(conn: Conn, notification_id: str, now: int) -> None:
    await execute(conn, "UPDATE notifications SET dispatched_at = ? WHERE id = ?",
                  (now, notification_id))


# -- outcomes -----------------------------------------------------------------------


async def finish(conn: Conn, delivery_id: int, status: str, *, now: int,
                 provider: str | None = None, error: str | None = None) -> None:
    """A final state: delivered, failed, dropped or cancelled."""
    await execute(
        conn,
        "UPDATE push_deliveries SET status = ?, finished_at = ?, lease_until = NULL,"
        " held_until = NULL, provider = coalesce(?, provider), last_error = ? WHERE id = ?",
        (status, now, provider, error, delivery_id),
    )


async def reschedule(conn: Conn, delivery_id: int, *, at: int, provider: str,
                     error: str) -> None:
    """Try again at ``at``."""
    await execute(
        conn,
        "UPDATE push_deliveries SET next_attempt_at = ?, lease_until = NULL, provider = ?,"
        " last_error = ? WHERE id = ?",
        (at, provider, error, delivery_id),
    )


async def cancel_for_device(conn: Conn, device_id: str, *, now: int, reason: str) -> int:
    """Cancel every push still waiting for the device: due, held by quiet hours or waiting
    for a retry. One in flight keeps the outcome its send records."""
    return await execute(
        conn,
        "UPDATE push_deliveries SET status = 'cancelled', finished_at = ?, lease_until = NULL,"
        " held_until = NULL, last_error = ? WHERE device_id = ? AND status = 'pending'",
        (now, reason, device_id),
    )


def pushable_sql(lifetimes: tokens.SignInLifetimes, now: str) -> str:
    """SQL: the push_deliveries row aliased ``pd`` is for a device that may still be
    pushed it at ``now`` (SQL for the time; see may_push_sql). A row for one signed out is
    waiting for nothing: not work of the outbox's, whether cancelled yet or not."""
    made = "(SELECT n.created_at FROM notifications n WHERE n.id = pd.notification_id)"
    return may_push_sql("pd.device_id", lifetimes, category="pd.category", made=made, now=now)


async def cancel_signed_out(conn: Conn, user_id: str, *, lifetimes: tokens.SignInLifetimes,
                            now: int) -> int:
    """Cancel the pushes waiting for the user's devices that may no longer be pushed them
    (see may_push_sql): in the transaction that ended their sign-ins, rather than when each
    comes due (held by quiet hours, waiting for a retry), so they stop counting as the
    outbox's work. Security notices made before the end keep going."""
    return await execute(
        conn,
        "UPDATE push_deliveries AS pd SET status = 'cancelled', finished_at = ?2,"
        " lease_until = NULL, held_until = NULL, last_error = 'signed out'"
        " WHERE pd.status = 'pending' AND pd.device_id IN (SELECT id FROM devices"
        f" WHERE user_id = ?1) AND NOT {pushable_sql(lifetimes, '?2')}",
        (user_id, now),
    )


async def cancel_run_out(conn: Conn, *, lifetimes: tokens.SignInLifetimes, now: int) -> int:
    """Cancel the pushes still waiting (held by quiet hours, for a retry) for devices whose
    sign-ins ran out, every user's: nothing records that moment (a phone left in a drawer
    makes no refresh attempt), so the worker's housekeeping does, rather than each row
    when it comes due. Not one in flight: its send records its outcome."""
    return await execute(
        conn,
        "UPDATE push_deliveries AS pd SET status = 'cancelled', finished_at = ?1,"
        " held_until = NULL, last_error = 'signed out'"
        " WHERE pd.status = 'pending' AND (pd.lease_until IS NULL OR pd.lease_until <= ?1)"
        f" AND NOT {pushable_sql(lifetimes, '?1')}",
        (now,),
    )


async def retry_now(conn: Conn, device_id: str, now: int) -> int:
    """The device has a new push token: its pushes waiting out a retry's backoff (the old
    token failing) are tried again now. Not those in flight, held by quiet hours, or
    not tried yet (an upload digest waiting for the uploads to pause). Its commit wakes
    the push worker, asleep until the old backoff's end."""
    brought = await execute(
        conn,
        "UPDATE push_deliveries SET next_attempt_at = ? WHERE device_id = ?"
        " AND status = 'pending' AND attempts > 0 AND next_attempt_at > ?"
        " AND lease_until IS NULL AND held_until IS NULL",
        (now, device_id, now),
    )
    if brought:
        note_change(conn, "notifications")
    return brought


async def release_held(conn: Conn, device_id: str, now: int) -> int:
    """Preferences changed: rows held by quiet hours are looked at again now."""
    return await execute(
        conn,
        "UPDATE push_deliveries SET next_attempt_at = ?, held_until = NULL"
        " WHERE device_id = ? AND status = 'pending' AND held_until IS NOT NULL",
        (now, device_id),
    )


# -- housekeeping and status --------------------------------------------------------


async def next_wakeup(conn: Conn) -> int | None:
    """When the earliest pending row becomes claimable (epoch ms), if any."""
    row = await fetchone(
        conn,
        "SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) FROM push_deliveries"
        " WHERE status = 'pending'",
    )
    return None if row is None or row[0] is None else int(row[0])


async def prune_inbox(conn: Conn, before: int) -> int:
    """Delete notifications created before ``before`` that no push is still pending for."""
    return await execute(
        conn,
        "DELETE FROM notifications WHERE created_at < ? AND NOT EXISTS (SELECT 1 FROM"
        " push_deliveries pd WHERE pd.notification_id = notifications.id"
        " AND pd.status = 'pending')",
        (before,),
    )


async def device_summary(conn: Conn, device_id: str) -> Row | None:
    """Pending count, and the latest finished attempt's outcome, for one device."""
    return await fetchone(
        conn,
        "SELECT (SELECT count(*) FROM push_deliveries WHERE device_id = ?1"
        " AND status = 'pending') AS pending,"
        " (SELECT max(finished_at) FROM push_deliveries WHERE device_id = ?1"
        " AND status = 'delivered') AS last_delivered_at,"
        " last.status AS last_status, last.last_error AS last_error,"
        " last.finished_at AS last_finished_at"
        " FROM (SELECT 1) LEFT JOIN (SELECT status, last_error, finished_at FROM push_deliveries"
        " WHERE device_id = ?1 AND status IN ('delivered', 'failed', 'dropped')"
        " ORDER BY finished_at DESC, id DESC LIMIT 1) AS last",
        (device_id,),
    )
