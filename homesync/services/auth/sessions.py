"""Device sign-in: register (password → device + tokens), refresh rotation, logout, and
turning an access token into the calling :class:`Principal` on every request."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable

import msgspec

from homesync import clock
from homesync.config import AuthSettings, format_duration
from homesync.errors import (
    InvalidCredentials,
    InvalidRefreshToken,
    Unauthorized,
    ValidationError,
)
from homesync.ids import new_id
from homesync.models import Principal
from homesync.push.registry import canonical_token
from homesync.services.auth.accounts import Accounts, SignedOut
from homesync.services.auth.devices import DEFAULT_SETTINGS
from homesync.services.auth.rotation import RotationPolicy, Verdict
from homesync.services.auth.signing_keys import SigningKeys
from homesync.services.auth.throttle import SlidingWindow, TokenBucket
from homesync.services.auth.tokens import (
    LEEWAY_S,
    TokenCodec,
    UnknownSigningKey,
    hash_refresh_token,
)
from homesync.services.notifications.events import security_event
from homesync.services.notifications.names import shown
from homesync.store import deliveries, devices, tokens, users
from homesync.store.db import Conn, Database, Row

__all__ = ["DeviceRegistration", "RegisterResult", "Sessions", "TokenPair"]

log = logging.getLogger("homesync.auth")

# Writing last_active_at on every request (or every refresh) would turn every read into a
# write and lengthen every refresh transaction: at most once a minute per device.
_ACTIVE_TOUCH_INTERVAL_MS = 60_000
_MAX_REFRESH_TOKEN_CHARS = 512
# An ended sign-in's refresh tokens are kept this long, then pruned (prune_ended): until
# then a replay of one of its spent tokens still raises the theft notice when the sign-in
# ran out unrevoked, and its security pushes still pending (held by quiet hours, retried
# for notifications.give_up_after) still find it was signed in when they were made.
ENDED_SIGN_IN_KEPT_MS = 30 * 86_400_000


class DeviceRegistration(msgspec.Struct, kw_only=True):
    platform: str
    model: str
    os_version: str
    app_version: str
    client_id: str
    push_token: str | None = None


class TokenPair(msgspec.Struct, kw_only=True):
    access_token: str
    refresh_token: str
    expires_in: str


class RegisterResult(msgspec.Struct, kw_only=True):
    created: bool  # a new device (201) rather than a known install signing in again (200)
    user: Row
    device: Row
    tokens: TokenPair
    pending_uploads: int


PendingUploads = Callable[[str], Awaitable[int]]
UsablePushToken = Callable[[str | None], Awaitable[str | None]]
# Called inside a logout's transaction with (tx, device_id).
LoggedOut = Callable[[Conn, str], Awaitable[None]]


async def _no_pending(device_id: str) -> int:
    return 0


async def _stripped(push_token: str | None) -> str | None:
    return (push_token or "").strip() or None


async def _nothing_kept(tx: Conn, device_id: str) -> None:
    return None


async def _nothing_waits(tx: Conn, user_id: str) -> None:
    return None


def check_device_text(info: DeviceRegistration) -> None:
    """Refuse control characters in what the app says about itself, and a blank model
    (``ValidationError`` naming the field). The model becomes the device's name, shown in
    ``GET /devices``, in the "New device login detected" alert on the user's other phones
    and in the admin's terminal (``homesync device list``), where an escape sequence would
    be run, not shown."""
    for field, value in (("deviceId", info.client_id), ("model", info.model),
                         ("osVersion", info.os_version), ("appVersion", info.app_version)):
        if any(unicodedata.category(ch) == "Cc" for ch in value):
            raise ValidationError(f"deviceInfo.{field} may not contain control characters",
                                  field=f"deviceInfo.{field}")
    # The model is the device's name after "<first name>'s": not empty, nor only spaces.
    if not info.model.strip():
        raise ValidationError("deviceInfo.model may not be blank", field="deviceInfo.model")


def device_name(user_name: str, model: str) -> str:
    """"<first name>'s <model>", as the contract names devices."""
    first = user_name.split()[0] if user_name.split() else user_name
    return f"{first}'s {model}".strip()[:200]


class Sessions:
    def __init__(self, db: Database, accounts: Accounts, codec: TokenCodec,
                 keys: SigningKeys, settings: AuthSettings) -> None:
        self._db = db
        self._accounts = accounts
        self._codec = codec
        self._keys = keys
        self._settings = settings
        # Per device: refresh tokens rotate on every use, so a limit per token limits nothing.
        self._refresh_rate = (SlidingWindow(settings.refresh_per_minute, 60)
                              if settings.refresh_per_minute else None)
        self._api_rate = TokenBucket(settings.api_requests_per_second,
                                     settings.api_request_burst)
        self._rotation = RotationPolicy(idle_ms=settings.refresh_idle_s * 1000,
                                        absolute_ms=settings.refresh_absolute_s * 1000,
                                        grace_ms=settings.refresh_grace_s * 1000)
        self._last_touch: dict[str, int] = {}
        # Set by the uploads service once it exists: open uploads of a device.
        self.pending_uploads: PendingUploads = _no_pending
        # Set by the notifications service: a sign-in's push token as it may be kept.
        self.usable_push_token: UsablePushToken = _stripped
        # Set by the notifications service: what a logout ends besides the tokens.
        self.logged_out: LoggedOut = _nothing_kept
        # Set by the notifications service: what a caught theft ends besides the tokens.
        self.signed_out: SignedOut = _nothing_waits

    # -- register -------------------------------------------------------------------

    async def register(self, email: str, password: str, info: DeviceRegistration,
                       client_addr: str) -> RegisterResult:
        """Sign in with a password and register (or re-register) the calling install.

        A known ``client_id`` of this user is the same device (``created`` False): its
        details are refreshed and its previous sign-in ends. A new one gets a device row
        and a ``security`` notification for the user's other devices. Raises
        InvalidCredentials or RateLimited (see Accounts.authenticate), ValidationError
        for control characters in ``info`` (before open sign-up makes an account).
        """
        check_device_text(info)
        if self._settings.open_signup:
            await self._accounts.sign_up(email, password, client_addr)
        user = await self._accounts.authenticate(email, password, client_addr)
        # Only now: checking an endpoint URL resolves its host, which nobody may make the
        # server do before proving who they are.
        push_token = await self.usable_push_token(info.push_token)
        # Sent but not usable: perhaps a new token the server refuses (see below).
        refused_token = (None if push_token is not None
                         else canonical_token((info.push_token or "").strip()))
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            # The password was checked against the account as read before hashing, which
            # takes a while: a password change or removal committed meanwhile (the CLI)
            # ended every sign-in, and must end this one too (and a removed account
            # has nothing to add a device to).
            current = await users.by_id(tx, user["id"])
            if current is None or current["password_changed_at"] != user["password_changed_at"]:
                raise InvalidCredentials()
            device = await devices.by_client_id(tx, user["id"], info.client_id)
            created = device is None
            if device is None:
                device_id = new_id("device")
                await devices.insert(
                    tx, device_id=device_id, user_id=user["id"], client_id=info.client_id,
                    name=device_name(user["name"], info.model), platform=info.platform,
                    model=info.model, os_version=info.os_version, app_version=info.app_version,
                    push_token=push_token, settings="{}", now=now,
                )
                await security_event(
                    tx, user_id=user["id"], kind="new_device",
                    title="New device login detected",
                    body=f"{shown(device_name(user['name'], info.model))} ({info.platform})"
                         " signed in.",
                    data={"deviceId": device_id}, now=now, except_device_id=device_id,
                )
            else:
                device_id = device["id"]
                await devices.update_info(
                    tx, device_id, name=device_name(user["name"], info.model),
                    platform=info.platform, model=info.model,
                    os_version=info.os_version, app_version=info.app_version,
                    push_token=push_token, now=now,
                )
                if refused_token and refused_token != device["push_token"]:
                    # The app gave up its old token for this one: pushing on to the old one
                    # would reach an endpoint it no longer listens to. (The same token, not
                    # checkable now, its host not resolving for a moment, is kept.)
                    await devices.set_push_token(tx, device_id, None)
                if push_token is not None and push_token != device["push_token"]:
                    # The app replaced a token that may have kept failing: pushes waiting
                    # out a retry's backoff go to the new one now (as a registration does).
                    await deliveries.retry_now(tx, device_id, now)
                # One live sign-in per install: the previous one ends here.
                await tokens.revoke_device_families(tx, device_id, "signed_in_again", now)
            pair = await self._start_family(tx, user_id=user["id"], device_id=device_id, now=now)
            device = await devices.by_id(tx, device_id)
        assert device is not None
        return RegisterResult(created=created, user=user, device=device, tokens=pair,
                              pending_uploads=await self.pending_uploads(device_id))

    async def _start_family(self, tx: Conn, *, user_id: str, device_id: str, now: int) -> TokenPair:
        family_id = new_id("sid")
        refresh = self._codec.new_refresh_token()
        await tokens.insert_family(tx, family_id=family_id, user_id=user_id, device_id=device_id,
                                   now=now)
        await tokens.insert_refresh(tx, token_hash=hash_refresh_token(refresh),
                                    family_id=family_id, now=now)
        # `homesync keys rotate` may have run in another process since the last token.
        await self._keys.before_signing(tx)
        return self._pair(user_id, device_id, family_id, refresh, now, family_created_at=now,
                          refresh_issued_at=now)

    def _pair(self, user_id: str, device_id: str, family_id: str, refresh: str, now: int, *,
              family_created_at: int, refresh_issued_at: int) -> TokenPair:
        # An access token never outlives its sign-in, which ends after refresh_absolute_ttl
        # in any case, and after refresh_idle_ttl unless ``refresh`` is used by then.
        ends_at = min(family_created_at + self._rotation.absolute_ms,
                      refresh_issued_at + self._rotation.idle_ms)
        access = self._codec.mint_access(user_id=user_id, device_id=device_id,
                                         family_id=family_id, now=now, sign_in_ends_at=ends_at)
        return TokenPair(access_token=access, refresh_token=refresh,
                         expires_in=format_duration(self._settings.access_ttl_s))

    # -- refresh --------------------------------------------------------------------

    async def refresh(self, refresh_token: str, client_id: str) -> TokenPair:
        """Rotate a refresh token presented by the install ``client_id`` (see rotation).

        Returns a fresh access token and the successor refresh token. Raises
        InvalidRefreshToken for unknown, revoked, expired, reused or misbound tokens;
        the last two also revoke the sign-in and notify the user first. RateLimited past
        ``refresh_per_minute`` refreshes of the token's device, before anything changes.
        """
        if not refresh_token or len(refresh_token) > _MAX_REFRESH_TOKEN_CHARS:
            raise InvalidRefreshToken()
        token_hash = hash_refresh_token(refresh_token)
        successor = self._codec.successor(refresh_token)
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            row = await tokens.refresh_by_hash(tx, token_hash, hash_refresh_token(successor))
            if row is None or row["revoked_at"] is not None or row["removed_at"] is not None:
                raise InvalidRefreshToken()
            if self._refresh_rate is not None:
                # Raised inside the transaction, which has written nothing yet: rolled back.
                self._refresh_rate.check_and_hit(row["device_id"])
            successor_used = row["successor_used"]
            verdict = self._rotation.judge(
                bound_client_id=row["client_id"], client_id=client_id, issued_at=row["issued_at"],
                used_at=row["used_at"], family_created_at=row["family_created_at"],
                successor_used=None if successor_used is None else bool(successor_used),
                now=now,
            )
            if verdict is Verdict.ROTATE:
                await tokens.spend_refresh(tx, token_hash, now)
                await tokens.insert_refresh(tx, token_hash=hash_refresh_token(successor),
                                            family_id=row["family_id"], now=now)
                if self._due_for_touch(row["device_id"], now):
                    await devices.touch_active(tx, row["device_id"], now)
            elif verdict is Verdict.EXPIRED:
                await tokens.revoke_family(tx, row["family_id"], "expired", now)
            elif verdict is not Verdict.REPLAY:
                await self._revoke_for_theft(tx, row, verdict, now)
            pair: TokenPair | None = None
            if verdict in (Verdict.ROTATE, Verdict.REPLAY):
                await self._keys.before_signing(tx)
                # Minted before the commit: with no usable signing key (503) the token is
                # not spent, so the app's retry after the wait is not taken for theft.
                # The successor was issued now, or for a replay when the token was spent.
                pair = self._pair(row["user_id"], row["device_id"], row["family_id"],
                                  successor, now, family_created_at=row["family_created_at"],
                                  refresh_issued_at=row["used_at"] or now)
        # Outside the transaction: a revocation above is committed before the 401.
        if pair is None:
            raise InvalidRefreshToken()
        return pair

    async def _revoke_for_theft(self, tx: Conn, row: Row, verdict: Verdict, now: int) -> None:
        why = ("its refresh token was presented by another device"
               if verdict is Verdict.WRONG_DEVICE else "an old refresh token was used again")
        log.warning("refresh token %s: sign-in %s of device %s revoked",
                    verdict.value, row["family_id"], row["device_id"])
        await tokens.revoke_family(tx, row["family_id"], "token_reuse", now)
        await security_event(
            tx, user_id=row["user_id"], kind="token_reuse",
            title="Suspicious sign-in blocked",
            body=f"A device was signed out because {why}. Sign in again on that device.",
            data={"deviceId": row["device_id"], "reason": verdict.value}, now=now,
        )
        await self.signed_out(tx, row["user_id"])

    # -- logout ---------------------------------------------------------------------

    async def logout(self, principal: Principal) -> None:
        """End the calling device's sign-in; the device stays registered, its pushes stop."""
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            # Its own sign-in only, and only if still live: the install may have signed in
            # again while this waited for the writer, and that sign-in (with the push
            # token it brought) is not this request's to end.
            if await tokens.revoke_family(tx, principal.family_id, "logout", now):
                await self.logged_out(tx, principal.device_id)

    # -- retention ------------------------------------------------------------------

    async def prune_ended(self, now: int) -> int:
        """Delete the refresh tokens of sign-ins that ended more than ENDED_SIGN_IN_KEPT_MS
        before ``now``, in batches; how many went. Presenting one is then 401 like any
        unknown token: the sign-in was over already."""
        lifetimes = tokens.SignInLifetimes(idle_ms=self._rotation.idle_ms,
                                           absolute_ms=self._rotation.absolute_ms)
        ended_before = now - ENDED_SIGN_IN_KEPT_MS
        return await self._db.in_batches(
            lambda tx: tokens.prune_ended_refresh(tx, lifetimes, ended_before))

    # -- per request ----------------------------------------------------------------

    async def principal(self, access_token: str, *, count: bool = True) -> Principal:
        """The caller behind a Bearer token; 401 when it is invalid, expired or revoked.

        Checks the database on every request, so logout, device removal, password change
        and reuse detection take effect at the next request (A11). With ``count``, the
        call is one of the device's API requests: RateLimited past the device's
        ``api_requests_per_second`` / ``api_request_burst``. Counted only once the
        sign-in is known to be live, so a revoked token cannot use up a device's budget.
        """
        now = clock.now_ms()
        try:
            claims = self._codec.verify_access(access_token, now)
        except UnknownSigningKey:
            # Perhaps a key `homesync keys rotate` made in another process (rate-limited).
            if not await self._keys.reload_for_unknown_kid():
                raise
            claims = self._codec.verify_access(access_token, now)
        row = await tokens.active_principal(self._db.inline, claims.family_id, claims.device_id,
                                            claims.user_id, claims.kid)
        if row is None:
            raise Unauthorized("Session revoked, device removed or signing key retired")
        if count:
            self._api_rate.take(claims.device_id)
        if self._due_for_touch(claims.device_id, now):
            # Bookkeeping: a full disk must not fail every request (downloads included).
            await self._db.bookkeeping(lambda tx: devices.touch_active(tx, claims.device_id, now))
        return Principal(
            user_id=row["user_id"], email=row["email"], name=row["name"],
            is_admin=bool(row["is_admin"]), device_id=row["device_id"],
            client_id=row["client_id"], device_name=row["device_name"],
            family_id=claims.family_id,
            settings={**DEFAULT_SETTINGS, **msgspec.json.decode(row["settings"] or "{}")},
            kid=claims.kid,
            # verify_access refuses it once the whole second passes exp + leeway.
            token_refused_at=(claims.expires_at + LEEWAY_S + 1) * 1000,
        )

    def _due_for_touch(self, device_id: str, now: int) -> bool:
        """Whether ``device_id``'s last_active_at should be written now (and note it if so)."""
        # Negative: the clock was set back since; written again, or it stays ahead.
        if 0 <= now - self._last_touch.get(device_id, 0) <= _ACTIVE_TOUCH_INTERVAL_MS:
            return False
        self._last_touch[device_id] = now
        return True
