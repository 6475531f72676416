"""Small files written so that a crash or power cut leaves the old one or the new one,
never a torn one: temp file (0600 from creation) → fsync → rename → fsync of the directory.

``write_atomic`` is for the few files outside SQLite and the chunk store: the first
admin's password, a backup's marker, manifest and ``latest`` pointer. ``fsync_dir`` also
makes the chunk store's renames and directories durable.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``path`` with ``data``, readable by its owner only, never wider for an
    instant. ``fsync`` False (tests, ``storage.fsync = false``) skips both syncs."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)  # left by a crashed run: O_EXCL must create it anew
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if fsync:
        fsync_dir(path.parent)
