"""DEST's locks: one backup (or prune) writes at a time; a prune deletes only while nothing reads.

Writers (``backup create`` and ``prune``) hold ``DEST/.lock`` exclusively. Verify, restore,
list and dry-run prunes flock DEST itself (the directory) shared, a prune exclusively; so
readers make no file there. A backup being made deletes nothing a reader could read (it
publishes by rename), so they read beside it.

Not the data dir's backup lock (``<data_dir>/backup.lock``, gc against a running backup):
that is store/backup_lock.py.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator

from homesync.store.backup_repo import BackupRepo, BackupRepoError

__all__ = ["RepoBusy", "hold_for_reading", "hold_for_writing"]


class RepoBusy(BackupRepoError):
    """Another backup is writing to DEST now, a prune is deleting from it (for a reader),
    or a verify, restore or list is reading it (for a prune); nothing was done."""


_WRITER_LOCK = ".lock"
_WAIT_POLL = 0.5  # seconds between tries of a busy writer lock
# A filesystem that cannot flock a directory, or not exclusively (NFS takes an exclusive
# lock only on a file open for writing: EBADF): there readers read and a prune deletes
# without the delete lock, as before there was one.
_CANNOT_LOCK_HERE = (errno.EBADF, errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL)


def _lock_within(fd: int, kind: int, deadline: float,
                 waiting: Callable[[str], None] | None, busy: str) -> Callable[[str], None] | None:
    """flock ``fd`` (``LOCK_EX`` or ``LOCK_SH``), trying until ``deadline`` (monotonic;
    flock itself cannot time out, and a worker thread gets no signal to interrupt it).
    ``waiting`` is told, once, what it waits for (``busy``); returns it, or None once told."""
    while True:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return waiting
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RepoBusy(busy) from None
        if waiting is not None:
            waiting(busy)
            waiting = None
        time.sleep(min(_WAIT_POLL, left))


@contextlib.contextmanager
def hold_for_writing(repo: BackupRepo, wait: float = 0.0,
                     waiting: Callable[[str], None] | None = None, *,
                     deleting: bool = False) -> Iterator[None]:
    """Hold the repository's writer lock, and with ``deleting`` (a prune) its delete
    lock too. Another backup (or prune) writing, or for ``deleting`` a verify,
    restore or list reading, makes this fail at once, or after ``wait`` seconds
    (``waiting`` is called once, with what is in the way, when the wait starts)."""
    deadline = time.monotonic() + wait
    fd = os.open(repo.root / _WRITER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    readers_fd: int | None = None
    try:
        waiting = _lock_within(fd, fcntl.LOCK_EX, deadline, waiting,
                               f"another backup is writing to {repo.root}")
        if deleting:
            readers_fd = os.open(repo.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                _lock_within(readers_fd, fcntl.LOCK_EX, deadline, waiting,
                             f"a backup verify, restore, list or dry-run prune is reading"
                             f" {repo.root}")
            except OSError as exc:
                if exc.errno not in _CANNOT_LOCK_HERE:
                    raise
        # Leftovers of an interrupted run: never referenced by any published snapshot.
        shutil.rmtree(repo.tmp_dir, ignore_errors=True)
        repo.tmp_dir.mkdir(mode=0o700)
        try:
            yield
        except BaseException:
            # A failed run (DEST full, say) takes its half snapshot away at once, and
            # the space it held; the chunks it copied stay in the pool for the next run
            # (those waiting for a sync go in now if they can: renames need no room).
            with contextlib.suppress(OSError):
                repo.settle_chunks()
            shutil.rmtree(repo.tmp_dir, ignore_errors=True)
            raise
    finally:
        if readers_fd is not None:
            os.close(readers_fd)
        os.close(fd)


@contextlib.contextmanager
def hold_for_reading(repo: BackupRepo, wait: float = 0.0,
                     waiting: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold DEST's delete lock (a flock of the directory) shared while reading it
    (``backup verify``, ``restore``, ``list``, ``prune --dry-run``): no prune deletes
    meanwhile (it would delete what is being read: damage that is not there, a
    restore failing half way); other readers may read, and a backup be made (it
    deletes nothing a reader sees, and publishes by rename). A prune holding it
    makes this fail at once, or after ``wait`` seconds, as :func:`hold_for_writing` does.

    A DEST whose filesystem cannot lock it (some network mounts) is read without it,
    and a prune there deletes without it (NFS gives readers their shared lock but no
    prune the exclusive one): on such a DEST, do not prune while reading.
    """
    fd = os.open(repo.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            _lock_within(fd, fcntl.LOCK_SH, time.monotonic() + wait, waiting,
                         f"a backup prune is deleting from {repo.root}")
        except OSError as exc:
            if exc.errno not in _CANNOT_LOCK_HERE:
                raise
        yield
    finally:
        os.close(fd)
