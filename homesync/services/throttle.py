"""In-memory rate limits: failures per client address, and calls per key per window.

Per-account login backoff lives in the database (it must survive restarts and be seen
by the CLI's unlock); these windows are cheap and reset on restart, which is fine for
their job of slowing a guesser down.
"""

from __future__ import annotations

import collections
import math

from homesync import clock
from homesync.errors import RateLimited

__all__ = ["SlidingWindow"]


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
        while events and events[0] <= now - self.window_s:
            events.popleft()
        return events

    def check(self, key: str) -> None:
        """RateLimited if the key already used up its window."""
        events = self._recent(key)
        if len(events) >= self.limit:
            raise RateLimited(math.ceil(events[0] + self.window_s - clock.now()))

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
