"""Accounts: creation and administration (CLI), password sign-in, and open sign-up."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from homesync import clock
from homesync.config import AuthSettings
from homesync.errors import Conflict, InvalidCredentials, NotFound, RateLimited, ValidationError
from homesync.ids import new_id
from homesync.models import UserInfo
from homesync.services.auth.login_throttle import LoginThrottle, Strikes
from homesync.services.auth.passwords import Passwords
from homesync.services.auth.throttle import SlidingWindow, address_key
from homesync.services.notifications.events import security_event
from homesync.store import tokens, users
from homesync.store.db import Conn, Database, Row

__all__ = ["Accounts", "display_name", "lookup_email", "normalize_email", "user_info"]

# Deliberately loose: one @, something on each side, no spaces. The mail server decides.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
# Not in a new email: control characters (C0, DEL, C1) and the bidi embeddings, overrides
# and isolates. An email becomes the account's name and its devices' ("eve\x1b[2J's
# Pixel 7"), shown on other phones and run, not shown, in the admin's terminal.
_UNSHOWABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


# (transaction, user id, the quota before, now) after a quota was set.
QuotaSet = Callable[[Conn, str, int, int], Awaitable[None]]


async def _nothing_to_say(tx: Conn, user_id: str, old_quota: int, now: int) -> None:
    pass


# (transaction, user id) once sign-ins of the user ended, inside that transaction.
SignedOut = Callable[[Conn, str], Awaitable[None]]


async def _nothing_waits(tx: Conn, user_id: str) -> None:
    pass


# (transaction, user id) before the account's rows go, inside that transaction; returns
# what to call once it committed.
Removing = Callable[[Conn, str], Awaitable[Callable[[], None]]]


async def _nobody_to_tell(tx: Conn, user_id: str) -> Callable[[], None]:
    return lambda: None


# (transaction, user id, email) once the account's row is in, inside that transaction;
# returns what to call once it committed.
Created = Callable[[Conn, str, str], Awaitable[Callable[[], None]]]


async def _nothing_waits_for_it(tx: Conn, user_id: str, email: str) -> Callable[[], None]:
    return lambda: None


def display_name(email: str, name: str | None) -> str:
    """The account's name: ``name``, else the email's local part (ValidationError if that
    is blank, longer than 200 characters or holds control characters)."""
    display = (name or email.split("@")[0]).strip()
    if not display or len(display) > 200:
        raise ValidationError("Name must have 1 to 200 characters", field="name")
    # Shown as a new email would be (see _UNSHOWABLE): in device names, on other phones.
    if _UNSHOWABLE.search(display):
        raise ValidationError("Name may not contain control characters", field="name")
    return display


def normalize_email(email: str) -> str:
    """A new email (an account made, a share sent) as accounts spell it (the domain
    lower-cased); ValidationError if it is none, or holds control characters."""
    email = lookup_email(email)
    if _UNSHOWABLE.search(email):
        raise ValidationError("An email may not contain control characters", field="email")
    return email


def lookup_email(email: str) -> str:
    """An email to find an account by, spelt as :func:`normalize_email` spells it, but
    without its newer rules: accounts made before them still sign in and are found."""
    email = email.strip()
    if not _EMAIL.match(email) or len(email) > 320:
        raise ValidationError("Not a valid email address", field="email")
    local, _, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}"


# The email column's COLLATE NOCASE folds A-Z and nothing else: `str.lower` would also
# fold "Ä", so an account spelt with it could never be found, and its throttle key would
# be shared with the distinct (unknown) "ä…" email, which would tell a guesser it exists.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _nocase(email: str) -> str:
    """``email`` as the users table compares it: the key of its account and its strikes."""
    return email.translate(_ASCII_LOWER)


def user_info(row: Row) -> UserInfo:
    keys = row.keys()
    return UserInfo(
        id=row["id"], email=row["email"], name=row["name"], is_admin=bool(row["is_admin"]),
        quota_bytes=row["quota_bytes"], used_bytes=row["used_bytes"],
        created_at=row["created_at"], locked=bool(row["locked"]),
        device_count=row["device_count"] if "device_count" in keys else 0,
    )


class Accounts:
    def __init__(self, db: Database, passwords: Passwords, settings: AuthSettings,
                 default_quota: int = 0) -> None:
        self._db = db
        self._passwords = passwords
        self._settings = settings
        self._default_quota = default_quota
        self._throttle = LoginThrottle(settings)
        self._signups = SlidingWindow(settings.signups_per_ip_per_hour, 3600)
        # Told (in the transaction) of a quota set, with the one before: the storage
        # notifications (installed by the services container).
        self.quota_set: QuotaSet = _nothing_to_say
        # Told (in the transaction) that a password change signed the user's devices out:
        # their waiting pushes are cancelled (installed by the services container).
        self.signed_out: SignedOut = _nothing_waits
        # Told (in the transaction) that the account is about to be removed: the people it
        # shared with see its shared items go in their sync (installed by the container).
        self.removing: Removing = _nobody_to_tell
        # Told (in the transaction) that an account was made: shares made for its email
        # before it existed reach it (installed by the container).
        self.created: Created = _nothing_waits_for_it

    # -- administration -------------------------------------------------------------

    async def create_user(
        self, email: str, password: str, *, name: str | None = None,
        quota_bytes: int | None = None, is_admin: bool = False,
    ) -> UserInfo:
        """A new account (Conflict if the email is taken, ValidationError for bad input)."""
        email = normalize_email(email)
        display = display_name(email, name)
        if quota_bytes is not None and quota_bytes < 0:
            raise ValidationError("Quota cannot be negative", field="quota")
        password_hash = await self._passwords.hash(password)
        now = clock.now_ms()
        user_id = new_id("user")
        async with self._db.transaction() as tx:
            if await users.by_email(tx, email) is not None:
                raise Conflict(f"An account for {email} already exists")
            await users.insert(
                tx, user_id=user_id, email=email, name=display, password_hash=password_hash,
                is_admin=is_admin,
                quota_bytes=self._default_quota if quota_bytes is None else quota_bytes, now=now,
            )
            committed = await self.created(tx, user_id, email)
            row = await users.by_id(tx, user_id)
        assert row is not None
        committed()
        return user_info(row)

    async def create_first_admin(self, email: str = "admin@localhost") -> tuple[UserInfo, str] | None:
        """On a server with no accounts: an admin with a fresh random password, else None."""
        if await users.any_user(self._db.reader):
            return None
        password = secrets.token_urlsafe(12)
        try:
            return await self.create_user(email, password, name="Admin", is_admin=True), password
        except Conflict:
            return None

    async def get(self, email_or_id: str) -> UserInfo:
        """One account by email or ``user_…`` id (NotFound otherwise)."""
        return user_info(await self._find(self._db.reader, email_or_id))

    async def list_users(self) -> list[UserInfo]:
        """Every account, by email, with its number of live devices."""
        return [user_info(r) for r in await users.list_all(self._db.reader)]

    async def set_password(self, email_or_id: str, password: str) -> UserInfo:
        """New password; every sign-in of the account ends (its devices must log in again)."""
        password_hash = await self._passwords.hash(password)
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            row = await self._find(tx, email_or_id)
            await users.set_password(tx, row["id"], password_hash, now)
            await tokens.revoke_user_families(tx, row["id"], "password_changed", now)
            await security_event(
                tx, user_id=row["id"], kind="password_changed", title="Password changed",
                body="Your password was changed and every device was signed out.", now=now,
            )
            await self.signed_out(tx, row["id"])
        return user_info(row)

    async def set_quota(self, email_or_id: str, quota_bytes: int) -> UserInfo:
        """Set the account's quota in bytes (0: unlimited)."""
        if quota_bytes < 0:
            raise ValidationError("Quota cannot be negative", field="quota")
        async with self._db.transaction() as tx:
            row = await self._find(tx, email_or_id)
            await users.set_quota(tx, row["id"], quota_bytes)
            await self.quota_set(tx, row["id"], int(row["quota_bytes"]), clock.now_ms())
            row = await self._find(tx, row["id"])
        return user_info(row)

    async def unlock(self, email_or_id: str) -> UserInfo:
        """Clear the account's failed sign-ins and lock, so its password works again.

        The lock only ever stopped password sign-in; signed-in devices kept working.
        """
        async with self._db.transaction() as tx:
            row = await self._find(tx, email_or_id)
            await users.set_lock(tx, row["id"], False)
            row = await self._find(tx, row["id"])
        return user_info(row)

    async def remove_user(self, email_or_id: str) -> UserInfo:
        """Delete the account and its rows; its chunks become garbage for ``homesync gc``."""
        async with self._db.transaction() as tx:
            row = await self._find(tx, email_or_id)
            committed = await self.removing(tx, row["id"])
            await users.delete(tx, row["id"], now=clock.now_ms())
        committed()
        return user_info(row)

    async def _find(self, conn: Conn, email_or_id: str) -> Row:
        # An id never holds an "@" and an email always does: "user_bob@…" is an email.
        if email_or_id.startswith("user_") and "@" not in email_or_id:
            row = await users.by_id(conn, email_or_id)
        else:
            try:  # as sign-in and user add spell it (the domain lower-cased)
                email = lookup_email(email_or_id)
            except ValidationError:
                email = email_or_id.strip()
            row = await users.by_email(conn, email)
        if row is None:
            raise NotFound(f"No account {email_or_id}")
        return row

    # -- sign-in --------------------------------------------------------------------

    async def authenticate(self, email: str, password: str, client_addr: str) -> Row:
        """The user row if the password is right; throttled per account and per address.

        Unknown email and wrong password are indistinguishable: same status and body,
        one password verification each, and the same throttling (see login_throttle).
        Raises InvalidCredentials or RateLimited.
        """
        try:
            key = _nocase(lookup_email(email))
            known = True
        except ValidationError:
            key, known = _nocase(email.strip())[:320], False  # can never be an account
        async with self._throttle.attempt(key, client_addr) as attempt:
            row = await users.by_email(self._db.reader, key) if known else None
            now = clock.now_ms()
            try:
                self._throttle.check(
                    _strikes(row) if row else self._throttle.unknown_strikes(key), now)
            except RateLimited:
                attempt.not_tried()
                raise
            stored_hash = row["password_hash"] if row is not None else None
            ok, new_hash = await self._passwords.verify(stored_hash, password)
            if row is None:
                self._throttle.record_unknown_failure(key, now)
                raise InvalidCredentials()
            if not ok:
                await self._record_failure(row["id"], now)
                raise InvalidCredentials()
            attempt.succeeded()
            if new_hash is not None or row["failed_logins"] or row["login_blocked_until"]:
                async with self._db.transaction() as tx:
                    if new_hash is not None:
                        await users.rehash_password(tx, row["id"], stored_hash or "", new_hash)
                    await users.record_login_success(tx, row["id"])
            return row

    async def _record_failure(self, user_id: str, now: int) -> None:
        async with self._db.transaction() as tx:
            row = await users.by_id(tx, user_id)  # fresh: the CLI may have unlocked meanwhile
            if row is None:
                return
            strikes = self._throttle.after_failure(_strikes(row), now)
            await users.record_login_failure(tx, user_id, failures=strikes.failures,
                                             blocked_until=strikes.blocked_until_ms,
                                             lock=strikes.locked)

    async def sign_up(self, email: str, password: str, client_addr: str) -> bool:
        """Open sign-up: create the account for an unknown email. True if one was made.

        Only called when ``auth.open_signup`` is on; limited per client address.
        """
        # An account made before the rules for new emails still signs in: looked up first.
        if await users.by_email(self._db.reader, lookup_email(email)) is not None:
            return False
        email = normalize_email(email)
        key = address_key(client_addr)
        # Counted before the slow password hash, so sign-ups sent at once see each other;
        # given back when no account is made.
        self._signups.check_and_hit(key)
        try:
            await self.create_user(email, password)
        except Conflict:  # the same email signing up twice at once: the other one won
            self._signups.forgive(key)
            return False
        except BaseException:  # a weak password, a cancelled request: no account either
            self._signups.forgive(key)
            raise
        return True


def _strikes(row: Row) -> Strikes:
    return Strikes(failures=row["failed_logins"], blocked_until_ms=row["login_blocked_until"],
                   locked=bool(row["locked"]))
