"""How a background job (the push worker, the sync retention, gc) logs its rounds' failures.

While a long CLI command (``homesync gc``, ``user add``, a backup) holds the database's
write lock past the busy timeout, requests answer 503 with one line (api.errors), and a
background round fails the same way, round after round. That is not a bug in the job: it
logs one WARNING line when it starts waiting, one INFO line when a round gets through
again, and retries at its usual pace meanwhile. Any other failure is logged with its
traceback, every time.
"""

from __future__ import annotations

import logging
from types import TracebackType

from homesync.store.busy import is_database_busy

__all__ = ["RoundLog"]


class RoundLog:
    """Wraps each round of one job: ``with rounds: await work()``. An exception (not a
    cancellation) is logged and swallowed, so the job's loop goes on.

    Args:
        log: The job's logger.
        job: Names the job in the lines it logs ("push worker").
        failed: The message logged with the traceback of any other failure.
    """

    def __init__(self, log: logging.Logger, job: str, failed: str) -> None:
        self._log = log
        self._job = job
        self._failed = failed
        self._waiting = False  # the last failure was a busy database, and no round got through

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None:
            self.succeeded()
            return False
        if not isinstance(exc, Exception):  # cancelled: the job is stopping
            return False
        self.failed(exc)
        return True

    def succeeded(self) -> None:
        if self._waiting:
            self._waiting = False
            self._log.info("%s: the database is free again", self._job)

    def failed(self, exc: BaseException, message: str | None = None) -> None:
        """Log a failure of the job (a round, or work it started): a busy database once
        until a round gets through, anything else with its traceback."""
        if not is_database_busy(exc):
            self._log.error(message or self._failed, exc_info=exc)
        elif not self._waiting:
            self._waiting = True
            self._log.warning("%s waits for the database, which another process holds (%s);"
                              " it retries at its usual pace", self._job, exc)
