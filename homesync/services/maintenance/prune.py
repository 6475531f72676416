"""``homesync backup prune``: remove old snapshots, then the chunks only they used.

Without it a nightly ``backup create`` into the same DEST grows its chunk pool for ever.
Which snapshots stay is decided by :mod:`retention` (restic's ``forget`` rules), and
whatever the rules say these always stay:

* the snapshot ``latest`` names (restore's default), so never the only one;
* a snapshot whose manifest is missing or unreadable: it is reported, never removed
  silently (the operator decides; ``backup list`` names it too).

Then the chunks in DEST's pool that no remaining snapshot's database refers to are
deleted. If a remaining snapshot's database cannot be read (or does not match its
manifest) nothing is removed at all: prune cannot tell which chunks that snapshot needs.

It holds DEST's writer lock (the one ``backup create`` holds), so a backup into the same
DEST cannot run meanwhile: it reuses chunks already in the pool without copying them,
and must not find them gone. The steps are ordered for a kill at any moment (see
:mod:`homesync.store.backup_pool`); running prune again finishes the job. A dry run
changes nothing and holds the lock shared, as ``backup verify`` does: its plan is not
made from a snapshot half removed by another prune, or a pool a create is filling.
"""

from __future__ import annotations

import asyncio
import errno
import sqlite3
import time
from pathlib import Path

import msgspec

from homesync import clock
from homesync.services.maintenance.backup import read_only_destination
from homesync.services.maintenance.backup_wait import waited, waiting_note
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.services.maintenance.retention import Retention, Taken, choose
from homesync.store import backup_pool
from homesync.store.backup_repo import (
    DATABASE_FILE,
    BackupRepo,
    BackupRepoError,
    Manifest,
    snapshot_order,
)
from homesync.store.backup_repo_lock import RepoBusy, hold_for_reading, hold_for_writing
from homesync.store.file_copies import sha256_file
from homesync.store.snapshot import referenced_chunks

__all__ = ["PruneBusy", "PruneError", "PruneReport", "PrunedSnapshot", "prune_backup"]


class PruneError(Exception):
    """Nothing was removed: DEST is not a backup, no rule was given, or a snapshot that
    stays cannot be read (so which chunks it needs is unknown)."""


class PruneBusy(PruneError):
    """Another backup (or prune) is writing to DEST now, or a verify, restore or list is
    reading it (a dry run: a prune is deleting from it); nothing was removed."""


class PrunedSnapshot(msgspec.Struct, kw_only=True, rename="camel"):
    """One snapshot and what prune did with it."""

    name: str
    taken_at: str | None                # RFC 3339; None when its manifest is unreadable
    files: int | None
    bytes: int | None                   # the chunks it refers to (shared with others)
    reasons: list[str]                  # why it stays: last, daily, ..., latest, damaged
    problem: str | None = None          # a damaged snapshot: what is wrong with it


class PruneReport(msgspec.Struct, kw_only=True, rename="camel"):
    """The outcome of ``backup prune`` (also its ``--json`` output)."""

    ok: bool                            # False: a damaged snapshot was kept (see kept)
    destination: str
    dry_run: bool
    policy: Retention
    kept: list[PrunedSnapshot]
    removed: list[PrunedSnapshot]
    removed_chunks: int
    freed_bytes: int                    # removed chunks and snapshot files
    seconds: float


async def prune_backup(destination: Path, policy: Retention, *, dry_run: bool = False,
                       progress: Progress = NO_PROGRESS, wait: float = 0.0) -> PruneReport:
    """Apply ``policy`` to the backup at ``destination``; ``dry_run`` only reports.
    ``wait``: seconds to wait for another backup writing to DEST to finish.

    Raises:
        PruneBusy: another backup is writing to DEST (still, after ``wait``).
        PruneError: nothing was removed (the message says why).
    """
    if policy.is_empty():
        raise PruneError("say which snapshots to keep: --keep-last, --keep-daily,"
                         " --keep-weekly, --keep-monthly or --keep-yearly")
    return await asyncio.to_thread(_prune, destination, policy, dry_run, progress, wait)


def _prune(destination: Path, policy: Retention, dry_run: bool,
           progress: Progress, wait: float) -> PruneReport:
    t0 = time.monotonic()
    try:
        repo = BackupRepo.open(destination)
        # A dry run changes nothing (the writer lock's emptying of tmp/ included): it only
        # reads, beside verifies and backups, with no prune deleting.
        def note(busy: str) -> None:
            progress.note(waiting_note(busy, wait))

        with (hold_for_reading(repo, wait, note) if dry_run
              else hold_for_writing(repo, wait, note, deleting=True)):
            report = _plan_and_remove(repo, policy, dry_run, progress)
    except RepoBusy as exc:
        raise PruneBusy(f"{exc}{waited(wait)}; nothing was removed, try again later") from None
    except BackupRepoError as exc:
        raise PruneError(str(exc)) from None
    except OSError as exc:
        if exc.errno != errno.EROFS:
            raise
        # Met at the lock, before anything is removed (or, remounted meanwhile, at the
        # first removal: each step leaves DEST consistent, see backup_pool).
        raise PruneError(read_only_destination(Path(destination).expanduser().absolute(),
                                               "prune did not run to the end")) from None
    report.seconds = round(time.monotonic() - t0, 3)
    return report


def _plan_and_remove(repo: BackupRepo, policy: Retention, dry_run: bool,
                     progress: Progress) -> PruneReport:
    progress.phase("Plan")
    damaged = repo.damaged_snapshots()
    manifests = {n: repo.manifest(n) for n in repo.snapshot_names() if n not in damaged}
    keep = choose([Taken(n, m.started_at) for n, m in manifests.items()], policy)
    latest = repo.latest()
    if latest in manifests:
        keep.setdefault(latest, []).append("latest")

    kept = [_listed(n, manifests[n], keep[n]) for n in manifests if n in keep]
    kept += [PrunedSnapshot(name=n, taken_at=None, files=None, bytes=None,
                            reasons=["damaged"], problem=why) for n, why in damaged.items()]
    kept.sort(key=lambda s: snapshot_order(s.name))
    removed = [_listed(n, m, []) for n, m in manifests.items() if n not in keep]

    needed = _chunks_needed(repo, [s.name for s in kept], manifests, progress)
    freed = sum(backup_pool.snapshot_bytes(repo, s.name) for s in removed)
    if not dry_run and removed:
        progress.phase("Remove snapshots", total_items=len(removed))
        backup_pool.unpublish(repo, [s.name for s in removed])
        progress.advance(items=len(removed))
    if not dry_run:
        # Left by this run, or by one killed after its renames: no listing sees them.
        backup_pool.remove_unpublished(repo)
    # No snapshot at all (a first backup killed mid-copy, or snapshots/ lost): nothing
    # tells what the pool is for, so it is left alone rather than emptied.
    chunks, chunk_bytes = _sweep(repo, needed, dry_run, progress) if kept else (0, 0)
    return PruneReport(ok=not damaged, destination=str(repo.root), dry_run=dry_run,
                       policy=policy, kept=kept, removed=removed, removed_chunks=chunks,
                       freed_bytes=freed + chunk_bytes, seconds=0.0)


def _listed(name: str, manifest: Manifest, reasons: list[str]) -> PrunedSnapshot:
    return PrunedSnapshot(name=name, taken_at=clock.rfc3339(manifest.started_at),
                          files=manifest.files, bytes=manifest.bytes, reasons=reasons)


def _chunks_needed(repo: BackupRepo, names: list[str], manifests: dict[str, Manifest],
                   progress: Progress) -> set[str]:
    """Every chunk the staying snapshots refer to, read from their databases."""
    progress.phase("Read snapshots", total_items=len(names))
    needed: set[str] = set()
    for name in names:
        db = repo.snapshot_dir(name) / DATABASE_FILE
        manifest = manifests.get(name)
        try:
            if manifest is not None and sha256_file(db) != manifest.database_sha256:
                raise _Unreadable(f"{db} does not match the checksum in its manifest")
            needed.update(ref.hash for ref in referenced_chunks(db))
        except (OSError, sqlite3.Error, _Unreadable) as exc:
            raise PruneError(
                f"snapshot {name} stays but its database cannot be read ({exc}), so prune"
                " cannot tell which chunks it needs: nothing was removed. Check it with"
                f" `homesync backup verify {repo.root} --snapshot {name}`; if it cannot be"
                f" repaired, delete {repo.snapshot_dir(name)} and run prune again") from None
        progress.advance(items=1)
    return needed


class _Unreadable(Exception):
    pass


def _sweep(repo: BackupRepo, needed: set[str], dry_run: bool,
           progress: Progress) -> tuple[int, int]:
    """Delete (or, dry, count) the pool's chunks not in ``needed``: (chunks, bytes)."""
    tops = backup_pool.chunk_dirs(repo)
    progress.phase("Sweep chunks", total_items=len(tops))
    count = nbytes = 0
    for top in tops:
        for chunk in backup_pool.chunks_in(top):
            if chunk.hash in needed:
                continue
            if not dry_run:
                backup_pool.remove_chunk(chunk)
            count += 1
            nbytes += chunk.size
        if not dry_run:
            backup_pool.remove_empty_dirs(top)
        progress.advance(items=1)
    return count, nbytes
