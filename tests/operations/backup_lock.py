"""Another process holding a backup DEST's locks, as a running `backup create` (writer),
`backup prune` (writer, deleting) or `backup verify` (reader) does, a command run against DEST meanwhile, and a DEST with a
snapshot for a prune to remove."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from homesync.services.container import Services
from tests.operations.cli import as_json, homesync
from tests.operations.data import delete_file, photo, put_file
from tests.operations.test_backup_prune import snapshot_chunks

# Holds DEST's locks as `backup create` (write), `backup prune` (prune) or `backup verify`
# (read) does, removing the given files under them first as a prune removing a snapshot does.
_HOLDER = """
import sys
from pathlib import Path
from homesync.store.backup_repo import BackupRepo
from homesync.store.backup_repo_lock import hold_for_reading, hold_for_writing
repo = BackupRepo.open(Path(sys.argv[1]))
how = sys.argv[2]
with hold_for_reading(repo) if how == "read" else hold_for_writing(repo, deleting=how == "prune"):
    for path in sys.argv[3:]:
        Path(path).unlink()
    print("holding", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held(dest: Path, how: str, *removing: Path) -> Iterator[None]:
    """DEST's locks held by another process for the block (``how``: "write" as a backup
    being made, "prune" as a prune, "read" as a verify)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(dest), how, *map(str, removing)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None
    try:
        assert proc.stdout.readline() == "holding\n"
        yield
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0


def run_once_waiting(dest: Path, *args: str | Path,
                     how: str = "write") -> subprocess.CompletedProcess[str]:
    """``homesync args`` (with a ``--wait``) while another process holds DEST (``how``, as
    for :func:`held`), which lets go once the command says it is waiting for it: that
    line starts its stderr."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", "COLUMNS": "300"}
    env.pop("HOMESYNC_DATA_DIR", None)
    with held(dest, how):
        proc = subprocess.Popen([sys.executable, "-m", "homesync", *map(str, args)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        said = proc.stderr.readline()  # blocks until it says it waits (or ends)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(args, proc.returncode, out, said + err)


async def two_snapshots(services: Services, make_user, dest: Path) -> tuple[str, set[str]]:
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
