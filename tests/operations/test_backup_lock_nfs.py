"""DEST on a filesystem whose ``flock`` is byte-range locking underneath (NFS): an
exclusive lock needs a file open for writing, so the prune's exclusive flock of the DEST
directory (opened read-only) fails with EBADF. The prune went no further (exit 1, "Bad
file descriptor"): on such a DEST no prune could run at all. It now prunes without that
lock, as readers there read without theirs."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.services.maintenance.prune import prune_backup
from homesync.services.maintenance.retention import Retention
from homesync.store import backup_repo_lock
from homesync.store.backup_repo import BackupRepo
from tests.operations.backup_lock import two_snapshots

_real_flock = fcntl.flock


def _flock_as_on_nfs(fd: int, operation: int) -> None:
    """flock as an NFS mount answers it: exclusive only on a file open for writing."""
    opened_for_reading = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY
    if operation & fcntl.LOCK_EX and opened_for_reading:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))
    _real_flock(fd, operation)


async def test_a_prune_runs_where_dest_cannot_be_locked_exclusively(
        services: Services, make_user, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "backup"
    first, only_first = await two_snapshots(services, make_user, dest)
    repo = BackupRepo.open(dest)
    monkeypatch.setattr(backup_repo_lock.fcntl, "flock", _flock_as_on_nfs)

    report = await prune_backup(dest, Retention(keep_last=1))

    assert [s.name for s in report.removed] == [first]
    assert report.removed_chunks == len(only_first)
    assert not any(repo.chunk_path(h).exists() for h in only_first)
