"""What the read connections ran during a request, and how SQLite planned it: a listing
that must walk an index (a page, a batch) is checked by its plan, not by its time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homesync.services.container import Services

__all__ = ["plan_of", "reads_during"]


@asynccontextmanager
async def reads_during(services: Services) -> AsyncIterator[list[str]]:
    """The statements (with their values) the readers ran inside the block."""
    traced: list[str] = []
    readers = services.db._readers
    for conn in readers:
        await conn.set_trace_callback(traced.append)
    try:
        yield traced
    finally:
        for conn in readers:
            await conn.set_trace_callback(None)


async def plan_of(services: Services, sql: str) -> str:
    """SQLite's plan for ``sql``, one line."""
    return " | ".join(row[3] for row in await services.db.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
