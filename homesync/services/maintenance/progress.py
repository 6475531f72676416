"""How long-running services (backup, restore, verify, gc, fsck) report progress.

Services know nothing of terminals: they call a :class:`Progress` the caller passes in.
The CLI implements it with Rich progress bars; tests and the server use
:data:`NO_PROGRESS`. Calls may come from a worker thread, so implementations must be
thread-safe (Rich's are).
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_PROGRESS", "NoProgress", "Progress"]


class Progress(Protocol):
    def phase(self, description: str, *, total_bytes: int | None = None,
              total_items: int | None = None) -> None:
        """A new step begins (ends the previous one); totals are known or ``None``."""

    def advance(self, *, nbytes: int = 0, items: int = 0) -> None:
        """Some of the current step's work is done."""

    def note(self, message: str) -> None:
        """Something worth telling the operator (a step skipped).

        Not the problems a report lists (damaged chunks): the caller prints the report's
        list once, with the files each one touches; a note as well would say it twice.
        """


class NoProgress:
    """A :class:`Progress` that reports nothing."""

    def phase(self, description: str, *, total_bytes: int | None = None,
              total_items: int | None = None) -> None:
        pass

    def advance(self, *, nbytes: int = 0, items: int = 0) -> None:
        pass

    def note(self, message: str) -> None:
        pass


NO_PROGRESS: Progress = NoProgress()
