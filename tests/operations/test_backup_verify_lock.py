"""`homesync backup verify` holds DEST's lock shared while it reads (real processes): a
prune (or create) writing to DEST meanwhile made it report damage that was not there,
chunks the prune was deleting; now it refuses (exit code 5) or waits with --wait, and a
prune or create meeting a verify says that is what is in its way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from tests.operations.data import delete_file, photo, put_file
from tests.operations.test_backup_cli import as_json, homesync
from tests.operations.test_backup_prune import snapshot_chunks, tree

# Another process holding DEST's lock as `backup prune` (write) or `backup verify` (read)
# does, removing the given files under it first as a prune removing a snapshot does.
_HOLDER = """
import sys
from pathlib import Path
from homesync.store.backup_repo import BackupRepo
repo = BackupRepo.open(Path(sys.argv[1]))
with repo.writing() if sys.argv[2] == "write" else repo.reading():
    for path in sys.argv[3:]:
        Path(path).unlink()
    print("holding", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held(dest: Path, how: str, *removing: Path) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(dest), how, *map(str, removing)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == "holding\n"
        yield
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


async def _two_snapshots(services: Services, make_user, dest: Path) -> tuple[str, set[str]]:
    """Two backups; a photo deleted between them. The first's name, and the chunks only
    it has (what a prune keeping the last one deletes)."""
    uid = await make_user()
    old = await put_file(services, uid, "/camera", "old.jpg", photo(1))
    await put_file(services, uid, "/camera", "kept.jpg", photo(2))
    data = services.settings.data_path
    first = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))["snapshot"]
    await delete_file(services, uid, old)
    second = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))["snapshot"]
    return first, snapshot_chunks(dest, first) - snapshot_chunks(dest, second)


async def test_verify_beside_a_prune_refuses_instead_of_reporting_damage(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, only_first = await _two_snapshots(services, make_user, dest)
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


def _verify_once_waiting(dest: Path) -> subprocess.CompletedProcess[str]:
    """`backup verify --wait 10m` while a writer holds DEST, which lets go once the verify
    says it is waiting for it."""
    env = {**os.environ, "COLUMNS": "300"}
    args = ["backup", "verify", str(dest), "--read-data", "--wait", "10m", "--json"]
    with held(dest, "write"):
        proc = subprocess.Popen([sys.executable, "-m", "homesync", *args], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        said = proc.stderr.readline()  # blocks until it says it waits (or ends)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, said + err)


async def test_verify_wait_waits_for_the_writer_then_checks(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await _two_snapshots(services, make_user, dest)
    done = _verify_once_waiting(dest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (f"another backup is writing to {dest}: waiting for it to finish (up to 10m)"
            in " ".join(done.stderr.split())), done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] and report["chunksRead"] == report["chunks"] > 0


async def test_a_verify_reading_keeps_prune_and_create_out_but_not_another_verify(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await _two_snapshots(services, make_user, dest)
    data = services.settings.data_path
    before = tree(dest)
    with held(dest, "read"):  # a verify reading DEST
        pruned = homesync("backup", "prune", dest, "--keep-last", "1", "--json")
        created = homesync("backup", "create", dest, "--json", "--data-dir", data)
        verified = homesync("backup", "verify", dest, "--json")
    assert pruned.returncode == 5, pruned.stdout + pruned.stderr
    assert as_json(pruned)["error"] == (f"a backup verify is reading {dest}; nothing was"
                                        " removed, try again later")
    assert created.returncode == 5, created.stdout + created.stderr
    assert as_json(created)["error"] == f"a backup verify is reading {dest}"
    assert tree(dest) == before
    assert verified.returncode == 0 and as_json(verified)["ok"], verified.stdout
