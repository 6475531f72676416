"""Access-token signing keys: ``signing_keys`` (one signs, older ones verify until retired).

A row's state follows from its times: ``replaced_at`` NULL signs ("active"); set, the key
still verifies ("previous"); ``retired_at`` set, it no longer does ("retired"). A NULL
``secret`` is the key derived from ``server.key`` (see migration 0010), or a retired key's:
its secret is erased, since nothing may sign or verify with it again.
"""

from __future__ import annotations

from collections.abc import Sequence

from homesync.store.db import Conn, Reads, Row, execute, fetchall, fetchone, note_change
from homesync.store.tokens import SIGN_INS_ENDED

__all__ = ["all_keys", "by_kid", "insert_first", "live_kids", "replace_active", "retire"]


async def all_keys(conn: Reads) -> list[Row]:
    """Every key, oldest first (a handful of rows: one per rotation)."""
    return await fetchall(conn, "SELECT * FROM signing_keys ORDER BY rowid")


async def by_kid(conn: Reads, kid: str) -> Row | None:
    return await fetchone(conn, "SELECT * FROM signing_keys WHERE kid = ?", (kid,))


async def live_kids(conn: Reads, kids: Sequence[str]) -> set[str]:
    """Those of ``kids`` that still verify (not retired): what ``tokens.active_principal``
    checks of one token's key, for the keys of all parked long polls at once (a handful)."""
    if not kids:
        return set()
    marks = ", ".join("?" * len(kids))
    rows = await fetchall(
        conn, f"SELECT kid FROM signing_keys WHERE kid IN ({marks}) AND retired_at IS NULL",
        list(kids))
    return {row[0] for row in rows}


async def insert_first(conn: Conn, *, kid: str, now: int) -> bool:
    """Make the server.key-derived key ``kid`` the signing key of an empty table."""
    return await execute(
        conn,
        "INSERT INTO signing_keys (kid, secret, created_at) SELECT ?, NULL, ?"
        " WHERE NOT EXISTS (SELECT 1 FROM signing_keys)",
        (kid, now),
    ) == 1


async def replace_active(conn: Conn, *, kid: str, secret: bytes, now: int) -> None:
    """``kid`` signs from now on; the key that signed until now becomes "previous"."""
    await execute(conn, "UPDATE signing_keys SET replaced_at = ? WHERE replaced_at IS NULL",
                  (now,))
    await execute(conn, "INSERT INTO signing_keys (kid, secret, created_at) VALUES (?, ?, ?)",
                  (kid, secret, now))


async def retire(conn: Conn, kid: str, now: int) -> bool:
    """Stop accepting a previous key's tokens, and forget its secret; False if it is not a
    previous key."""
    retired = await execute(
        conn,
        "UPDATE signing_keys SET retired_at = ?, secret = NULL WHERE kid = ?"
        " AND replaced_at IS NOT NULL AND retired_at IS NULL",
        (now, kid),
    ) == 1
    if retired:  # its tokens' sign-ins end too: once committed, their parked polls are woken
        note_change(conn, SIGN_INS_ENDED)
    return retired
