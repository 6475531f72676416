"""``homesync backup create``: a consistent, incremental backup while the server runs.

Order matters (reliability rows B1, B3):

1. take the backup lock, so gc cannot delete a chunk from now until we are done;
2. snapshot the database through SQLite's online backup API (one read transaction);
3. copy every chunk *that snapshot* references into DEST's shared chunk pool, skipping
   those DEST already has with the right size (the name is the hash, so same name, same
   bytes): an unchanged store backs up in the time it takes to ``stat`` its chunks;
4. publish the snapshot (manifest, rename, ``latest``) only after its chunks are synced.

Chunks uploaded after step 2 are not in this backup, and are not needed by it: the
uploads path writes a chunk file before it commits the row that refers to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from homesync import clock
from homesync.config import Settings
from homesync.ids import new_id
from homesync.services.maintenance.backup_owner import other_servers_snapshot, refusal
from homesync.services.maintenance.backup_wait import waited, waiting_note
from homesync.services.maintenance.chunk_problem import ChunkProblem
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.store import operations
from homesync.store.backup_lock import hold_for_backup
from homesync.store.backup_repo import (
    DATABASE_FILE,
    KEY_FILE,
    BackupRepo,
    BackupRepoError,
    DestinationTaken,
    Manifest,
)
from homesync.store.backup_repo_lock import RepoBusy, hold_for_writing
from homesync.store.db import Database
from homesync.store.file_copies import read_error, sha256_file
from homesync.store.keys import SECRET_FILE
from homesync.store.local_chunks import LocalChunkStore
from homesync.store.snapshot import (
    ChunkRef,
    files_using_chunks,
    referenced_chunks,
    snapshot_counts,
    take_snapshot,
)

__all__ = ["BackupBusy", "BackupDestinationFull", "BackupDestinationTaken", "BackupError",
           "BackupOfAnotherServer", "BackupOverlap", "BackupReport", "BackupSummary", "Backups"]

# SQLite's primary result codes: how a snapshot written into a full DEST fails. It says
# "database or disk is full", or "disk I/O error" when it cannot grow a file it maps.
_SQLITE_IO = {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
_NEARLY_FULL = 1024 * 1024  # free bytes under which such an I/O error means a full DEST
# Errors that are DEST's, whatever a chunk's source reads like: they end the backup.
_DEST_ENDS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class BackupError(Exception):
    """The backup could not be made (DEST unusable, data dir unreadable, ...)."""


class BackupDestinationTaken(BackupError):
    """DEST already holds something that is not a homesync backup; nothing was written."""


class BackupOfAnotherServer(BackupDestinationTaken):
    """DEST holds the backups of another server (another server key); nothing was written."""


class BackupBusy(BackupError):
    """Another backup is writing to DEST now; nothing was written: try again later."""


class BackupDestinationFull(BackupError):
    """DEST ran out of space: no snapshot was published, the data dir was not changed."""


class BackupOverlap(BackupError):
    """DEST is inside the data dir or holds it: a bad argument, nothing was written."""


class BackupReport(msgspec.Struct, kw_only=True, rename="camel"):
    """The outcome of one ``backup create`` (also its ``--json`` output)."""

    ok: bool
    destination: str
    snapshot: str
    started_at: str
    finished_at: str
    seconds: float
    users: int
    files: int
    journal_seq: int
    chunks: int
    bytes: int
    copied_chunks: int
    copied_bytes: int
    reused_chunks: int
    problems: list[ChunkProblem]


class BackupSummary(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The last backup taken of this data dir, as recorded in its database."""

    destination: str
    snapshot: str
    finished_at: str
    chunks: int
    bytes: int
    missing_chunks: int


class _Copied(msgspec.Struct, kw_only=True):
    name: str
    manifest: Manifest
    copied_chunks: int
    copied_bytes: int
    problems: list[ChunkProblem]


class Backups:
    """Backups of one data dir. Built by :class:`~homesync.services.container.Services`."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def create(self, destination: Path, progress: Progress = NO_PROGRESS, *,
                     new_server_key: bool = False, wait: float = 0.0) -> BackupReport:
        """Back the data dir up into ``destination`` (created if missing).

        ``new_server_key``: back up even if DEST's latest snapshot has another server key
        (this server's key was replaced); see :mod:`backup_owner`. ``wait``: seconds to
        wait for another backup (or prune) writing to DEST to finish.

        Raises:
            BackupDestinationTaken: DEST holds something else (a file, a non-empty directory).
            BackupOfAnotherServer: DEST holds the backups of another server.
            BackupBusy: another backup is writing to DEST.
            BackupOverlap: DEST is inside the data dir (or vice versa).
            BackupDestinationFull: DEST ran out of space (or of its quota) on the way.
            BackupError: DEST is not usable.
        """
        t0 = time.monotonic()
        try:
            dest, copied = await asyncio.to_thread(self._run, destination, progress,
                                                   new_server_key, wait)
        except DestinationTaken as exc:
            raise BackupDestinationTaken(str(exc)) from None
        except RepoBusy as exc:
            raise BackupBusy(f"{exc}{waited(wait)}") from None
        except BackupRepoError as exc:
            raise BackupError(str(exc)) from None
        m = copied.manifest
        async with self.db.transaction() as tx:
            await operations.insert_backup(
                tx, backup_id=new_id("backup"), destination=str(dest), snapshot=copied.name,
                started_at=m.started_at, finished_at=m.finished_at, journal_seq=m.journal_seq,
                chunks=m.chunks, nbytes=m.bytes, copied_chunks=copied.copied_chunks,
                copied_bytes=copied.copied_bytes, missing_chunks=len(m.missing_chunks))
        return BackupReport(
            ok=not copied.problems, destination=str(dest), snapshot=copied.name,
            started_at=clock.rfc3339(m.started_at) or "",
            finished_at=clock.rfc3339(m.finished_at) or "",
            seconds=round(time.monotonic() - t0, 3), users=m.users, files=m.files,
            journal_seq=m.journal_seq, chunks=m.chunks, bytes=m.bytes,
            copied_chunks=copied.copied_chunks, copied_bytes=copied.copied_bytes,
            reused_chunks=m.chunks - copied.copied_chunks - len(copied.problems),
            problems=copied.problems,
        )

    async def last(self) -> BackupSummary | None:
        """The most recent backup of this data dir, if any."""
        row = await operations.last_backup(self.db.reader)
        if row is None:
            return None
        return BackupSummary(destination=row["destination"], snapshot=row["snapshot"],
                             finished_at=clock.rfc3339(row["finished_at"]) or "",
                             chunks=row["chunks"], bytes=row["bytes"],
                             missing_chunks=row["missing_chunks"])

    # -- the blocking part, in a worker thread ---------------------------------------------

    def _run(self, destination: Path, progress: Progress,
             new_server_key: bool, wait: float) -> tuple[Path, _Copied]:
        data = self.settings.data_path.absolute()
        dest = destination.expanduser().absolute()
        real_data, real_dest = data.resolve(), dest.resolve()  # symlinks must not hide overlap
        if real_dest == real_data or real_data in real_dest.parents:
            raise BackupOverlap(
                f"the backup destination {dest} must be outside the data dir {data}")
        if real_dest in real_data.parents:
            raise BackupOverlap(f"the backup destination {dest} must not hold the data dir"
                                f" {data}: choose a directory outside it")
        with _full_destination_said(dest):
            return self._write(data, dest, progress, new_server_key, wait)

    def _write(self, data: Path, dest: Path, progress: Progress,
               new_server_key: bool, wait: float) -> tuple[Path, _Copied]:
        fsync = self.settings.storage.fsync
        repo = BackupRepo.create_or_open(dest, durable=fsync)
        with hold_for_writing(repo, wait, lambda busy: progress.note(waiting_note(busy, wait))):
            if not new_server_key:
                ours = sha256_file(data / SECRET_FILE)
                if (theirs := other_servers_snapshot(repo, ours)) is not None:
                    raise BackupOfAnotherServer(refusal(repo, theirs))
            # Named and dated once the lock is ours, not when the command began: after a
            # --wait the database taken is the one of now (and prune's rules go by it).
            started = clock.now_ms()
            name = repo.unused_name(time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started / 1000)))
            work = repo.new_snapshot_dir(name)
            snapshot = work / DATABASE_FILE
            with hold_for_backup(data):
                progress.phase("Snapshot database")
                take_snapshot(self.settings.db_path, snapshot, fsync=fsync)
                shutil.copyfile(data / SECRET_FILE, work / KEY_FILE)
                os.chmod(work / KEY_FILE, 0o600)
                refs = referenced_chunks(snapshot)
                copied_chunks, copied_bytes, missing = self._copy_chunks(repo, refs, progress)
            # gc may run again: everything the snapshot needs is in DEST now.

            progress.phase("Publish snapshot")
            counts = snapshot_counts(snapshot)
            users_of = files_using_chunks(snapshot, missing)
            problems = [ChunkProblem(hash=h, problem=why, files=users_of.get(h, []))
                        for h, why in sorted(missing.items())]
            manifest = Manifest(
                name=name, source=str(data.absolute()), started_at=started,
                finished_at=clock.now_ms(), schema_version=counts.schema_version,
                users=counts.users, files=counts.files, versions=counts.versions,
                journal_seq=counts.journal_seq, chunks=len(refs), bytes=sum(r.size for r in refs),
                missing_chunks=sorted(missing), database_sha256=sha256_file(snapshot),
                server_key_sha256=sha256_file(work / KEY_FILE),
            )
            repo.publish(work, manifest, fsync=fsync)
        return dest, _Copied(name=name, manifest=manifest, copied_chunks=copied_chunks,
                             copied_bytes=copied_bytes, problems=problems)

    def _copy_chunks(self, repo: BackupRepo, refs: list[ChunkRef],
                     progress: Progress) -> tuple[int, int, dict[str, str]]:
        """Copy what DEST lacks, re-hashing each chunk on the way: (chunks copied, bytes
        copied, {hash: what is wrong with it in the data dir}). A missing or damaged chunk
        is left out of the backup, not copied as if it were good."""
        # Which chunks DEST lacks first, so that the copy's bar (its bytes, its rate) counts
        # only what is copied: chunks already there passed as copied bytes, and an
        # incremental backup showed a speed no disk has.
        progress.phase("Check chunks", total_items=len(refs))
        lacking: list[ChunkRef] = []
        for ref in refs:
            if repo.chunk_size(ref.hash) != ref.size:
                lacking.append(ref)
            progress.advance(items=1)
        if there := len(refs) - len(lacking):
            progress.note(f"{there:,} chunk(s) already in the backup: not copied again")
        progress.phase("Copy chunks", total_bytes=sum(r.size for r in lacking),
                       total_items=len(lacking))
        live = LocalChunkStore(self.settings.data_path, fsync=False)
        copied_chunks = copied_bytes = 0
        missing: dict[str, str] = {}
        for ref in lacking:
            source = live.path_for(ref.hash)
            try:
                problem = repo.put_chunk(ref.hash, source, ref.size)
            except FileNotFoundError:
                missing[ref.hash] = "is missing from the data dir"
            except OSError as exc:
                # One the data dir cannot read (a bad sector) is left out as a damaged
                # one is, not the end of the backup of every other file. An error
                # writing DEST (full, read-only, ...) still ends it.
                if exc.errno in _DEST_ENDS or (why := read_error(source)) is None:
                    raise
                missing[ref.hash] = f"cannot be read in the data dir ({why})"
            else:
                if problem is None:
                    copied_chunks += 1
                    copied_bytes += ref.size
                elif problem.sha256 is None:
                    missing[ref.hash] = (f"has {problem.size} bytes in the data dir,"
                                         f" expected {ref.size}")
                else:
                    missing[ref.hash] = ("is damaged in the data dir: its content hashes"
                                         f" to {problem.sha256}")
            progress.advance(nbytes=ref.size, items=1)
        return copied_chunks, copied_bytes, missing


@contextlib.contextmanager
def _full_destination_said(dest: Path) -> Iterator[None]:
    """A write into DEST that found no room becomes :class:`BackupDestinationFull`, naming
    DEST: "No space left on device" alone does not say which disk, and SQLite's error for
    the snapshot even reads like the live database's. The snapshot being written is
    dropped (:func:`hold_for_writing`); chunks already copied stay for the next run."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.EROFS and _names_dest(exc, dest):
            raise BackupError(read_only_destination(dest, "this backup was not made")) from None
        if not _out_of_room(exc, dest):
            raise
        raise BackupDestinationFull(
            f"the backup destination {dest} is full ({exc}): this backup was not completed;"
            " earlier snapshots there are intact and the data dir was not changed. Free"
            " space there, or choose another destination, and run it again (chunks already"
            " copied are not copied again)") from None


def _names_dest(exc: OSError, dest: Path, unnamed: bool = False) -> bool:
    named = [Path(f) for f in (exc.filename, exc.filename2) if f is not None]
    return unnamed if not named else any(p == dest or dest in p.parents for p in named)


def read_only_destination(dest: Path, outcome: str) -> str:
    """Why nothing could be written to DEST: it is on a read-only filesystem."""
    return (f"the backup destination {dest} is on a read-only filesystem (mounted read-only,"
            " or remounted so by the kernel after disk errors: see `dmesg`): " + outcome
            + "; earlier snapshots there are as they were. Make it writable (remount it"
            " read-write, check the disk) and run it again")


def _out_of_room(exc: OSError | sqlite3.Error, dest: Path) -> bool:
    if isinstance(exc, OSError):
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            return False
        # Writes without a file name are to DEST: the data dir is only read (its lock
        # file, created when missing, is named).
        return _names_dest(exc, dest, unnamed=True)
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == sqlite3.SQLITE_FULL:
        return True
    if code not in _SQLITE_IO:
        return False
    try:
        st = os.statvfs(dest)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < _NEARLY_FULL or st.f_favail == 0
