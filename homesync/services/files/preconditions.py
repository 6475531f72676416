"""Validators of a download and the conditional headers that test them (RFC 9110 §8.8, §13).

The ETag is the content's checksum in quotes and Last-Modified the time the server
stored that content, to the second. Both are built here only, so the headers a download
sends and the checks its next request is judged by cannot drift apart.
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import datetime
from email.utils import formatdate

from homesync import clock

__all__ = [
    "etag_matches",
    "http_date",
    "if_range_holds",
    "modified_since",
    "parse_http_date",
    "quoted_etag",
    "unmodified_since",
]

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_DAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_LONG_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_MONTH = r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_TIME = r"(\d\d):(\d\d):(\d\d)"
# The three forms a recipient must accept (RFC 9110 §5.6.7), as (day, month, year, h, m, s).
_IMF_FIXDATE = re.compile(rf"{_DAY}, (\d\d) {_MONTH} (\d{{4}}) {_TIME} GMT")
_RFC850 = re.compile(rf"{_LONG_DAY}, (\d\d)-{_MONTH}-(\d\d) {_TIME} GMT")
_ASCTIME = re.compile(rf"{_DAY} {_MONTH} ([ \d]\d) {_TIME} (\d{{4}})")


def quoted_etag(checksum: str) -> str:
    """The ``ETag`` header value of content with this checksum."""
    return f'"{checksum}"'


def etag_matches(if_none_match: str, checksum: str) -> bool:
    """Whether an ``If-None-Match`` list names this content (weak comparison, §13.1.2)."""
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or quoted_etag(checksum) in tags


def if_range_holds(if_range: str, checksum: str) -> bool:
    """Whether ``If-Range`` names exactly this content: a strong comparison, so a weak
    tag, an unquoted value or a date never does (the whole file is sent instead)."""
    return if_range.strip() == quoted_etag(checksum)


def http_date(ms: int) -> str:
    """The ``Last-Modified`` value for a time in epoch ms: whole seconds, as HTTP has them."""
    return formatdate(ms // 1000, usegmt=True)


def modified_since(modified_at_ms: int, if_modified_since: str) -> bool:
    """Whether content last modified at ``modified_at_ms`` is newer than the date a client
    sent, compared as ``Last-Modified`` shows it (to the second). A value that is not an
    HTTP-date counts as modified: the header is then ignored (§13.1.3)."""
    since = parse_http_date(if_modified_since)
    return since is None or modified_at_ms // 1000 > since


def unmodified_since(modified_at_ms: int, if_unmodified_since: str) -> bool:
    """Whether content last modified at ``modified_at_ms`` is not newer than the date a
    client sent (to the second); a value that is not an HTTP-date holds (§13.1.4)."""
    since = parse_http_date(if_unmodified_since)
    return since is None or modified_at_ms // 1000 <= since


def parse_http_date(value: str) -> int | None:
    """Epoch seconds of an HTTP-date in any of its three forms; None for anything else
    (including a list of dates, or a date that does not exist)."""
    value = value.strip()
    if m := _IMF_FIXDATE.fullmatch(value):
        day, month, year, *hms = m.groups()
        return _epoch(int(year), month, day, *hms)
    if m := _RFC850.fullmatch(value):
        day, month, yy, *hms = m.groups()
        # A two-digit year more than 50 years ahead is in the past century (§5.6.7).
        this_year = time.gmtime(clock.now()).tm_year
        year = this_year - this_year % 100 + int(yy)
        if year > this_year + 50:
            year -= 100
        return _epoch(year, month, day, *hms)
    if m := _ASCTIME.fullmatch(value):
        month, day, *hms, year = m.groups()
        return _epoch(int(year), month, day, *hms)
    return None


def _epoch(year: int, month: str, day: str, hour: str, minute: str, second: str) -> int | None:
    try:
        # datetime() refuses dates that do not exist (30 Feb, hour 25), timegm would not.
        moment = datetime(year, _MONTHS[month], int(day), int(hour), int(minute), int(second))
    except ValueError:
        return None
    return calendar.timegm(moment.timetuple())
