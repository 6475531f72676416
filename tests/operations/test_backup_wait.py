"""`homesync backup create|prune --wait DURATION` (real subprocesses): the nightly
timer's prune (or a cron job's create) that meets another backup writing to the same
DEST waits for it to finish instead of failing the unit; a wait that runs out is the
usual busy refusal (exit code 5, nothing changed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.helpers import ServerProcess
from tests.operations.data import photo, put_file
from tests.operations.phone import Phone
from tests.operations.test_backup_cli import as_json, homesync
from tests.operations.test_backup_prune import tree


def _command(which: str, dest: Path, data: Path) -> list[str]:
    if which == "create":
        return ["backup", "create", str(dest), "--data-dir", str(data)]
    return ["backup", "prune", str(dest), "--keep-last", "1"]


def _waits_then_runs(args: list[str], dest: Path) -> subprocess.CompletedProcess[str]:
    """Run ``homesync args`` while DEST's writer lock is held by another backup, which
    ends once the command says it is waiting for it."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "COLUMNS": "300"}
    env.pop("HOMESYNC_DATA_DIR", None)
    with BackupRepo.open(dest).writing():  # another backup into DEST is running
        proc = subprocess.Popen([sys.executable, "-m", "homesync", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        said = proc.stderr.readline()  # blocks until it says it waits (or ends)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, said + err)


@pytest.mark.parametrize("which", ["create", "prune"])
async def test_wait_waits_for_the_other_backup_then_runs(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    uid = await make_user()
    photo_id = await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    data = services.settings.data_path
    dest = tmp_path / "backup"
    for _ in range(2):
        assert homesync("backup", "create", dest, "--data-dir", data).returncode == 0

    done = _waits_then_runs([*_command(which, dest, data), "--wait", "10m", "--json"], dest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"another backup is writing to {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"]
    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert len(listed["snapshots"]) == (3 if which == "create" else 1)

    restored = tmp_path / "restored"
    assert homesync("backup", "restore", dest, "--data-dir", restored).returncode == 0
    server = ServerProcess(restored)
    server.start()
    try:
        r = Phone(server.base, "alice@example.com", "pixel").download(photo_id)
        assert r.status_code == 200 and r.content == photo(0), r.text
    finally:
        server.stop()


@pytest.mark.parametrize("which", ["create", "prune"])
async def test_a_wait_that_runs_out_is_busy_and_changes_nothing(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    data = services.settings.data_path
    dest = tmp_path / "backup"
    for _ in range(2):
        assert homesync("backup", "create", dest, "--data-dir", data).returncode == 0
    before = tree(dest)

    with BackupRepo.open(dest).writing():
        busy = homesync(*_command(which, dest, data), "--wait", "1s", "--json")
    assert busy.returncode == 5, busy.stdout + busy.stderr
    error = as_json(busy)["error"]
    assert f"another backup is writing to {dest} (still, after waiting 1s)" in error, error
    assert tree(dest) == before

    bad = homesync(*_command(which, dest, data), "--wait", "soon")
    assert bad.returncode == 2 and "--wait" in bad.stderr, bad.stderr
