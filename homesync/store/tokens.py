"""Sign-in sessions: ``token_families`` and their rotating ``refresh_tokens``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone, note_change

__all__ = [
    "SIGN_INS_ENDED",
    "SignInLifetimes",
    "active_principal",
    "device_signed_in",
    "family",
    "insert_family",
    "insert_refresh",
    "live_sign_ins",
    "prune_ended_refresh",
    "refresh_by_hash",
    "revoke_device_families",
    "revoke_family",
    "revoke_user_families",
    "signed_in_at_sql",
    "signed_in_sql",
    "spend_refresh",
]

# The commit topic (Database.when_committed) of a transaction that ended sign-ins: their
# parked long polls are to be told (services.sync.jobs.JournalWatcher).
SIGN_INS_ENDED = "sign_ins_ended"
_IN_CHUNK = 500


async def insert_family(conn: Conn, *, family_id: str, user_id: str, device_id: str, now: int) -> None:
    await execute(
        conn,
        "INSERT INTO token_families (id, user_id, device_id, created_at) VALUES (?, ?, ?, ?)",
        (family_id, user_id, device_id, now),
    )


async def insert_refresh(conn: Conn, *, token_hash: str, family_id: str, now: int) -> None:
    await execute(
        conn,
        "INSERT OR IGNORE INTO refresh_tokens (token_hash, family_id, issued_at) VALUES (?, ?, ?)",
        (token_hash, family_id, now),
    )


async def refresh_by_hash(conn: Conn, token_hash: str, successor_hash: str) -> Row | None:
    """The token with its family, device and owner, for the refresh decision.

    ``successor_used`` says whether the token's successor (``successor_hash``) was
    already spent: NULL when it was never issued, else 0 or 1. Asked in the same
    query because this runs inside the refresh's write transaction, where every extra
    round trip to the writer thread holds up all other writers.
    """
    return await fetchone(
        conn,
        "SELECT r.token_hash, r.issued_at, r.used_at, f.id AS family_id, f.created_at AS"
        " family_created_at, f.revoked_at, f.user_id, f.device_id, d.client_id, d.removed_at,"
        " (SELECT s.used_at IS NOT NULL FROM refresh_tokens s WHERE s.token_hash = ?)"
        " AS successor_used"
        " FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id"
        " JOIN devices d ON d.id = f.device_id WHERE r.token_hash = ?",
        (successor_hash, token_hash),
    )


async def spend_refresh(conn: Conn, token_hash: str, now: int) -> bool:
    """Mark a refresh token used; False if somebody else spent it first (A9)."""
    changed = await execute(
        conn,
        "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
        (now, token_hash),
    )
    return changed == 1


async def family(conn: Conn, family_id: str) -> Row | None:
    return await fetchone(conn, "SELECT * FROM token_families WHERE id = ?", (family_id,))


async def revoke_family(conn: Conn, family_id: str, reason: str, now: int) -> int:
    return await _revoke(conn, "id", family_id, reason, now)


async def revoke_device_families(conn: Conn, device_id: str, reason: str, now: int) -> int:
    return await _revoke(conn, "device_id", device_id, reason, now)


async def revoke_user_families(conn: Conn, user_id: str, reason: str, now: int) -> int:
    return await _revoke(conn, "user_id", user_id, reason, now)


async def _revoke(conn: Conn, column: str, value: str, reason: str, now: int) -> int:
    revoked = await execute(
        conn,
        "UPDATE token_families SET revoked_at = ?, revoke_reason = ?"
        f" WHERE {column} = ? AND revoked_at IS NULL",
        (now, reason, value),
    )
    if revoked:  # once committed, their parked long polls are woken
        note_change(conn, SIGN_INS_ENDED)
    return revoked


async def active_principal(conn: Reads, family_id: str, device_id: str, user_id: str,
                           kid: str) -> Row | None:
    """The caller behind an access token, if its sign-in, its device and the key that
    signed it (``kid``) are still alive.

    One query per authenticated request: this is what makes revocation immediate, and a
    key retired by ``homesync keys retire`` in another process too. The sign-in lock
    (``users.locked``) is not checked: it stops password guessing and must not let a
    guesser sign the owner's devices out.
    """
    return await fetchone(
        conn,
        "SELECT u.id AS user_id, u.email, u.name, u.is_admin, d.id AS device_id,"
        " d.client_id, d.name AS device_name, d.settings FROM token_families f"
        " JOIN devices d ON d.id = f.device_id JOIN users u ON u.id = f.user_id"
        " JOIN signing_keys k ON k.kid = ? AND k.retired_at IS NULL"
        " WHERE f.id = ? AND f.device_id = ? AND f.user_id = ? AND f.revoked_at IS NULL"
        " AND d.removed_at IS NULL",
        (kid, family_id, device_id, user_id),
    )


@dataclass(frozen=True, slots=True)
class SignInLifetimes:
    """How long a sign-in lasts unless ended before, in ms: unused since its latest refresh
    token (``auth.refresh_idle_ttl``), and in all (``auth.refresh_absolute_ttl``).

    ``Sessions.refresh`` records a sign-in that ran out (revoked, ``expired``) only when
    the device next tries to refresh, which a phone left in a drawer never does: what
    must not wait for that (pushes, signed chunk URLs) checks the lifetimes too.
    """

    idle_ms: int
    absolute_ms: int


# What "signed in" means, written once: the chunk URLs' check below and the push outbox
# (store.deliveries) format these with their own SQL for the family's alias and times.


def signed_in_sql(family: str, lifetimes: SignInLifetimes, now: str) -> str:
    """SQL: the sign-in (token family) aliased ``family`` is live at ``now`` (SQL for the
    current time, epoch ms): not ended by a logout, a password change, a refresh-token
    theft, the install signing in again or the device's removal, nor run out."""
    return f"{family}.revoked_at IS NULL AND {_lasts(family, lifetimes, now)}"


def signed_in_at_sql(family: str, lifetimes: SignInLifetimes, moment: str) -> str:
    """SQL: the sign-in aliased ``family`` was live at ``moment`` (SQL for an earlier time,
    epoch ms), whatever happened since. A sign-in ended in that very millisecond counts as
    live: what was made in the transaction that ended it (its security notice) came
    before the end."""
    return (f"({family}.revoked_at IS NULL OR {family}.revoked_at >= {moment})"
            f" AND {_lasts(family, lifetimes, moment)}")


def _lasts(family: str, lifetimes: SignInLifetimes, at: str) -> str:
    """SQL: the sign-in's lifetimes have not run out at ``at``, by RotationPolicy's bounds
    (live up to and including their last millisecond). The idle one counts from the
    newest refresh token, the one an app would present: the family's highest rowid, as
    rows are only ever added, each after the last. refresh_tokens_family holds a
    family's rows in rowid order, so that is one index entry, where max(issued_at) read
    every token the sign-in ever had (8 640 in 90 days of 15-minute refreshes: ~25 ms,
    on every signed chunk PUT)."""
    # Integers from the configuration, written into the SQL rather than bound: every
    # caller's statement keeps its own parameters, and an int cannot inject anything.
    idle, absolute = int(lifetimes.idle_ms), int(lifetimes.absolute_ms)
    return (f"{family}.created_at >= {at} - {absolute}"
            " AND (SELECT r.issued_at FROM refresh_tokens r WHERE r.family_id ="
            f" {family}.id ORDER BY r.rowid DESC LIMIT 1) >= {at} - {idle}")


async def device_signed_in(conn: Reads, device_id: str, lifetimes: SignInLifetimes,
                           now: int) -> bool:
    """Whether the device has a live sign-in at ``now`` (see signed_in_sql) and is not
    removed: what a chunk URL's signature needs besides itself, since it carries no access
    token to check."""
    return await fetchone(
        conn,
        "SELECT 1 FROM token_families f JOIN devices d ON d.id = f.device_id"
        f" WHERE f.device_id = ?1 AND {signed_in_sql('f', lifetimes, '?2')}"
        " AND d.removed_at IS NULL LIMIT 1",
        (device_id, now),
    ) is not None


async def live_sign_ins(conn: Reads, family_ids: Sequence[str]) -> set[str]:
    """Those of ``family_ids`` still signed in: not revoked, on a device not removed (an
    account deleted takes its sign-ins with it). What ``active_principal`` checks, but
    for many at once and without the signing key, which the caller does not know."""
    live: set[str] = set()
    for start in range(0, len(family_ids), _IN_CHUNK):
        chunk = list(family_ids[start:start + _IN_CHUNK])
        marks = ", ".join("?" * len(chunk))
        rows = await fetchall(
            conn,
            "SELECT f.id FROM token_families f JOIN devices d ON d.id = f.device_id"
            f" WHERE f.id IN ({marks}) AND f.revoked_at IS NULL AND d.removed_at IS NULL",
            chunk,
        )
        live.update(row[0] for row in rows)
    return live


async def prune_ended_refresh(conn: Conn, lifetimes: SignInLifetimes, ended_before: int,
                              limit: int = 1000) -> int:
    """Delete up to ``limit`` refresh tokens of sign-ins that had ended by ``ended_before``
    (revoked, or their lifetimes run out); how many went.

    Only ended sign-ins': a live one's spent tokens are its theft detection (a replay ends
    it), and it lasts at most ``absolute_ms``. The family rows stay (one per sign-in):
    access tokens and pushes look their sign-in up there. A family left without tokens
    reads as run out (_lasts), as it had; a pruned token is unknown to a refresh (401).
    """
    return await execute(
        conn,
        # CROSS JOIN: families outside, so the test runs once per sign-in and only ended
        # ones' tokens are read (the planner would scan every token and test each).
        "DELETE FROM refresh_tokens WHERE rowid IN (SELECT r.rowid FROM token_families f"
        " CROSS JOIN refresh_tokens r ON r.family_id = f.id"
        f" WHERE f.revoked_at < ?1 OR NOT ({_lasts('f', lifetimes, '?1')}) LIMIT ?2)",
        (ended_before, limit),
    )
