"""Claiming due ``push_deliveries`` rows (:mod:`homesync.store.deliveries`) for an attempt.

The push worker's claim (:mod:`homesync.services.notifications.claims`) reads the rows due
with what it needs to decide about them, then in the same transaction leases each for an
attempt, holds it for quiet hours or folds a device's upload pushes into one summary; a
shutdown gives its unfinished leases back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from homesync.store import tokens
from homesync.store.db import Conn, Row, execute, fetchall, fetchone
from homesync.store.deliveries import FRESH_UPLOADS, may_push_sql

__all__ = ["claim", "devices_waiting", "due", "has_due", "hold", "merge_uploads", "message_parts",
           "release"]


_DUE = (  # ?1: now
    "pd.status = 'pending' AND pd.next_attempt_at <= ?1"
    " AND (pd.lease_until IS NULL OR pd.lease_until <= ?1)"
)


async def has_due(conn: Conn, now: int, *, among: Iterable[str] | None = None) -> bool:
    """Whether a row is due now (for one of the devices ``among``, if given)."""
    if among is None:
        return await fetchone(
            conn, f"SELECT 1 FROM push_deliveries pd WHERE {_DUE} LIMIT 1", (now,),
        ) is not None
    return await fetchone(
        conn,
        f"SELECT 1 FROM push_deliveries pd WHERE {_DUE}"
        " AND pd.device_id IN (SELECT value FROM json_each(?2)) LIMIT 1",
        (now, json.dumps(sorted(among))),
    ) is not None


async def devices_waiting(conn: Conn) -> list[Row]:
    """The devices with a push token that have pushes waiting (due or not), with their
    platform and token: whose push service those pushes go to."""
    return await fetchall(
        conn,
        "SELECT d.id, d.platform, d.push_token FROM devices d"
        " WHERE d.push_token IS NOT NULL AND d.removed_at IS NULL AND EXISTS (SELECT 1"
        " FROM push_deliveries pd WHERE pd.device_id = d.id AND pd.status = 'pending')",
    )


# A ``shares`` notification's share still gives the user its item: not revoked or left
# (the row goes), and the item not in its owner's trash. Others: 1.
_SHARE_LIVE = (
    "(pd.category != 'shares' OR EXISTS (SELECT 1 FROM shares s JOIN files f"
    " ON f.id = s.file_id WHERE s.id = json_extract(n.data, '$.shareId')"
    " AND s.recipient_id = n.user_id AND f.deleted_at IS NULL))"
)


async def due(conn: Conn, now: int, limit: int, lifetimes: tokens.SignInLifetimes, *,
              after: tuple[int, int] | None = None, skip: Iterable[str] = ()) -> list[Row]:
    """Pending rows whose time has come and that no live worker holds, with what the
    worker needs to decide about them (device, token, sign-in, preferences, read state,
    and for a share's notification whether the share still reaches the user); in the
    order they fell due, from just past ``after`` (a row's ``next_attempt_at, id``); not
    the devices' in ``skip``, passed over in the index before any join (a big backlog)."""
    after_at, after_id = after if after is not None else (-1, -1)
    return await fetchall(
        conn,
        "SELECT pd.id, pd.notification_id, pd.device_id, pd.category, pd.attempts,"
        " pd.next_attempt_at,"
        " pd.first_attempt_at, n.read_at, d.platform, d.push_token, d.removed_at,"
        f" {may_push_sql('d.id', lifetimes, category='pd.category', made='n.created_at', now='?1')}"
        " AS signed_in,"
        " coalesce(p.uploads, 1) AS uploads, coalesce(p.shares, 1) AS shares,"
        " coalesce(p.storage, 1) AS storage, coalesce(p.security, 1) AS security,"
        " coalesce(p.quiet_enabled, 0) AS quiet_enabled, coalesce(p.quiet_start, 0) AS quiet_start,"
        " coalesce(p.quiet_end, 0) AS quiet_end, coalesce(p.quiet_timezone, 'UTC') AS quiet_timezone,"
        f" {_SHARE_LIVE} AS share_live"
        " FROM push_deliveries pd"
        " JOIN notifications n ON n.id = pd.notification_id"
        " JOIN devices d ON d.id = pd.device_id"
        " LEFT JOIN notification_preferences p ON p.device_id = pd.device_id"
        f" WHERE {_DUE} AND (pd.next_attempt_at, pd.id) > (?3, ?4)"
        " AND pd.device_id NOT IN (SELECT value FROM json_each(?5))"
        " ORDER BY pd.next_attempt_at, pd.id LIMIT ?2",
        (now, limit, after_at, after_id, json.dumps(sorted(skip))),
    )


async def claim(conn: Conn, delivery_id: int, *, lease_until: int, now: int) -> None:
    """Take a row for one attempt: until ``lease_until`` no other worker touches it."""
    await execute(
        conn,
        "UPDATE push_deliveries SET lease_until = ?, attempts = attempts + 1, held_until = NULL,"
        " first_attempt_at = coalesce(first_attempt_at, ?) WHERE id = ?",
        (lease_until, now, delivery_id),
    )


async def hold(conn: Conn, delivery_id: int, until: int) -> None:
    """Quiet hours: wait until they end (not an attempt)."""
    await execute(
        conn,
        "UPDATE push_deliveries SET next_attempt_at = ?, held_until = ?, lease_until = NULL"
        " WHERE id = ?",
        (until, until, delivery_id),
    )


async def merge_uploads(conn: Conn, leader_id: int, device_id: str, now: int) -> list[int]:
    """Fold the device's other unsent upload pushes into ``leader_id``'s summary.

    One statement, not their ids bound one by one: a night of backups held by quiet hours
    can be more uploads than SQLite allows parameters (32 766 by default)."""
    rows = await fetchall(
        conn,
        "UPDATE push_deliveries SET status = 'merged', merged_into = ?, finished_at = ?,"
        f" held_until = NULL WHERE {FRESH_UPLOADS} AND id != ? RETURNING id",
        (leader_id, now, device_id, leader_id),
    )
    return [int(r[0]) for r in rows]


async def message_parts(conn: Conn, delivery_id: int) -> list[Row]:
    """The notifications one push carries: its own, plus any merged into it, oldest first
    (within a millisecond in the order they were made, as the inbox lists them), each with
    the MIME type of what was uploaded (upload notifications) for the summary's wording.
    Taken from the user's upload, not the file: an upload into a folder shared with the
    user makes a file of the folder's owner."""
    return await fetchall(
        conn,
        "SELECT n.id, n.category, n.kind, n.title, n.body, n.data, n.read_at, n.created_at,"
        " (SELECT u.mime_type FROM uploads u WHERE u.id = json_extract(n.data, '$.uploadId')"
        " AND u.user_id = n.user_id) AS mime_type"
        " FROM push_deliveries pd JOIN notifications n ON n.id = pd.notification_id"
        " WHERE pd.id = ? OR pd.merged_into = ? ORDER BY n.created_at, n.rowid",
        (delivery_id, delivery_id),
    )


async def release(conn: Conn, delivery_ids: list[int]) -> None:
    """Give back leases of attempts that never finished (shutdown), for an immediate retry."""
    if delivery_ids:
        await execute(
            conn,
            f"UPDATE push_deliveries SET lease_until = NULL WHERE status = 'pending'"
            f" AND id IN ({', '.join('?' * len(delivery_ids))})",
            delivery_ids,
        )
