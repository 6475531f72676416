"""Numbered SQL migrations (``migrations/0001_init.sql`` …), tracked with ``PRAGMA user_version``.

Each file runs in its own transaction together with the version bump, so a crash
mid-migration leaves the database at the previous version. Numbers run 1, 2, 3 … with no
gap: a database at version N has exactly migrations 1..N, so a migration can never be
skipped by one with a higher number landing first. A database is never taken backwards.

An upgrade says what it does (:data:`LOG_NAME` log lines at INFO: the server's log; the
CLI prints them too): which migration it is applying and, once done, how long it took.
Some rewrite every row of a big table (0024 fills in an offset for every manifest row:
seconds per 200 000 rows), and a server busy with one would otherwise look like one that
does not start. A new database is made without a word.
"""

from __future__ import annotations

import logging
import re
import time
from importlib import resources

import aiosqlite

from homesync.store.early_gaps import fill_early_gaps

__all__ = ["LOG_NAME", "apply_migrations", "migrations"]

LOG_NAME = "homesync.store.migrate"
log = logging.getLogger(LOG_NAME)

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
    await fill_early_gaps(conn, current, {number: sql for number, _, sql in all_migrations})
    pending = [(number, name, sql) for number, name, sql in all_migrations if number > current]
    upgrade = current > 0 and bool(pending)
    if upgrade:
        log.info("upgrading the database from schema version %d to %d (%d migration(s));"
                 " on a big database this can take minutes: let it finish",
                 current, newest, len(pending))
    started = time.monotonic()
    for number, name, sql in pending:
        if upgrade:
            log.info("applying migration %s ...", name)
        began = time.monotonic()
        # executescript commits any open transaction first, so BEGIN..COMMIT is ours.
        script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
        try:
            await conn.executescript(script)
        except Exception:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            if upgrade:
                log.error("migration %s failed after %s; the database stays at schema"
                          " version %d", name, _took(began), current)
            raise
        current = number
        if upgrade:
            log.info("applied migration %s in %s", name, _took(began))
    if upgrade:
        log.info("database upgraded to schema version %d in %s", current, _took(started))
    return current


def _took(since: float) -> str:
    return f"{time.monotonic() - since:.1f} s"
