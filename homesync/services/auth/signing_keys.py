"""Rotating the access-token signing key (reliability plan A6; RFC 8725 §3.5).

One key signs ("active"); the keys it replaced still verify ("previous") until an admin
retires them ("retired"), after which their tokens get 401. ``homesync keys rotate``,
``list`` and ``retire`` run in another process than the server, against the same
database, so the server learns of their changes without a restart:

- a retired key: the per-request lookup of the caller (``tokens.active_principal``)
  also asks whether the token's key is retired, so it takes effect at the next request;
- a new key: before signing (sign-in, refresh, which write to the database anyway) the
  server reads which key is active; a token naming a key it does not hold makes it
  reload the keys, at most once a second so made-up kids cannot turn every request
  into a database read. A token of a known key costs no extra query.

Plan: "After a rotation, keep the previous key for verification for at least TTL +
leeway", so retiring a key sooner after it stopped signing needs ``force``.
"""

from __future__ import annotations

import logging
import secrets
from typing import Literal

import msgspec

from homesync import clock
from homesync.config import AuthSettings
from homesync.errors import Conflict, NotFound
from homesync.services.auth.tokens import LEEWAY_S, TokenCodec, derived_access_key, key_id
from homesync.store import signing_keys
from homesync.store.db import Database, Reads, Row

__all__ = ["KeyInfo", "SigningKeys"]

log = logging.getLogger("homesync.auth")

# Unknown kids reload the keys at most this often (seconds).
_RELOAD_INTERVAL_S = 1.0

KeyState = Literal["active", "previous", "retired"]


class KeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A signing key as the CLI shows it: never its secret."""

    kid: str
    state: KeyState
    created_at: int
    replaced_at: int | None  # stopped signing
    retired_at: int | None
    from_server_key: bool  # derived from server.key (the data dir's first key)
    # A previous key: when its last token has expired, so retiring it signs nobody out.
    retire_after: int | None


class SigningKeys:
    def __init__(self, db: Database, codec: TokenCodec, secret: bytes,
                 settings: AuthSettings) -> None:
        self._db = db
        self._codec = codec
        self._derived = derived_access_key(secret)
        self._derived_kid = key_id(self._derived)
        self._token_life_ms = (settings.access_ttl_s + LEEWAY_S) * 1000
        self._last_reload: float | None = None

    async def load(self) -> None:
        """Read the keys (adding the first, derived one to a new or upgraded database)."""
        rows = await signing_keys.all_keys(self._db.inline)
        if not rows:
            async with self._db.transaction() as tx:
                await signing_keys.insert_first(tx, kid=key_id(self._derived), now=clock.now_ms())
                rows = await signing_keys.all_keys(tx)
        self._install(rows)

    # -- the server picking up other processes' changes ---------------------------

    async def reload_for_unknown_kid(self) -> bool:
        """Reload the keys for a token of an unknown kid, unless that was done within the
        last second; whether it was done (then verifying again may succeed)."""
        now = clock.now()
        if self._last_reload is not None and 0 <= now - self._last_reload < _RELOAD_INTERVAL_S:
            return False
        self._last_reload = now
        self._install(await signing_keys.all_keys(self._db.inline))
        return True

    async def before_signing(self, conn: Reads) -> None:
        """Make sure the codec signs with the database's active key (one small read)."""
        rows = await signing_keys.all_keys(conn)
        active = next((r["kid"] for r in rows if r["replaced_at"] is None), None)
        if active != self._codec.kid:
            self._install(rows)

    def _install(self, rows: list[Row]) -> None:
        keys: dict[str, bytes] = {}
        active: str | None = None
        for row in rows:
            if row["retired_at"] is not None:
                continue
            key = row["secret"] if row["secret"] is not None else self._derived
            if key_id(key) != row["kid"]:
                # A derived key whose server.key was replaced: it can no longer be made.
                log.error("signing key %s cannot be used: server.key changed since it was "
                          "made; run `homesync keys rotate`", row["kid"])
                continue
            keys[row["kid"]] = key
            if row["replaced_at"] is None:
                active = row["kid"]
        before = self._codec.kid
        self._codec.install_keys(keys, active)
        if before is not None and active is not None and active != before:
            log.info("access tokens are now signed with key %s (was %s)", active, before)

    # -- admin: list, rotate, retire -----------------------------------------------

    async def list(self) -> list[KeyInfo]:
        """Every key, oldest first."""
        return [self._info(row) for row in await signing_keys.all_keys(self._db.reader)]

    async def rotate(self) -> tuple[KeyInfo, KeyInfo | None]:
        """Sign with a new random key from now on; the one it replaces still verifies.
        Returns the new key and the replaced one."""
        key = secrets.token_bytes(32)
        kid, now = key_id(key), clock.now_ms()
        async with self._db.transaction() as tx:
            before = next((r for r in await signing_keys.all_keys(tx)
                           if r["replaced_at"] is None), None)
            await signing_keys.replace_active(tx, kid=kid, secret=key, now=now)
            rows = await signing_keys.all_keys(tx)
        self._install(rows)
        log.info("access-token signing key rotated: %s signs now; %s still verifies until "
                 "retired", kid, before["kid"] if before else "-")
        by_kid = {row["kid"]: self._info(row) for row in rows}
        return by_kid[kid], by_kid[before["kid"]] if before else None

    async def retire(self, kid: str, *, force: bool = False) -> KeyInfo:
        """Refuse ``kid``'s tokens from now on (a running server: at its next request).

        Raises NotFound for an unknown kid, Conflict for the active key (that would sign
        everyone out for good) and, without ``force``, for a key whose tokens may still
        be unexpired. Retiring a retired key again changes nothing.
        """
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            row = await signing_keys.by_kid(tx, kid)
            if row is None:
                raise NotFound(f"No signing key {kid!r}: see `homesync keys list`")
            info = self._info(row)
            if info.state == "retired":
                return info
            if info.state == "active":
                raise Conflict(f"Key {kid} is the active key, which signs every new token: "
                               "run `homesync keys rotate` first, then retire it")
            assert info.retire_after is not None
            if now < info.retire_after and not force:
                left = max(1, (info.retire_after - now + 999) // 1000)
                raise Conflict(
                    f"Key {kid} stopped signing less than a token's lifetime ago: tokens it "
                    f"signed stay valid for up to {left // 60} min {left % 60} s more. Wait, "
                    "or retire it now with --force (devices holding such a token then get "
                    "401 and refresh it)")
            await signing_keys.retire(tx, kid, now)
            row = await signing_keys.by_kid(tx, kid)
            rows = await signing_keys.all_keys(tx)
        assert row is not None
        self._install(rows)
        log.info("access-token signing key %s retired; its tokens are refused", kid)
        return self._info(row)

    def _info(self, row: Row) -> KeyInfo:
        state: KeyState = ("retired" if row["retired_at"] is not None
                           else "previous" if row["replaced_at"] is not None else "active")
        return KeyInfo(
            kid=row["kid"], state=state, created_at=row["created_at"],
            replaced_at=row["replaced_at"], retired_at=row["retired_at"],
            from_server_key=row["kid"] == self._derived_kid,
            retire_after=(row["replaced_at"] + self._token_life_ms
                          if state == "previous" else None),
        )
