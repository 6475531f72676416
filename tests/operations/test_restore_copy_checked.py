"""`homesync backup restore` checks the snapshot's database and server key against the
manifest before it touches the target, then reads them again to copy them: that copy is
hashed too, so bytes that read back differently (a flaky backup disk, a DEST changed
meanwhile) stop the restore instead of becoming the restored database."""

from __future__ import annotations

from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.services.maintenance.progress import NoProgress
from homesync.services.maintenance.restore import RestoreError, restore_backup
from homesync.services.maintenance.restore_target import unfinished_restore
from homesync.store.backup_repo import BackupRepo
from tests.operations.data import photo, put_file
from tests.operations.restored import assert_photos_download


class _TearAt(NoProgress):
    """Garbles the tail of ``path`` when the restore reaches ``phase`` (after its checks)."""

    def __init__(self, phase: str, path: Path) -> None:
        self._phase, self._path = phase, path
        self.torn = b""

    def phase(self, description: str, *, total_bytes: int | None = None,
              total_items: int | None = None) -> None:
        if description == self._phase and not self.torn:
            self.torn = self._path.read_bytes()
            self._path.write_bytes(self.torn[:-64] + bytes(b ^ 0xFF for b in self.torn[-64:]))


@pytest.mark.parametrize("name", ["homesync.sqlite3", "server.key"])
async def test_a_snapshot_file_that_reads_back_torn_stops_the_restore(
        services: Services, make_user, tmp_path: Path, name: str) -> None:
    uid = await make_user()
    photo_id = await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    repo = BackupRepo.open(dest)
    path = repo.snapshot_dir(repo.resolve(None)) / name
    target = tmp_path / "restored"

    tear = _TearAt("Restore database", path)
    with pytest.raises(RestoreError, match="read back differently"):
        await restore_backup(dest, target, fsync=False, progress=tear)
    assert unfinished_restore(target) is not None  # nothing opens the half restore

    path.write_bytes(tear.torn)  # the disk reads right again: the same restore finishes
    report = await restore_backup(dest, target, fsync=False)
    assert report.ok, report
    assert_photos_download(target, [photo_id])
