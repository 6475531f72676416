"""Copying and hashing whole files for backups and restores: in the kernel where it can
(``copy_file_range``), verified by sha256, made durable by one ``syncfs`` per filesystem
rather than an fsync per file."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import hashlib
import os
from pathlib import Path

__all__ = ["copy_file", "copy_verified", "read_error", "sha256_file", "syncfs"]

_COPY_BUFFER = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_COPY_BUFFER):
            digest.update(block)
    return digest.hexdigest()


def read_error(path: Path) -> str | None:
    """Why ``path`` cannot be read through (an I/O error: a bad sector; a chmod), or None.

    Tells a copy that failed reading its source from one that failed writing its target:
    ``copy_file_range`` and ``read``/``write`` errors do not say which file they were about.
    """
    try:
        with open(path, "rb") as fh:
            while fh.read(_COPY_BUFFER):
                pass
    except FileNotFoundError:
        return None
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True) if os.name == "posix" else None


def syncfs(path: Path) -> None:
    """Flush every dirty page of the filesystem holding ``path`` (one call, not one per file).

    A backup copies thousands of chunks; fsyncing each would cost a journal commit per
    file. One ``syncfs`` before the snapshot is published makes them all durable at once.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if _libc is not None and hasattr(_libc, "syncfs") and _libc.syncfs(fd) == 0:
            return
        os.sync()
    finally:
        os.close(fd)


def copy_file(source: str, target: str, size: int) -> bool:
    """Copy ``size`` bytes in the kernel (``copy_file_range``); False if the source differs."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if os.fstat(src).st_size != size:
            return False
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            left = size
            try:
                while left > 0:
                    copied = os.copy_file_range(src, dst, left)
                    if copied == 0:
                        break
                    left -= copied
            except OSError as exc:
                # EXDEV/ENOSYS/EINVAL: not supported between these filesystems: copy in user space.
                if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                os.lseek(src, 0, os.SEEK_SET)
                os.lseek(dst, 0, os.SEEK_SET)
                os.ftruncate(dst, 0)
                left = size
                while left > 0 and (block := os.read(src, min(_COPY_BUFFER, left))):
                    os.write(dst, block)  # regular files: write() writes it all
                    left -= len(block)
            return left == 0 and os.fstat(dst).st_size == size
        finally:
            os.close(dst)
    finally:
        os.close(src)


def copy_verified(source: Path, target: Path, expected_sha256: str) -> bool:
    """Copy ``source`` to a new file ``target`` while hashing it; ``False`` on a mismatch.

    Not fsynced: the caller syncs the filesystem once at the end (see :func:`syncfs`).
    """
    digest = hashlib.sha256()
    with open(source, "rb") as src, open(target, "wb") as dst:
        while block := src.read(_COPY_BUFFER):
            digest.update(block)
            dst.write(block)
    return digest.hexdigest() == expected_sha256
