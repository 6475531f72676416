"""What the ``homesync backup`` commands share: DEST and their options (``--wait``,
``--snapshot``, the unused ``--data-dir`` and ``--config``), and how a service's refusal
becomes an exit code."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from homesync.cli.common import (
    EXIT_BUSY,
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_USAGE,
    err_console,
    fail,
    permission_message,
)
from homesync.config.units import parse_duration

if TYPE_CHECKING:
    from homesync.cli.progress import RichProgress

__all__ = ["Dest", "SnapshotOpt", "UnusedConfigOpt", "UnusedDataDirOpt", "WaitOpt", "refused",
           "refusal_exit_codes", "run_with_progress", "wait_seconds"]

T = TypeVar("T")

# Not readable=True (Typer's default): a DEST the user may not read is refused by the
# command as other unusable ones are (exit code 1, naming whose it is), not as bad usage.
Dest = Annotated[Path, typer.Argument(metavar="DEST",
                                      help="Backup directory (a USB disk, a NAS mount, ...).",
                                      show_default=False, readable=False)]
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


def wait_seconds(text: str | None) -> float:
    """``--wait``'s DURATION in seconds (0: do not wait); a bad one is a usage error."""
    if text is None:
        return 0.0
    try:
        return float(parse_duration(text))
    except ValueError as exc:
        raise fail(f"--wait: {exc}", EXIT_USAGE) from None


@cache
def refusal_exit_codes() -> dict[type[Exception], int]:
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


def run_with_progress(as_json: bool, errors: tuple[type[Exception], ...],
                      fn: Callable[[RichProgress], Coroutine[Any, Any, T]],
                      data_dir: Path | None = None) -> T:
    """Run a service call under progress bars; its refusal becomes exit code 1 (or 4)."""
    import asyncio

    from homesync.cli.progress import RichProgress

    try:
        with RichProgress(err_console, enabled=not as_json) as progress:
            return asyncio.run(fn(progress))
    except errors as exc:
        raise refused(exc, data_dir) from None


def refused(exc: Exception, data_dir: Path | None = None) -> typer.Exit:
    """The exit a service's refusal ends the command with: its own exit code, else 1
    (a PermissionError names the refused path and whose it is)."""
    # fail() also prints the {ok: false, error} document under --json.
    if isinstance(exc, PermissionError):
        return fail(permission_message(data_dir, exc))
    return fail(str(exc), refusal_exit_codes().get(type(exc), EXIT_ERROR))

