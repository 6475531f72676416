"""`homesync backup verify` holds DEST's lock shared while it reads (real processes): a
prune (or create) writing to DEST meanwhile made it report damage that was not there,
chunks the prune was deleting; now it refuses (exit code 5) or waits with --wait, and a
prune or create meeting a verify says that is what is in its way."""

from __future__ import annotations

import json
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.operations.backup_lock import held, run_once_waiting, two_snapshots
from tests.operations.test_backup_cli import as_json, homesync
from tests.operations.test_backup_prune import tree


async def test_verify_beside_a_prune_refuses_instead_of_reporting_damage(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, only_first = await two_snapshots(services, make_user, dest)
    assert only_first
    repo = BackupRepo.open(dest)
    pruning = [repo.chunk_path(h) for h in only_first]
    with held(dest, "write", *pruning):  # a prune half way through removing the first
        busy = homesync("backup", "verify", dest, "--snapshot", first, "--json")
        waited_out = homesync("backup", "verify", dest, "--wait", "1s", "--json")
    assert busy.returncode == 5, busy.stdout + busy.stderr
    assert as_json(busy)["error"] == (f"another backup is writing to {dest}; nothing was"
                                      " verified, try again later (or with --wait)")
    assert waited_out.returncode == 5, waited_out.stdout + waited_out.stderr
    assert (f"another backup is writing to {dest} (still, after waiting 1s); nothing was"
            " verified") in as_json(waited_out)["error"]


async def test_verify_wait_waits_for_the_writer_then_checks(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await two_snapshots(services, make_user, dest)
    done = run_once_waiting(dest, "backup", "verify", dest, "--read-data", "--wait", "10m",
                            "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"another backup is writing to {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["chunksRead"] == report["chunks"] > 0


async def test_a_verify_reading_keeps_prune_and_create_out_but_not_another_verify(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await two_snapshots(services, make_user, dest)
    data = services.settings.data_path
    before = tree(dest)
    with held(dest, "read"):  # a verify reading DEST
        pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
        created = homesync("backup", "create", dest, "--json", "--data-dir", data)
        verified = homesync("backup", "verify", dest, "--json")
    assert pruned.returncode == 5, pruned.stdout + pruned.stderr
    assert as_json(pruned)["error"] == (f"a backup verify, restore, list or dry-run prune is"
                                        f" reading {dest}; nothing was removed, try again later")
    assert created.returncode == 5, created.stdout + created.stderr
    assert as_json(created)["error"] == (f"a backup verify, restore, list or dry-run prune is"
                                         f" reading {dest}")
    assert tree(dest) == before
    assert verified.returncode == 0 and as_json(verified)["ok"], verified.stdout
