"""uvicorn's server with the two changes a clean stop (SIGTERM, Ctrl-C) needs here.

Imported by the server only (homesync.server.run), after the web stack.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from socket import socket

import uvicorn

__all__ = ["GracefulServer"]


class GracefulServer(uvicorn.Server):
    """* ``on_stop`` runs as the stop begins: parked long polls answer at once instead of
      holding the graceful shutdown for their whole wait and then being cut off unanswered;
    * the stop signal is not raised again once serving ends (uvicorn does, which killed
      the process before the caller could close the database and stop its own tasks):
      the process exits normally, with 0, after the caller's cleanup.
    """

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_stop = on_stop

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        self._on_stop()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # handled: we are stopping
