"""The fast RFC 3339 formatter writes exactly what clock.rfc3339 writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from homesync import clock
from homesync.api.timestamps import format_ms, format_optional


@given(st.integers(min_value=0, max_value=253_402_300_799_999))  # through 9999-12-31
def test_same_text_as_the_clock(ms):
    assert format_ms(ms) == clock.rfc3339(ms)


def test_edges():
    assert format_ms(0) == "1970-01-01T00:00:00Z"
    assert format_ms(1_705_764_600_000) == "2024-01-20T15:30:00Z"
    assert format_ms(1_705_764_600_007) == "2024-01-20T15:30:00.007Z"
    assert format_ms(86_399_999) == "1970-01-01T23:59:59.999Z"
    assert format_optional(None) is None
