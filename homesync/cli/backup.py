"""``homesync backup create|verify|restore|list|prune``.

Exit codes: 0 all well, 1 the backup/restore failed or found problems, 2 bad usage (DEST
and the data dir inside each other, too), 4 something is already at the target (DEST or
the data dir), as for ``init``, 5 another backup is writing to DEST now (create, prune), a
prune is deleting from it (verify, restore, list, dry-run prune: they hold its delete lock
shared), or one of those is reading it (prune).
``--json`` prints one JSON document on standard output and no progress bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from homesync.cli.backup_common import (
    Dest,
    SnapshotOpt,
    UnusedConfigOpt,
    UnusedDataDirOpt,
    WaitOpt,
    refused,
    run_with_progress,
    wait_seconds,
)
from homesync.cli.backup_snapshots import list_snapshots, prune
from homesync.cli.common import (
    EXIT_ERROR,
    EXIT_USAGE,
    ConfigOpt,
    DataDirOpt,
    DocumentJsonOpt,
    err_console,
    fail,
    human_size,
    print_chunk_problems,
    print_document,
    print_summary,
    run_with_services,
    settings_from,
)
from homesync.cli.upgrade_notes import upgrade_said

# Each command imports the services it runs where it runs them: the backup, restore and
# prune code (and asyncio, the store, Rich's progress bars) would otherwise load with
# every homesync command, --help too.
if TYPE_CHECKING:
    from homesync.cli.progress import RichProgress
    from homesync.services.maintenance.backup import BackupReport
    from homesync.services.maintenance.backup_verify import VerifyReport
    from homesync.services.maintenance.chunk_problem import ChunkProblem
    from homesync.services.maintenance.restore import RestoreReport

app = typer.Typer(help="Back up, list, verify, prune and restore the data dir's backups.", no_args_is_help=True)


def _show_problems(problems: list[ChunkProblem], database_problems: Sequence[str] = (),
                   key_problems: Sequence[str] = ()) -> None:
    for text in database_problems:
        err_console.print(Text.assemble(("database: ", "bold red"), text), soft_wrap=True)
    for text in key_problems:
        err_console.print(Text.assemble(("server key: ", "bold red"), text), soft_wrap=True)
    print_chunk_problems(problems)



def _rate(nbytes: int, seconds: float) -> str:
    return f"{human_size(int(nbytes / seconds))}/s" if seconds > 0 else "-"


def _verify_work(report: VerifyReport) -> str:
    """What the time went on: a rate only when chunks were read (a structure-only verify
    reads no chunk, and "0 B/s" read like a stalled disk)."""
    if report.bytes_read:
        return f"re-hashed at {_rate(report.bytes_read, report.seconds)}"
    return f"{report.chunks:,} chunk size(s) checked, no chunk read"


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

    wait_s = wait_seconds(wait)
    settings = settings_from(config, data_dir)

    try:
        with RichProgress(err_console, enabled=not as_json) as progress:
            report: BackupReport = run_with_services(
                settings, lambda s: s.backups.create(dest, progress,
                                                     new_server_key=new_server_key,
                                                     wait=wait_s))
    except BackupError as exc:
        raise refused(exc) from None
    if as_json:
        print_document(report)
    else:
        print_summary(f"Backup {report.snapshot} → {report.destination}", [
            ("Files", f"{report.files:,} of {report.users:,} account(s)"),
            ("Chunks", f"{report.chunks:,} ({human_size(report.bytes)})"),
            ("Copied now", f"{report.copied_chunks:,} ({human_size(report.copied_bytes)})"),
            ("Already in the backup", f"{report.reused_chunks:,}"),
            ("Journal position", str(report.journal_seq)),
            ("Took", f"{report.seconds:.1f} s ("
                     + (f"copied at {_rate(report.copied_bytes, report.seconds)})"
                        if report.copied_bytes else "nothing to copy)")),
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
    wait_s = wait_seconds(wait)
    report: VerifyReport = run_with_progress(
        as_json, (VerifyError, OSError, sqlite3.Error), lambda progress: verify_backup(
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
            ("Took", f"{report.seconds:.1f} s ({_verify_work(report)})"),
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

    wait_s = wait_seconds(wait)
    settings = settings_from(config, data_dir)

    async def restoring(progress: RichProgress) -> RestoreReport:
        # An older snapshot's database is brought up to date ("Migrate database"): say
        # which migrations and how long, as any command opening an old data dir does.
        with upgrade_said():
            return await restore_backup(dest, settings.data_path, snapshot=snapshot,
                                        force=force, fsync=settings.storage.fsync,
                                        progress=progress, wait=wait_s)

    report: RestoreReport = run_with_progress(as_json, (RestoreError, OSError, sqlite3.Error),
                                              restoring, data_dir=settings.data_path)
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


# list and prune work on DEST's snapshots (cli/backup_snapshots.py); registered after
# restore so that `homesync backup --help` lists the commands in the same order.
app.command("list")(list_snapshots)
app.command("prune")(prune)
