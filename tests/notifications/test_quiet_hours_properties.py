"""Quiet hours as a property: ``quiet_until`` against the wall clock, around real DST changes."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from homesync.services.notifications.quiet_hours import QuietHours, quiet_until
from tests.helpers import examples

# Zones with DST at 02:00 (north and south), at midnight (São Paulo until 2019, Havana,
# Santiago), by 30 minutes (Lord Howe), and none.
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney", "America/Sao_Paulo",
         "America/Havana", "America/Santiago", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]


@functools.cache
def transitions(name: str) -> list[int]:
    """Epoch seconds of the zone's offset changes in 2016–2024."""
    tz = zoneinfo.ZoneInfo(name)
    found = []
    t = int(datetime(2016, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
    offset = datetime.fromtimestamp(t, tz).utcoffset()
    while t < end:
        nxt = t + 86400
        if datetime.fromtimestamp(nxt, tz).utcoffset() != offset:
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, tz).utcoffset() == offset:
                    lo = mid
                else:
                    hi = mid
            found.append(hi)
            offset = datetime.fromtimestamp(nxt, tz).utcoffset()
        t = nxt
    return found or [int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())]


def quiet_by_wall_clock(window: QuietHours, ms: int) -> bool:
    local = datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(window.timezone))
    minute = local.hour * 60 + local.minute
    if window.start < window.end:
        return window.start <= minute < window.end
    return minute >= window.start or minute < window.end


def offset(window: QuietHours, ms: int) -> timedelta:
    local = datetime.fromtimestamp(ms / 1000, zoneinfo.ZoneInfo(window.timezone))
    return local.utcoffset() or timedelta(0)


minutes = st.integers(0, 23 * 60 + 59).map(lambda m: m - m % 15)


@st.composite
def cases(draw: st.DrawFn) -> tuple[QuietHours, int]:
    name = draw(st.sampled_from(ZONES))
    start, end = draw(minutes), draw(minutes)
    if start == end:
        end = (end + 60) % 1440
    near = draw(st.sampled_from(transitions(name)))
    now = (near + draw(st.integers(-36 * 3600, 36 * 3600))) * 1000
    return QuietHours(enabled=True, start=start, end=end, timezone=name), now


@settings(max_examples=examples(300), deadline=None)
@given(cases())
def test_quiet_until_is_the_end_of_the_wall_clock_window(case: tuple[QuietHours, int]) -> None:
    window, now = case
    until = quiet_until(window, now)
    assert (until is not None) == quiet_by_wall_clock(window, now)
    if until is None:
        return
    assert now < until <= now + int(timedelta(hours=25).total_seconds() * 1000)
    # Quiet the whole time until then (checked every 5 minutes and just before), unless the
    # clocks went back to before the start (held on through that, as the night goes on).
    for t in [*range(now, until, 300_000), until - 1]:
        assert quiet_by_wall_clock(window, t) or offset(window, t) < offset(window, now), (
            window, now, until, t)
    # Over then; or, where the clocks jumped over the whole rest of the window, at the jump
    # (the worker then looks again, so nothing is pushed while it is quiet).
    jumped = offset(window, until) != offset(window, until - 1)
    assert not quiet_by_wall_clock(window, until) or jumped, (window, now, until)
