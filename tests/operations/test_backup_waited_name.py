"""A `backup create --wait` that waited for another backup (or prune) names its snapshot,
and dates it (`startedAt`, what `prune`'s rules go by), from when it took the database,
not from when it began to wait: the snapshot holds what was uploaded meanwhile."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from homesync import clock
from homesync.services.container import Services
from tests.operations.backup_lock import held
from tests.operations.data import photo, put_file
from tests.operations.restored import photos_backed_up


def _start_backup(dest: Path, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "COLUMNS": "300"}
    env.pop("HOMESYNC_DATA_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-m", "homesync", "backup", "create", str(dest), "--wait", "10m",
         "--json", "--data-dir", str(data_dir)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


async def test_a_snapshot_taken_after_a_wait_is_named_from_when_it_was_taken(
        services: Services, make_user, tmp_path: Path) -> None:
    """It was named from the moment the command started: a snapshot "of 03:00" held the
    files uploaded while it waited, until 03:40 say (the timer waits up to 2 h)."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest)
    uid = (await services.accounts.get("alice@example.com")).id
    with held(dest, "write"):
        proc = _start_backup(dest, services.settings.data_path)
        assert proc.stderr is not None
        assert "waiting for it to finish" in proc.stderr.readline()
        uploaded_at = clock.now_ms()
        await put_file(services, uid, "/camera", "while_waiting.jpg", photo(7))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err

    report = json.loads(out)
    assert report["files"] == 2  # the photo uploaded while it waited is in it
    assert report["startedAt"] >= clock.rfc3339(uploaded_at)
    assert report["snapshot"] >= time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(uploaded_at / 1000))
