"""Push registration, per-device preferences and quiet hours, and the inbox.

Every notification lands in the user's inbox (``notifications`` rows, written by the
service whose change caused it); push is an extra the :class:`~.outbox.
PushOutbox` delivers to devices that registered for it. An app without working push
therefore misses nothing: it lists the inbox.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import msgspec
from msgspec import Struct

from homesync import clock
from homesync.config import NotificationSettings
from homesync.cursors import decode_cursor, encode_cursor, not_a_cursor
from homesync.errors import NotFound, ValidationError
from homesync.models import Principal
from homesync.push.base import Provider, PushTarget
from homesync.push.registry import allowed_push_hosts, pick
from homesync.push.safety import Resolver
from homesync.services.auth.still_signed_in import check_still_signed_in
from homesync.services.notifications.push_tokens import PushTokenCheck
from homesync.services.notifications.quiet_hours import QuietHours, is_timezone, parse_hhmm
from homesync.store import deliveries, inbox, push_registrations
from homesync.store.db import Conn, Database, Row
from homesync.store.tokens import SignInLifetimes

__all__ = [
    "CATEGORIES",
    "DevicePush",
    "InboxItem",
    "InboxPage",
    "Notifications",
    "PreferenceChanges",
    "Preferences",
    "PushStatus",
    "QuietHoursChanges",
]

CATEGORIES = ("uploads", "shares", "storage", "security")
PLATFORMS = ("android", "ios", "web", "desktop")
MAX_PAGE = 200


class Preferences(Struct, frozen=True, kw_only=True):
    """What a device wants pushed, and when not (the defaults: everything, no quiet hours)."""

    uploads: bool = True
    shares: bool = True
    storage: bool = True
    security: bool = True
    quiet_hours: QuietHours = QuietHours()


class QuietHoursChanges(Struct, frozen=True, kw_only=True):
    """A partial quiet-hours update; ``None`` keeps the stored value. Times are ``HH:MM``."""

    enabled: bool | None = None
    start: str | None = None
    end: str | None = None
    timezone: str | None = None


class PreferenceChanges(Struct, frozen=True, kw_only=True):
    """A partial preferences update; ``None`` keeps the stored value."""

    uploads: bool | None = None
    shares: bool | None = None
    storage: bool | None = None
    security: bool | None = None
    quiet_hours: QuietHoursChanges | None = None


class PushStatus(Struct, frozen=True, kw_only=True):
    """How pushing to one device goes, for the app's settings screen."""

    registered: bool
    transport: str | None  # provider name: unifiedpush, ntfy, webhook, fcm, apns
    pending: int
    last_delivered_at: int | None
    last_error: str | None  # when the latest finished push failed or lost its endpoint


class DevicePush(Struct, frozen=True, kw_only=True):
    device_id: str
    preferences: Preferences
    push: PushStatus


class InboxItem(Struct, frozen=True, kw_only=True):
    id: str
    category: str
    kind: str
    title: str
    body: str
    data: dict[str, str]
    created_at: int
    read_at: int | None


class InboxPage(Struct, frozen=True, kw_only=True):
    items: list[InboxItem]
    unread_count: int  # of the category asked for, else of the whole inbox
    next_cursor: str | None  # None: this was the last page


class Notifications:
    """The notification API's rules (see the module docstring).

    Args:
        db: The database.
        settings: The ``[notifications]`` section.
        providers: The configured push providers (to tell an app which one reaches it).
        wake: Called after a commit that gives the push worker something to do.
        sign_ins: How long sign-ins last (``[auth]``), to tell which devices are signed out.
        resolve: Resolver for the endpoint address check (tests).
    """

    def __init__(self, db: Database, settings: NotificationSettings,
                 providers: Sequence[Provider], wake: Callable[[], None], *,
                 sign_ins: SignInLifetimes, resolve: Resolver | None = None) -> None:
        self._db = db
        self._sign_ins = sign_ins
        self._providers = list(providers)
        self._tokens = PushTokenCheck(allowed_push_hosts(settings), resolve)
        self._wake = wake

    # -- registration and preferences -------------------------------------------------

    async def register(self, principal: Principal, *, device_id: str, push_token: str | None,
                       platform: str, changes: PreferenceChanges | None = None) -> DevicePush:
        """Register (or replace, or with ``None`` remove) the calling device's push token.

        ``device_id`` is the app's own id (``deviceInfo.deviceId``) or the server's
        ``device_…`` id, and must name the calling device (else 404: a device cannot
        register another). The token is checked (:mod:`.push_tokens`).
        A new token is tried at once for the pushes waiting out a retry's backoff: the
        app registers one because the old one stopped working.
        """
        if device_id not in (principal.client_id, principal.device_id):
            raise NotFound("deviceId is not the device making this request", field="deviceId")
        if platform not in PLATFORMS:
            raise ValidationError(f"platform must be one of {', '.join(PLATFORMS)}",
                                  field="platform")
        token = await self._tokens.checked(push_token)
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            device = await self._own_device(tx, principal)
            await push_registrations.set_registration(tx, principal.device_id, token=token,
                                                      platform=platform)
            if token is not None and token != device["push_token"]:
                await deliveries.retry_now(tx, principal.device_id, now)
            if changes is not None:
                await self._save(tx, principal.device_id, changes, now)
        self._wake()
        return await self.preferences(principal)

    async def device_removed(self, tx: Conn, user_id: str, device_id: str) -> None:
        """A device removal hook (``Devices.removal_hooks``, in the removal's transaction):
        pushes still waiting for the device, held by quiet hours say, are cancelled now
        rather than when they fall due, so they stop counting as the outbox's work."""
        await deliveries.cancel_for_device(tx, device_id, now=clock.now_ms(),
                                           reason="device removed")

    async def device_logged_out(self, tx: Conn, device_id: str) -> None:
        """A logout (``Sessions.logged_out``, in its transaction): the signed-out phone,
        handed on or left on a desk, must not show the account's shares and alerts on its
        lock screen. Its push token is forgotten and what waited for it is cancelled;
        signing in again with ``deviceInfo.pushToken`` (or registering) starts pushes anew."""
        await push_registrations.forget_token(tx, device_id)
        await deliveries.cancel_for_device(tx, device_id, now=clock.now_ms(),
                                           reason="signed out")

    async def signed_out(self, tx: Conn, user_id: str) -> None:
        """Sign-ins of the user ended (a password change, a caught refresh-token theft;
        ``Accounts.signed_out``, ``Sessions.signed_out``, in that transaction): pushes
        still waiting for devices now signed out are cancelled now rather than when they
        fall due, as after a logout, so they stop counting as the outbox's work. Security
        notices made before the end still go, and the devices keep their push tokens."""
        await deliveries.cancel_signed_out(tx, user_id, lifetimes=self._sign_ins,
                                           now=clock.now_ms())

    async def preferences(self, principal: Principal) -> DevicePush:
        """The calling device's preferences and push status."""
        conn = self._db.reader
        device = await self._own_device(conn, principal)
        prefs = _preferences(await push_registrations.preferences(conn, principal.device_id))
        summary = await deliveries.device_summary(conn, principal.device_id)
        token = device["push_token"]
        transport = None
        if token:
            provider = pick(self._providers, PushTarget(platform=device["platform"], token=token,
                                                        device_id=device["id"]))
            transport = provider.name if provider is not None else None
        last_error = None
        if summary is not None and summary["last_status"] in ("failed", "dropped"):
            last_error = summary["last_error"]
            if summary["last_status"] == "dropped" and token is not None:
                # Dropping forgets the token it was sent to: a token now is a later one,
                # and "HTTP 410, register again" is already done.
                last_error = None
        return DevicePush(
            device_id=principal.device_id, preferences=prefs,
            push=PushStatus(
                registered=token is not None, transport=transport,
                pending=int(summary["pending"]) if summary else 0,
                last_delivered_at=summary["last_delivered_at"] if summary else None,
                last_error=last_error,
            ),
        )

    async def update_preferences(self, principal: Principal,
                                 changes: PreferenceChanges) -> DevicePush:
        """Change the calling device's preferences; pushes held by quiet hours are
        re-examined at once (switching quiet hours off sends them now)."""
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            await self._own_device(tx, principal)
            await self._save(tx, principal.device_id, changes, now)
        self._wake()
        return await self.preferences(principal)

    async def _save(self, tx: Conn, device_id: str, changes: PreferenceChanges, now: int) -> None:
        current = _preferences(await push_registrations.preferences(tx, device_id))
        new = _apply(current, changes)
        q = new.quiet_hours
        await push_registrations.upsert_preferences(
            tx, device_id, uploads=new.uploads, shares=new.shares, storage=new.storage,
            security=new.security, quiet_enabled=q.enabled, quiet_start=q.start,
            quiet_end=q.end, quiet_timezone=q.timezone, now=now,
        )
        await deliveries.release_held(tx, device_id, now)

    async def usable_token(self, push_token: str | None) -> str | None:
        """A push token sent with sign-in, as it may be stored, or None where ``register``
        would refuse it (:meth:`.push_tokens.PushTokenCheck.usable`)."""
        return await self._tokens.usable(push_token)

    @staticmethod
    async def _own_device(conn: Conn, principal: Principal) -> Row:
        row = await push_registrations.registration(conn, principal.device_id)
        if row is None or row["user_id"] != principal.user_id:
            raise NotFound("Device not found")
        return row

    # -- inbox ----------------------------------------------------------------------

    async def inbox(self, principal: Principal, *, limit: int = 50, unread_only: bool = False,
                    category: str | None = None, cursor: str | None = None) -> InboxPage:
        """The user's notifications, newest first; pass ``next_cursor`` for the next page."""
        if not 1 <= limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        if category is not None and category not in CATEGORIES:
            raise ValidationError(f"category must be one of {', '.join(CATEGORIES)}",
                                  field="category")
        before = _decode_cursor(cursor) if cursor else None
        conn = self._db.reader
        rows = await inbox.list_page(conn, principal.user_id, limit=limit + 1,
                                     unread_only=unread_only, category=category, before=before)
        items = [_item(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(last["created_at"], last["position"])
        # The count follows the category, as a per-category badge expects; not ``unread``
        # (it counts unread ones anyway) nor the cursor (it is the inbox's, not the page's).
        unread = await inbox.unread_count(conn, principal.user_id, category)
        return InboxPage(items=items, unread_count=unread, next_cursor=next_cursor)

    async def mark_read(self, principal: Principal, notification_id: str, *,
                        summary: bool = False) -> InboxItem:
        """Mark one of the user's notifications read (404 for anyone else's). A push for it
        that has not gone out yet (held by quiet hours, say) is then not sent, unless it is
        a security alert (see the push worker's ``_unread``).

        ``summary``: also every notification the push to the calling device that carried
        it told of. An upload summary ("37 photos backed up") carries only its newest
        notification's id, and the app could otherwise mark only that one read."""
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            if not await inbox.mark_read(tx, principal.user_id, notification_id, now):
                raise NotFound("Notification not found")
            if summary:
                await inbox.mark_summary_read(tx, principal.user_id, notification_id,
                                              principal.device_id, now)
            row = await inbox.get(tx, principal.user_id, notification_id)
        assert row is not None
        return _item(row)

    async def mark_all_read(self, principal: Principal) -> int:
        """Mark all of the user's notifications read; how many were unread."""
        async with self._db.transaction() as tx:
            await check_still_signed_in(tx, principal)  # it may have ended while we waited
            return await inbox.mark_all_read(tx, principal.user_id, clock.now_ms())


def _preferences(row: Row | None) -> Preferences:
    if row is None:
        return Preferences()
    return Preferences(
        uploads=bool(row["uploads"]), shares=bool(row["shares"]), storage=bool(row["storage"]),
        security=bool(row["security"]),
        quiet_hours=QuietHours(enabled=bool(row["quiet_enabled"]), start=row["quiet_start"],
                               end=row["quiet_end"], timezone=row["quiet_timezone"]),
    )


def _apply(current: Preferences, changes: PreferenceChanges) -> Preferences:
    """``current`` with ``changes`` applied and checked (400 naming the bad field)."""
    quiet = current.quiet_hours
    q = changes.quiet_hours
    if q is not None:
        if q.timezone is not None and not is_timezone(q.timezone):
            raise ValidationError(
                f"Unknown time zone {q.timezone[:64]!r}: use an IANA name such as Europe/Berlin",
                field="quietHours.timezone",
            )
        quiet = QuietHours(
            enabled=quiet.enabled if q.enabled is None else q.enabled,
            start=quiet.start if q.start is None else parse_hhmm(q.start, "quietHours.start"),
            end=quiet.end if q.end is None else parse_hhmm(q.end, "quietHours.end"),
            timezone=quiet.timezone if q.timezone is None else q.timezone,
        )
        if quiet.enabled and quiet.start == quiet.end:
            raise ValidationError("quietHours.start and quietHours.end must differ",
                                  field="quietHours")

    def pick_bool(name: Literal["uploads", "shares", "storage", "security"]) -> bool:
        value = getattr(changes, name)
        return bool(getattr(current, name)) if value is None else bool(value)

    return Preferences(uploads=pick_bool("uploads"), shares=pick_bool("shares"),
                       storage=pick_bool("storage"), security=pick_bool("security"),
                       quiet_hours=quiet)


def _item(row: Row) -> InboxItem:
    return InboxItem(
        id=row["id"], category=row["category"], kind=row["kind"], title=row["title"],
        body=row["body"], data=msgspec.json.decode(row["data"] or "{}", type=dict[str, str]),
        created_at=row["created_at"], read_at=row["read_at"],
    )


def _encode_cursor(created_at: int, position: int) -> str:
    return encode_cursor(f"{created_at}:{position}")


def _decode_cursor(cursor: str) -> tuple[int, int]:
    created, _, position = decode_cursor(cursor, max_chars=100).partition(":")
    if not all(part.isascii() and part.isdigit() and len(part) <= 18
               for part in (created, position)):
        # ASCII digits, each under 2**63 (SQLite's integers): else a 500 from the query.
        raise not_a_cursor()
    return int(created), int(position)
