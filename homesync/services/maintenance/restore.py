"""``homesync backup restore``: rebuild a data dir from a backup, then check it.

The target must be empty (or missing); with ``force`` what is there is moved aside, and a
marker keeps every command off the half-built data dir until the restore is done (see
:mod:`.restore_target`). Running the same restore again resumes it.

Every chunk is hashed as it is copied, so a damaged chunk in the backup is named, not
restored. The database goes in last, then the journal is moved past any sequence number
the lost timeline may have issued (see ``store.operations.record_restore``).

It holds DEST's lock shared while it reads the backup (:func:`hold_for_reading`, as
``backup verify`` does): a ``backup prune`` removing the snapshot being restored would
leave it failing half way, or restoring a snapshot with chunks missing. One finding a
backup or prune writing there refuses before the data dir is touched, or waits for it.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path

import msgspec

from homesync import clock
from homesync.ids import new_id
from homesync.services.maintenance.backup_wait import waited, waiting_note
from homesync.services.maintenance.chunk_problem import ChunkProblem
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.services.maintenance.restore_target import (
    RESTORE_MARKER,
    RestoreBusy,
    RestoreError,
    RestoreTargetTaken,
    holds_own_work,
    prepare_target,
    unfinished_restore,
)
from homesync.store import chunk_index, operations
from homesync.store.backup_pick import pick_snapshot
from homesync.store.backup_repo import (
    DATABASE_FILE,
    KEY_FILE,
    BackupRepo,
    BackupRepoError,
    Manifest,
    chunk_relpath,
)
from homesync.store.backup_repo_lock import RepoBusy, hold_for_reading
from homesync.store.db import Conn, Database
from homesync.store.file_copies import copy_verified, read_error, sha256_file, syncfs
from homesync.store.keys import SECRET_FILE
from homesync.store.local_chunks import LocalChunkStore
from homesync.store.migrate import migrations
from homesync.store.snapshot import (
    ChunkRef,
    files_using_chunks,
    integrity_problems,
    referenced_chunks,
    schema_version,
)

__all__ = ["RESTORE_MARKER", "RestoreBusy", "RestoreError", "RestoreOverlap", "RestoreReport",
           "RestoreTargetTaken", "restore_backup", "unfinished_restore"]

_WORK_DIR = ".restore-tmp"
LIVE_DB = "homesync.sqlite3"


class RestoreOverlap(RestoreError):
    """The data dir is inside the backup or holds it: a bad argument, nothing was changed."""


class RestoreReport(msgspec.Struct, kw_only=True, rename="camel"):
    """The outcome of ``backup restore`` (also its ``--json`` output)."""

    ok: bool
    destination: str
    snapshot: str
    data_dir: str
    seconds: float
    chunks: int
    bytes: int
    copied_chunks: int
    resumed_chunks: int
    moved_aside: str | None
    snapshot_seq: int
    resumed_seq: int
    database_problems: list[str]
    problems: list[ChunkProblem]


class _Copied(msgspec.Struct, kw_only=True):
    name: str
    refs: list[ChunkRef]
    copied: int
    resumed: int
    moved_aside: str | None
    broken: dict[str, str]


async def restore_backup(
    destination: Path, data_dir: Path, *, snapshot: str | None = None, force: bool = False,
    fsync: bool = True, progress: Progress = NO_PROGRESS, wait: float = 0.0,
) -> RestoreReport:
    """Restore ``snapshot`` (default: the latest) of the backup at ``destination`` into
    ``data_dir``, with no prune deleting from ``destination`` meanwhile (waiting up to
    ``wait`` seconds for one).

    Stop the server first. Raises:
        RestoreTargetTaken: the target is a file, or not empty (and not ``force``).
        RestoreBusy: another restore into ``data_dir`` is running, or a prune is deleting
            from ``destination`` (still, after ``wait``); nothing was changed.
        RestoreError: the backup is unusable, or overlaps the target.
    """
    t0 = time.monotonic()
    # Absolute, as reported and recorded: a relative path names nothing later.
    destination = await asyncio.to_thread(lambda: destination.expanduser().absolute())
    data_dir = await asyncio.to_thread(lambda: data_dir.expanduser().absolute())
    # Held from before the target is touched until the marker goes: a second restore
    # into the same data dir would share its work files (see store/restore_lock.py).
    with ExitStack() as held:
        try:
            copied = await asyncio.to_thread(_copy_in, destination, data_dir, snapshot,
                                             force, fsync, progress, held, wait)
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # Past the check up front (files, not bytes, ran out; or something else wrote
            # there meanwhile): say which disk, and how to go on from the half-built data dir.
            raise RestoreError(
                f"the data dir {data_dir} is full ({exc.strerror}): the restore is not finished"
                " and the server will not start on it; free space there and run the same restore"
                " again (it goes on from where it stopped)") from None
        progress.phase("Migrate database")
        db = await Database.open(data_dir / LIVE_DB)  # applies newer migrations to an old backup
        try:
            now = clock.now_ms()
            async with db.transaction() as tx:
                snapshot_seq, resumed_seq = await operations.record_restore(
                    tx, restore_id=new_id("restore"), source=f"{destination}/snapshots/{copied.name}",
                    now=now)
                await _forget_unbacked_garbage(tx, LocalChunkStore(data_dir, fsync=False), now)
        finally:
            await db.close()

        progress.phase("Check restore")
        db_problems = await asyncio.to_thread(integrity_problems, data_dir / LIVE_DB)
        broken = await asyncio.to_thread(_check_chunks, data_dir, copied.refs, copied.broken)
        users_of = await asyncio.to_thread(files_using_chunks, data_dir / LIVE_DB, broken)
        problems = [ChunkProblem(hash=h, problem=why, files=users_of.get(h, []))
                    for h, why in sorted(broken.items())]
        # The data dir is as complete as this backup allows: let the server start.
        (data_dir / RESTORE_MARKER).unlink(missing_ok=True)
        return RestoreReport(
            ok=not db_problems and not problems, destination=str(destination),
            snapshot=copied.name, data_dir=str(data_dir), seconds=round(time.monotonic() - t0, 3),
            chunks=len(copied.refs), bytes=sum(r.size for r in copied.refs),
            copied_chunks=copied.copied, resumed_chunks=copied.resumed,
            moved_aside=copied.moved_aside, snapshot_seq=snapshot_seq, resumed_seq=resumed_seq,
            database_problems=db_problems, problems=problems,
        )


def _copy_in(destination: Path, data_dir: Path, snapshot: str | None, force: bool, fsync: bool,
             progress: Progress, held: ExitStack, wait: float) -> _Copied:
    try:
        repo = BackupRepo.open(destination)
    except BackupRepoError as exc:
        raise RestoreError(str(exc)) from None
    root = repo.root.resolve()
    if data_dir.resolve() == root or root in data_dir.resolve().parents \
            or data_dir.resolve() in root.parents:
        raise RestoreOverlap(f"the data dir {data_dir} and the backup {root} must not overlap")
    # Held until the last file is read from DEST: the snapshot is picked under it, so a
    # prune that ran while this waited cannot have removed it since.
    try:
        with hold_for_reading(repo, wait, lambda busy: progress.note(waiting_note(busy, wait))):
            try:
                name, manifest = pick_snapshot(repo, snapshot)
            except BackupRepoError as exc:
                raise RestoreError(str(exc)) from None
            return _copy_snapshot(repo, name, manifest, data_dir, force, fsync, progress, held)
    except RepoBusy as exc:
        raise RestoreBusy(f"{exc}{waited(wait)}; nothing was restored (the data dir was not"
                          " touched), try again later (or with --wait)") from None


def _copy_snapshot(repo: BackupRepo, name: str, manifest: Manifest, data_dir: Path,
                   force: bool, fsync: bool, progress: Progress, held: ExitStack) -> _Copied:
    snap_dir = repo.snapshot_dir(name)
    snap_db = snap_dir / DATABASE_FILE

    progress.phase("Check backup")
    if not snap_db.is_file() or sha256_file(snap_db) != manifest.database_sha256:
        raise RestoreError(f"{snap_db} is missing or does not match its manifest; "
                           "restore an older snapshot with --snapshot")
    if problems := integrity_problems(snap_db):
        raise RestoreError(f"{snap_db} is damaged: {'; '.join(problems[:5])}")
    # This homesync cannot open a database newer than its own migrations: said now, not
    # as a traceback once every chunk is in place (restoring onto an older install).
    newest = migrations()[-1][0]
    if (version := schema_version(snap_db)) > newest:
        raise RestoreError(
            f"snapshot {name} was written by a newer homesync (database schema {version}; this"
            f" one knows up to {newest}): upgrade homesync, then restore; nothing was changed")
    # The key goes in after every chunk: checked now, so a snapshot without a good one is
    # refused before the target is touched, not after it was half rebuilt.
    snap_key = snap_dir / KEY_FILE
    if not snap_key.is_file() or sha256_file(snap_key) != manifest.server_key_sha256:
        raise RestoreError(f"{snap_key} is missing or does not match its manifest; "
                           "restore an older snapshot with --snapshot")

    refs = referenced_chunks(snap_db)
    _check_room(data_dir, refs, snap_db)

    moved_aside = prepare_target(data_dir, force, f"{repo.root}/snapshots/{name}", fsync, held)

    live = LocalChunkStore(data_dir, fsync=False)  # only for its layout: we sync at the end
    work = data_dir / _WORK_DIR
    work.mkdir(exist_ok=True)
    copied = resumed = 0
    broken: dict[str, str] = {}
    progress.phase("Restore chunks", total_bytes=sum(r.size for r in refs), total_items=len(refs))
    for ref in refs:
        target = live.path_for(ref.hash)
        source = repo.chunk_path(ref.hash)
        if _in_place(target, ref):
            resumed += 1  # an earlier, interrupted run of this restore copied it
        elif not source.is_file():
            broken[ref.hash] = "is missing from the backup"
        else:
            tmp = work / ref.hash
            try:
                good = copy_verified(source, tmp, ref.hash)
            except OSError:
                # A chunk the backup disk cannot read (a bad sector) is named, as a damaged
                # one is: stopping here would stop every run of this restore at it.
                if (why := read_error(source)) is None:
                    raise
                tmp.unlink(missing_ok=True)
                broken[ref.hash] = f"cannot be read from the backup ({why})"
                progress.advance(nbytes=ref.size, items=1)
                continue
            if good:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
                copied += 1
            else:
                tmp.unlink()
                broken[ref.hash] = "is damaged in the backup (its content does not match its hash)"
        progress.advance(nbytes=ref.size, items=1)

    progress.phase("Restore database")
    # Copied while hashed against the manifest, as the chunks are: checked up front, these
    # files are read again now (a flaky disk, a DEST changed meanwhile).
    _copy_checked(snap_key, work / SECRET_FILE, manifest.server_key_sha256)
    os.chmod(work / SECRET_FILE, 0o600)
    os.replace(work / SECRET_FILE, data_dir / SECRET_FILE)
    for stale in (f"{LIVE_DB}-wal", f"{LIVE_DB}-shm"):
        (data_dir / stale).unlink(missing_ok=True)
    _copy_checked(snap_db, work / LIVE_DB, manifest.database_sha256)
    if fsync:
        syncfs(data_dir)
    os.replace(work / LIVE_DB, data_dir / LIVE_DB)  # last: a database means a full data dir
    shutil.rmtree(work, ignore_errors=True)
    if fsync:
        syncfs(data_dir)
    return _Copied(name=name, refs=refs, copied=copied, resumed=resumed, moved_aside=moved_aside,
                   broken=broken)


def _in_place(target: Path, ref: ChunkRef) -> bool:
    """Whether an earlier run of this restore left ``ref`` at ``target``, whole: hashed,
    not just its size taken. A run killed by a power cut may leave a chunk renamed into
    place with its size but not all its bytes (they were not synced yet). One that does
    not match is removed, to be copied again (or named missing)."""
    try:
        if target.stat().st_size == ref.size and sha256_file(target) == ref.hash:
            return True
    except FileNotFoundError:
        return False
    target.unlink()
    return False


def _copy_checked(source: Path, target: Path, expected_sha256: str) -> None:
    if not copy_verified(source, target, expected_sha256):
        raise RestoreError(
            f"{source} read back differently from when it was checked (it no longer matches"
            " its manifest): the restore is not finished; check the backup disk with"
            " `homesync backup verify`, then run the same restore again")


async def _forget_unbacked_garbage(tx: Conn, live: LocalChunkStore, now: int) -> None:
    """Drop rows of unreferenced chunks the backup did not carry (gc would drop them anyway).

    A backup copies only referenced chunks, so garbage awaiting gc at backup time has a
    row but no file after a restore; without this, ``fsck`` would report it missing.
    """
    after = ""
    while True:
        rows = await chunk_index.unreferenced_before(tx, now + 1, after=after, limit=500)
        for row in rows:
            if not await live.exists(row["hash"]):
                await chunk_index.delete(tx, row["hash"])
        if len(rows) < 500:
            return
        after = rows[-1]["hash"]


def _check_room(data_dir: Path, refs: list[ChunkRef], snap_db: Path) -> None:
    """Refuse, before anything is changed, a target whose disk cannot hold what is left to
    restore (a disk that fills half way leaves a data dir the server will not start on).
    What ``--force`` moves aside stays on that disk, so it frees nothing, and its chunks,
    the same as the snapshot's when a data dir is restored over itself, go with it: only
    an interrupted restore's own chunks count as in place."""
    own = holds_own_work(data_dir)
    needed = snap_db.stat().st_size + sum(
        r.size for r in refs
        if not own or _size(data_dir / "chunks" / chunk_relpath(r.hash)) != r.size)
    disk = data_dir
    while not disk.exists():
        disk = disk.parent
    st = os.statvfs(disk)
    free = st.f_bavail * st.f_frsize
    if needed > free:
        raise RestoreError(
            f"the data dir {data_dir} has {_mib(free)} free and this restore needs"
            f" {_mib(needed)}: free space there, or restore somewhere else; nothing was changed")


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except (FileNotFoundError, NotADirectoryError):
        return None


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def _check_chunks(data_dir: Path, refs: list[ChunkRef],
                  broken: dict[str, str]) -> dict[str, str]:
    """``broken`` plus every referenced chunk not in place with its size after the restore."""
    found = dict(broken)
    live = LocalChunkStore(data_dir, fsync=False)
    for ref in refs:
        if ref.hash in found:
            continue
        path = live.path_for(ref.hash)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            found[ref.hash] = "is missing after the restore"
            continue
        if size != ref.size:
            found[ref.hash] = f"has {size} bytes after the restore, expected {ref.size}"
    return found
