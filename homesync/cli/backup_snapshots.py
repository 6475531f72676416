"""``homesync backup list`` and ``homesync backup prune``: the snapshots in DEST, shown,
and thinned out by a retention policy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
import typer
from rich.text import Text

from homesync import clock
from homesync.cli.backup_common import (
    Dest,
    UnusedConfigOpt,
    UnusedDataDirOpt,
    WaitOpt,
    refused,
    run_with_progress,
    wait_seconds,
)
from homesync.cli.common import (
    EXIT_BUSY,
    EXIT_ERROR,
    EXIT_USAGE,
    DocumentJsonOpt,
    console,
    err_console,
    fail,
    human_size,
    print_document,
    print_summary,
)

# The store and the prune service are imported where they run, as in cli/backup.py.
if TYPE_CHECKING:
    from homesync.services.maintenance.prune import PruneReport
    from homesync.store.backup_repo import BackupRepo, Manifest

__all__ = ["list_snapshots", "prune"]


def list_snapshots(dest: Dest, wait: WaitOpt = None, as_json: DocumentJsonOpt = False,
                   data_dir: UnusedDataDirOpt = None, config: UnusedConfigOpt = None) -> None:
    """List the snapshots in a backup, oldest first (exit code 1 if one is damaged)."""
    from homesync.services.maintenance.backup_wait import waited, waiting_note
    from homesync.store.backup_repo import BackupRepo, BackupRepoError
    from homesync.store.backup_repo_lock import RepoBusy, hold_for_reading

    wait_s = wait_seconds(wait)
    try:
        repo = BackupRepo.open(dest)
        # Shared, as verify: a prune removing snapshots meanwhile would list them half gone.
        with hold_for_reading(repo, wait_s, lambda busy: err_console.print(
                Text(waiting_note(busy, wait_s), style="yellow"), soft_wrap=True)):
            # One unreadable manifest must not hide the snapshots that can still be restored.
            damaged = repo.damaged_snapshots()
            manifests = [repo.manifest(name) for name in repo.snapshot_names()
                         if name not in damaged]
            latest = repo.latest()
    except RepoBusy as exc:
        raise fail(f"{exc}{waited(wait_s)}; nothing was listed, try again later (or with"
                   " --wait)", EXIT_BUSY) from None
    except (BackupRepoError, OSError) as exc:  # OSError: a part of DEST it may not read
        raise refused(exc) from None
    if as_json:
        print_document({"latest": latest, "snapshots": [_listed(m) for m in manifests],
                        "damaged": [{"name": n, "problem": why} for n, why in damaged.items()]})
    else:
        _print_snapshots(repo, manifests, latest, bool(damaged))
        for name, why in damaged.items():
            err_console.print(Text.assemble((f"snapshot {name} is damaged: ", "bold red"), why,
                                            " (it cannot be restored)"), soft_wrap=True)
    if damaged:
        raise typer.Exit(EXIT_ERROR)


def _print_snapshots(repo: BackupRepo, manifests: list[Manifest], latest: str | None,
                     damaged: bool) -> None:
    from rich.table import Table

    table = Table(title=Text(f"Snapshots in {repo.root}", style="table.title"))
    for col in ("Name", "Taken", "Files", "Chunks", "Size", "Missing"):
        table.add_column(col)
    for m in manifests:
        table.add_row(m.name + (" (latest)" if m.name == latest else ""),
                      clock.rfc3339(m.finished_at) or "", f"{m.files:,}", f"{m.chunks:,}",
                      human_size(m.bytes), str(len(m.missing_chunks)) if m.missing_chunks else "")
    none = f"No readable snapshots in {repo.root}." if damaged else f"No snapshots in {repo.root} yet."
    console.print(table if manifests else Text(none))


def _listed(manifest: Manifest) -> dict[str, Any]:
    """A manifest for ``--json``, with its times in RFC 3339 like every other report."""
    out: dict[str, Any] = msgspec.to_builtins(manifest)
    out["startedAt"] = clock.rfc3339(manifest.started_at)
    out["finishedAt"] = clock.rfc3339(manifest.finished_at)
    return out


def prune(
    dest: Dest,
    keep_last: Annotated[int | None, typer.Option(
        "--keep-last", metavar="N", min=1, show_default=False, help="Keep the N newest snapshots.")] = None,
    keep_daily: Annotated[int | None, typer.Option(
        "--keep-daily", metavar="N", min=1, show_default=False,
        help="Keep the newest snapshot of each of the last N days that have one (UTC).")] = None,
    keep_weekly: Annotated[int | None, typer.Option(
        "--keep-weekly", metavar="N", min=1, show_default=False,
        help="Keep the newest snapshot of each of the last N weeks that have one.")] = None,
    keep_monthly: Annotated[int | None, typer.Option(
        "--keep-monthly", metavar="N", min=1, show_default=False,
        help="Keep the newest snapshot of each of the last N months that have one.")] = None,
    keep_yearly: Annotated[int | None, typer.Option(
        "--keep-yearly", metavar="N", min=1, show_default=False,
        help="Keep the newest snapshot of each of the last N years that have one.")] = None,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", "-n", help="Only say what would be removed.")] = False,
    wait: WaitOpt = None,
    as_json: DocumentJsonOpt = False,
    data_dir: UnusedDataDirOpt = None,
    config: UnusedConfigOpt = None,
) -> None:
    """Remove old snapshots and the chunks only they use (the latest always stays)."""
    from homesync.services.maintenance.prune import PruneError, prune_backup
    from homesync.services.maintenance.retention import Retention

    wait_s = wait_seconds(wait)
    policy = Retention(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly,
                       keep_monthly=keep_monthly, keep_yearly=keep_yearly)
    if policy.is_empty():
        raise fail("say which snapshots to keep: at least one of --keep-last, --keep-daily,"
                   " --keep-weekly, --keep-monthly, --keep-yearly", EXIT_USAGE)
    report: PruneReport = run_with_progress(
        as_json, (PruneError, OSError), lambda progress: prune_backup(
            dest, policy, dry_run=dry_run, progress=progress, wait=wait_s))
    if as_json:
        print_document(report)
    else:
        _print_pruned(report)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _print_pruned(report: PruneReport) -> None:
    from rich.table import Table

    from homesync.store.backup_repo import snapshot_order

    would = "would be " if report.dry_run else ""
    table = Table(title=Text(f"Prune {report.destination}" + (" (dry run)" if report.dry_run else ""),
                             style="table.title"))
    for col in ("Name", "Taken", "Files", "Size", "Action", "Kept by"):
        table.add_column(col)
    rows = [(s, "keep") for s in report.kept] + [(s, f"{would}removed") for s in report.removed]
    for snap, action in sorted(rows, key=lambda r: snapshot_order(r[0].name)):
        style = "red" if snap.problem else ("" if action == "keep" else "dim")
        table.add_row(snap.name, snap.taken_at or "", f"{snap.files:,}" if snap.files is not None
                      else "", human_size(snap.bytes) if snap.bytes is not None else "",
                      action, ", ".join(snap.reasons), style=style)
    console.print(table)
    print_summary("Result" + (" (dry run: nothing was changed)" if report.dry_run else ""), [
        ("Snapshots kept", f"{len(report.kept):,}"),
        (f"Snapshots {would}removed", f"{len(report.removed):,}"),
        (f"Chunks {would}removed", f"{report.removed_chunks:,}"),
        (f"Space {would}freed", human_size(report.freed_bytes)),
        ("Took", f"{report.seconds:.1f} s"),
    ])
    for snap in report.kept:
        if snap.problem:
            err_console.print(Text.assemble(
                (f"snapshot {snap.name} is damaged: ", "bold red"), snap.problem,
                " (kept: prune never removes a snapshot it cannot read; delete it by hand"
                " once you are sure it is not needed)"), soft_wrap=True)
