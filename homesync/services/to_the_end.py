"""Clean-up that a cancelled caller must not cut short (stopping jobs, closing files)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_to_the_end"]

T = TypeVar("T")


async def run_to_the_end(work: Coroutine[Any, Any, T]) -> T:
    """``await work``, run to its end even when the caller is cancelled meanwhile (a stop's
    deadline, a second Ctrl-C); the caller then sees its cancellation.

    Not ``asyncio.shield``: that lets the caller go on at once, while the work still runs.
    And not a bare ``await`` of a task ``work`` cancels: its CancelledError, suppressed as
    the task's own, would swallow the caller's.
    """
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return task.result()
