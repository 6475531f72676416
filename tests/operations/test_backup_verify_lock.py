"""`homesync backup verify` holds DEST's delete lock shared while it reads (real
processes): a prune deleting from DEST meanwhile made it report damage that was not
there, chunks the prune was deleting; now it refuses (exit code 5) or waits with --wait,
and a prune meeting a verify says that is what is in its way. A backup being made
deletes nothing: it and a verify run side by side."""

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
    with held(dest, "prune", *pruning):  # a prune half way through removing the first
        busy = homesync("backup", "verify", dest, "--snapshot", first, "--json")
        waited_out = homesync("backup", "verify", dest, "--wait", "1s", "--json")
    assert busy.returncode == 5, busy.stdout + busy.stderr
    assert as_json(busy)["error"] == (f"a backup prune is deleting from {dest}; nothing was"
                                      " verified, try again later (or with --wait)")
    assert waited_out.returncode == 5, waited_out.stdout + waited_out.stderr
    assert (f"a backup prune is deleting from {dest} (still, after waiting 1s); nothing was"
            " verified") in as_json(waited_out)["error"]


async def test_verify_wait_waits_for_the_prune_then_checks(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await two_snapshots(services, make_user, dest)
    done = run_once_waiting(dest, "backup", "verify", dest, "--read-data", "--wait", "10m",
                            "--json", how="prune")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"a backup prune is deleting from {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["chunksRead"] == report["chunks"] > 0


async def test_a_verify_reading_keeps_prune_out_but_not_a_backup_or_another_verify(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await two_snapshots(services, make_user, dest)
    data = services.settings.data_path
    before = tree(dest)
    with held(dest, "read"):  # a verify reading DEST
        pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
        assert tree(dest) == before
        created = homesync("backup", "create", dest, "--json", "--data-dir", data)
        verified = homesync("backup", "verify", dest, "--json")
    assert pruned.returncode == 5, pruned.stdout + pruned.stderr
    assert as_json(pruned)["error"] == (f"a backup verify, restore, list or dry-run prune is"
                                        f" reading {dest}; nothing was removed, try again later")
    assert created.returncode == 0, created.stdout + created.stderr
    assert as_json(created)["snapshot"] in {p.name for p in (dest / "snapshots").iterdir()}
    assert verified.returncode == 0 and as_json(verified)["ok"], verified.stdout
