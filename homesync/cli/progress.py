"""Rich progress bars for long commands (backup, restore, verify; gc and fsck may use it).

:class:`RichProgress` implements :class:`homesync.services.maintenance.progress.Progress`:
one bar per step, showing sizes and rate when the step moves bytes, a count otherwise.
Bars go to standard error, so ``--json`` output on standard output stays clean; with
``--json`` or without a terminal they are off (notes are still printed).
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from homesync.cli.common import human_size

__all__ = ["RichProgress"]


class _Amounts(ProgressColumn):
    """``12.3 MiB/57.2 MiB  148.0 MiB/s  300/1,200`` for a byte step, ``300/1,200`` otherwise."""

    def render(self, task: Task) -> Text:
        items = task.fields.get("items", "")
        if not task.fields.get("in_bytes"):
            return Text(items, style="progress.download", no_wrap=True)
        total = human_size(int(task.total)) if task.total is not None else "?"
        speed = task.finished_speed or task.speed
        rate = f"{human_size(int(speed))}/s" if speed else ""
        return Text(f"{human_size(int(task.completed))}/{total}  {rate}  {items}".rstrip(),
                    style="progress.download", no_wrap=True, overflow="ellipsis")


class RichProgress:
    """Use as a context manager around the service call."""

    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self._console = console
        self._bars = Progress(
            TextColumn("{task.description:<18}"), BarColumn(bar_width=12), _Amounts(),
            console=console, disable=not (enabled and console.is_terminal),
        )
        self._task: TaskID | None = None
        self._in_bytes = False
        self._done = 0
        self._total: int | None = None

    def __enter__(self) -> RichProgress:
        self._bars.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._end_step(completed=exc is None)
        self._bars.stop()

    def _end_step(self, *, completed: bool = True) -> None:
        if self._task is None:
            return
        if completed:
            total = self._bars.tasks[-1].total
            self._bars.update(self._task, completed=total if total is not None else 1,
                              total=total if total is not None else 1)
        self._bars.stop_task(self._task)

    def _count(self) -> str:
        if self._total is None:  # a count all the same: gc freeing 100 000 chunks said nothing
            return f"{self._done:,}" if self._done else ""
        return f"{self._done:,}/{self._total:,}"

    def phase(self, description: str, *, total_bytes: int | None = None,
              total_items: int | None = None) -> None:
        self._end_step()
        self._in_bytes = total_bytes is not None
        self._done, self._total = 0, total_items
        self._task = self._bars.add_task(
            description, total=total_bytes if self._in_bytes else total_items,
            in_bytes=self._in_bytes, items=self._count())

    def advance(self, *, nbytes: int = 0, items: int = 0) -> None:
        if self._task is None:
            return
        self._done += items
        self._bars.update(self._task, advance=nbytes if self._in_bytes else items,
                          items=self._count())

    def note(self, message: str) -> None:
        # A Text, not markup: file names may contain brackets.
        self._bars.console.print(Text(message, style="yellow"), soft_wrap=True)
