"""Quiet-hours arithmetic: windows across midnight, DST gaps and repeats, zone validation."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

import pytest

from homesync.errors import ValidationError
from homesync.services.notifications import quiet_hours
from homesync.services.notifications.quiet_hours import (
    QuietHours,
    is_timezone,
    parse_hhmm,
    quiet_until,
)


def utc(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


def window(start: str, end: str, tz: str) -> QuietHours:
    return QuietHours(enabled=True, start=parse_hhmm(start, "start"), end=parse_hhmm(end, "end"),
                      timezone=tz)


NIGHT_BERLIN = window("22:00", "07:00", "Europe/Berlin")


@pytest.mark.parametrize(("now", "until"), [
    (utc(2024, 6, 3, 19, 59), None),                       # 21:59 CEST: not yet
    (utc(2024, 6, 3, 20, 0), utc(2024, 6, 4, 5, 0)),       # 22:00 → 07:00 tomorrow
    (utc(2024, 6, 3, 21, 30), utc(2024, 6, 4, 5, 0)),      # 23:30
    (utc(2024, 6, 3, 22, 30), utc(2024, 6, 4, 5, 0)),      # 00:30, past midnight
    (utc(2024, 6, 4, 4, 59), utc(2024, 6, 4, 5, 0)),       # 06:59
    (utc(2024, 6, 4, 5, 0), None),                         # 07:00 sharp: over
    (utc(2024, 6, 4, 12, 0), None),                        # midday
])
def test_window_across_midnight(now: int, until: int | None) -> None:
    assert quiet_until(NIGHT_BERLIN, now) == until


def test_window_within_one_day() -> None:
    siesta = window("13:00", "15:30", "Asia/Tokyo")          # UTC+9, no DST
    assert quiet_until(siesta, utc(2024, 1, 10, 3, 59)) is None
    assert quiet_until(siesta, utc(2024, 1, 10, 4, 0)) == utc(2024, 1, 10, 6, 30)
    assert quiet_until(siesta, utc(2024, 1, 10, 6, 30)) is None


def test_disabled_or_empty_window_is_never_quiet() -> None:
    now = utc(2024, 6, 3, 21, 30)
    assert quiet_until(QuietHours(enabled=False, start=1320, end=420, timezone="UTC"), now) is None
    assert quiet_until(QuietHours(enabled=True, start=600, end=600, timezone="UTC"), now) is None


def test_spring_forward_night_is_an_hour_shorter() -> None:
    # Berlin, 31 March 2024: 02:00 CET → 03:00 CEST. 23:00 CET is 22:00 UTC; 07:00 CEST is
    # 05:00 UTC (an offset fixed at bedtime would say 06:00).
    assert quiet_until(NIGHT_BERLIN, utc(2024, 3, 30, 22, 0)) == utc(2024, 3, 31, 5, 0)


def test_fall_back_night_is_an_hour_longer() -> None:
    # Berlin, 27 October 2024: 03:00 CEST → 02:00 CET. Midnight CEST is 22:00 UTC; 07:00 CET
    # is 06:00 UTC.
    assert quiet_until(NIGHT_BERLIN, utc(2024, 10, 26, 22, 0)) == utc(2024, 10, 27, 6, 0)


def test_end_inside_the_spring_gap_ends_at_the_jump() -> None:
    # 02:30 does not exist on 31 March 2024 in Berlin: the clocks go 01:59:59 → 03:00.
    early = window("22:00", "02:30", "Europe/Berlin")
    assert quiet_until(early, utc(2024, 3, 30, 23, 30)) == utc(2024, 3, 31, 1, 0)
    # New York, 10 March 2024: the same at 02:00 EST → 03:00 EDT (07:00 UTC).
    ny = window("23:00", "02:15", "America/New_York")
    assert quiet_until(ny, utc(2024, 3, 10, 5, 0)) == utc(2024, 3, 10, 7, 0)


def test_end_inside_the_repeated_hour() -> None:
    # 02:30 happens twice on 27 October 2024 in Berlin (CEST, then CET).
    late = window("00:00", "02:30", "Europe/Berlin")
    first_pass = utc(2024, 10, 26, 23, 30)        # 01:30 CEST
    assert quiet_until(late, first_pass) == utc(2024, 10, 27, 0, 30)   # 02:30 CEST
    assert quiet_until(late, utc(2024, 10, 27, 0, 45)) is None          # 02:45 CEST
    second_pass = utc(2024, 10, 27, 1, 10)        # 02:10 CET: the wall clock is back in the window
    assert quiet_until(late, second_pass) == utc(2024, 10, 27, 1, 30)  # 02:30 CET


def test_southern_hemisphere_dst() -> None:
    # Sydney, 6 October 2024: 02:00 AEST → 03:00 AEDT. 22:00 AEST is 12:00 UTC; 07:00 AEDT
    # is 20:00 UTC.
    sydney = window("22:00", "07:00", "Australia/Sydney")
    assert quiet_until(sydney, utc(2024, 10, 5, 12, 0)) == utc(2024, 10, 5, 20, 0)


@pytest.mark.parametrize("name", [
    "Mars/Olympus", "", "../../etc/passwd", "/etc/localtime", "Europe", "Pacific", "__init__.py",
    "UTC\0", "localtime", "Factory", "europe/berlin", " UTC", "Europe/Berlin/",
])
def test_unknown_zones_are_refused_without_loading_anything(
    name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_loading(key: str) -> None:
        raise AssertionError(f"ZoneInfo({key!r}) was called")

    monkeypatch.setattr(quiet_hours.zoneinfo, "ZoneInfo", no_loading)
    assert not is_timezone(name)
    with pytest.raises(ValidationError):
        quiet_hours.zone(name)


@pytest.mark.parametrize("name", ["Europe/Kyiv", "America/Los_Angeles", "UTC", "Asia/Kolkata"])
def test_iana_zones_are_accepted(name: str) -> None:
    assert is_timezone(name)
    assert isinstance(quiet_hours.zone(name), zoneinfo.ZoneInfo)


@pytest.mark.parametrize(("text", "minutes"), [("00:00", 0), ("07:05", 425), ("7:05", 425),
                                               ("23:59", 1439)])
def test_times(text: str, minutes: int) -> None:
    assert parse_hhmm(text, "start") == minutes
    assert quiet_hours.format_hhmm(minutes) == f"{minutes // 60:02d}:{minutes % 60:02d}"


@pytest.mark.parametrize("text", ["25:00", "24:00", "12:60", "", "noon", "22:00:00", "-1:00",
                                  "22h00", "０７:００", "22:00\n"])
def test_bad_times(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_hhmm(text, "quietHours.start")
    assert info.value.details == {"field": "quietHours.start"}
