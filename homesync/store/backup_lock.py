"""The backup lock: garbage collection must not delete chunks a running backup still needs.

A backup takes a database snapshot first and copies the chunks it references afterwards,
which can take hours. Meanwhile a file may be deleted and its chunks become unreferenced
in the live database — but the snapshot still needs them (reliability row B3).

The rule, enforced with ``flock(2)`` on ``<data_dir>/backup.lock``:

* a backup holds a **shared** lock from just before its snapshot until its last chunk
  is copied (:func:`hold_for_backup`; several backups may run at once);
* gc decides what is unreferenced *and* deletes it while holding the **exclusive** lock
  (:func:`gc_lock`); when a backup holds the lock, gc skips its deletion round.

So a chunk a snapshot references was either deleted before the snapshot (then the
snapshot cannot reference it) or is kept until the backup ends. The kernel drops the lock
when the process dies, so a killed backup never blocks gc for good.

A gc round also holds ``<data_dir>/gc.lock`` exclusively while it may delete, taken
first: so the backup lock being busy tells a running backup from another gc round (the
server's, or ``homesync gc``), which a deleting round is not; :func:`backup_running`
said "a backup is running" for as long as any gc round deleted.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["GC_LOCK_FILE", "LOCK_FILE", "GcTurn", "backup_running", "gc_lock",
           "hold_for_backup"]

LOCK_FILE = "backup.lock"
GC_LOCK_FILE = "gc.lock"


def _open(data_dir: Path, name: str = LOCK_FILE) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    return os.open(data_dir / name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _try(fd: int, kind: int) -> bool:
    try:
        fcntl.flock(fd, kind | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def hold_for_backup(data_dir: Path) -> Iterator[None]:
    """Pin every chunk on disk for the duration: blocks while a gc round is deleting."""
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


class GcTurn:
    """What :func:`gc_lock` yields: true when gc may delete chunks now; otherwise
    ``blocked_by`` says what is in the way, ``"backup"`` (a backup is running) or ``"gc"``
    (another gc round is deleting)."""

    def __init__(self, blocked_by: str | None) -> None:
        self.blocked_by = blocked_by

    def __bool__(self) -> bool:
        return self.blocked_by is None


@contextmanager
def gc_lock(data_dir: Path) -> Iterator[GcTurn]:
    """Yield whether gc may delete chunks now (a :class:`GcTurn`).

    Never blocks: gc simply tries again on its next round (also when a status check
    held gc.lock at that instant). Compute what is unreferenced and delete it inside the
    ``with`` block, so no backup can snapshot in between.
    """
    gc_fd = _open(data_dir, GC_LOCK_FILE)
    try:
        if not _try(gc_fd, fcntl.LOCK_EX):
            yield GcTurn("gc")
            return
        fd = _open(data_dir)
        try:
            yield GcTurn(None if _try(fd, fcntl.LOCK_EX) else "backup")
        finally:
            os.close(fd)
    finally:
        os.close(gc_fd)


def backup_running(data_dir: Path) -> bool:
    """Whether some process is backing this data dir up right now.

    While a gc round holds gc.lock no backup is copying (one starting waits for the
    round's end): only otherwise does a busy backup lock mean a backup. gc.lock is taken
    shared, so status checks never keep each other out.
    """
    gc_fd = _open(data_dir, GC_LOCK_FILE)
    try:
        if not _try(gc_fd, fcntl.LOCK_SH):
            return False  # a gc round is deleting
        fd = _open(data_dir)
        try:
            return not _try(fd, fcntl.LOCK_EX)
        finally:
            os.close(fd)
    finally:
        os.close(gc_fd)
