"""Sign-in sessions: ``token_families`` and their rotating ``refresh_tokens``."""

from __future__ import annotations

from collections.abc import Sequence

from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone, note_change

__all__ = [
    "SIGN_INS_ENDED",
    "active_principal",
    "device_signed_in",
    "family",
    "insert_family",
    "insert_refresh",
    "live_sign_ins",
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


# What "signed in" means, written once: the chunk URLs' check below and the push outbox
# (store.deliveries) format these with their own SQL for the family's alias and times.


def signed_in_sql(family: str) -> str:
    """SQL: the sign-in (token family) aliased ``family`` is live now: not ended by a
    logout, a password change, a refresh-token theft, the install signing in again or
    the device's removal."""
    return f"{family}.revoked_at IS NULL"


def signed_in_at_sql(family: str, moment: str) -> str:
    """SQL: the sign-in aliased ``family`` was live at ``moment`` (SQL for an earlier time,
    epoch ms), whatever happened since. A sign-in ended in that very millisecond counts as
    live: what was made in the transaction that ended it (its security notice) came
    before the end."""
    return f"({family}.revoked_at IS NULL OR {family}.revoked_at >= {moment})"


async def device_signed_in(conn: Reads, device_id: str) -> bool:
    """Whether the device has a live sign-in (see signed_in_sql) and is not removed: what
    a chunk URL's signature needs besides itself, since it carries no access token to
    check."""
    return await fetchone(
        conn,
        "SELECT 1 FROM token_families f JOIN devices d ON d.id = f.device_id"
        f" WHERE f.device_id = ? AND {signed_in_sql('f')} AND d.removed_at IS NULL LIMIT 1",
        (device_id,),
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
