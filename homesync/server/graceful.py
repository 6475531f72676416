"""uvicorn's server with the two changes a clean stop (SIGTERM, Ctrl-C) needs here.

Imported by the server only (homesync.server.run), after the web stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator
from socket import socket
from types import FrameType

import uvicorn

__all__ = ["GracefulServer"]

# How long requests cut off by a forced quit get to end (see GracefulServer).
_CUT_OFF_WAIT_S = 5


class GracefulServer(uvicorn.Server):
    """* ``on_stop`` runs as the stop begins: parked long polls answer at once instead of
      holding the graceful shutdown for their whole wait and then being cut off unanswered;
    * the stop signal is not raised again once serving ends (uvicorn does, which killed
      the process before the caller could close the database and stop its own tasks):
      the process exits normally, with 0, after the caller's cleanup;
    * a second Ctrl-C while requests drain ("CTRL+C to force quit", uvicorn's
      ``force_exit``) cuts them off as the end of the grace period does, and the app's
      shutdown still runs (uvicorn skips both): the requests then ended with a 503 only
      once the caller had closed the database under them. The caller reads
      ``force_exit`` to exit as an interrupted command does;
    * SIGHUP stops it as SIGTERM does (see _hangup_stops);
    * a stop signal that comes before serve() put the handlers in place, inside
      ``stop_signals_held()``, stops it as one that comes after does.
    """

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop
        self._held: list[int] = []

    @contextlib.contextmanager
    def stop_signals_held(self) -> Iterator[None]:
        """Stop signals are kept from here on and handed to serve() once it has its own
        handlers: one that came as "serving" was said (a supervisor waiting for the line)
        killed the process where it stood, the database left open. SIGHUP is left alone
        when it was ignored (``nohup``), as _hangup_stops leaves it."""
        stops = [signal.SIGINT, signal.SIGTERM]
        if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
            stops.append(signal.SIGHUP)
        before = {sig: signal.signal(sig, self._hold) for sig in stops}
        try:
            yield
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)

    def _hold(self, sig: int, frame: FrameType | None) -> None:
        self._held.append(sig)

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        self._on_stop()
        await super().shutdown(sockets)
        if self.force_exit:
            await self._cut_off()

    async def _cut_off(self) -> None:
        running = list(self.server_state.tasks)
        for task in running:
            task.cancel(msg="Task cancelled, forced to quit")
        if running:
            # Each answers 503 and ends what it began (a chunk's temp file, a transaction);
            # bounded: the user asked to quit, not to wait again.
            await asyncio.wait(running, timeout=_CUT_OFF_WAIT_S)
        await self.lifespan.shutdown()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals(), _hangup_stops(self.handle_exit):
            for sig in self._held:  # came before these handlers (stop_signals_held)
                self.handle_exit(sig, None)
            self._held.clear()
            yield
            self._captured_signals.clear()  # handled: we are stopping


@contextlib.contextmanager
def _hangup_stops(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """SIGHUP (the terminal `serve` runs in closes) stops as SIGTERM does; uvicorn leaves
    it to the default action, which killed the process where it stood. Unless it was
    ignored when we started (``nohup``): then it stays ignored."""
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        yield
        return
    before = signal.signal(signal.SIGHUP, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGHUP, before)
