"""Backups at the service level: create, incremental, verify, restore, interruption, B3."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from homesync import clock
from homesync.services.container import Services
from homesync.services.maintenance.backup import BackupDestinationTaken, BackupError
from homesync.services.maintenance.backup_verify import VerifyError, parse_subset, verify_backup
from homesync.services.maintenance.restore import (
    RESTORE_MARKER,
    RestoreError,
    RestoreTargetTaken,
    restore_backup,
)
from homesync.store import files, operations
from homesync.store.backup_lock import backup_running, gc_lock, hold_for_backup
from homesync.store.backup_repo import BackupRepo
from tests.helpers import make_settings
from tests.operations.data import chunk_files, delete_file, flip_byte, photo, put_file


async def _library(services: Services, make_user, n: int = 6) -> tuple[str, dict[str, bytes]]:
    uid = await make_user()
    contents = {f"IMG_{i:04d}.jpg": photo(i) for i in range(n)}
    for name, content in contents.items():
        await put_file(services, uid, "/photos/2024", name, content)
    return uid, contents


async def test_create_writes_snapshot_chunks_and_manifest(services: Services, make_user,
                                                          tmp_path: Path) -> None:
    _, contents = await _library(services, make_user)
    dest = tmp_path / "backup"
    report = await services.backups.create(dest)

    assert report.ok and report.problems == []
    assert report.files == 6 and report.users == 1
    total = sum(len(c) for c in contents.values())
    assert report.bytes == total and report.copied_bytes == total
    assert report.chunks == report.copied_chunks == len(chunk_files(services.settings.data_path))
    assert (dest / "latest").read_text().strip() == report.snapshot
    snap = dest / "snapshots" / report.snapshot
    assert {p.name for p in snap.iterdir()} == {"homesync.sqlite3", "server.key", "manifest.json"}
    assert (snap / "server.key").read_bytes() == (services.settings.data_path / "server.key").read_bytes()
    assert (snap / "server.key").stat().st_mode & 0o077 == 0
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["files"] == 6 and manifest["bytes"] == total and manifest["missingChunks"] == []
    assert set(chunk_files(dest)) == set(chunk_files(services.settings.data_path))
    assert list((dest / "tmp").iterdir()) == []
    last = await services.backups.last()
    assert last is not None and last.snapshot == report.snapshot and last.destination == str(dest)


async def test_incremental_copies_only_new_chunks(services: Services, make_user,
                                                  tmp_path: Path) -> None:
    uid, _ = await _library(services, make_user)
    dest = tmp_path / "backup"
    first = await services.backups.create(dest)
    again = await services.backups.create(dest)
    assert again.copied_chunks == 0 and again.copied_bytes == 0
    assert again.reused_chunks == first.chunks and again.snapshot != first.snapshot

    await put_file(services, uid, "/photos/2024", "new.jpg", photo(99, 70_000))
    third = await services.backups.create(dest)
    assert third.copied_bytes == 70_000 and third.copied_chunks == 2
    assert third.files == 7
    names = BackupRepo.open(dest).snapshot_names()
    assert names == sorted([first.snapshot, again.snapshot, third.snapshot])


async def test_chunk_truncated_in_dest_is_copied_again(services: Services, make_user,
                                                       tmp_path: Path) -> None:
    await _library(services, make_user, n=2)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    victim = next(iter(chunk_files(dest).values()))
    victim.write_bytes(b"short")
    report = await services.backups.create(dest)
    assert report.copied_chunks == 1
    assert (await verify_backup(dest, read_data=True)).ok


async def test_destination_rules(services: Services, make_user, tmp_path: Path) -> None:
    await _library(services, make_user, n=1)
    with pytest.raises(BackupError, match="outside the data dir"):
        await services.backups.create(services.settings.data_path / "backups")
    stranger = tmp_path / "documents"
    stranger.mkdir()
    (stranger / "taxes.pdf").write_bytes(b"%PDF")
    with pytest.raises(BackupDestinationTaken, match="not empty and is not a homesync backup"):
        await services.backups.create(stranger)
    assert [p.name for p in stranger.iterdir()] == ["taxes.pdf"]
    with pytest.raises(BackupDestinationTaken, match="is not a directory"):
        await services.backups.create(stranger / "taxes.pdf")


async def test_missing_source_chunk_is_reported_by_name(services: Services, make_user,
                                                        tmp_path: Path) -> None:
    await _library(services, make_user, n=2)
    (h, path), (short_hash, short) = sorted(chunk_files(services.settings.data_path).items())[:2]
    path.unlink()
    short.write_bytes(b"truncated")
    report = await services.backups.create(tmp_path / "backup")
    assert not report.ok
    assert {p.hash: p.problem for p in report.problems} == {
        h: "is missing from the data dir",
        short_hash: "has 9 bytes in the data dir, expected 65536"}
    assert all(p.files[0].startswith("alice@example.com:/photos/2024/IMG_")
               for p in report.problems)
    verify = await verify_backup(tmp_path / "backup")
    assert not verify.ok and {p.hash for p in verify.problems} == {h, short_hash}
    assert list((tmp_path / "backup" / "tmp").iterdir()) == []


async def test_verify_names_flipped_byte_and_missing_chunk(services: Services, make_user,
                                                           tmp_path: Path) -> None:
    await _library(services, make_user)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    assert (await verify_backup(dest)).ok
    assert (await verify_backup(dest, read_data=True)).ok

    chunks = sorted(chunk_files(dest).items())
    flipped_hash, flipped = chunks[0]
    flip_byte(flipped)
    structure = await verify_backup(dest)
    assert structure.ok  # same size: only reading the data finds it
    report = await verify_backup(dest, read_data=True)
    assert not report.ok
    assert [p.hash for p in report.problems] == [flipped_hash]
    assert "damaged" in report.problems[0].problem
    assert report.problems[0].files and report.problems[0].files[0].endswith(".jpg")

    gone_hash, gone = chunks[1]
    gone.unlink()
    report = await verify_backup(dest)
    assert [p.hash for p in report.problems] == [gone_hash]
    assert "missing" in report.problems[0].problem


async def test_verify_subset_is_deterministic(services: Services, make_user, tmp_path: Path) -> None:
    await _library(services, make_user, n=8)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    a = await verify_backup(dest, read_data=True, subset=parse_subset("30%", seed=1))
    b = await verify_backup(dest, read_data=True, subset=parse_subset("30%", seed=1))
    assert a.chunks_read == b.chunks_read == round(a.chunks * 0.3)
    assert a.bytes_read == b.bytes_read
    # n/t slices: every chunk read exactly once over the t runs.
    slices = [await verify_backup(dest, read_data=True, subset=parse_subset(f"{i}/3"))
              for i in (1, 2, 3)]
    assert sum(s.chunks_read for s in slices) == a.chunks
    for bad in ("0%", "150%", "0/3", "4/3", "half"):
        with pytest.raises(ValueError):
            parse_subset(bad)


async def test_verify_detects_damaged_database(services: Services, make_user,
                                               tmp_path: Path) -> None:
    await _library(services, make_user, n=1)
    dest = tmp_path / "backup"
    report = await services.backups.create(dest)
    db = dest / "snapshots" / report.snapshot / "homesync.sqlite3"
    flip_byte(db, offset=db.stat().st_size // 2)
    result = await verify_backup(dest)
    assert not result.ok and "does not match the checksum" in result.database_problems[0]
    with pytest.raises(VerifyError, match="not a homesync backup"):
        await verify_backup(tmp_path)
    with pytest.raises(VerifyError, match="no snapshot"):
        await verify_backup(dest, snapshot="20000101T000000Z")


async def test_interrupted_backup_leaves_previous_usable(services: Services, make_user,
                                                         tmp_path: Path) -> None:
    uid, _ = await _library(services, make_user)
    dest = tmp_path / "backup"
    first = await services.backups.create(dest)
    for i in range(6):
        await put_file(services, uid, "/more", f"{i}.jpg", photo(100 + i))

    class Killed(Exception):
        pass

    class DieHalfway:
        copied = 0
        copying = False

        def phase(self, description: str, **_: object) -> None:
            self.copying = description == "Copy chunks"

        def advance(self, *, nbytes: int = 0, items: int = 0) -> None:
            self.copied += items if self.copying else 0
            if self.copied == 8:
                raise Killed

        def note(self, message: str) -> None:
            pass

    with pytest.raises(Killed):
        await services.backups.create(dest, DieHalfway())
    repo = BackupRepo.open(dest)
    assert repo.snapshot_names() == [first.snapshot] and repo.latest() == first.snapshot
    assert (await verify_backup(dest, read_data=True)).ok

    second = await services.backups.create(dest)
    assert second.ok and second.files == 12
    assert second.copied_chunks < second.chunks - first.chunks  # some were copied before the kill
    for name in (first.snapshot, second.snapshot):
        assert (await verify_backup(dest, snapshot=name, read_data=True)).ok
    assert list((dest / "tmp").iterdir()) == []


async def test_backup_under_concurrent_writes_is_consistent(services: Services, make_user,
                                                            tmp_path: Path) -> None:
    """B1: files created and deleted while the backup runs; the snapshot is whole."""
    uid, _ = await _library(services, make_user, n=10)
    stop = asyncio.Event()

    async def churn() -> int:
        n = 0
        while not stop.is_set():
            fid = await put_file(services, uid, "/churn", f"{n}.jpg", photo(1000 + n, 20_000))
            if n % 2:
                await delete_file(services, uid, fid)
            n += 1
            await asyncio.sleep(0)
        return n

    writer = asyncio.create_task(churn())
    reports = []
    for _ in range(3):
        reports.append(await services.backups.create(tmp_path / "backup"))
    stop.set()
    assert await writer > 0
    for r in reports:
        assert r.ok
        v = await verify_backup(tmp_path / "backup", snapshot=r.snapshot, read_data=True)
        assert v.ok, v.problems


def test_backup_lock_keeps_gc_away(tmp_path: Path) -> None:
    """B3: gc may not delete while a backup holds the lock; a dead backup frees it."""
    data = tmp_path / "data"
    with gc_lock(data) as free:
        assert free
    with hold_for_backup(data):
        assert backup_running(data)
        with gc_lock(data) as free:
            assert not free
        with hold_for_backup(data):  # two backups at once are fine
            pass
    assert not backup_running(data)


async def test_restore_round_trip(services: Services, make_user, tmp_path: Path) -> None:
    uid, contents = await _library(services, make_user)
    # Garbage awaiting gc: rows without references. The backup does not carry its bytes.
    doomed = await put_file(services, uid, "/tmp", "deleted.jpg", photo(555))
    await delete_file(services, uid, doomed)
    dest = tmp_path / "backup"
    backup = await services.backups.create(dest)
    target = tmp_path / "restored"
    before = clock.now_ms()
    report = await restore_backup(dest, target, fsync=False)
    assert report.ok and report.chunks == backup.chunks and report.copied_chunks == backup.chunks
    assert report.snapshot_seq == backup.journal_seq
    # New changes are numbered from the clock's mark on (operations.resume_point).
    assert before * operations.CLOCK_POSITIONS_PER_MS <= report.resumed_seq \
        <= clock.now_ms() * operations.CLOCK_POSITIONS_PER_MS
    assert not (target / RESTORE_MARKER).exists()
    assert (target / "server.key").read_bytes() == (services.settings.data_path / "server.key").read_bytes()

    restored = await Services.open(make_settings(target))
    try:
        listing = await files.list_folder(restored.db.reader, uid, "/photos/2024")
        assert sorted(r["name"] for r in listing) == sorted(contents)
        for row in listing:
            manifest = await files.manifest(restored.db.reader, row["version_id"])
            data = b"".join((target / "chunks" / h[:2] / h[2:4] / h).read_bytes() for h, _ in manifest)
            assert "sha256:" + hashlib.sha256(data).hexdigest() == row["checksum"]
            assert data == contents[row["name"]]
        fsck = await restored.fsck.run()
        assert fsck.ok, fsck.damaged
        # The journal continues past the gap.
        new_id = await put_file(restored, uid, "/after", "restore.jpg", photo(7))
        row = await files.get_file(restored.db.reader, uid, new_id)
        assert row is not None and row["seq"] > report.resumed_seq
    finally:
        await restored.close()


async def test_restore_refuses_non_empty_and_force_moves_aside(services: Services, make_user,
                                                               tmp_path: Path) -> None:
    await _library(services, make_user, n=2)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    target = tmp_path / "existing"
    target.mkdir()
    (target / "precious.txt").write_text("keep me")
    with pytest.raises(RestoreTargetTaken, match="not empty"):
        await restore_backup(dest, target, fsync=False)
    assert [p.name for p in target.iterdir()] == ["precious.txt"]
    with pytest.raises(RestoreTargetTaken, match="not a directory"):
        await restore_backup(dest, target / "precious.txt", fsync=False)

    report = await restore_backup(dest, target, force=True, fsync=False)
    assert report.ok and report.moved_aside is not None
    assert (Path(report.moved_aside) / "precious.txt").read_text() == "keep me"

    with pytest.raises(RestoreError, match="must not overlap") as overlap:
        await restore_backup(dest, dest / "inside", fsync=False)
    assert not isinstance(overlap.value, RestoreTargetTaken)
    mount = tmp_path / "mounted-disk"
    (mount / "lost+found").mkdir(parents=True)
    assert (await restore_backup(dest, mount, fsync=False)).ok


async def test_restore_names_damaged_chunk_and_resumes(services: Services, make_user,
                                                       tmp_path: Path) -> None:
    await _library(services, make_user, n=3)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    bad_hash, bad = sorted(chunk_files(dest).items())[0]
    original = bad.read_bytes()
    flip_byte(bad)
    target = tmp_path / "restored"
    report = await restore_backup(dest, target, fsync=False)
    assert not report.ok and [p.hash for p in report.problems] == [bad_hash]
    assert "damaged in the backup" in report.problems[0].problem
    assert report.problems[0].files
    assert bad_hash not in chunk_files(target)  # never restored as if it were good

    # An interrupted restore: the marker keeps the server off; running it again resumes.
    bad.write_bytes(original)
    (target / RESTORE_MARKER).write_text("interrupted")
    with pytest.raises(RuntimeError, match="being restored"):
        await Services.open(make_settings(target))
    again = await restore_backup(dest, target, fsync=False)
    assert again.ok and again.copied_chunks == 1 and again.resumed_chunks == again.chunks - 1
    svc = await Services.open(make_settings(target))
    await svc.close()


async def test_flipped_and_deleted_chunks_are_named_by_fsck_and_verify(
        services: Services, make_user, tmp_path: Path) -> None:
    await _library(services, make_user, n=4)
    dest = tmp_path / "backup"
    await services.backups.create(dest)
    (live_flip, live_flip_path), (live_gone, live_gone_path) = sorted(
        chunk_files(services.settings.data_path).items())[:2]
    flip_byte(live_flip_path)
    live_gone_path.unlink()
    fsck = await services.fsck.run()
    assert {d.hash for d in fsck.damaged} == {live_flip, live_gone}
    assert all(d.files for d in fsck.damaged)

    (dest_flip, dest_flip_path), (dest_gone, dest_gone_path) = sorted(chunk_files(dest).items())[2:4]
    flip_byte(dest_flip_path)
    dest_gone_path.unlink()
    report = await verify_backup(dest, read_data=True)
    problems = {p.hash: p.problem for p in report.problems}
    assert set(problems) == {dest_flip, dest_gone}
    assert problems[dest_flip].startswith("is damaged") and "missing" in problems[dest_gone]


async def test_gc_during_a_backup_keeps_what_the_snapshot_needs(services: Services, make_user,
                                                                tmp_path: Path) -> None:
    """B3: mid-backup, a file is purged and gc runs with no grace: nothing is deleted until
    the backup is done, and the backup restores the purged file's bytes."""
    uid, contents = await _library(services, make_user, n=6)
    victim_id = (await files.find_by_name(services.db.reader, uid, "/photos/2024",
                                          "IMG_0000.jpg"))["id"]
    loop = asyncio.get_running_loop()
    gc_reports = []

    async def purge_and_collect() -> None:
        await delete_file(services, uid, victim_id)
        gc_reports.append(await services.gc.collect(grace_ms=0))

    class GcMidway:
        seen = 0

        def phase(self, description: str, **_: object) -> None:
            pass

        def advance(self, *, nbytes: int = 0, items: int = 0) -> None:
            self.seen += items
            if self.seen == 3:  # in the backup's worker thread, half-way through the chunks
                asyncio.run_coroutine_threadsafe(purge_and_collect(), loop).result()

        def note(self, message: str) -> None:
            pass

    before = set(chunk_files(services.settings.data_path))
    report = await services.backups.create(tmp_path / "backup", GcMidway())
    assert gc_reports and gc_reports[0].backup_running and gc_reports[0].removed_chunks == 0
    assert set(chunk_files(services.settings.data_path)) == before
    assert report.ok and report.files == 6
    assert (await verify_backup(tmp_path / "backup", read_data=True)).ok

    after = await services.gc.collect(grace_ms=0)  # the backup is over: now it may go
    assert not after.backup_running and after.removed_chunks == 3
    target = tmp_path / "restored"
    assert (await restore_backup(tmp_path / "backup", target, fsync=False)).ok
    restored = await Services.open(make_settings(target))
    try:
        row = await files.get_file(restored.db.reader, uid, victim_id)
        assert row is not None
        data = b"".join((target / "chunks" / h[:2] / h[2:4] / h).read_bytes()
                        for h, _ in await files.manifest(restored.db.reader, row["version_id"]))
        assert data == contents["IMG_0000.jpg"]
    finally:
        await restored.close()
