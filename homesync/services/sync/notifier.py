"""Wake-ups for long polls: "something of this user's changed", in this process.

A parked ``GET /sync/status?wait=N`` is one future in a dict and one timer handle: no
task, no thread, no database connection. Writers call :meth:`ChangeNotifier.changed`
*after* their transaction commits, so a woken poll always finds the change.

The order that makes wake-ups impossible to miss: :meth:`subscribe` first, then look
for changes, then wait on the subscription. A change committed in between resolves the
subscription, and the wait returns at once.
"""

from __future__ import annotations

import asyncio

__all__ = ["ChangeNotifier", "Subscription"]


class Subscription:
    """One parked poll's ticket. Use as a context manager so it is always dropped."""

    __slots__ = ("_future", "_notifier", "_user_ids")

    def __init__(self, notifier: ChangeNotifier, user_ids: tuple[str, ...],
                 future: asyncio.Future[bool]) -> None:
        self._notifier = notifier
        self._user_ids = user_ids
        self._future = future

    async def wait(self, seconds: float) -> bool:
        """True when a change arrived, False when ``seconds`` passed first."""
        if self._future.done():
            return self._future.result()
        timer = asyncio.get_running_loop().call_later(seconds, _expire, self._future)
        try:
            return await self._future
        finally:
            timer.cancel()

    def close(self) -> None:
        for user_id in self._user_ids:
            self._notifier._drop(user_id, self._future)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _expire(future: asyncio.Future[bool]) -> None:
    if not future.done():
        future.set_result(False)


class ChangeNotifier:
    """Per-user wake-ups for long polls (see the module docstring)."""

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Future[bool]]] = {}

    def subscribe(self, user_id: str, *also: str) -> Subscription:
        """A ticket woken by a change of ``user_id``'s, or of any of ``also`` (the people
        who share with them)."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        user_ids = (user_id, *also)
        for uid in user_ids:
            self._waiting.setdefault(uid, set()).add(future)
        return Subscription(self, user_ids, future)

    def changed(self, user_id: str) -> None:
        """Wake every poll of ``user_id``; call after the change has committed."""
        for future in self._waiting.pop(user_id, ()):
            if not future.done():
                future.set_result(True)

    def parked(self, user_id: str | None = None) -> int:
        """How many polls wait (for ``user_id``, or in all)."""
        if user_id is not None:
            return len(self._waiting.get(user_id, ()))
        return len(set().union(*self._waiting.values()))  # one poll may wait on several

    def _drop(self, user_id: str, future: asyncio.Future[bool]) -> None:
        waiting = self._waiting.get(user_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiting[user_id]
