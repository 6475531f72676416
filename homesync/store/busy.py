"""What a database held by another process looks like when a statement gives up on it."""

from __future__ import annotations

import sqlite3

__all__ = ["is_database_busy"]

# SQLite's primary result codes (the low byte of an extended one).
_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}


def is_database_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite giving up after the busy timeout: another process (a long
    ``homesync gc``, ``user add``, a backup) kept the lock. Soon over; not a bug."""
    if not isinstance(exc, sqlite3.Error):
        return False
    return ((getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF) in _BUSY
