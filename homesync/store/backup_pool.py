"""Taking snapshots and chunks out of a backup repository, for ``backup prune``.

The order keeps every remaining snapshot restorable whatever the moment a prune is
killed: a snapshot is taken out of ``snapshots/`` in one rename (into ``tmp/``, emptied
by the next run holding the writer lock) and that is made durable *before* any chunk is
deleted. A chunk is deleted only when no remaining snapshot's database refers to it, so
a kill during the sweep just leaves unused chunks, which the next prune deletes.
Call these only while holding :func:`~homesync.store.backup_repo_lock.hold_for_writing`:
a ``backup create`` reuses chunks already in the pool without copying them, so none may
vanish while it runs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

from homesync.store.backup_repo import BackupRepo
from homesync.store.durable_files import fsync_dir

__all__ = ["PoolChunk", "chunk_dirs", "chunks_in", "remove_chunk", "remove_empty_dirs",
           "remove_unpublished", "snapshot_bytes", "unpublish"]

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_UNPUBLISHED = "pruned-"


def snapshot_bytes(repo: BackupRepo, name: str) -> int:
    """What the files of snapshot ``name`` take (its database, key and manifest)."""
    return sum(p.stat().st_size for p in repo.snapshot_dir(name).iterdir() if p.is_file())


def unpublish(repo: BackupRepo, names: list[str]) -> None:
    """Take the snapshots ``names`` out of ``snapshots/``, each in one rename, durably.

    After this returns no listing, verify or restore sees them, even after a power cut;
    their files are still under ``tmp/`` until :func:`remove_unpublished`.
    """
    for name in names:
        os.replace(repo.snapshot_dir(name), repo.tmp_dir / f"{_UNPUBLISHED}{name}")
    fsync_dir(repo.snapshots_dir)
    fsync_dir(repo.tmp_dir)


def remove_unpublished(repo: BackupRepo) -> None:
    for path in repo.tmp_dir.glob(f"{_UNPUBLISHED}*"):
        shutil.rmtree(path, ignore_errors=True)


class PoolChunk:
    __slots__ = ("hash", "path", "size")

    def __init__(self, chunk_hash: str, path: str, size: int) -> None:
        self.hash = chunk_hash
        self.path = path
        self.size = size


def chunk_dirs(repo: BackupRepo) -> list[Path]:
    """The pool's top-level directories (``chunks/ab``): the unit of sweep progress."""
    if not repo.chunks_dir.is_dir():
        return []
    return sorted(p for p in repo.chunks_dir.iterdir() if p.is_dir())


def chunks_in(top: Path) -> Iterator[PoolChunk]:
    """Every chunk file under one top-level pool directory (``chunks/ab/cd/<hash>``)."""
    with os.scandir(top) as middles:
        for middle in middles:
            if not middle.is_dir(follow_symlinks=False):
                continue
            with os.scandir(middle.path) as entries:
                for entry in entries:
                    if _HEX64.match(entry.name) and entry.is_file(follow_symlinks=False):
                        yield PoolChunk(entry.name, entry.path, entry.stat().st_size)


def remove_chunk(chunk: PoolChunk) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(chunk.path)


def remove_empty_dirs(top: Path) -> None:
    """Drop ``chunks/ab/cd`` (and ``chunks/ab``) directories a sweep emptied: each holds
    a block of the backup disk. A later backup makes them again when it needs them."""
    for middle in list(top.iterdir()):
        with contextlib.suppress(OSError):
            middle.rmdir()  # fails, and stays, unless empty
    with contextlib.suppress(OSError):
        top.rmdir()
