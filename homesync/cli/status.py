"""``homesync status``: what this server holds, at a glance (or as JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from homesync.cli.common import (
    ConfigOpt,
    DataDirOpt,
    DocumentJsonOpt,
    human_size,
    print_document,
    print_summary,
    run_with_services,
    settings_from,
)

if TYPE_CHECKING:  # loaded by run_with_services when the command runs, not for --help
    from homesync.services.maintenance.status import StatusReport


def status(
    as_json: DocumentJsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show accounts, devices, files, storage, uploads, notifications and backups at a glance."""
    settings = settings_from(config, data_dir)
    report: StatusReport = run_with_services(settings, lambda s: s.status.report())
    if as_json:
        print_document(report)
        return
    last = report.last_backup
    # Text: the backup's path is the admin's to choose (see common.console).
    backup = Text.assemble(("never", "red"), " — see `homesync backup create`")
    if last is not None:
        backup = Text(f"{last.finished_at} to {last.destination} ({last.snapshot}, "
                      f"{human_size(last.bytes)})")
        if last.missing_chunks:
            backup.append(f" {last.missing_chunks} chunk(s) were missing or damaged,"
                          " not backed up", style="red")
    if report.backup_running:
        backup.append(" (a backup is running now)", style="yellow")
    print_summary(f"homesync {report.version} — {report.data_dir}", [
        ("Accounts", f"{report.users:,}"),
        ("Devices", f"{report.devices:,}"),
        ("Files", f"{report.files:,} (+{report.trashed_files:,} in the trash, "
                  f"{_count(report.versions, 'stored version')})"),
        ("Logical size", human_size(report.logical_bytes)),
        ("Stored size", f"{human_size(report.stored_bytes)} in {_count(report.chunks, 'chunk')}"),
        ("Deduplication", f"{report.dedup_ratio:.2f}× (saves {human_size(report.saved_bytes)})"),
        ("Database", human_size(report.database_bytes)),
        ("Disk free", f"{human_size(report.disk_free_bytes)} of "
                      f"{human_size(report.disk_total_bytes)}"),
        ("Open uploads", f"{report.open_uploads:,}"),
        ("Pending notifications", f"{report.pending_notifications:,}"
                                  + (f" ({report.retrying_pushes:,} retrying)"
                                     if report.retrying_pushes else "")
                                  + (f", [red]{report.failed_pushes:,} pushes failed[/]"
                                     if report.failed_pushes else "")),
        ("Journal position", str(report.journal_seq)),
        ("Last backup", backup),
    ])


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
