"""``homesync gc`` and ``homesync fsck``: storage housekeeping and verification.

``gc`` also compacts sync history past ``sync.history_retention``, as the server's
retention sweep does (``--history-retention`` overrides it; 0 keeps history there too).

Both are safe while the server runs (they go through the database's single-writer
transactions and the backup lock like the server's own background gc).
Exit codes: 0 all well, 1 fsck found damage (or the command failed), 2 bad usage. Wrong
chunk offsets that ``fsck --repair-offsets`` recomputed are no longer damage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec
import typer
from rich.text import Text

from homesync import clock
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
    require_data_dir,
    run_with_services,
    settings_from,
)
from homesync.config import MAX_DURATION_S, format_duration, parse_duration

if TYPE_CHECKING:  # loaded by run_with_services when a command runs, not for --help
    from homesync.config import Settings
    from homesync.services.container import Services
    from homesync.services.maintenance.fsck import FsckReport, ManifestProblem
    from homesync.services.maintenance.gc import GcReport
    from homesync.services.sync.horizon import CompactionReport

__all__ = ["fsck", "gc"]


def gc(
    grace: Annotated[str | None, typer.Option(
        "--grace", metavar="DURATION",
        help="Delete an unused chunk only once it was written, or let go of by a dropped"
        " version, at least this long ago (e.g. 48h; 0s: at once); default: uploads.gc_grace"
        " (48h unless set). A short grace never loses a stored file, but may make a running"
        " upload send a chunk again, or fail a running download of a version dropped within"
        " it.",
        show_default=False)] = None,
    history_retention: Annotated[str | None, typer.Option(
        "--history-retention", metavar="DURATION",
        help="Compact sync history older than this (e.g. 30d; 1s:"
        " all but the last second; 0s keeps all of it, as \"0d\" does in the config);"
        " default: sync.history_retention (180d unless set). A device that last synced"
        " before then syncs from scratch.",
        show_default=False)] = None,
    as_json: DocumentJsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Expire idle uploads, delete unused chunks and compact old sync history."""
    from homesync.cli.progress import RichProgress  # rich.progress: for gc and fsck only

    settings = settings_from(config, data_dir)
    _require_database(settings)
    grace_ms = _duration_ms(grace, "--grace")
    history_ms = _duration_ms(history_retention, "--history-retention")
    retention = format_duration((settings.sync.history_retention_ms if history_ms is None
                                 else history_ms) // 1000)

    async def run(s: Services) -> tuple[GcReport, CompactionReport]:
        collected = await s.gc.collect(grace_ms=grace_ms, progress=progress)
        # The same sweep the server's retention task makes (safe beside it).
        return collected, await s.sync.history.compact(clock.now_ms(), older_than_ms=history_ms)

    with RichProgress(err_console, enabled=not as_json) as progress:
        report, history = run_with_services(settings, run)
    if as_json:
        # "ok" as in every other outcome's document (a failure's {"ok": false, "error"}) and
        # fsck's: a round that deleted nothing (a backup or another gc running) is no failure.
        print_document({**msgspec.to_builtins(report),
                        "history": {**msgspec.to_builtins(history), "retention": retention},
                        "ok": True})
        return
    print_summary("Garbage collection", [
        ("Uploads expired now", f"{report.expired_uploads:,}"),
        ("Old upload records forgotten", f"{report.forgotten_uploads:,}"),
        ("Abandoned temp files removed", f"{report.removed_temp:,}"),
        ("Unreferenced chunks removed", f"{report.removed_chunks:,} "
                                        f"({human_size(report.freed_bytes)})"),
        ("Unknown chunk files removed", f"{report.orphan_files:,} "
                                        f"({human_size(report.orphan_bytes)})"),
        ("Sync history", _history_line(history, retention)),
    ])
    if report.backup_running:
        err_console.print("[yellow]A backup is running, so no chunk was deleted;"
                          " run gc again when it is done.[/]")
    if report.unknown_kept:
        err_console.print("[yellow]There are chunk files, but the database knows no chunk"
                          " (a new one, made where the old one was lost?): none was"
                          " deleted. Restore the database from a backup.[/]")
    if report.other_gc_running:
        err_console.print("[yellow]Another gc round (the server's, or another `homesync gc`)"
                          " is deleting chunks now, so this one deleted none.[/]")


def _require_database(settings: Settings) -> None:
    """gc and fsck judge the chunk files by the database: in a data dir without one (moved
    aside, lost, or an empty mount point whose disk is not mounted) they made a new, empty
    one, and gc then deleted every chunk file past the grace as unknown, every stored file."""
    require_data_dir(settings)  # first: a missing one, or one of other things, says so
    path = settings.data_path
    if not settings.db_path.exists():
        raise fail(f"no database in the data dir {path} ({settings.db_path.name} is not"
                   " there): nothing to check against; if it was moved or lost, put it back"
                   " or restore it from a backup (`homesync backup restore`)")


def _history_line(history: CompactionReport, retention: str) -> str:
    if history.kept:
        return "kept (retention 0: nothing compacted)"
    return (f"compacted past {retention}: {history.journal:,} journal entries,"
            f" {history.tombstones:,} purged files, {history.feed:,} share-feed entries")


def _duration_ms(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise fail(f"{option}: {exc}", EXIT_USAGE) from None
    # The config's bound for the same options (uploads.gc_grace, sync.history_retention).
    if seconds > MAX_DURATION_S:
        raise fail(f"{option}: duration {text!r} is too long"
                   f" (at most {format_duration(MAX_DURATION_S)})", EXIT_USAGE)
    return seconds * 1000


def fsck(
    repair_offsets: Annotated[bool, typer.Option(
        "--repair-offsets",
        help="Recompute wrong chunk offsets (where each chunk begins in its file, which"
        " Range downloads go by) from the chunk sizes. Changes nothing else; safe while the"
        " server runs.")] = False,
    as_json: DocumentJsonOpt = False,
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Re-hash every stored chunk against its name, check every file's chunk offsets, and
    report damage (and what it affects)."""
    from homesync.cli.progress import RichProgress

    settings = settings_from(config, data_dir)
    _require_database(settings)
    with RichProgress(err_console, enabled=not as_json) as progress:
        report: FsckReport = run_with_services(
            settings, lambda s: s.fsck.run(progress, repair_offsets=repair_offsets))
    if as_json:
        out = msgspec.to_builtins(report)
        out["ok"] = report.ok
        print_document(out)
    else:
        print_chunk_problems(report.damaged, unused="no file (an upload in progress)")
        _print_manifest_problems(report.manifests)
        short = sum(m.damaged for m in report.manifests)
        named = {d.hash for d in report.damaged}
        for name in report.stray_files:
            # A directory made where a chunk belongs is no chunk, but a file does use that
            # chunk (named above, missing): "no file uses it" would say it may go.
            why = ("where a missing chunk listed above belongs"
                   if name.rstrip("/").rsplit("/", 1)[-1] in named else "no file uses it")
            err_console.print(Text(f"not a chunk: chunks/{name} (left alone; {why})",
                                   style="yellow"), soft_wrap=True)
        print_summary("Storage check", [
            ("Chunks checked", f"{report.checked_chunks:,} ({human_size(report.checked_bytes)})"),
            ("Damaged or missing", f"{len(report.damaged):,}"),
            ("Chunk files the database does not know", f"{report.unknown_files:,}"
                                                       + _unknown_note(report)),
            ("Unused chunks whose bytes gc deleted", f"{report.unused_missing:,}"
                                                     " (the next gc forgets them)"),
            ("Unused chunks with damaged bytes", f"{report.unused_damaged:,}"
                                                 " (no file uses them; gc removes them)"),
            ("Other files in chunks/", f"{len(report.stray_files):,}"
                                       + (" (listed above; not damage)" if report.stray_files
                                          else "")),
            ("Chunk offsets checked", f"{report.checked_offsets:,}"),
            ("File versions with wrong offsets", _offsets_line(report.manifests)),
            ("File versions not adding up", f"{short:,}"
                                                 + (" (listed above)" if short else "")),
            ("Result", _result(report)),
        ])
    if not report.ok:
        raise typer.Exit(EXIT_ERROR)


def _unknown_note(report: FsckReport) -> str:
    if report.unknown_files and not report.checked_chunks:  # gc keeps them (unknownKept)
        return (" (kept by gc: the database knows no chunk at all; was it replaced by a"
                " new one? restore it from a backup)")
    return " (removed by gc after the grace period)"


def _print_manifest_problems(manifests: list[ManifestProblem]) -> None:
    """One line per file version on stderr: red while it is damage, yellow once repaired."""
    for m in manifests:
        left = m.damaged or (m.wrong_offsets and not m.repaired)
        what = m.problem + ("; recomputed now" if m.repaired else "")
        err_console.print(Text.assemble((f"file {m.file}, version {m.version_id}: ",
                                         "bold red" if left else "yellow"), what),
                          soft_wrap=True)


def _offsets_line(manifests: list[ManifestProblem]) -> str:
    wrong = [m for m in manifests if m.wrong_offsets]
    if not wrong:
        return "0"
    if all(m.repaired for m in wrong):
        return f"{len(wrong):,} (listed above; recomputed now)"
    return f"{len(wrong):,} (listed above; run `homesync fsck --repair-offsets`)"


def _result(report: FsckReport) -> str:
    if report.ok:
        return "[green]ok[/]"
    steps = []
    if report.damaged or any(m.damaged for m in report.manifests):
        steps.append("restore the files listed above from a backup or re-upload them")
    if any(m.wrong_offsets and not m.repaired for m in report.manifests):
        steps.append("run `homesync fsck --repair-offsets` for the wrong chunk offsets")
    return "[bold red]DAMAGE FOUND[/]: " + "; ".join(steps)
