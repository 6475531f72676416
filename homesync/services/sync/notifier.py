"""Wake-ups for long polls: "something of this user's changed", in this process.

A parked ``GET /sync/status?wait=N`` is one future in a dict and one timer handle: no
task, no thread, no database connection. Writers call :meth:`ChangeNotifier.changed`
*after* their transaction commits, so a woken poll always finds the change.

The order that makes wake-ups impossible to miss: :meth:`subscribe` first, then look
for changes, then wait on the subscription. A change committed in between resolves the
subscription, and the wait returns at once.

A poll also ends early when its sign-in does (device removed, signed out, password
changed), or when the key that signed its access token is retired: the journal watcher,
once the database says so, calls :meth:`ChangeNotifier.signed_out` or
:meth:`ChangeNotifier.key_retired`, which wake it with :attr:`Wake.SIGNED_OUT`.

Each device may have only so many polls parked (``sync.max_polls_per_device``): an app
that polls in a loop without waiting for answers would otherwise hold a socket and a file
descriptor per poll until the server runs out of them. One more answers the device's
oldest parked poll at once, with :attr:`Wake.SUPERSEDED`, as if its wait had run out.
"""

from __future__ import annotations

import asyncio
import enum

__all__ = ["ChangeNotifier", "Subscription", "Wake"]


class Wake(enum.Enum):
    """Why a parked poll's wait ended."""

    CHANGED = "changed"
    SIGNED_OUT = "signed_out"  # its sign-in ended, or its token's signing key was retired
    TIMEOUT = "timeout"
    STOPPING = "stopping"  # the server is stopping: answer now, don't hold its shutdown
    # Its device parked more polls than allowed since: answer now, like a wait run out.
    SUPERSEDED = "superseded"


class Subscription:
    """One parked poll's ticket. Use as a context manager so it is always dropped."""

    __slots__ = ("_device", "_future", "_kid", "_notifier", "_sign_in", "_user_ids")

    def __init__(self, notifier: ChangeNotifier, user_ids: tuple[str, ...], sign_in: str | None,
                 kid: str | None, device: str | None, future: asyncio.Future[Wake]) -> None:
        self._notifier = notifier
        self._user_ids = user_ids
        self._sign_in = sign_in
        self._kid = kid
        self._device = device
        self._future = future

    async def wait(self, seconds: float) -> Wake:
        """Why the wait ended: a change, the sign-in ending, or ``seconds`` passing."""
        if self._future.done():
            return self._future.result()
        # Counted against its device's cap only now that it parks: a poll that finds
        # changes (or a plain sync call) never pushes a parked one out.
        self._notifier._park(self)
        timer = asyncio.get_running_loop().call_later(seconds, _resolve, self._future,
                                                      Wake.TIMEOUT)
        try:
            return await self._future
        finally:
            timer.cancel()

    def close(self) -> None:
        for user_id in self._user_ids:
            _drop(self._notifier._waiting, user_id, self._future)
        if self._sign_in is not None:
            _drop(self._notifier._sign_ins, self._sign_in, self._future)
        if self._kid is not None:
            _drop(self._notifier._kids, self._kid, self._future)
        if self._device is not None:
            polls = self._notifier._devices.get(self._device)
            if polls is not None:
                polls.pop(self, None)
                if not polls:
                    del self._notifier._devices[self._device]

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _resolve(future: asyncio.Future[Wake], why: Wake) -> None:
    if not future.done():
        future.set_result(why)


def _drop(index: dict[str, set[asyncio.Future[Wake]]], key: str,
          future: asyncio.Future[Wake]) -> None:
    waiting = index.get(key)
    if waiting is not None:
        waiting.discard(future)
        if not waiting:
            del index[key]


class ChangeNotifier:
    """Per-user wake-ups for long polls (see the module docstring)."""

    def __init__(self, polls_per_device: int = 4) -> None:
        self._polls_per_device = polls_per_device
        self._waiting: dict[str, set[asyncio.Future[Wake]]] = {}
        # The same polls by sign-in (token family), for signed_out.
        self._sign_ins: dict[str, set[asyncio.Future[Wake]]] = {}
        # And by the key that signed their access token, for key_retired.
        self._kids: dict[str, set[asyncio.Future[Wake]]] = {}
        # The parked polls of each device, oldest first, for the per-device cap.
        self._devices: dict[str, dict[Subscription, None]] = {}
        self._stopping = False

    def subscribe(self, user_id: str, *also: str, sign_in: str | None = None,
                  kid: str | None = None, device: str | None = None) -> Subscription:
        """A ticket woken by a change of ``user_id``'s, or of any of ``also`` (the people
        who share with them), by the end of the poll's ``sign_in``, by the retirement
        of ``kid``, the key that signed the poll's access token, and, once it waits, by
        too many newer polls of ``device`` parking."""
        future: asyncio.Future[Wake] = asyncio.get_running_loop().create_future()
        if self._stopping:
            future.set_result(Wake.STOPPING)
        user_ids = (user_id, *also)
        for uid in user_ids:
            self._waiting.setdefault(uid, set()).add(future)
        if sign_in is not None:
            self._sign_ins.setdefault(sign_in, set()).add(future)
        if kid is not None:
            self._kids.setdefault(kid, set()).add(future)
        return Subscription(self, user_ids, sign_in, kid, device, future)

    def _park(self, subscription: Subscription) -> None:
        """Count a poll that starts waiting among its device's; past the cap, answer the
        device's oldest parked poll now and stop counting it anywhere (``parked``)."""
        device = subscription._device
        if device is None:
            return
        polls = self._devices.setdefault(device, {})
        polls[subscription] = None
        waiting = [poll for poll in polls if not poll._future.done()]
        for oldest in waiting[:-self._polls_per_device]:
            _resolve(oldest._future, Wake.SUPERSEDED)
            oldest.close()

    def changed(self, user_id: str) -> None:
        """Wake every poll of ``user_id``; call after the change has committed."""
        for future in self._waiting.pop(user_id, ()):
            _resolve(future, Wake.CHANGED)

    def signed_out(self, sign_in: str) -> None:
        """Wake the polls of a sign-in that has ended (revoked, device removed)."""
        for future in self._sign_ins.pop(sign_in, ()):
            _resolve(future, Wake.SIGNED_OUT)

    def key_retired(self, kid: str) -> None:
        """Wake the polls whose access token ``kid`` signed: it is refused from now on."""
        for future in self._kids.pop(kid, ()):
            _resolve(future, Wake.SIGNED_OUT)

    def stop(self) -> None:
        """Wake every poll, now and from now on: the server is stopping, and a parked
        poll would otherwise hold the graceful shutdown for its whole wait, then be
        cut off without an answer."""
        self._stopping = True
        for index in (self._waiting, self._sign_ins, self._kids):
            for waiting in index.values():
                for future in waiting:
                    _resolve(future, Wake.STOPPING)
            index.clear()
        self._devices.clear()

    def parked(self, user_id: str | None = None) -> int:
        """How many polls wait (for ``user_id``, or in all)."""
        if user_id is not None:
            return len(self._waiting.get(user_id, ()))
        return len(set().union(*self._waiting.values()))  # one poll may wait on several

    def parked_sign_ins(self) -> list[str]:
        """The sign-ins (token families) with polls parked."""
        return list(self._sign_ins)

    def parked_kids(self) -> list[str]:
        """The signing keys of the parked polls' access tokens."""
        return list(self._kids)
