"""Which snapshots ``backup prune`` keeps: restic's ``forget`` rules.

Each rule is applied on its own to all snapshots, newest first, and a snapshot is kept
when any rule keeps it (its reasons list every rule that did):

* ``last N``: the N newest snapshots;
* ``daily N`` (``weekly``, ``monthly``, ``yearly``): for the N most recent days (ISO weeks,
  months, years) that have a snapshot, the newest snapshot of that day.

Days are UTC days, as in the snapshot names (``20250102T033000Z``): the name says which
day a snapshot counts for. Pure functions: no files are read here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import msgspec

from homesync.store.backup_repo import snapshot_order

__all__ = ["Retention", "Taken", "choose"]


class Retention(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """How many snapshots each rule keeps (``None``: the rule is not used)."""

    keep_last: int | None = None
    keep_daily: int | None = None
    keep_weekly: int | None = None
    keep_monthly: int | None = None
    keep_yearly: int | None = None

    def is_empty(self) -> bool:
        return not any((self.keep_last, self.keep_daily, self.keep_weekly,
                        self.keep_monthly, self.keep_yearly))


class Taken(msgspec.Struct, frozen=True):
    """A snapshot as the rules see it: its name and when it was started (ms)."""

    name: str
    started_at: int


def _day(ms: int) -> tuple[int, ...]:
    t = time.gmtime(ms / 1000)
    return (t.tm_year, t.tm_yday)


def _week(ms: int) -> tuple[int, ...]:
    year, week, _ = time.strftime("%G %V %u", time.gmtime(ms / 1000)).split()
    return (int(year), int(week))


def _month(ms: int) -> tuple[int, ...]:
    t = time.gmtime(ms / 1000)
    return (t.tm_year, t.tm_mon)


def _year(ms: int) -> tuple[int, ...]:
    return (time.gmtime(ms / 1000).tm_year,)


_BUCKETS: dict[str, Callable[[int], tuple[int, ...]]] = {
    "daily": _day, "weekly": _week, "monthly": _month, "yearly": _year}


def choose(snapshots: Sequence[Taken], policy: Retention) -> dict[str, list[str]]:
    """The snapshots ``policy`` keeps: {name: the rules that keep it}. Others go."""
    newest_first = sorted(snapshots, key=lambda s: (s.started_at, snapshot_order(s.name)),
                          reverse=True)
    kept: dict[str, list[str]] = {}
    if policy.keep_last:
        for snap in newest_first[:policy.keep_last]:
            kept.setdefault(snap.name, []).append("last")
    counts = {"daily": policy.keep_daily, "weekly": policy.keep_weekly,
              "monthly": policy.keep_monthly, "yearly": policy.keep_yearly}
    for rule, count in counts.items():
        if not count:
            continue
        bucket_of = _BUCKETS[rule]
        seen: set[tuple[int, ...]] = set()
        for snap in newest_first:
            bucket = bucket_of(snap.started_at)
            if bucket in seen:
                continue  # an older snapshot of a period whose newest is already kept
            if len(seen) == count:
                break
            seen.add(bucket)
            kept.setdefault(snap.name, []).append(rule)
    return kept
