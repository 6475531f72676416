"""``homesync backup verify``: is this backup restorable? (reliability row B2)

Without ``--read-data`` it checks structure: the snapshot's database passes SQLite's
integrity and foreign-key checks and matches its manifest's checksum, the server key is
there, and every chunk the database refers to is in the pool with the right size. With
``--read-data`` it also re-hashes chunks — all of them, or a deterministic subset
(``10%`` with a seed, or ``n/t`` like restic: run 1/7 … 7/7 on seven nights and every
chunk has been read once a week).

It holds DEST's lock shared while it reads (:func:`hold_for_reading`): a ``backup
prune`` deleting what it reads would look like missing chunks, and a ``backup create``
half way through like a damaged pool. Verifies may run together; one finding a writer
there refuses (:class:`VerifyBusy`), or waits for it with ``wait``.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from pathlib import Path

import msgspec

from homesync.services.maintenance.backup_wait import waited, waiting_note
from homesync.services.maintenance.chunk_problem import ChunkProblem
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.store.backup_pick import pick_snapshot
from homesync.store.backup_repo import (
    DATABASE_FILE,
    KEY_FILE,
    BackupRepo,
    BackupRepoError,
    Manifest,
)
from homesync.store.backup_repo_lock import RepoBusy, hold_for_reading
from homesync.store.file_copies import sha256_file
from homesync.store.snapshot import (
    ChunkRef,
    files_using_chunks,
    integrity_problems,
    referenced_chunks,
)

__all__ = ["Subset", "VerifyBusy", "VerifyError", "VerifyReport", "parse_subset",
           "verify_backup"]

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_SLICE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class VerifyError(Exception):
    """The backup cannot be verified at all (not a backup, no such snapshot)."""


class VerifyBusy(VerifyError):
    """A prune is deleting from DEST (still, after the wait); nothing was checked."""


class Subset(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Which chunks ``--read-data`` re-hashes: a percentage (sampled with ``seed``) or slice n of t."""

    percent: float | None = None
    part: int | None = None
    parts: int | None = None
    seed: int = 0

    def pick(self, refs: list[ChunkRef]) -> list[ChunkRef]:
        if self.parts is not None and self.part is not None:
            # By hash, not by position: the same chunk stays in the same slice however
            # many chunks are added to the backup later.
            return [r for r in refs if int(r.hash[:8], 16) % self.parts == self.part - 1]
        if self.percent is not None:
            count = round(len(refs) * self.percent / 100)
            if self.percent > 0:
                count = max(count, 1)
            return sorted(random.Random(self.seed).sample(refs, min(count, len(refs))),
                          key=lambda r: r.hash)
        return refs


def parse_subset(text: str, seed: int | None = None) -> Subset:
    """``10%`` (with ``seed``, random when None) or ``2/7``; ValueError otherwise."""
    if m := _PERCENT.match(text):
        percent = float(m.group(1))
        if not 0 < percent <= 100:
            raise ValueError(f"--subset percentage must be in (0, 100]: {text!r}")
        return Subset(percent=percent,
                      seed=seed if seed is not None else random.SystemRandom().randrange(2**31))
    if m := _SLICE.match(text):
        part, parts = int(m.group(1)), int(m.group(2))
        if not 1 <= part <= parts:
            raise ValueError(f"--subset n/t needs 1 <= n <= t: {text!r}")
        return Subset(part=part, parts=parts)
    raise ValueError(f"--subset takes a percentage (10%) or a slice (2/7), not {text!r}")


class VerifyReport(msgspec.Struct, kw_only=True, rename="camel"):
    """The outcome of ``backup verify`` (also its ``--json`` output)."""

    ok: bool
    destination: str
    snapshot: str
    seconds: float
    database_problems: list[str]
    server_key_problems: list[str]      # server.key missing or not matching its manifest
    chunks: int
    bytes: int
    chunks_read: int
    bytes_read: int
    subset: Subset | None
    problems: list[ChunkProblem]


async def verify_backup(
    destination: Path, *, snapshot: str | None = None, read_data: bool = False,
    subset: Subset | None = None, progress: Progress = NO_PROGRESS, wait: float = 0.0,
) -> VerifyReport:
    """Check one snapshot of the backup at ``destination`` (default: the latest), with no
    prune deleting there meanwhile (waiting up to ``wait`` seconds for one).

    Raises:
        VerifyBusy: a prune is deleting from ``destination`` (still, after ``wait``).
        VerifyError: ``destination`` is not a backup, or has no such snapshot.
    """
    return await asyncio.to_thread(_verify, destination, snapshot, read_data, subset, progress,
                                   wait)


def _verify(destination: Path, snapshot: str | None, read_data: bool, subset: Subset | None,
            progress: Progress, wait: float) -> VerifyReport:
    t0 = time.monotonic()
    try:
        repo = BackupRepo.open(destination)
        with hold_for_reading(repo, wait, lambda busy: progress.note(waiting_note(busy, wait))):
            name, manifest = pick_snapshot(repo, snapshot)
            return _verify_snapshot(repo, name, manifest, read_data, subset, progress, t0)
    except RepoBusy as exc:
        raise VerifyBusy(f"{exc}{waited(wait)}; nothing was verified, try again later"
                         " (or with --wait)") from None
    except BackupRepoError as exc:
        raise VerifyError(str(exc)) from None


def _verify_snapshot(repo: BackupRepo, name: str, manifest: Manifest, read_data: bool,
                     subset: Subset | None, progress: Progress, t0: float) -> VerifyReport:
    snap_dir = repo.snapshot_dir(name)
    db_file = snap_dir / DATABASE_FILE

    progress.phase("Check database")
    db_problems: list[str] = []
    if not db_file.is_file():
        db_problems.append(f"{db_file} is missing")
    elif sha256_file(db_file) != manifest.database_sha256:
        db_problems.append(f"{db_file} does not match the checksum in its manifest")
    else:
        db_problems.extend(integrity_problems(db_file))
    key_problems: list[str] = []
    key_file = snap_dir / KEY_FILE
    if not key_file.is_file():
        key_problems.append(f"{key_file} is missing")
    elif sha256_file(key_file) != manifest.server_key_sha256:
        key_problems.append(f"{key_file} does not match the checksum in its manifest")

    refs = referenced_chunks(db_file) if not db_problems else []
    broken = _check_chunks(repo, refs, set(manifest.missing_chunks), progress)
    to_read: list[ChunkRef] = []
    if read_data and refs:
        to_read = (subset.pick(refs) if subset else refs)
        to_read = [r for r in to_read if r.hash not in broken]
        broken.update(_read_chunks(repo, to_read, progress))

    users_of = files_using_chunks(db_file, broken) if broken else {}
    problems = [ChunkProblem(hash=h, problem=why, files=users_of.get(h, []))
                for h, why in sorted(broken.items())]
    return VerifyReport(
        ok=not db_problems and not key_problems and not problems, destination=str(repo.root),
        snapshot=name, seconds=round(time.monotonic() - t0, 3), database_problems=db_problems,
        server_key_problems=key_problems,
        chunks=len(refs), bytes=sum(r.size for r in refs), chunks_read=len(to_read),
        bytes_read=sum(r.size for r in to_read), subset=subset if read_data else None,
        problems=problems,
    )


def _check_chunks(repo: BackupRepo, refs: list[ChunkRef], left_out: set[str],
                  progress: Progress) -> dict[str, str]:
    """Every referenced chunk present with its size: {hash: problem}. ``left_out``: those
    ``backup create`` could not copy (the manifest's ``missingChunks``)."""
    progress.phase("Check chunks", total_items=len(refs))
    broken: dict[str, str] = {}
    for ref in refs:
        try:
            size = repo.chunk_size(ref.hash)
        except OSError as exc:
            # Its chunks/ab/cd/ the user may not read (a chmod, a bad sector): damage to
            # name with the files it touches, as a missing chunk is, not the end of verify.
            broken[ref.hash] = f"cannot be checked in the backup: {exc.strerror} ({exc.filename})"
            progress.advance(items=1)
            continue
        if size is None and ref.hash in left_out:
            broken[ref.hash] = ("is not in the backup: it was missing or damaged in the data"
                                " dir when the backup was taken")
        elif size is None:
            broken[ref.hash] = "is missing from the backup"
        elif size != ref.size:
            broken[ref.hash] = f"has {size} bytes in the backup, expected {ref.size}"
        progress.advance(items=1)
    return broken


def _read_chunks(repo: BackupRepo, refs: list[ChunkRef], progress: Progress) -> dict[str, str]:
    """Re-hash chunks: {hash: problem} for those whose content is not their name."""
    progress.phase("Hash chunks", total_bytes=sum(r.size for r in refs),
                   total_items=len(refs))
    broken: dict[str, str] = {}
    for ref in refs:
        try:
            actual = sha256_file(repo.chunk_path(ref.hash))
        except OSError as exc:
            broken[ref.hash] = f"cannot be read: {exc.strerror}"
        else:
            if actual != ref.hash:
                broken[ref.hash] = f"is damaged: its content hashes to {actual}"
        progress.advance(nbytes=ref.size, items=1)
    return broken
