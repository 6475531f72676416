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
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "backup_running", "gc_lock", "hold_for_backup"]

LOCK_FILE = "backup.lock"


def _open(data_dir: Path) -> int:
    data_dir.mkdir(parents=True, exist_ok=True)
    return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


@contextmanager
def hold_for_backup(data_dir: Path) -> Iterator[None]:
    """Pin every chunk on disk for the duration: blocks while a gc round is deleting."""
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


@contextmanager
def gc_lock(data_dir: Path) -> Iterator[bool]:
    """Yield ``True`` when gc may delete chunks now, ``False`` when a backup is running.

    Never blocks: gc simply tries again on its next round. Compute what is unreferenced
    and delete it inside the ``with`` block, so no backup can snapshot in between.
    """
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
        else:
            yield True
    finally:
        os.close(fd)


def backup_running(data_dir: Path) -> bool:
    """Whether some process is backing this data dir up right now."""
    with gc_lock(data_dir) as free:
        return not free
