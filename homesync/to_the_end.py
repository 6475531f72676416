"""Work that a cancelled caller must not cut short: a thread's file work, closing files,
stopping jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_to_the_end"]

T = TypeVar("T")


async def run_to_the_end(work: Awaitable[T], *,
                         undo: Callable[[T], object] | None = None) -> T:
    """``await work``, run to its end even when the caller is cancelled meanwhile (a stop's
    deadline, a second Ctrl-C, a client gone); the caller then sees its cancellation, after
    ``undo`` of what ``work`` returned (an fd it opened, say).

    Not ``asyncio.shield``: that lets the caller go on at once while the work still runs
    (a thread cannot be stopped: the caller would clean up under it). And not a bare
    ``await`` of a task ``work`` cancels: its CancelledError, suppressed as the task's own,
    would swallow the caller's.
    """
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is None:
        return task.result()
    if not task.cancelled() and task.exception() is None and undo is not None:
        undo(task.result())
    raise cancelled
