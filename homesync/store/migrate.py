"""Numbered SQL migrations (``migrations/0001_init.sql`` …), tracked with ``PRAGMA user_version``.

Each file runs in its own transaction together with the version bump, so a crash
mid-migration leaves the database at the previous version. Numbers run 1, 2, 3 … with no
gap: a database at version N has exactly migrations 1..N, so a migration can never be
skipped by one with a higher number landing first. A database is never taken backwards.
"""

from __future__ import annotations

import re
from importlib import resources

import aiosqlite

__all__ = ["apply_migrations", "migrations"]

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(number, file name, SQL) for every migration shipped with the package, in order."""
    found = []
    for entry in resources.files("homesync.store").joinpath("migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise RuntimeError(
            f"migrations must be numbered 1, 2, 3 … without gaps or repeats: "
            f"{[name for _, name, _ in found]}"
        )
    return found


async def apply_migrations(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; returns the resulting version."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    all_migrations = migrations()
    newest = all_migrations[-1][0] if all_migrations else 0
    if current > newest:
        raise RuntimeError(
            f"database schema version {current} is newer than this homesync ({newest}); "
            "upgrade homesync"
        )
    for number, _name, sql in all_migrations:
        if number <= current:
            continue
        # executescript commits any open transaction first, so BEGIN..COMMIT is ours.
        script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
        try:
            await conn.executescript(script)
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise
        current = number
    return current
