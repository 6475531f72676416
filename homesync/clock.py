"""Time, in one place, so tests can freeze it (``clock.set_now``).

Timestamps are stored as integer milliseconds since the epoch (UTC) and shown on the
wire as RFC 3339 with a ``Z`` suffix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["from_rfc3339", "now", "now_ms", "rfc3339", "set_now"]

_now: Callable[[], float] = time.time


def now() -> float:
    """Seconds since the epoch, possibly frozen by a test."""
    return _now()


def now_ms() -> int:
    return int(_now() * 1000)


def set_now(fn: Callable[[], float] | None) -> None:
    """Replace the clock (tests); ``None`` restores the real one."""
    global _now
    _now = fn or time.time


def rfc3339(ms: int | None) -> str | None:
    """``2024-01-20T15:30:00Z`` (milliseconds kept when not whole seconds)."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if ms % 1000:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def from_rfc3339(text: str) -> int:
    """Milliseconds for an RFC 3339 timestamp; raises ValueError when it is not one."""
    if not text or len(text) > 40:
        raise ValueError("not a timestamp")
    dt = datetime.fromisoformat(text.replace("z", "Z"))
    if dt.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use the Z suffix)")
    return int(dt.timestamp() * 1000)
