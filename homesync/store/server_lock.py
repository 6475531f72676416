"""One server per data dir: ``homesync serve`` holds ``flock(2)`` on ``<data_dir>/server.lock``.

Two servers on one data dir would each keep their own in-memory state (long polls that
the other's changes never wake, per-device limits counted twice, upload hashes in
progress, two gc loops) over one database and chunk store. The kernel drops the lock
when the process dies, so a ``kill -9`` never leaves a data dir that refuses to serve.
The command-line tools (gc, backup, fsck, ...) do not take it: they are safe beside a
running server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "DataDirInUse", "hold_server_lock", "server_running"]

LOCK_FILE = "server.lock"


class DataDirInUse(RuntimeError):
    """Another process serves this data dir; ``pid`` is its process id when known."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f" (pid {pid})" if pid else ""
        super().__init__(f"another homesync server{who} is already running on {data_dir}")
        self.pid = pid


def _open(data_dir: Path) -> int:
    return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _holder(fd: int) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    return None


@contextmanager
def hold_server_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data dir for this server until the block ends.

    Raises:
        DataDirInUse: another live process holds it.
    """
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DataDirInUse(data_dir, _holder(fd)) from None
        # The pid is only for the refusal message; the lock itself is what counts, and a
        # full disk (no room for the pid) must not keep the server from serving reads.
        pid = f"{os.getpid()}\n".encode()
        with contextlib.suppress(OSError):
            os.pwrite(fd, pid, 0)
            os.ftruncate(fd, len(pid))
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def server_running(data_dir: Path) -> bool:
    """Whether a ``homesync serve`` holds this data dir right now."""
    if not (data_dir / LOCK_FILE).exists():
        return False
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
