"""Password sign-in throttling (reliability-plan A2, NIST 800-63B §5.2.2).

Three limits, all checked *before* the password is verified, so a right password is
refused too while a limit holds; otherwise the limit would not slow a guesser at all:

- per account: ``login_free_failures`` free failures, then a wait that doubles from 1 s
  up to ``login_max_backoff``, and a hard lock at ``login_lockout_after`` consecutive
  failures until an administrator unlocks the account;
- per client address: ``login_failures_per_ip`` failures within ``login_ip_window``,
  where an attempt still being checked holds a slot until it ends (so a burst of guesses
  sent at once is not all hashed before the first failure is counted); a refusal for
  such slots says to retry in a second, not when the window ends;
- attempts on one account run one at a time, so fifty guesses sent at once are counted
  one after another instead of all slipping past the check together.

Real accounts keep their strikes in the ``users`` row (they survive restarts and the
CLI's unlock clears them). Unknown emails get the same treatment from an in-memory
table, so a 429 never tells a guesser that an account exists.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from homesync.config import AuthSettings, parse_duration
from homesync.errors import RateLimited
from homesync.services.auth.throttle import SlidingWindow, address_key

__all__ = ["LOCKED_MESSAGE", "LoginAttempt", "LoginThrottle", "Strikes"]

LOCKED_MESSAGE = ("Account locked after too many failed sign-ins; an administrator can "
                  "unlock it with `homesync user unlock`")
# What a locked account answers as Retry-After: the lock has no end, so "try much later".
_LOCKED_RETRY_AFTER_S = 3600
# What an address whose slots are held by attempts in flight answers: one of them ends
# within about one password check, well under a second.
_IN_FLIGHT_RETRY_AFTER_S = 1
_MAX_UNKNOWN_ACCOUNTS = 10_000


@dataclass(frozen=True, slots=True)
class Strikes:
    """An account's consecutive failed sign-ins and what they currently cost."""

    failures: int = 0
    blocked_until_ms: int = 0
    locked: bool = False


class LoginAttempt:
    """One sign-in attempt in progress; call :meth:`succeeded` when the password matched.

    An attempt that ends any other way counts as a failure against its address.
    """

    def __init__(self) -> None:
        self.failed = True

    def succeeded(self) -> None:
        self.failed = False

    def not_tried(self) -> None:
        """Refused before the password was checked (the account's wait): no failure, or a
        phone retrying through its account's wait would shut everyone at its address out
        of signing in."""
        self.failed = False


class LoginThrottle:
    def __init__(self, settings: AuthSettings) -> None:
        self._free = settings.login_free_failures
        self._max_backoff_s = parse_duration(settings.login_max_backoff)
        self._lockout_after = settings.login_lockout_after
        self._ip_failures = SlidingWindow(settings.login_failures_per_ip,
                                          parse_duration(settings.login_ip_window))
        self._ip_in_flight: dict[str, int] = {}  # address key -> attempts being checked
        # account key -> (its lock, attempts holding or waiting for it)
        self._account_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._unknown: collections.OrderedDict[str, Strikes] = collections.OrderedDict()

    @asynccontextmanager
    async def attempt(self, account_key: str, client_addr: str) -> AsyncIterator[LoginAttempt]:
        """Hold the account's turn and the address's slot for one attempt.

        Raises RateLimited at once when the address has used up its window, or when its
        failures plus its attempts in flight fill it.
        """
        ip_key = address_key(client_addr)
        self._check_address(ip_key)
        # Held until the attempt ends, so concurrent guesses from one address see each other.
        self._ip_in_flight[ip_key] = self._ip_in_flight.get(ip_key, 0) + 1
        lock, users = self._account_locks.get(account_key, (asyncio.Lock(), 0))
        self._account_locks[account_key] = (lock, users + 1)
        attempt = LoginAttempt()
        try:
            async with lock:
                yield attempt
        finally:
            _, users = self._account_locks[account_key]
            if users == 1:
                del self._account_locks[account_key]
            else:
                self._account_locks[account_key] = (lock, users - 1)
            self._release_address(ip_key, failed=attempt.failed)

    def _check_address(self, ip_key: str) -> None:
        # Failures alone fill the window: wait until the oldest leaves it.
        self._ip_failures.check(ip_key)
        in_flight = self._ip_in_flight.get(ip_key, 0)
        if self._ip_failures.count(ip_key) + in_flight >= self._ip_failures.limit:
            raise RateLimited(_IN_FLIGHT_RETRY_AFTER_S,
                              "Too many sign-ins at once from this address; try again shortly")

    def _release_address(self, ip_key: str, *, failed: bool) -> None:
        in_flight = self._ip_in_flight[ip_key] - 1
        if in_flight:
            self._ip_in_flight[ip_key] = in_flight
        else:
            del self._ip_in_flight[ip_key]
        if failed:
            self._ip_failures.hit(ip_key)

    def check(self, strikes: Strikes, now_ms: int) -> None:
        """RateLimited while the account is locked or waiting out its backoff."""
        if strikes.locked:
            raise RateLimited(_LOCKED_RETRY_AFTER_S, LOCKED_MESSAGE)
        wait_ms = strikes.blocked_until_ms - now_ms
        # A wait longer than these failures earn means the clock was set back since the
        # last one (NTP after running ahead): that wait is over, or a clock a day fast for
        # a moment would lock the account for a day. A guesser gains one try at most.
        if 0 < wait_ms <= self.delay_after(strikes.failures) * 1000:
            raise RateLimited((wait_ms + 999) // 1000,
                              "Too many failed sign-ins; wait before trying again")

    def after_failure(self, strikes: Strikes, now_ms: int) -> Strikes:
        """The strikes once one more attempt has failed."""
        failures = strikes.failures + 1
        delay_s = self.delay_after(failures)
        return Strikes(
            failures=failures,
            blocked_until_ms=now_ms + delay_s * 1000 if delay_s else 0,
            locked=strikes.locked or failures >= self._lockout_after,
        )

    def delay_after(self, failures: int) -> int:
        """Seconds to wait after ``failures`` consecutive failures: 0, then 1, 2, 4, … capped."""
        if failures < self._free:
            return 0
        return min(1 << min(failures - self._free, 30), self._max_backoff_s)

    # -- emails without an account --------------------------------------------------

    def unknown_strikes(self, account_key: str) -> Strikes:
        return self._unknown.get(account_key, Strikes())

    def record_unknown_failure(self, account_key: str, now_ms: int) -> None:
        self._unknown[account_key] = self.after_failure(self.unknown_strikes(account_key), now_ms)
        self._unknown.move_to_end(account_key)
        while len(self._unknown) > _MAX_UNKNOWN_ACCOUNTS:
            self._unknown.popitem(last=False)
