"""Preparing the data dir a ``homesync backup restore`` goes into, and telling an
unfinished restore from a data dir that may be opened.

The target must be empty (or missing). With ``force`` whatever is there is moved aside
into ``pre-restore-<time>/`` inside it — never deleted: it may be the only copy of
something. While a restore runs, a marker file keeps ``homesync serve`` (and every other
command) from starting on the half-built data dir. The marker is written before anything
is moved aside, and names the folder the move goes to, so a restore killed half way
through the move finishes it when run again. The restore also holds the server's own lock
(``server.lock``) from before it checks that no server runs there until the marker goes,
so a ``serve`` started at any moment of it refuses as on a data dir in use.
"""

from __future__ import annotations

import os
import shlex
import time
from contextlib import ExitStack
from pathlib import Path

from homesync import clock
from homesync.store.durable_files import fsync_dir, write_atomic
from homesync.store.restore_lock import RestoreRunning, hold_restore_lock
from homesync.store.server_lock import LOCK_FILE, DataDirInUse, hold_server_lock, in_use

__all__ = ["RESTORE_MARKER", "RestoreBusy", "RestoreError", "RestoreTargetTaken",
           "holds_own_work", "prepare_target", "unfinished_restore"]

# Present while a restore is incomplete; Services.open refuses to start on such a dir.
# Its first line names the snapshot; a second one, while --force moves the previous
# contents aside, the folder they go to.
RESTORE_MARKER = ".restore-in-progress"
_SOURCE_LINE = "restoring "
_ASIDE_LINE = "moving the previous contents into "
_LEFT_IN_PLACE = ("lost+found", "homesync.toml", LOCK_FILE)


class RestoreError(Exception):
    """The restore cannot start (target not empty, backup unreadable or damaged)."""


class RestoreTargetTaken(RestoreError):
    """Something is already at the target: a file, or (without ``force``) a non-empty dir."""


class RestoreBusy(RestoreError):
    """Another restore into the same data dir is running: nothing was changed."""


def prepare_target(data_dir: Path, force: bool, source: str, fsync: bool,
                   held: ExitStack) -> str | None:
    """Make sure ``data_dir`` may be restored into, lock it (until ``held`` closes) and mark
    it as being restored; returns where old contents went, if any."""
    if data_dir.exists() and not data_dir.is_dir():
        raise RestoreTargetTaken(f"{data_dir} is not a directory")
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        held.enter_context(hold_restore_lock(data_dir))
    except RestoreRunning as exc:
        raise RestoreBusy(f"{exc}; wait for it to finish (nothing was changed)") from None
    if (holder := in_use(data_dir)) is not None:
        # --force would move the live database and chunks from under it: what phones
        # upload meanwhile would land in the moved-aside copy, not in the restored one.
        raise _refusal(data_dir, holder)
    marker = data_dir / RESTORE_MARKER
    if not marker.exists() and _old_entries(data_dir) and not force:
        raise _not_empty(data_dir)  # said before server.lock is made: nothing changed
    # Held until the marker goes: a `serve` started after the check above and before the
    # marker is written would otherwise open the data dir as it is being rebuilt.
    _hold_server_lock(data_dir, held)
    if marker.exists():  # an interrupted restore to resume
        aside_name = _marked_aside(marker)
        if aside_name is None:
            _write_marker(marker, source, None, fsync)
            return None
        # Killed while moving the previous contents aside: move the rest first.
        return _move_aside(data_dir, data_dir / aside_name, source, fsync)
    entries = _old_entries(data_dir)
    if not entries:
        _write_marker(marker, source, None, fsync)
        return None
    if not force:  # a server that ran and stopped between the checks and the lock
        raise _not_empty(data_dir)
    stamp = time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(clock.now()))
    aside = data_dir / f"pre-restore-{stamp}"
    n = 1
    while aside.exists():  # a second --force in the same second: never mix two old contents
        n += 1
        aside = data_dir / f"pre-restore-{stamp}-{n}"
    # Before anything moves: a kill half way through the move leaves a data dir that
    # serve refuses (not one it starts on, silently missing what was moved).
    _write_marker(marker, source, aside.name, fsync)
    return _move_aside(data_dir, aside, source, fsync)


def _hold_server_lock(data_dir: Path, held: ExitStack) -> None:
    try:
        held.enter_context(hold_server_lock(data_dir, restoring=True))
    except DataDirInUse as exc:
        raise _refusal(data_dir, exc) from None


def _refusal(data_dir: Path, holder: DataDirInUse) -> RestoreError:
    if holder.restoring:  # where the data dir cannot be flock()ed (NFS): told apart here
        return RestoreBusy(f"{holder}; wait for it to finish (nothing was changed)")
    return RestoreTargetTaken(f"a homesync server is running on {data_dir}; stop it first")


def _not_empty(data_dir: Path) -> RestoreTargetTaken:
    return RestoreTargetTaken(f"{data_dir} is not empty; restore into an empty directory, or use "
                              "--force to move what is there into a pre-restore-* folder inside it")


def _old_entries(data_dir: Path) -> list[Path]:
    """What the data dir holds, apart from what a restore leaves where it is: a
    filesystem's own lost+found (the data dir may be a mount point), the config `init`
    wrote (no backup holds it, and `serve --config` looks for it there), server.lock (the
    restore holds it: moved aside, a server would lock a new one) and the marker."""
    return [p for p in data_dir.iterdir()
            if p.name not in _LEFT_IN_PLACE and not p.name.startswith(
                (RESTORE_MARKER, f".{RESTORE_MARKER}."))]  # the marker, its temp file


def _move_aside(data_dir: Path, aside: Path, source: str, fsync: bool) -> str:
    aside.mkdir(exist_ok=True)  # made already when a killed move is finished
    for entry in _old_entries(data_dir):
        if entry != aside:
            os.replace(entry, aside / entry.name)
    if fsync:
        fsync_dir(aside)
        fsync_dir(data_dir)
    # All moved: from here on what the data dir holds is the restore's own (a resume must
    # not move it aside).
    _write_marker(data_dir / RESTORE_MARKER, source, None, fsync)
    return str(aside)


def _write_marker(marker: Path, source: str, aside: str | None, fsync: bool) -> None:
    text = f"{_SOURCE_LINE}{source}\n" + (f"{_ASIDE_LINE}{aside}\n" if aside else "")
    write_atomic(marker, text.encode(), fsync=fsync)


def holds_own_work(data_dir: Path) -> bool:
    """Whether what ``data_dir`` holds is an interrupted restore's own (chunks it may go on
    with), not previous contents that ``--force`` moves aside (and that stay on the disk)."""
    try:
        return _marked_aside(data_dir / RESTORE_MARKER) is None
    except (FileNotFoundError, NotADirectoryError):  # a file: prepare_target refuses it
        return False


def _marked_aside(marker: Path) -> str | None:
    for line in marker.read_text(errors="replace").splitlines():
        if line.startswith(_ASIDE_LINE):
            return line.removeprefix(_ASIDE_LINE)
    return None


def unfinished_restore(data_dir: Path) -> str | None:
    """Why nothing may open ``data_dir``: a restore into it is under way or was
    interrupted (None when not). Says how to finish it."""
    try:
        lines = (data_dir / RESTORE_MARKER).read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError:
        lines = []
    again = "run the same `homesync backup restore` again"
    if lines and lines[0].startswith(_SOURCE_LINE):
        snap = Path(lines[0].removeprefix(_SOURCE_LINE))
        again = (f"run `homesync backup restore {shlex.quote(str(snap.parent.parent))}"
                 f" --snapshot {shlex.quote(snap.name)} --data-dir {shlex.quote(str(data_dir))}`"
                 " again")
    half = (" (its previous contents are half moved into a pre-restore-* folder)"
            if any(line.startswith(_ASIDE_LINE) for line in lines) else "")
    return (f"{data_dir} is being restored from a backup, or a restore into it was"
            f" interrupted{half}: {again} to finish it")
