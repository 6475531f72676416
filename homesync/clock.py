"""Time, in one place, so tests can freeze it (``clock.set_now``).

Timestamps are stored as integer milliseconds since the epoch (UTC) and shown on the
wire as RFC 3339 with a ``Z`` suffix.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from datetime import datetime

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
    return _rfc3339(ms)


# The same few timestamps (a device's registration, a file's mtime) are shown on every
# listing, and formatting was ~5% of an authenticated GET /devices (bench/api.py).
@functools.lru_cache(maxsize=8192)
def _rfc3339(ms: int) -> str:
    t = time.gmtime(ms // 1000)
    text = (f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
            f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


# What an answer can show: UTC years 1 to 9999. An offset can put a valid RFC 3339 text
# outside them ("0001-01-01T00:00:00+14:00" is UTC year 0), and one such time stored made
# every answer showing it a 500.
_FIRST_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
_LAST_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


# A leap second (``23:59:60Z``) is valid RFC 3339, which datetime refuses: it is read as
# POSIX time counts it, the same instant as the next minute's first second.
_LEAP_SECOND = re.compile(r"(?<=[Tt ][0-9]{2}:[0-9]{2}:)60(?![0-9])")


def from_rfc3339(text: str) -> int:
    """Milliseconds for an RFC 3339 timestamp; raises ValueError when it is not one, or
    when it is outside UTC years 1 to 9999."""
    if not text or len(text) > 40:
        raise ValueError("not a timestamp")
    text, leap = _LEAP_SECOND.subn("59", text, count=1)
    dt = datetime.fromisoformat(text.replace("z", "Z"))
    if dt.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use the Z suffix)")
    ms = int(dt.timestamp() * 1000) + 1000 * leap
    if not _FIRST_MS <= ms <= _LAST_MS:
        raise ValueError("timestamp outside the years 1 to 9999 UTC")
    return ms
