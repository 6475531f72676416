"""`backup prune` at the service level: what stays, what goes, and a kill at any moment."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homesync import clock
from homesync.services.container import Services
from homesync.services.maintenance import prune as prune_module
from homesync.services.maintenance.backup_verify import verify_backup
from homesync.services.maintenance.prune import PruneBusy, PruneError, prune_backup
from homesync.services.maintenance.retention import Retention, Taken, choose
from homesync.store import backup_pool
from homesync.store.backup_repo import BackupRepo
from homesync.store.backup_repo_lock import hold_for_writing
from homesync.store.snapshot import referenced_chunks
from tests.operations.data import chunk_files, delete_file, flip_byte, photo, put_file

DAY_MS = 86_400_000
JAN_1 = 1_735_700_400_000  # 2025-01-01T03:00:00Z, a Wednesday


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and mtime: a dry run must change none."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def snapshot_chunks(dest: Path, name: str) -> set[str]:
    return {r.hash for r in referenced_chunks(dest / "snapshots" / name / "homesync.sqlite3")}


async def backup_on(services: Services, dest: Path, at_ms: int) -> str:
    clock.set_now(lambda: at_ms / 1000)
    try:
        return (await services.backups.create(dest)).snapshot
    finally:
        clock.set_now(None)


async def two_backups(services: Services, make_user, dest: Path) -> tuple[str, str, str]:
    """Day 1: files 0-2. Day 2: file 0 purged, file 3 added. (first, second, gone file's hash)"""
    uid = await make_user()
    ids = [await put_file(services, uid, "/photos", f"{i}.jpg", photo(i)) for i in range(3)]
    first = await backup_on(services, dest, JAN_1)
    await delete_file(services, uid, ids[0])
    await put_file(services, uid, "/photos", "3.jpg", photo(3))
    second = await backup_on(services, dest, JAN_1 + DAY_MS)
    only_first = snapshot_chunks(dest, first) - snapshot_chunks(dest, second)
    assert only_first, "file 0's chunks should be in the first snapshot only"
    return first, second, sorted(only_first)[0]


async def test_keep_last_removes_old_snapshots_and_only_their_chunks(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, second, _ = await two_backups(services, make_user, dest)
    only_first = snapshot_chunks(dest, first) - snapshot_chunks(dest, second)
    shared = snapshot_chunks(dest, first) & snapshot_chunks(dest, second)
    assert shared
    pool_before = chunk_files(dest)
    freed = sum(pool_before[h].stat().st_size for h in only_first) + sum(
        p.stat().st_size for p in (dest / "snapshots" / first).iterdir())

    report = await prune_backup(dest, Retention(keep_last=1))

    assert report.ok and not report.dry_run
    assert [s.name for s in report.kept] == [second]
    assert report.kept[0].reasons == ["last", "latest"]
    assert [s.name for s in report.removed] == [first]
    assert report.removed_chunks == len(only_first) and report.freed_bytes == freed
    assert set(chunk_files(dest)) == set(pool_before) - only_first  # shared ones stay
    assert BackupRepo.open(dest).snapshot_names() == [second]
    assert (await verify_backup(dest, read_data=True)).ok
    assert list((dest / "tmp").iterdir()) == []

    again = await prune_backup(dest, Retention(keep_last=1))
    assert again.removed == [] and again.removed_chunks == 0 and again.freed_bytes == 0


async def test_dry_run_changes_nothing_and_says_what_a_prune_would_do(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, _, _ = await two_backups(services, make_user, dest)
    (dest / "tmp" / "left-by-a-killed-backup").write_bytes(b"x")
    before = tree(dest)

    dry = await prune_backup(dest, Retention(keep_last=1), dry_run=True)

    assert tree(dest) == before
    assert dry.dry_run and [s.name for s in dry.removed] == [first]
    real = await prune_backup(dest, Retention(keep_last=1))
    assert (real.removed_chunks, real.freed_bytes) == (dry.removed_chunks, dry.freed_bytes)


async def test_daily_weekly_monthly_keep_the_newest_of_each_period(
        services: Services, make_user, tmp_path: Path) -> None:
    uid = await make_user()
    dest = tmp_path / "backup"
    taken = {}
    for day in (0, 0, 1, 7, 8, 40):  # two on Jan 1; weeks 1, 1, 2, 2; February
        await put_file(services, uid, "/d", f"{day}-{len(taken)}.jpg", photo(len(taken), 5000))
        taken[await backup_on(services, dest, JAN_1 + day * DAY_MS + len(taken) * 1000)] = day
    names = sorted(taken)

    report = await prune_backup(dest, Retention(keep_daily=2, keep_monthly=2))

    # daily: Feb 10 and Jan 9 (the newest two days); monthly: Feb 10 and Jan 9 (newest of Jan)
    assert {s.name: s.reasons for s in report.kept} == {
        names[5]: ["daily", "monthly", "latest"], names[4]: ["daily", "monthly"]}
    for snap in report.kept:
        assert (await verify_backup(dest, snapshot=snap.name, read_data=True)).ok
    weekly = await prune_backup(dest, Retention(keep_weekly=5))
    assert weekly.removed == []  # each kept one is the newest of its week


def test_rules_count_periods_that_have_snapshots() -> None:
    snaps = [Taken(f"s{i}", JAN_1 + offset) for i, offset in enumerate(
        [0, 3_600_000, DAY_MS, 3 * DAY_MS, 10 * DAY_MS, 31 * DAY_MS, 400 * DAY_MS])]
    assert choose(snaps, Retention(keep_last=2)) == {"s6": ["last"], "s5": ["last"]}
    # Days with a snapshot, newest first: s6, s5, s4 (gaps do not count), s1 wins over s0.
    assert set(choose(snaps, Retention(keep_daily=5))) == {"s6", "s5", "s4", "s3", "s2"}
    assert set(choose(snaps, Retention(keep_daily=7))) == {"s6", "s5", "s4", "s3", "s2", "s1"}
    # ISO weeks: 2026-W06 (s6), 2025-W05 (s5), W02 (s4), W01 (s3, Saturday Jan 4: newest of s0-s3).
    assert set(choose(snaps, Retention(keep_weekly=9))) == {"s6", "s5", "s4", "s3"}
    assert set(choose(snaps, Retention(keep_monthly=9))) == {"s6", "s5", "s4"}
    assert set(choose(snaps, Retention(keep_yearly=9))) == {"s6", "s5"}
    assert choose([], Retention(keep_last=3)) == {}


async def test_latest_always_stays(services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, second, _ = await two_backups(services, make_user, dest)
    (dest / "latest").write_text(first + "\n")  # as a restore drill might leave it pointed

    report = await prune_backup(dest, Retention(keep_last=1))

    assert {s.name: s.reasons for s in report.kept} == {first: ["latest"], second: ["last"]}
    assert report.removed == [] and report.removed_chunks == 0


async def test_a_damaged_manifest_is_kept_said_and_its_chunks_stay(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, second, gone = await two_backups(services, make_user, dest)
    (dest / "snapshots" / first / "manifest.json").write_text("{ not json")

    report = await prune_backup(dest, Retention(keep_last=1))

    assert not report.ok
    damaged = next(s for s in report.kept if s.name == first)
    assert damaged.reasons == ["damaged"] and "manifest.json is unreadable" in (damaged.problem or "")
    assert report.removed == [] and gone in chunk_files(dest)
    assert (dest / "snapshots" / first / "homesync.sqlite3").is_file()


async def test_a_snapshot_that_stays_with_an_unreadable_database_stops_everything(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, second, _ = await two_backups(services, make_user, dest)
    flip_byte(dest / "snapshots" / second / "homesync.sqlite3", offset=5000)
    before = tree(dest)

    with pytest.raises(PruneError, match=f"snapshot {second} stays but its database cannot be"
                                         " read .*nothing was removed"):
        await prune_backup(dest, Retention(keep_last=1))
    assert tree(dest) == before


async def test_no_rule_or_another_writer_removes_nothing(services: Services, make_user,
                                                         tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    await two_backups(services, make_user, dest)
    before = tree(dest)
    with pytest.raises(PruneError, match="say which snapshots to keep"):
        await prune_backup(dest, Retention())
    # A backup into DEST reuses pool chunks without copying them: none may go meanwhile.
    with hold_for_writing(BackupRepo.open(dest)), pytest.raises(PruneBusy, match="another backup"):
        await prune_backup(dest, Retention(keep_last=1))
    assert tree(dest) == before


async def test_killed_after_removing_snapshots_every_one_left_verifies_and_a_rerun_finishes(
        services: Services, make_user, tmp_path: Path) -> None:
    dest = tmp_path / "backup"
    first, second, gone = await two_backups(services, make_user, dest)
    repo = BackupRepo.open(dest)
    # Where a kill -9 right after the renames leaves DEST (the lock's cleanup never ran).
    backup_pool.unpublish(repo, [first])

    assert repo.snapshot_names() == [second] and repo.latest() == second
    assert (await verify_backup(dest, read_data=True)).ok
    report = await prune_backup(dest, Retention(keep_last=1))
    assert report.removed == [] and gone not in chunk_files(dest)
    assert list((dest / "tmp").iterdir()) == []
    assert (await verify_backup(dest, read_data=True)).ok


async def test_killed_mid_sweep_snapshots_went_first_and_a_rerun_finishes(
        services: Services, make_user, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest = tmp_path / "backup"
    uid = await make_user()
    ids = [await put_file(services, uid, "/a", f"{i}.jpg", photo(i, 20_000), chunk_size=4096)
           for i in range(4)]
    first = await backup_on(services, dest, JAN_1)
    for file_id in ids:
        await delete_file(services, uid, file_id)
    await put_file(services, uid, "/b", "new.jpg", photo(99, 20_000), chunk_size=4096)
    second = await backup_on(services, dest, JAN_1 + DAY_MS)
    to_free = snapshot_chunks(dest, first) - snapshot_chunks(dest, second)

    class Killed(BaseException):
        pass

    removed: list[str] = []
    real_remove = backup_pool.remove_chunk

    def remove_then_die(chunk: backup_pool.PoolChunk) -> None:
        # The snapshot that used the chunk is gone before any of its chunks.
        assert not (dest / "snapshots" / first).exists()
        if len(removed) == 3:
            raise Killed
        real_remove(chunk)
        removed.append(chunk.hash)

    monkeypatch.setattr(prune_module.backup_pool, "remove_chunk", remove_then_die)
    with pytest.raises(Killed):
        await prune_backup(dest, Retention(keep_last=1))
    monkeypatch.undo()

    left = set(chunk_files(dest))
    assert len(removed) == 3 and to_free - left == set(removed)
    assert BackupRepo.open(dest).snapshot_names() == [second]
    assert (await verify_backup(dest, read_data=True)).ok
    report = await prune_backup(dest, Retention(keep_last=1))
    assert report.removed_chunks == len(to_free) - 3
    assert set(chunk_files(dest)) == snapshot_chunks(dest, second)
    assert not any(os.scandir(dest / "tmp"))


async def test_a_destination_without_snapshots_keeps_its_chunks(services: Services, make_user,
                                                                 tmp_path: Path) -> None:
    """Say snapshots/ was moved away by hand: an empty pool would lose every backup."""
    dest = tmp_path / "backup"
    await two_backups(services, make_user, dest)
    (dest / "snapshots").rename(tmp_path / "moved-away")
    (dest / "snapshots").mkdir()
    pool = set(chunk_files(dest))

    report = await prune_backup(dest, Retention(keep_last=1))

    assert report.kept == report.removed == [] and report.removed_chunks == 0
    assert set(chunk_files(dest)) == pool
