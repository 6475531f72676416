"""``homesync backup create|verify|restore|list|prune``.

Exit codes: 0 all well, 1 the backup/restore failed or found problems, 2 bad usage (DEST
and the data dir inside each other, too), 4 something is already at the target (DEST or
the data dir), as for ``init``, 5 another backup is writing to DEST now (create, prune), a
prune is deleting from it (verify, restore, list, dry-run prune: they hold its delete lock
shared), or one of those is reading it (prune).
``--json`` prints one JSON document on standard output and no progress bars.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
import typer
from rich.text import Text

from homesync import clock
from homesync.cli.common import (
    EXIT_BUSY,
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_USAGE,
    ConfigOpt,
    DataDirOpt,
    DocumentJsonOpt,
    console,
    err_console,
    fail,
    human_size,
    permission_message,
    print_chunk_problems,
    print_document,
    print_summary,
    run_with_services,
    settings_from,
)
from homesync.cli.upgrade_notes import upgrade_said
from homesync.config.units import parse_duration

# Each command imports the services it runs where it runs them: the backup, restore and
# prune code (and asyncio, the store, Rich's progress bars) would otherwise load with
# every homesync command, --help too.
if TYPE_CHECKING:
    from homesync.cli.progress import RichProgress
    from homesync.services.maintenance.backup import BackupReport
    from homesync.services.maintenance.backup_verify import VerifyReport
    from homesync.services.maintenance.chunk_problem import ChunkProblem
    from homesync.services.maintenance.prune import PruneReport
    from homesync.services.maintenance.restore import RestoreReport
    from homesync.store.backup_repo import BackupRepo, Manifest

app = typer.Typer(help="Back up, list, verify, prune and restore the data dir's backups.", no_args_is_help=True)

T = TypeVar("T")


@cache
def _exit_codes() -> dict[type[Exception], int]:
    """Refusals that changed nothing get their own exit codes, so a script can tell them
    from a failed backup: something already where we would write (as `init` refusing to
    overwrite a config), DEST and the data dir inside each other (a bad argument), and
    another backup writing to DEST, a prune deleting from it, or a verify, restore or list
    reading it (or restore into the data dir) now (try again later)."""
    from homesync.services.maintenance.backup import (
        BackupBusy,
        BackupDestinationTaken,
        BackupOfAnotherServer,
        BackupOverlap,
    )
    from homesync.services.maintenance.backup_verify import VerifyBusy
    from homesync.services.maintenance.prune import PruneBusy
    from homesync.services.maintenance.restore import (
        RestoreBusy,
        RestoreOverlap,
        RestoreTargetTaken,
    )

    return {
        BackupDestinationTaken: EXIT_CONFLICT, RestoreTargetTaken: EXIT_CONFLICT,
        BackupOfAnotherServer: EXIT_CONFLICT,
        BackupOverlap: EXIT_USAGE, RestoreOverlap: EXIT_USAGE,
        BackupBusy: EXIT_BUSY, PruneBusy: EXIT_BUSY, RestoreBusy: EXIT_BUSY, VerifyBusy: EXIT_BUSY,
    }

Dest = Annotated[Path, typer.Argument(metavar="DEST",
                                      help="Backup directory (a USB disk, a NAS mount, ...).",
                                      show_default=False)]
SnapshotOpt = Annotated[str | None, typer.Option(
    "--snapshot", metavar="NAME", help="Snapshot name (see `backup list`); default: the latest.",
    show_default=False)]
# verify and list read only DEST. They take --data-dir and --config like every command (so a
# script or unit can pass the same flags to all of them) but do not load either: a backup
# must stay checkable when the data dir or its config is lost or damaged.
UnusedDataDirOpt = Annotated[Path | None, typer.Option(
    "--data-dir", envvar="HOMESYNC_DATA_DIR", show_default=False, metavar="DIR",
    help="Accepted like every command; not used (a backup is read on its own).")]
WaitOpt = Annotated[str | None, typer.Option(
    "--wait", metavar="DURATION", show_default=False,
    help="When another backup or prune is writing to DEST (create, prune), a prune is"
         " deleting from it (verify, restore, list, dry-run prune), or a verify, restore or"
         " list is reading it (prune), wait up to DURATION (90s, 15m, 2h) for it to finish"
         " instead of exiting at once (exit code 5).")]
UnusedConfigOpt = Annotated[Path | None, typer.Option(
    "--config", envvar="HOMESYNC_CONFIG", show_default=False, metavar="FILE",
    help="Accepted like every command; not used (a backup is read on its own).")]


def _run(as_json: bool, errors: tuple[type[Exception], ...],
         fn: Callable[[RichProgress], Coroutine[Any, Any, T]],
         data_dir: Path | None = None) -> T:
    """Run a service call under progress bars; its refusal becomes exit code 1 (or 4)."""
    import asyncio

    from homesync.cli.progress import RichProgress

    try:
        with RichProgress(err_console, enabled=not as_json) as progress:
            return asyncio.run(fn(progress))
    except errors as exc:
        raise _refused(exc, data_dir) from None


def _refused(exc: Exception, data_dir: Path | None = None) -> typer.Exit:
    # fail() also prints the {ok: false, error} document under --json.
    if isinstance(exc, PermissionError) and data_dir is not None:
        return fail(permission_message(data_dir, exc))
    return fail(str(exc), _exit_codes().get(type(exc), EXIT_ERROR))


def _show_problems(problems: list[ChunkProblem], database_problems: Sequence[str] = (),
                   key_problems: Sequence[str] = ()) -> None:
    for text in database_problems:
        err_console.print(Text.assemble(("database: ", "bold red"), text), soft_wrap=True)
    for text in key_problems:
        err_console.print(Text.assemble(("server key: ", "bold red"), text), soft_wrap=True)
    print_chunk_problems(problems)


def _wait_seconds(text: str | None) -> float:
    if text is None:
        return 0.0
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise fail(f"--wait: {exc}", EXIT_USAGE) from None


def _rate(nbytes: int, seconds: float) -> str:
    return f"{human_size(int(nbytes / seconds))}/s" if seconds > 0 else "-"


@app.command("create")
def create(
    dest: Dest,
    new_server_key: Annotated[bool, typer.Option(
        "--new-server-key", help="Back up into a DEST whose latest snapshot has another server"
        " key: this server's server.key was replaced (one DEST holds one server).")] = False,
    wait: WaitOpt = None,
    as_json: DocumentJsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Back up the database, the server key and every chunk (safe while the server runs)."""
    from homesync.cli.progress import RichProgress
    from homesync.services.maintenance.backup import BackupError

    wait_s = _wait_seconds(wait)
    settings = settings_from(config, data_dir)

    try:
        with RichProgress(err_console, enabled=not as_json) as progress:
            report: BackupReport = run_with_services(
                settings, lambda s: s.backups.create(dest, progress,
                                                     new_server_key=new_server_key,
                                                     wait=wait_s))
    except BackupError as exc:
        raise _refused(exc) from None
    if as_json:
        print_document(report)
    else:
        print_summary(f"Backup {report.snapshot} → {report.destination}", [
            ("Files", f"{report.files:,} of {report.users:,} account(s)"),
            ("Chunks", f"{report.chunks:,} ({human_size(report.bytes)})"),
            ("Copied now", f"{report.copied_chunks:,} ({human_size(report.copied_bytes)})"),
            ("Already in the backup", f"{report.reused_chunks:,}"),
            ("Journal position", str(report.journal_seq)),
            ("Took", f"{report.seconds:.1f} s ({_rate(report.copied_bytes, report.seconds)})"),
            ("Result", "[green]ok[/]" if report.ok else
             f"[red]INCOMPLETE: {len(report.problems)} chunk(s) missing or damaged in the"
             " data dir are not in this backup[/] (listed below; run `homesync fsck`)"),
        ])
        _show_problems(report.problems)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command("verify")
def verify(
    dest: Dest,
    snapshot: SnapshotOpt = None,
    read_data: Annotated[bool, typer.Option(
        "--read-data", help="Also re-hash chunks (reads the whole backup, or --subset).")] = False,
    subset: Annotated[str | None, typer.Option(
        "--subset", metavar="PART", help="With --read-data: a percentage (10%) or a slice (2/7) of the chunks.",
        show_default=False)] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", metavar="SEED", help="With a --subset percentage: the seed that picks the sample, to repeat a run.",
        show_default=False)] = None,
    wait: WaitOpt = None,
    as_json: DocumentJsonOpt = False,
    data_dir: UnusedDataDirOpt = None,
    config: UnusedConfigOpt = None,
) -> None:
    """Check a backup: database integrity, every chunk present; --read-data re-hashes them."""
    import sqlite3

    from homesync.services.maintenance.backup_verify import (
        VerifyError,
        parse_subset,
        verify_backup,
    )

    if subset is not None and not read_data:
        raise fail("--subset needs --read-data", EXIT_USAGE)
    try:
        chosen = parse_subset(subset, seed) if subset is not None else None
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    # A seed only picks a percentage's sample: refused rather than silently unused, so
    # no one believes a run repeatable (or different) when the seed changed nothing.
    if seed is not None and (chosen is None or chosen.percent is None):
        raise fail("--seed needs --subset with a percentage (--read-data --subset 10%)",
                   EXIT_USAGE)
    wait_s = _wait_seconds(wait)
    report: VerifyReport = _run(as_json, (VerifyError, OSError, sqlite3.Error), lambda progress: verify_backup(
        dest, snapshot=snapshot, read_data=read_data, subset=chosen, progress=progress,
        wait=wait_s))
    if as_json:
        print_document(report)
    else:
        read = "structure only (add --read-data to re-hash chunks)"
        if read_data:
            read = f"{report.chunks_read:,} chunks ({human_size(report.bytes_read)}) re-hashed"
            if report.subset and report.subset.percent is not None:
                read += f", subset {report.subset.percent:g}% seed {report.subset.seed}"
            elif report.subset and report.subset.parts:
                read += f", subset {report.subset.part}/{report.subset.parts}"
        found = (len(report.problems) + len(report.database_problems)
                 + len(report.server_key_problems))
        print_summary(f"Verify {report.snapshot} in {report.destination}", [
            ("Database", "[green]ok[/]" if not report.database_problems else "[red]damaged[/]"),
            ("Server key", "[green]ok[/]" if not report.server_key_problems else
             "[red]missing[/]" if report.server_key_problems[0].endswith(" is missing") else
             "[red]damaged[/]"),
            ("Chunks", f"{report.chunks:,} ({human_size(report.bytes)})"),
            ("Read", read),
            ("Took", f"{report.seconds:.1f} s ({_rate(report.bytes_read, report.seconds)})"),
            ("Result", "[green]ok[/]" if report.ok else
             f"[red]{found} problem(s)[/]"),
        ])
        _show_problems(report.problems, report.database_problems, report.server_key_problems)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command("restore")
def restore(
    dest: Dest,
    snapshot: SnapshotOpt = None,
    force: Annotated[bool, typer.Option(
        "--force", help="Restore into a non-empty data dir (its contents are moved into a "
                        "pre-restore-* folder, not deleted).")] = False,
    wait: WaitOpt = None,
    as_json: DocumentJsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Rebuild a data dir from a backup (stop the server first), then check it."""
    import sqlite3

    from homesync.services.maintenance.restore import RestoreError, restore_backup

    wait_s = _wait_seconds(wait)
    settings = settings_from(config, data_dir)

    async def restoring(progress: RichProgress) -> RestoreReport:
        # An older snapshot's database is brought up to date ("Migrate database"): say
        # which migrations and how long, as any command opening an old data dir does.
        with upgrade_said():
            return await restore_backup(dest, settings.data_path, snapshot=snapshot,
                                        force=force, fsync=settings.storage.fsync,
                                        progress=progress, wait=wait_s)

    report: RestoreReport = _run(as_json, (RestoreError, OSError, sqlite3.Error), restoring,
                                 data_dir=settings.data_path)
    if as_json:
        print_document(report)
    else:
        rows: list[tuple[str, str | Text]] = [
            ("Into", Text(str(report.data_dir))),
            ("Chunks", f"{report.chunks:,} ({human_size(report.bytes)}), every one re-hashed"),
            ("Journal", f"snapshot ends at {report.snapshot_seq}; new changes continue after "
                        f"{report.resumed_seq}"),
            ("Took", f"{report.seconds:.1f} s"),
            ("Result", "[green]ok[/] — start the server on it" if report.ok else
             f"[red]{len(report.problems) + len(report.database_problems)} problem(s)[/]"),
        ]
        if report.resumed_chunks:
            rows.insert(2, ("Resumed", f"{report.resumed_chunks:,} chunks already in place"))
        if report.moved_aside:
            rows.insert(1, ("Previous contents", Text(f"moved to {report.moved_aside}")))
        print_summary(f"Restore {report.snapshot} from {report.destination}", rows)
        _show_problems(report.problems, report.database_problems)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


@app.command("list")
def list_snapshots(dest: Dest, wait: WaitOpt = None, as_json: DocumentJsonOpt = False,
                   data_dir: UnusedDataDirOpt = None, config: UnusedConfigOpt = None) -> None:
    """List the snapshots in a backup, oldest first (exit code 1 if one is damaged)."""
    from homesync.services.maintenance.backup_wait import waited, waiting_note
    from homesync.store.backup_repo import BackupRepo, BackupRepoError
    from homesync.store.backup_repo_lock import RepoBusy, hold_for_reading

    wait_s = _wait_seconds(wait)
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
    except BackupRepoError as exc:
        raise _refused(exc) from None
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


@app.command("prune")
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

    wait_s = _wait_seconds(wait)
    policy = Retention(keep_last=keep_last, keep_daily=keep_daily, keep_weekly=keep_weekly,
                       keep_monthly=keep_monthly, keep_yearly=keep_yearly)
    if policy.is_empty():
        raise fail("say which snapshots to keep: at least one of --keep-last, --keep-daily,"
                   " --keep-weekly, --keep-monthly, --keep-yearly", EXIT_USAGE)
    report: PruneReport = _run(as_json, (PruneError, OSError), lambda progress: prune_backup(
        dest, policy, dry_run=dry_run, progress=progress, wait=wait_s))
    if as_json:
        print_document(report)
    else:
        _print_pruned(report)
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _print_pruned(report: PruneReport) -> None:
    from rich.table import Table

    would = "would be " if report.dry_run else ""
    table = Table(title=Text(f"Prune {report.destination}" + (" (dry run)" if report.dry_run else ""),
                             style="table.title"))
    for col in ("Name", "Taken", "Files", "Size", "Action", "Kept by"):
        table.add_column(col)
    rows = [(s, "keep") for s in report.kept] + [(s, f"{would}removed") for s in report.removed]
    for snap, action in sorted(rows, key=lambda r: r[0].name):
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
