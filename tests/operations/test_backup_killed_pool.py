"""`homesync backup create` killed (SIGKILL) mid-copy with fsync on (a real subprocess):
DEST's chunk pool never holds a chunk copied since DEST was last synced. The next backup
takes a chunk in the pool with the right size as whole; after a power cut a chunk renamed
into place unsynced can have its size and not its bytes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from homesync.services.container import Services
from tests.operations.data import chunk_files, photo, put_file
from tests.operations.restored import assert_photos_download
from tests.operations.test_backup_cli import as_json, homesync

# Killed at DEST's sync number argv[2], chunks being synced argv[1] at a time (0: as
# configured), before the chunks that sync is for are moved into the pool.
KILL_AT_SYNC = """
import os, signal, sys
from homesync.store import backup_repo
if int(sys.argv[1]):
    backup_repo._SETTLE_CHUNKS = int(sys.argv[1])
kill_at = int(sys.argv[2])
real_syncfs = backup_repo.syncfs
calls = 0

def syncfs(path):
    global calls
    calls += 1
    if calls == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_syncfs(path)

backup_repo.syncfs = syncfs
sys.argv = ["homesync", "backup", "create", *sys.argv[3:]]
from homesync.cli import main
main()
"""


def _create_killed(batch: int, kill_at: int, dest: Path,
                   data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "true"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.run([sys.executable, "-c", KILL_AT_SYNC, str(batch), str(kill_at),
                           str(dest), "--json", "--data-dir", str(data)], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("batch", "kill_at", "in_pool"), [
    (0, 1, 0),  # one batch (the default's 4,096 chunks): none synced, none in the pool
    (2, 2, 2),  # two at a time: the first two, synced; not the two after them
])
async def test_a_killed_backup_leaves_only_synced_chunks_in_the_pool(
        services: Services, make_user, tmp_path: Path, batch: int, kill_at: int,
        in_pool: int) -> None:
    uid = await make_user()
    photo_ids = [await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i))
                 for i in range(3)]  # 9 chunks
    data = services.settings.data_path
    dest = tmp_path / "backup"

    killed = _create_killed(batch, kill_at, dest, data)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    assert len(chunk_files(dest)) == in_pool
    assert not (dest / "snapshots").exists() or not any((dest / "snapshots").iterdir())

    again = homesync("backup", "create", dest, "--json", "--data-dir", data)
    assert again.returncode == 0, again.stdout + again.stderr
    report = as_json(again)
    assert report["ok"] and (report["chunks"], report["copiedChunks"]) == (9, 9 - in_pool), report
    verified = homesync("backup", "verify", dest, "--read-data", "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr

    restored = tmp_path / "restored"
    assert homesync("backup", "restore", dest, "--data-dir", restored).returncode == 0
    assert_photos_download(restored, photo_ids)
