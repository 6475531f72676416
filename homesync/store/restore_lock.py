"""One restore per data dir: ``homesync backup restore`` holds ``flock(2)`` on the data dir.

Two restores into one data dir would share its ``.restore-tmp/<hash>`` files and its
marker, each moving or replacing what the other is writing. The lock is on the directory
itself, not on a file in it: a lock file would be one more thing in a directory that must
stay empty when a restore refuses, and ``--force`` moves every file aside. The kernel
drops the lock when the process dies, so a killed restore never blocks the next one.
A filesystem that cannot lock a directory (NFS takes an exclusive ``flock`` only on a file
open for writing: EBADF) restores without the lock, as before there was one: it guards
against a mistake, the restore itself does not need it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["RestoreRunning", "hold_restore_lock"]

_CANNOT_LOCK_HERE = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)


class RestoreRunning(RuntimeError):
    """Another process is restoring into this data dir now."""


@contextmanager
def hold_restore_lock(data_dir: Path) -> Iterator[None]:
    """Hold the (existing) data dir for this restore until the block ends.

    Raises:
        RestoreRunning: another live process holds it.
    """
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RestoreRunning(f"another `homesync backup restore` is restoring into"
                                 f" {data_dir} now") from None
        except OSError as exc:
            if exc.errno not in _CANNOT_LOCK_HERE:
                raise
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
