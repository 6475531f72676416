"""`homesync backup …` and `homesync status` as an operator runs them (real subprocesses)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from homesync.services.container import Services
from homesync.store.backup_repo import BackupRepo
from homesync.store.backup_repo_lock import hold_for_writing
from tests.operations.cli import as_json, homesync
from tests.operations.data import chunk_files, flip_byte, photo, put_file
from tests.operations.restored import assert_photos_download


def kill_backup_midway(dest: Path, data: Path, chunks_seen: int) -> None:
    """Start `backup create` and SIGKILL it once DEST holds ``chunks_seen`` chunks."""
    env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "homesync", "backup", "create", str(dest),
                             "--json", "--data-dir", str(data)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and len(chunk_files(dest)) < chunks_seen:
        time.sleep(0.01)  # another process: watching what it writes is all we can do
    proc.kill()
    proc.wait()


async def test_backup_verify_restore_status_commands(services: Services, make_user,
                                                     tmp_path: Path) -> None:
    uid = await make_user()
    for i in range(5):
        await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i))
    data = services.settings.data_path
    dest = tmp_path / "usb-disk" / "homesync"

    created = homesync("backup", "create", dest, "--json", "--data-dir", data)
    assert created.returncode == 0, created.stderr
    report = as_json(created)
    assert report["ok"] and report["files"] == 5 and report["copiedChunks"] == report["chunks"]

    human = homesync("backup", "create", dest, "--data-dir", data)
    assert human.returncode == 0, human.stderr
    assert "Copied now" in human.stdout and "Already in the backup" in human.stdout

    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert len(listed["snapshots"]) == 2 and listed["latest"] == listed["snapshots"][-1]["name"]
    # Times as `backup create --json` gives them (RFC 3339), not the manifest's milliseconds.
    first = listed["snapshots"][0]
    assert (first["name"], first["finishedAt"]) == (report["snapshot"], report["finishedAt"])

    ok = homesync("backup", "verify", dest, "--read-data", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert as_json(ok)["chunksRead"] == report["chunks"]

    runs = [as_json(homesync("backup", "verify", dest, "--read-data", "--subset", "40%",
                             "--seed", "1", "--json")) for _ in range(2)]
    assert runs[0]["chunksRead"] == runs[1]["chunksRead"] == round(report["chunks"] * 0.4)
    assert runs[0]["subset"]["seed"] == 1

    bad_hash, bad = sorted(chunk_files(dest).items())[0]
    flip_byte(bad)
    damaged = homesync("backup", "verify", dest, "--read-data")
    assert damaged.returncode == 1
    assert bad_hash in damaged.stderr and "damaged" in damaged.stderr
    assert "alice@example.com:/camera/IMG_" in damaged.stderr.replace("\n", "")
    flip_byte(bad)

    usage = homesync("backup", "verify", dest, "--read-data", "--subset", "lots")
    assert usage.returncode == 2
    assert homesync("backup", "verify", dest, "--subset", "10%").returncode == 2
    assert homesync("backup", "verify", tmp_path, "--json").returncode == 1

    target = tmp_path / "new-disk"
    restored = homesync("backup", "restore", dest, "--data-dir", target, "--json")
    assert restored.returncode == 0, restored.stderr
    assert as_json(restored)["ok"] and as_json(restored)["chunks"] == report["chunks"]
    # Something already there is exit code 4 (EXIT_CONFLICT), as for `init`, not 1 (failed).
    refused = homesync("backup", "restore", dest, "--data-dir", target)
    assert refused.returncode == 4 and "not empty" in refused.stderr
    stranger = tmp_path / "documents"
    stranger.mkdir()
    (stranger / "taxes.pdf").write_bytes(b"%PDF")
    taken = homesync("backup", "create", stranger, "--json", "--data-dir", data)
    assert taken.returncode == 4 and not as_json(taken)["ok"]
    assert "not a homesync backup" in as_json(taken)["error"]

    status = homesync("status", "--json", "--data-dir", data)
    assert status.returncode == 0, status.stderr
    st = as_json(status)
    assert st["users"] == 1 and st["files"] == 5
    assert st["logicalBytes"] == 5 * 150_000 and st["storedBytes"] == 5 * 150_000
    assert st["lastBackup"]["destination"] == str(dest)
    assert st["backupRunning"] is False

    restored_status = as_json(homesync("status", "--json", "--data-dir", target))
    # The restored database remembers the backups taken before its snapshot.
    assert restored_status["files"] == 5
    assert restored_status["lastBackup"]["snapshot"] == listed["snapshots"][0]["name"]
    text = homesync("status", "--data-dir", data)
    assert "Deduplication" in text.stdout and "Last backup" in text.stdout


async def test_backup_killed_halfway_then_again_both_verify(services: Services, make_user,
                                                            tmp_path: Path) -> None:
    uid = await make_user()
    for i in range(4):
        await put_file(services, uid, "/first", f"{i}.jpg", photo(i, 20_000), chunk_size=4096)
    data = services.settings.data_path
    dest = tmp_path / "backup"
    first = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))
    for i in range(300):
        await put_file(services, uid, "/second", f"{i}.jpg", photo(1000 + i, 40_000),
                       chunk_size=4096)

    before = len(chunk_files(dest))
    await asyncio.to_thread(kill_backup_midway, dest, data, before + 200)
    assert len(chunk_files(dest)) > before, "the backup should have been killed mid-copy"
    listed = as_json(homesync("backup", "list", dest, "--json"))
    assert listed["latest"] == first["snapshot"] and len(listed["snapshots"]) == 1
    assert homesync("backup", "verify", dest, "--read-data").returncode == 0

    second = as_json(homesync("backup", "create", dest, "--json", "--data-dir", data))
    assert second["ok"] and second["copiedChunks"] < second["chunks"] - first["chunks"]
    for name in (first["snapshot"], second["snapshot"]):
        result = homesync("backup", "verify", dest, "--snapshot", name, "--read-data", "--json")
        assert result.returncode == 0 and as_json(result)["ok"], result.stdout


async def test_refusals_that_change_nothing_have_their_own_exit_codes(
        services: Services, make_user, tmp_path: Path) -> None:
    """A cron job can tell "try again later" (5) and a bad argument (2) from a failure (1)."""
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    data = services.settings.data_path
    dest = tmp_path / "nas" / "homesync"
    assert homesync("backup", "create", dest, "--data-dir", data).returncode == 0
    snapshots = sorted(p.name for p in (dest / "snapshots").iterdir())

    with hold_for_writing(BackupRepo.open(dest)):  # another backup is writing there now
        busy = homesync("backup", "create", dest, "--json", "--data-dir", data)
    assert busy.returncode == 5, busy.stdout + busy.stderr
    assert "another backup is writing" in as_json(busy)["error"]
    assert sorted(p.name for p in (dest / "snapshots").iterdir()) == snapshots

    inside = homesync("backup", "create", data / "backups", "--data-dir", data)
    assert inside.returncode == 2 and "outside the data dir" in inside.stderr
    assert not (data / "backups").exists()
    around = homesync("backup", "create", data.parent, "--data-dir", data)  # DEST holds it
    assert around.returncode == 2
    assert f"the backup destination {data.parent} must not hold the data dir {data}" \
        in " ".join(around.stderr.split())
    overlap = homesync("backup", "restore", dest, "--data-dir", dest / "restored")
    assert overlap.returncode == 2 and "must not overlap" in overlap.stderr
    assert not (dest / "restored").exists()


def test_every_backup_command_refuses_a_non_backup_with_a_json_document(tmp_path: Path) -> None:
    """`--json` scripts read one document on stdout, also when DEST is not a backup."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a backup")
    why = {tmp_path / "nothing-here": "(it does not exist)", a_file: "(it is a file)",
           tmp_path: "(no homesync-backup.json)"}
    for dest, because in why.items():
        for command in ("list", "verify", "restore"):
            extra = ["--data-dir", str(tmp_path / "restored")] if command == "restore" else []
            refused = homesync("backup", command, dest, "--json", *extra)
            assert refused.returncode == 1, refused.stderr
            document = as_json(refused)
            assert document["ok"] is False
            assert f"{dest} is not a homesync backup {because}" == document["error"]
            assert "not a homesync backup" in refused.stderr  # and the message for people
            assert not (tmp_path / "restored").exists()


def test_create_under_a_file_is_refused_as_into_a_file(tmp_path: Path) -> None:
    """DEST/sub where DEST is a file ended with exit 1 and a bare "[Errno 20] Not a
    directory: '…/sub'": it is the same mistake as DEST being the file (exit code 4)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a backup")
    data = tmp_path / "data"
    assert homesync("init", "--data-dir", data).returncode == 0
    for dest in (a_file, a_file / "homesync", a_file / "nas" / "homesync"):
        refused = homesync("backup", "create", dest, "--json", "--data-dir", data)
        assert refused.returncode == 4, refused.stdout + refused.stderr
        because = "" if dest == a_file else f" (so {dest} cannot be made)"
        assert as_json(refused) == {"ok": False, "error": f"{a_file} is not a directory{because}"}
    assert a_file.read_text() == "not a backup"


@contextmanager
def small_disk(mount: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``mount`` (the test is skipped where mounting is not allowed)."""
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                           str(mount)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def tree(root: Path) -> dict[str, int]:
    """Every file under ``root`` with its size."""
    return {str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("fsync", [False, True])  # with it, chunks wait in tmp/ for a sync
async def test_a_full_destination_is_named_and_leaves_no_snapshot_and_the_source_alone(
        services: Services, make_user, tmp_path: Path, fsync: bool) -> None:
    uid = await make_user()
    for i in range(12):
        await put_file(services, uid, "/camera", f"IMG_{i}.jpg", photo(i, 200_000))
    data = services.settings.data_path
    chunks_before = {h: p.read_bytes() for h, p in chunk_files(data).items()}
    backups_before = await services.db.fetchall("SELECT * FROM backups")
    with small_disk(tmp_path / "usb", "1m") as usb:
        dest = usb / "homesync"
        # First the chunks do not fit (ENOSPC); then, with the disk full of the chunks
        # that did, not even the database snapshot does (SQLite's own error).
        for run in ("chunks", "snapshot"):
            result = homesync("backup", "create", dest, "--json", "--data-dir", data,
                              fsync=fsync)
            assert result.returncode == 1, (run, result.stdout, result.stderr)
            error = as_json(result)["error"]
            assert f"the backup destination {dest} is full" in error, (run, error)
            assert "data dir was not changed" in error
            assert str(data) not in error, (run, error)  # not blamed on the live database
            assert "backup destination" in result.stderr.replace("\n", " ")
            assert as_json(homesync("backup", "list", dest, "--json"))["snapshots"] == []
            assert not (dest / "latest").exists()
            assert [p for p in dest.rglob("*") if "tmp" in p.relative_to(dest).parts] == []
        assert (dest / "chunks").is_dir() and chunk_files(dest)  # kept for the next run
    assert {h: p.read_bytes() for h, p in chunk_files(data).items()} == chunks_before
    assert await services.db.fetchall("SELECT * FROM backups") == backups_before


def allow_files(mount: Path, count: int) -> None:
    """Let the tmpfs at ``mount`` hold ``count`` more files or directories than it does now:
    one more and creating it fails with ENOSPC, as on a disk with no room left."""
    st = os.statvfs(mount)
    used = st.f_files - st.f_ffree
    subprocess.run(["mount", "-o", f"remount,nr_inodes={used + count}", str(mount)],
                   check=True, capture_output=True)


async def test_a_destination_full_just_before_latest_keeps_latest_naming_a_listed_snapshot(
        services: Services, make_user, tmp_path: Path) -> None:
    """The new `latest` is written before the snapshot is moved into place, and then only
    renamed: room for the snapshot but not for the pointer leaves no new snapshot (so "not
    completed" is true), never a published one that `latest` does not name."""
    uid = await make_user()
    await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    data = services.settings.data_path
    with small_disk(tmp_path / "usb", "64m") as usb:
        dest = usb / "homesync"
        first = homesync("backup", "create", dest, "--json", "--data-dir", data)
        assert first.returncode == 0, first.stderr
        name = as_json(first)["snapshot"]
        # What one more snapshot adds (its directory and files), and not one file more.
        snapshot_files = 1 + sum(1 for _ in (dest / "snapshots" / name).rglob("*"))
        allow_files(usb, snapshot_files)
        result = homesync("backup", "create", dest, "--json", "--data-dir", data)
        assert result.returncode == 1, (result.stdout, result.stderr)
        error = as_json(result)["error"]
        assert f"the backup destination {dest} is full" in error and "not completed" in error
        listed = as_json(homesync("backup", "list", dest, "--json"))
        assert [s["name"] for s in listed["snapshots"]] == [name] and listed["latest"] == name
        assert (dest / "latest").read_text() == f"{name}\n"
        assert [p for p in dest.rglob("*") if "tmp" in p.relative_to(dest).parts] == []

        # Room for the pointer's file too (and for tmp/, which the failed run took away).
        allow_files(usb, snapshot_files + 2)
        second = homesync("backup", "create", dest, "--json", "--data-dir", data)
        assert second.returncode == 0, second.stderr
        listed = as_json(homesync("backup", "list", dest, "--json"))
        assert listed["latest"] == as_json(second)["snapshot"] == listed["snapshots"][-1]["name"]
        assert (dest / "latest").read_text() == f"{listed['latest']}\n"


def remount_read_only(mount: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True)


async def test_a_read_only_destination_is_named_and_left_as_it_was(
        services: Services, make_user, tmp_path: Path) -> None:
    """A backup disk the kernel remounted read-only after errors (or mounted so): create
    and prune say so, naming DEST, instead of a bare "[Errno 30]"; verify, list and
    restore, which only read it, still work."""
    uid = await make_user()
    photo_id = await put_file(services, uid, "/camera", "IMG_0.jpg", photo(0))
    data = services.settings.data_path
    with small_disk(tmp_path / "usb", "16m") as usb:
        dest = usb / "homesync"
        for _ in range(2):
            assert homesync("backup", "create", dest, "--data-dir", data).returncode == 0
        remount_read_only(usb)
        before = tree(dest)
        for args in (("create", dest, "--data-dir", data), ("create", usb / "new", "--data-dir", data),
                     ("prune", dest, "--keep-last", "1")):
            result = homesync("backup", *args, "--json")
            assert result.returncode == 1, (args, result.stdout, result.stderr)
            error = as_json(result)["error"]
            assert f"the backup destination {args[1]} is on a read-only filesystem" in error, error
            assert "Errno" not in result.stderr, result.stderr
        assert tree(dest) == before
        assert homesync("backup", "verify", dest, "--read-data").returncode == 0
        restored = tmp_path / "restored"
        assert homesync("backup", "restore", dest, "--data-dir", restored).returncode == 0
    assert_photos_download(restored, [photo_id])
