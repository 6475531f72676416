"""In-memory rate limits: calls per key per window, and a token bucket per key.

Per-account login backoff lives in the database (it must survive restarts and be seen
by the CLI's unlock); these limits are cheap and reset on restart, which is fine for
their job of slowing a guesser (or a runaway app) down.
"""

from __future__ import annotations

import collections
import ipaddress
import itertools
import math

from homesync import clock
from homesync.errors import RateLimited

__all__ = ["SlidingWindow", "TokenBucket", "address_key"]


def address_key(address: str) -> str:
    """The key a client address is counted under by the per-address limits: an IPv4
    address (also when written IPv4-mapped) by itself, an IPv6 one by its /64 — one home
    or phone network, whose 2^64 addresses a guesser could step through, one try each."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an address ("unknown"): counted as written
        return f"ip:{address}"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return f"ip:{ip.ipv4_mapped}"
        return f"ip:{ipaddress.IPv6Network((ip, 64), strict=False)}"
    return f"ip:{ip}"


class SlidingWindow:
    """At most ``limit`` events per key within ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._events: dict[str, collections.deque[float]] = {}
        self._max_keys = max_keys

    def _recent(self, key: str) -> collections.deque[float]:
        now = clock.now()
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self._max_keys:
                self._prune(now)
            events = self._events[key] = collections.deque()
        if events and events[-1] > now:
            # The clock was set back since: count those events as made now, so the wait
            # is never longer than the window (not the window plus the clock's step).
            events = self._events[key] = collections.deque(min(t, now) for t in events)
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def check(self, key: str) -> None:
        """RateLimited if the key already used up its window."""
        events = self._recent(key)
        if len(events) >= self.limit:
            raise RateLimited(math.ceil(events[0] + self.window_s - clock.now()))

    def count(self, key: str) -> int:
        """How many events of ``key`` are within the window now."""
        return len(self._recent(key))

    def hit(self, key: str) -> None:
        self._recent(key).append(clock.now())

    def check_and_hit(self, key: str) -> None:
        self.check(key)
        self.hit(key)

    def forgive(self, key: str) -> None:
        """Take back the most recent event of ``key`` (it turned out not to count)."""
        events = self._events.get(key)
        if events:
            events.pop()

    def reset(self, key: str) -> None:
        self._events.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or ev[-1] <= now - self.window_s]:
            del self._events[key]


class TokenBucket:
    """``rate`` calls per second per key on average, ``burst`` of them at once.

    Each key's bucket holds up to ``burst`` tokens and gains ``rate`` a second; a call
    takes one, or is refused (RateLimited, nothing taken) when less than one is left.
    A key idle long enough to be full again is forgotten when room is needed, so at most
    ``max_keys`` are kept. ``rate`` or ``burst`` 0: no limit.
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.enabled = rate > 0 and burst > 0
        self._refill_s = burst / rate if self.enabled else 0.0  # empty → full
        # key → [tokens, when they were counted]; a list, updated in place.
        self._buckets: dict[str, list[float]] = {}
        self._max_keys = max_keys

    def take(self, key: str) -> None:
        """Take one token for ``key``; RateLimited (with the wait for one) when empty."""
        if not self.enabled:
            return
        now = clock.now()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._prune(now)
            self._buckets[key] = [self.burst - 1.0, now]
            return
        if bucket[1] > now:
            # The clock was set back since (NTP after running ahead): refill from now, or
            # the bucket would not refill until the clock is back where it was.
            bucket[1] = now
        tokens = min(float(self.burst), bucket[0] + (now - bucket[1]) * self.rate)
        if tokens < 1.0:
            raise RateLimited(math.ceil((1.0 - tokens) / self.rate))
        bucket[0] = tokens - 1.0
        bucket[1] = now

    def _prune(self, now: float) -> None:
        """Forget full (idle) buckets; if that is not enough, the oldest ones (a forgotten
        key just starts full again)."""
        idle = [k for k, (_, at) in self._buckets.items() if at <= now - self._refill_s]
        for key in idle:
            del self._buckets[key]
        excess = len(self._buckets) - self._max_keys + 1
        for key in list(itertools.islice(self._buckets, max(0, excess))):
            del self._buckets[key]
