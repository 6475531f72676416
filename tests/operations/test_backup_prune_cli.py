"""`homesync backup prune` as an operator runs it (real subprocesses)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from homesync.store.backup_repo_lock import hold_for_writing
from tests.operations.data import chunk_files, delete_file, photo, put_file
from tests.operations.restored import photos_backed_up
from tests.operations.test_backup_cli import as_json, homesync
from tests.operations.test_backup_prune import snapshot_chunks, tree


async def test_prune_command_dry_run_then_prune_then_verify(services: Services, make_user,
                                                            tmp_path: Path) -> None:
    uid = await make_user()
    old = await put_file(services, uid, "/camera", "old.jpg", photo(1))
    await put_file(services, uid, "/camera", "kept.jpg", photo(2))
    data = services.settings.data_path
    dest = tmp_path / "usb" / "homesync"
    first = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))
    await delete_file(services, uid, old)
    second = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))
    only_first = (snapshot_chunks(dest, first["snapshot"])
                  - snapshot_chunks(dest, second["snapshot"]))
    shared = snapshot_chunks(dest, first["snapshot"]) & snapshot_chunks(dest, second["snapshot"])

    no_rule = homesync("backup", "prune", dest, "--json")
    assert no_rule.returncode == 2 and "--keep-last" in as_json(no_rule)["error"]
    assert homesync("backup", "prune", dest, "--keep-last", "0").returncode == 2

    before = tree(dest)
    dry = homesync("backup", "prune", dest, "--keep-last", "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert tree(dest) == before
    assert "would be removed" in dry.stdout and first["snapshot"] in dry.stdout
    assert "nothing was changed" in dry.stdout

    pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
    assert pruned.returncode == 0, pruned.stderr
    report = as_json(pruned)
    assert report["ok"] and not report["dryRun"]
    assert [s["name"] for s in report["removed"]] == [first["snapshot"]]
    assert [(s["name"], s["reasons"]) for s in report["kept"]] == [
        (second["snapshot"], ["last", "latest"])]
    assert report["removedChunks"] == len(only_first) and report["freedBytes"] > 150_000
    assert report["policy"] == {"keepLast": 1, "keepDaily": None, "keepWeekly": None,
                                "keepMonthly": None, "keepYearly": None}
    assert shared <= set(chunk_files(dest)) and not only_first & set(chunk_files(dest))
    verified = homesync("backup", "verify", dest, "--read-data", "--json")
    assert verified.returncode == 0 and as_json(verified)["ok"], verified.stdout

    human = homesync("backup", "prune", dest, "--keep-daily", "7", "--keep-weekly", "4")
    assert human.returncode == 0, human.stderr
    assert "Space freed" in human.stdout and second["snapshot"] in human.stdout


async def test_prune_refusals_and_a_damaged_snapshot(services: Services, make_user,
                                                     tmp_path: Path) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "a.jpg", photo(1))
    data = services.settings.data_path
    dest = tmp_path / "backup"
    first = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))
    homesync("backup", "create", dest, "--json", "--data-dir", data)
    before = tree(dest)

    with hold_for_writing(BackupRepo.open(dest)):  # a backup into DEST is running
        busy = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
    assert busy.returncode == 5, busy.stdout + busy.stderr
    assert "another backup is writing" in as_json(busy)["error"]
    assert tree(dest) == before
    stranger = homesync("backup", "prune", tmp_path, "--keep-last", "1", "--json")
    assert stranger.returncode == 1 and "not a homesync backup" in as_json(stranger)["error"]

    (dest / "snapshots" / first["snapshot"] / "manifest.json").write_text("{")
    damaged = homesync("backup", "prune", dest, "--keep-last", "1")
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    said = " ".join(damaged.stderr.split())
    assert f"snapshot {first['snapshot']} is damaged" in said and "kept" in said
    assert (dest / "snapshots" / first["snapshot"]).is_dir()


KILL_AFTER = """
import os, signal, sys
from homesync.store import backup_pool
step, count = sys.argv[1], int(sys.argv[2])
done = 0

def kill_after(real):
    def run(*args):
        global done
        if done == count:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind runs
        real(*args)
        done += 1
    return run

setattr(backup_pool, step, kill_after(getattr(backup_pool, step)))
sys.argv = ["homesync", "backup", "prune", *sys.argv[3:]]
from homesync.cli import main
main()
"""


def prune_killed_at(step: str, count: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`backup prune` SIGKILLed at the ``count``-th call of ``backup_pool.<step>``."""
    return subprocess.run([sys.executable, "-c", KILL_AFTER, step, str(count), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


async def test_prune_killed_9_at_any_step_leaves_verifiable_snapshots_and_a_rerun_finishes(
        services: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    data = services.settings.data_path
    dest = tmp_path / "backup"
    names = []
    for round_ in range(3):
        ids = [await put_file(services, uid, f"/r{round_}", f"{i}.jpg",
                              photo(100 * round_ + i, 20_000), chunk_size=4096)
               for i in range(3)]
        names.append(as_json(homesync("backup", "create", dest, "--json", "--data-dir",
                                      data))["snapshot"])
        for file_id in ids[:2]:
            await delete_file(services, uid, file_id)

    # Killed after taking the oldest snapshot out (before its files are deleted), then
    # after deleting 4 chunks of it; each time every snapshot left verifies.
    for step, count, left in (("remove_unpublished", 0, names[1:]),
                              ("remove_chunk", 4, names[2:])):
        killed = prune_killed_at(step, count, dest, "--keep-last", str(len(left)))
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        listed = as_json(homesync("backup", "list", dest, "--json"))
        assert [s["name"] for s in listed["snapshots"]] == left
        for name in left:
            verified = homesync("backup", "verify", dest, "--snapshot", name, "--read-data")
            assert verified.returncode == 0, verified.stdout + verified.stderr

    assert any((dest / "tmp").iterdir()) or len(chunk_files(dest)) > len(
        snapshot_chunks(dest, names[2]))
    finished = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
    assert finished.returncode == 0, finished.stderr
    assert set(chunk_files(dest)) == snapshot_chunks(dest, names[2])
    assert list((dest / "tmp").iterdir()) == []
    assert homesync("backup", "verify", dest, "--read-data").returncode == 0


async def test_same_second_snapshots_are_taken_in_order_when_latest_is_lost(
        services: Services, make_user, tmp_path: Path) -> None:
    """A second's snapshots are named <time>, <time>-1, … <time>-10. Sorted as text "-10"
    came before "-2", so with `latest` lost prune kept "-2" as the latest and `list` named
    it so: the newest is "-10"."""
    dest = tmp_path / "backup"
    await photos_backed_up(services, make_user, dest, backups=3)
    taken = sorted((json.loads((p / "manifest.json").read_text())["startedAt"], p)
                   for p in (dest / "snapshots").iterdir())
    base = taken[0][1].name.partition("-")[0]
    names = [base, f"{base}-2", f"{base}-10"]  # in the order they were taken
    aside = [snapshot.rename(tmp_path / f"aside-{i}") for i, (_, snapshot) in enumerate(taken)]
    for snapshot, name in zip(aside, names, strict=True):
        manifest = json.loads((snapshot / "manifest.json").read_text())
        (snapshot / "manifest.json").write_text(json.dumps({**manifest, "name": name}))
        snapshot.rename(dest / "snapshots" / name)
    (dest / "latest").unlink()  # lost: the newest snapshot is taken for it

    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert listed["latest"] == names[-1]
    assert [s["name"] for s in listed["snapshots"]] == names

    pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    report = as_json(pruned)
    assert [(s["name"], s["reasons"]) for s in report["kept"]] == [(names[-1], ["last", "latest"])]
    assert [s["name"] for s in report["removed"]] == names[:-1]
    assert sorted(p.name for p in (dest / "snapshots").iterdir()) == [names[-1]]
