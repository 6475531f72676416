"""One server per data dir: ``homesync serve`` holds ``flock(2)`` on ``<data_dir>/server.lock``.

Two servers on one data dir would each keep their own in-memory state (long polls that
the other's changes never wake, per-device limits counted twice, upload hashes in
progress, two gc loops) over one database and chunk store. The kernel drops the lock
when the process dies, so a ``kill -9`` never leaves a data dir that refuses to serve.
The command-line tools (gc, backup, fsck, ...) do not take it: they are safe beside a
running server. ``homesync backup restore`` does, for its whole run: a server must not
start on a data dir being rebuilt, nor in the moment between restore's check and its
marker. The lock file says which kind of process holds it, for the refusal message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "DataDirInUse", "hold_server_lock", "in_use"]

LOCK_FILE = "server.lock"


_RESTORE = "restore"  # what a restore writes after its pid; a server writes none


class DataDirInUse(RuntimeError):
    """Another process serves (or restores into) this data dir; ``pid`` is its process id
    when known, ``restoring`` whether it is a ``backup restore``."""

    def __init__(self, data_dir: Path, pid: int | None, restoring: bool = False) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"a `homesync backup restore`{who} is restoring into {data_dir}"
                         if restoring else
                         f"another homesync server{who} is already running on {data_dir}")
        self.pid = pid
        self.restoring = restoring


def _open(data_dir: Path) -> int:
    return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _in_use(data_dir: Path, fd: int) -> DataDirInUse:
    """The refusal, from what the holder wrote: ``<pid>`` or ``<pid> restore``."""
    words: list[str] = []
    with contextlib.suppress(OSError, ValueError):
        words = os.pread(fd, 64, 0).decode().split()
    pid = int(words[0]) if words and words[0].isdigit() else None
    return DataDirInUse(data_dir, pid or None, restoring=_RESTORE in words[1:])


@contextmanager
def hold_server_lock(data_dir: Path, *, restoring: bool = False) -> Iterator[None]:
    """Hold the data dir for this server (or, ``restoring``, this restore) until the
    block ends.

    Raises:
        DataDirInUse: another live process holds it.
    """
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(data_dir, fd) from None
        # The pid is only for the refusal message; the lock itself is what counts, and a
        # full disk (no room for the pid) must not keep the server from serving reads.
        pid = f"{os.getpid()}{' ' + _RESTORE if restoring else ''}\n".encode()
        with contextlib.suppress(OSError):
            os.pwrite(fd, pid, 0)
            os.ftruncate(fd, len(pid))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def in_use(data_dir: Path) -> DataDirInUse | None:
    """Who holds this data dir right now (a ``homesync serve``, or a restore), if anyone."""
    if not (data_dir / LOCK_FILE).exists():
        return None
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _in_use(data_dir, fd)
    finally:
        os.close(fd)
    return None
