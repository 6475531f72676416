"""Quiet hours: a daily window of local wall-clock time in the device's IANA time zone.

The window is ``start``–``end`` in minutes after local midnight; ``start > end`` crosses
midnight (22:00–07:00). Whether an instant is quiet is decided by the *wall clock* there,
so the window follows daylight-saving changes: 22:00–07:00 in Berlin is 21:00–05:00 UTC in
summer and 21:00–06:00 UTC in winter, and the night the clocks change it is an hour
shorter or longer.

Time zone names come from clients, so they are checked against the IANA list
(``zoneinfo.available_timezones()``, cached) *before* anything is loaded: ``ZoneInfo``
would otherwise open files for names such as ``../../etc/passwd`` (CPython gh-85702).
"""

from __future__ import annotations

import functools
import re
import zoneinfo
from datetime import date, datetime, time, timedelta

from msgspec import Struct

from homesync.errors import ValidationError

__all__ = [
    "QuietHours",
    "format_hhmm",
    "is_timezone",
    "parse_hhmm",
    "quiet_until",
    "timezone_names",
    "zone",
]

_HHMM = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
# In the zone list on some systems, but not zones a phone would name: the server's own
# zone ("localtime") and tzdata's placeholders.
_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


class QuietHours(Struct, frozen=True, kw_only=True):
    """A validated quiet-hours window (see the module docstring)."""

    enabled: bool = False
    start: int = 22 * 60  # minutes after local midnight
    end: int = 7 * 60
    timezone: str = "UTC"


@functools.cache
def timezone_names() -> frozenset[str]:
    """The IANA zone names clients may use (read once per process)."""
    return frozenset(zoneinfo.available_timezones() - _NOT_ZONES)


def is_timezone(name: str) -> bool:
    """Whether ``name`` is an IANA zone name; never touches the file system for others."""
    return name in timezone_names()


def zone(name: str) -> zoneinfo.ZoneInfo:
    """The zone for a name already in :func:`timezone_names`; ``ValidationError`` otherwise."""
    if not is_timezone(name):
        raise ValidationError(f"Unknown time zone {name[:64]!r}: use an IANA name such as "
                              "Europe/Berlin", field="timezone")
    return zoneinfo.ZoneInfo(name)


def parse_hhmm(text: str, field: str) -> int:
    """``"22:00"`` → 1320 minutes; ``ValidationError`` for anything but 00:00–23:59."""
    m = _HHMM.fullmatch(text)
    if not m:
        raise ValidationError(f"{field} must be a time from 00:00 to 23:59 (HH:MM)", field=field)
    return int(m.group(1)) * 60 + int(m.group(2))


def format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _in_window(minute_of_day: int, start: int, end: int) -> bool:
    if start < end:
        return start <= minute_of_day < end
    return minute_of_day >= start or minute_of_day < end  # crosses midnight


def quiet_until(window: QuietHours, now_ms: int) -> int | None:
    """When the quiet hours around ``now_ms`` end (epoch ms), or ``None`` when not quiet.

    The end is the first instant at which the local clock reads ``end`` or later: if that
    wall time does not exist that day (the clocks jump over it in spring), the quiet
    hours end at the jump; if it occurs twice (autumn), at the next occurrence.
    """
    if not window.enabled or window.start == window.end:
        return None
    tz = zone(window.timezone)
    local = datetime.fromtimestamp(now_ms / 1000, tz)
    minute = local.hour * 60 + local.minute
    if not _in_window(minute, window.start, window.end):
        return None
    end_day = local.date()
    if window.start > window.end and minute >= window.start:
        end_day += timedelta(days=1)  # the window closes tomorrow morning
    return _first_instant_at(end_day, window.end, tz, after_ms=now_ms)


def _first_instant_at(day: date, minutes: int, tz: zoneinfo.ZoneInfo, *, after_ms: int) -> int:
    """The first instant after ``after_ms`` at which the wall clock in ``tz`` reads at least
    ``day`` ``minutes`` (epoch ms)."""
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))

    def wall_at(ts: float) -> datetime:
        return datetime.fromtimestamp(ts, tz).replace(tzinfo=None)

    # fold=0/1 differ only around a transition: both are real occurrences of an ambiguous
    # time; for a time inside a gap they straddle the jump.
    candidates = sorted(wall.replace(tzinfo=tz, fold=fold).timestamp() for fold in (0, 1))
    real = [c for c in candidates if c * 1000 > after_ms and wall_at(c) == wall]
    if real:
        return int(real[0] * 1000)
    # The wall time is skipped: find the jump (wall_at(lo) < wall <= wall_at(hi)).
    lo, hi = int(candidates[0]), int(candidates[-1]) + 1
    if not (wall_at(lo) < wall <= wall_at(hi)):
        return max(int(candidates[-1] * 1000), after_ms + 1)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wall_at(mid) >= wall:
            hi = mid
        else:
            lo = mid
    return max(hi * 1000, after_ms + 1)

