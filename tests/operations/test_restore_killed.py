"""`homesync backup restore` killed with SIGKILL, or run twice at once (real
subprocesses): no command opens a half-restored data dir, a second restore into it
refuses while the first runs, and running the same restore again finishes it."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.services.maintenance.restore import RestoreBusy, restore_backup
from homesync.store.server_lock import hold_server_lock
from tests.helpers import PASSWORD, free_port
from tests.operations.data import chunk_files, flip_byte, photo, put_file
from tests.operations.paused import paused_command, resume
from tests.operations.restored import assert_photos_download, photos_backed_up
from tests.operations.test_backup_cli import as_json, homesync

# `backup restore` killed (SIGKILL: no cleanup of any kind runs) as it is about to rename
# into place entry number argv[2] (from 0) whose new path holds argv[1]: "pre-restore-"
# for the previous contents moved aside, "/chunks/" for the chunks.
KILL_AT_RENAME = """
import os, signal, sys
part, count = sys.argv[1], int(sys.argv[2])
renamed = 0
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    global renamed
    if part in str(dst):
        if renamed == count:
            os.kill(os.getpid(), signal.SIGKILL)
        renamed += 1
    real_replace(src, dst, *args, **kwargs)

os.replace = replace
os.environ["HOMESYNC_STORAGE_FSYNC"] = "false"
sys.argv = ["homesync", "backup", "restore", *sys.argv[3:]]
from homesync.cli import main
main()
"""


PAUSE_AT_FIRST_CHUNK = """
import os, sys
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if "/chunks/" in str(dst) and sys.stdin:  # the first chunk goes into place
        print("paused", flush=True)
        sys.stdin.readline()  # until the test closes our stdin
        sys.stdin = None
    real_replace(src, dst, *args, **kwargs)

os.replace = replace
os.environ["HOMESYNC_STORAGE_FSYNC"] = "false"
sys.argv = ["homesync", "backup", "restore", *sys.argv[1:]]
from homesync.cli import main
main()
"""


def python(*args: str | Path, input: str | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *map(str, args)], input=input, capture_output=True,
                          text=True, timeout=timeout)


def contents(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


async def test_restore_force_killed_while_moving_aside_is_refused_until_run_again(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest)
    # Today's server, stopped: a real data dir with an account of its own.
    target = tmp_path / "home-server"
    added = python("-m", "homesync", "user", "add", "bob@example.com", "--password-stdin",
                   "--data-dir", target, input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    today = contents(target)
    assert len(list(target.iterdir())) >= 2

    killed = python("-c", KILL_AT_RENAME, "pre-restore-", "1", dest, "--force", "--data-dir",
                    target)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    [aside] = target.glob("pre-restore-*")
    assert len(list(aside.iterdir())) == 1, "killed after moving one entry aside"
    assert any(p.name in today for p in target.iterdir()), "and before moving the rest"

    # Nothing opens the half-moved data dir; each says how to finish.
    status = homesync("status", "--json", "--data-dir", target)
    assert status.returncode == 1, status.stdout + status.stderr
    error = as_json(status)["error"]
    assert "homesync backup restore" in error and str(dest) in error, error
    serve = python("-m", "homesync", "serve", "--data-dir", target, "--port", free_port(),
                   timeout=60)
    assert serve.returncode == 1, serve.stdout + serve.stderr
    assert "homesync backup restore" in serve.stderr and str(dest) in serve.stderr, serve.stderr

    # The same restore again moves the rest aside (into the same folder), then restores.
    again = homesync("backup", "restore", dest, "--force", "--json", "--data-dir", target)
    assert again.returncode == 0, again.stdout + again.stderr
    assert as_json(again)["ok"] and as_json(again)["movedAside"] == str(aside)
    assert contents(aside) == today  # every file of today's server, none twice
    assert list(target.glob("pre-restore-*")) == [aside]

    assert_photos_download(target, [photo_id])


@contextmanager
def restore_paused(*args: str | Path) -> Iterator[subprocess.Popen[str]]:
    """A `backup restore` stopped with its first chunk copied but not yet in place."""
    with paused_command(PAUSE_AT_FIRST_CHUNK, *args) as proc:
        yield proc


async def test_second_restore_into_the_same_data_dir_is_busy_and_changes_nothing(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    photo_ids = await photos_backed_up(services, make_user, dest, count=3)
    target = tmp_path / "restored"

    with restore_paused(dest, "--json", "--data-dir", target) as first:
        during = contents(target)
        second = homesync("backup", "restore", dest, "--json", "--data-dir", target)
        assert second.returncode == 5, second.stdout + second.stderr
        error = as_json(second)["error"]
        assert "another `homesync backup restore`" in error and str(target) in error, error
        assert contents(target) == during  # nothing was changed
        forced = homesync("backup", "restore", dest, "--force", "--json", "--data-dir", target)
        assert forced.returncode == 5, forced.stdout + forced.stderr
        assert contents(target) == during

        out = resume(first)  # the first one goes on
    assert json.loads(out.splitlines()[-1])["ok"]

    assert_photos_download(target, photo_ids)


async def test_restore_where_a_directory_cannot_be_locked_goes_on_without_the_lock(
        services: Services, make_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    real_flock = fcntl.flock

    def nfs_flock(fd: int, op: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}") and op & fcntl.LOCK_EX:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))  # NFS: a dir is not open for writing
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    report = await restore_backup(dest, tmp_path / "restored", fsync=False)
    assert report.ok and report.copied_chunks == report.chunks


# `backup restore` stopped after its checks (no server runs there, the data dir is empty)
# and before it starts writing its marker: the moment a `serve` started by hand or by
# systemd could slip in.
PAUSE_AT_MARKER = """
import os, sys
from homesync.services.maintenance import restore_target
real_write = restore_target.write_atomic

def write_atomic(path, *args, **kwargs):
    if sys.stdin:
        print("paused", flush=True)
        sys.stdin.readline()  # until the test closes our stdin
        sys.stdin = None
    real_write(path, *args, **kwargs)

restore_target.write_atomic = write_atomic
os.environ["HOMESYNC_STORAGE_FSYNC"] = "false"
sys.argv = ["homesync", "backup", "restore", *sys.argv[1:]]
from homesync.cli import main
main()
"""


def serve_refused(data_dir: Path) -> tuple[int, str, str]:
    """`homesync serve` on ``data_dir``, expected to refuse: (exit code, stdout, stderr).
    One that starts serving instead fails the test."""
    serve = subprocess.Popen(
        [sys.executable, "-m", "homesync", "serve", "--data-dir", str(data_dir), "--port",
         str(free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HOMESYNC_STORAGE_FSYNC": "false"})
    try:
        out, err = serve.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        serve.kill()
        raise AssertionError(f"serve started on {data_dir} as it was being restored: "
                             f"{serve.communicate()}") from None
    return serve.returncode, out, err


async def test_a_server_started_before_the_restore_marks_the_data_dir_refuses(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    [photo_id] = await photos_backed_up(services, make_user, dest)
    target = tmp_path / "restored"

    with paused_command(PAUSE_AT_MARKER, dest, "--json", "--data-dir", target) as restore:
        code, out, err = serve_refused(target)
        assert code == 4, out + err  # as on a data dir in use
        assert f"`homesync backup restore` (pid {restore.pid}) is restoring into {target}" \
            in err, err
        assert not (target / "homesync.sqlite3").exists()  # it opened nothing there

        out = resume(restore)  # the restore goes on
    assert json.loads(out.splitlines()[-1])["ok"]

    assert_photos_download(target, [photo_id])


async def test_where_a_directory_cannot_be_locked_a_second_restore_is_still_busy(
        services: Services, make_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS the data dir's own lock is skipped; server.lock, a file, still tells the
    first restore (it writes "<pid> restore" there) from a server."""
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    target = tmp_path / "restored"
    target.mkdir()
    real_flock = fcntl.flock

    def nfs_flock(fd: int, op: int) -> None:
        if os.path.isdir(f"/proc/self/fd/{fd}") and op & fcntl.LOCK_EX:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    with hold_server_lock(target, restoring=True):  # the first restore, as it runs
        with pytest.raises(RestoreBusy, match="`homesync backup restore`"):
            await restore_backup(dest, target, fsync=False)
    assert sorted(p.name for p in target.iterdir()) == ["server.lock"]


async def test_a_resumed_restore_copies_again_chunks_left_whole_in_size_only(
        services: Services, make_user, tmp_path: Path) -> None:
    """A power cut after a chunk was renamed into place, before its bytes reached the
    disk, leaves it with its size and not its content: running the restore again must
    not take it as restored."""
    dest = tmp_path / "backup"
    photo_ids = await photos_backed_up(services, make_user, dest, count=3)  # 3 chunks each
    target = tmp_path / "restored"

    killed = python("-c", KILL_AT_RENAME, "/chunks/", "5", dest, "--data-dir", target)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    placed = sorted(chunk_files(target).values())
    assert len(placed) == 5
    flip_byte(placed[0])  # one byte wrong
    torn = placed[1].read_bytes()  # a torn tail: the size is right, the end is zeros
    placed[1].write_bytes(torn[:-4096] + bytes(4096))

    again = homesync("backup", "restore", dest, "--json", "--data-dir", target)
    assert again.returncode == 0, again.stdout + again.stderr
    report = as_json(again)
    assert report["ok"] and report["chunks"] == 9, report
    assert (report["resumedChunks"], report["copiedChunks"]) == (3, 6), report

    assert_photos_download(target, photo_ids)
