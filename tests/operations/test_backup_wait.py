"""`homesync backup create|prune --wait DURATION` (real subprocesses): the nightly
timer's prune (or a cron job's create) that meets another backup writing to the same
DEST waits for it to finish instead of failing the unit; a wait that runs out is the
usual busy refusal (exit code 5, nothing changed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from homesync.store.backup_repo_lock import hold_for_writing
from tests.operations.backup_lock import run_once_waiting
from tests.operations.cli import as_json, homesync
from tests.operations.restored import assert_photos_download, photos_backed_up
from tests.operations.test_backup_prune import tree


def _command(which: str, dest: Path, data: Path) -> list[str]:
    if which == "create":
        return ["backup", "create", str(dest), "--data-dir", str(data)]
    return ["backup", "prune", str(dest), "--keep-last", "1"]


@pytest.mark.parametrize("which", ["create", "prune"])
async def test_wait_waits_for_the_other_backup_then_runs(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    data = services.settings.data_path
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest, backups=2)

    done = run_once_waiting(dest, *_command(which, dest, data), "--wait", "10m", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"another backup is writing to {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"]
    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert len(listed["snapshots"]) == (3 if which == "create" else 1)

    restored = tmp_path / "restored"
    assert homesync("backup", "restore", dest, "--data-dir", restored).returncode == 0
    assert_photos_download(restored, [photo_id])


@pytest.mark.parametrize("which", ["create", "prune"])
async def test_a_wait_that_runs_out_is_busy_and_changes_nothing(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    data = services.settings.data_path
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest, backups=2)
    before = tree(dest)

    with hold_for_writing(BackupRepo.open(dest)):
        busy = homesync(*_command(which, dest, data), "--wait", "1s", "--json")
    assert busy.returncode == 5, busy.stdout + busy.stderr
    error = as_json(busy)["error"]
    assert f"another backup is writing to {dest} (still, after waiting 1s)" in error, error
    assert tree(dest) == before

    bad = homesync(*_command(which, dest, data), "--wait", "soon")
    assert bad.returncode == 2 and "--wait" in bad.stderr, bad.stderr
