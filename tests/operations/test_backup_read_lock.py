"""`homesync backup restore`, `backup list` and `backup prune --dry-run` hold DEST's delete
lock shared while they read it, as `backup verify` does (real processes): a prune
removing the snapshot being restored left the restore failing half way, or restoring it
with chunks missing, and a dry run could plan from a snapshot half removed. Beside a
prune they now refuse (exit code 5, nothing changed) or wait with --wait; beside a
verify, or a backup being made (hours, the first time), they run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.operations.backup_lock import held, run_once_waiting, two_snapshots
from tests.operations.cli import as_json, homesync
from tests.operations.restored import assert_photos_download, photos_backed_up
from tests.operations.test_backup_prune import tree

READERS = ["restore", "list", "dry-run"]

# What each says when a prune is in the way, after "a backup prune is deleting from DEST".
_NOTHING_DONE = {
    "restore": "; nothing was restored (the data dir was not touched), try again later"
               " (or with --wait)",
    "list": "; nothing was listed, try again later (or with --wait)",
    "dry-run": "; nothing was removed, try again later",
}


def _reader(which: str, dest: Path, target: Path, *more: str) -> list[str | Path]:
    """The command line of ``which``, reading DEST (a restore into ``target``)."""
    if which == "restore":
        return ["backup", "restore", dest, "--data-dir", target, *more]
    if which == "list":
        return ["backup", "list", dest, *more]
    return ["backup", "prune", dest, "--keep-last", "1", "--dry-run", *more]


@pytest.mark.parametrize("which", READERS)
async def test_a_reader_beside_a_prune_refuses_and_changes_nothing(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    dest = tmp_path / "backup"
    first, only_first = await two_snapshots(services, make_user, dest)
    target = tmp_path / "restored"
    repo = BackupRepo.open(dest)
    pruning = [repo.chunk_path(h) for h in only_first]
    restoring_it = ("--snapshot", first) if which == "restore" else ()
    with held(dest, "prune", *pruning):  # a prune half way through removing the first
        busy = homesync(*_reader(which, dest, target, *restoring_it, "--json"))
        waited_out = homesync(*_reader(which, dest, target, *restoring_it, "--wait", "1s",
                                       "--json"))
        left = tree(dest)
    assert busy.returncode == 5, busy.stdout + busy.stderr
    assert as_json(busy)["error"] == (f"a backup prune is deleting from {dest}"
                                      f"{_NOTHING_DONE[which]}")
    assert waited_out.returncode == 5, waited_out.stdout + waited_out.stderr
    assert as_json(waited_out)["error"] == (f"a backup prune is deleting from {dest} (still, after"
                                            f" waiting 1s){_NOTHING_DONE[which]}")
    assert not target.exists()  # the restore never touched the data dir
    assert tree(dest) == left


@pytest.mark.parametrize("which", READERS)
async def test_with_wait_a_reader_waits_for_the_prune_then_reads(
        services: Services, make_user, tmp_path: Path, which: str) -> None:
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest, backups=2)
    before = tree(dest)
    target = tmp_path / "restored"

    done = run_once_waiting(dest, *_reader(which, dest, target, "--wait", "10m", "--json"),
                            how="prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"a backup prune is deleting from {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    if which == "restore":
        assert report["ok"], report
        assert_photos_download(target, [photo_id])
    elif which == "list":
        assert len(report["snapshots"]) == 2 and not report["damaged"], report
    else:
        assert report["dryRun"] and len(report["removed"]) == 1, report
        assert tree(dest) == before


@pytest.mark.parametrize("beside", ["read", "write"])
async def test_readers_run_beside_a_verify_or_a_backup_being_made(
        services: Services, make_user, tmp_path: Path, beside: str) -> None:
    """Shared, not exclusive: a verify reading DEST (the nightly unit's) keeps none of
    them out, nor they one another; nor does a backup being made (it deletes nothing they
    read, and a first backup takes hours): they ran into exit code 5 for all its run."""
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest, backups=2)
    target = tmp_path / "restored"
    with held(dest, beside):
        ran: dict[str, subprocess.CompletedProcess[str]] = {
            which: homesync(*_reader(which, dest, target, "--json")) for which in READERS}
    for which, result in ran.items():
        assert result.returncode == 0, (which, result.stdout, result.stderr)
    assert_photos_download(target, [photo_id])
