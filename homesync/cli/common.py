"""What every command shares: options, settings, running services, printing errors."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import msgspec
import typer
from rich.console import Console
from rich.text import Text

from homesync.cli.clickcompat import get_current_context
from homesync.cli.upgrade_notes import upgrade_said
from homesync.config import ConfigError, Settings, load_settings, parse_size
from homesync.errors import HomesyncError
from homesync.exit_codes import (
    EXIT_BUSY,
    EXIT_CONFLICT,
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
)
from homesync.sizes import human_bytes

# The CLI's start-up is paid by every command and by --help: what only some commands
# use (asyncio, the services, the server's data dir checks, Rich tables) is imported
# where it is used. tests/cli/test_startup.py keeps it so.
if TYPE_CHECKING:
    from homesync.services.container import Services
    from homesync.services.maintenance.chunk_problem import ChunkProblem

__all__ = [
    "EXIT_BUSY",
    "EXIT_CONFLICT",
    "EXIT_ERROR",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_STORED_INT",
    "ConfigOpt",
    "DataDirOpt",
    "DocumentJsonOpt",
    "JsonOpt",
    "console",
    "err_console",
    "fail",
    "human_size",
    "print_summary",
    "open_data_dir",
    "require_data_dir",
    "parse_quota",
    "permission_message",
    "print_chunk_problems",
    "print_document",
    "print_json",
    "read_password",
    "run_with_services",
    "settings_from",
]

T = TypeVar("T")

# Piped output (less, a file) gets room for ids instead of Rich's 80-column fallback.
# Names, emails and paths are printed as rich.text.Text (Text.assemble for styled parts),
# never inside markup strings: Rich reads "[/]" in one as a tag (a MarkupError crash) and
# "[red]" as a style. emoji=False: homesync prints no ":name:" emoji codes of its own, so
# ":smile:" in a string that is markup (a report's deliberate styling) stays as it is.
console = Console(highlight=False, emoji=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, emoji=False)

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="HOMESYNC_DATA_DIR", metavar="DIR",
                 help="Data directory (database, chunks); default: data_dir in the config, else"
                 " $XDG_DATA_HOME/homesync (usually ~/.local/share/homesync).",
                 show_default=False),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", envvar="HOMESYNC_CONFIG", metavar="FILE",
                 help="TOML config file; without one, the built-in defaults.", show_default=False),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (an array of objects) for scripts.")]
# For commands that end with a report (backup, gc, fsck, status) rather than rows.
DocumentJsonOpt = Annotated[bool, typer.Option("--json",
                                               help="Print one JSON document (for scripts).")]

_EXIT_BY_STATUS = {400: EXIT_USAGE, 404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT}

# The largest number a SQLite INTEGER holds: a bigger size or time is bad input, not a crash.
MAX_STORED_INT = 2**63 - 1


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print ``error: message`` to stderr; raise the returned Exit (``raise fail(...)``).

    With ``--json``, also the ``{"ok": false, "error": message}`` document on stdout:
    a script reads one document whatever happened (usage errors too: see usage_errors).
    """
    if _json_requested():
        print_document({"ok": False, "error": message})
    # Text: messages quote user input, which must not be read as Rich markup.
    err_console.print(Text.assemble(("error:", "bold red"), " ", message), soft_wrap=True)
    return typer.Exit(code)


def _json_requested() -> bool:
    """Whether the running command was given ``--json`` (every such option is ``as_json``)."""
    ctx = get_current_context(silent=True)
    return bool(ctx is not None and ctx.params.get("as_json"))


def settings_from(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    flags: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        flags["data_dir"] = str(data_dir)
    environ = {k: v for k, v in os.environ.items() if k != "HOMESYNC_CONFIG"}
    try:
        return load_settings(config, environ=environ, overrides=flags)
    except ConfigError as exc:
        raise fail(f"configuration: {exc}", EXIT_USAGE) from None


def open_data_dir(settings: Settings) -> None:
    """Create the data dir private to its owner, as the server does (server/run.py)."""
    from homesync.server import run as server_run

    try:
        server_run.open_data_dir(settings)
    except server_run.StartError as exc:
        raise fail(exc.message, exc.code) from None


def require_data_dir(settings: Settings) -> None:
    """For commands that only look: a mistyped --data-dir must not become a data dir, new
    or in a directory that holds other things (``--data-dir ~`` would fill a home
    directory with a database, a key and chunk folders). An empty directory is fine
    (made by ``init --config F``, or by systemd for the service), and so is one with
    homesync's database or the config ``init`` writes."""
    from homesync.server import run as server_run

    path = settings.data_path
    if problem := server_run.not_a_directory(path):
        raise fail(problem)
    if not path.is_dir():
        raise fail(f"no data dir at {path}")
    try:
        problem = server_run.not_a_data_dir(path)
    except OSError as exc:
        raise fail(f"cannot read the data dir {path}: {server_run.os_problem(path, exc)}") \
            from None
    if problem:
        raise fail(problem)


def run_with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]], *,
                      create: bool = False) -> T:
    """Open the data dir, run ``fn``, close it; homesync errors become a clean exit.

    The data dir must exist unless ``create`` (``user add`` may be the first command on a
    new server): a mistyped ``--data-dir`` must not become an empty one that a backup,
    gc or a listing then reports on as if it were the real thing.
    Safe while a server runs on the same data dir: SQLite serialises the writers.
    """
    if create:
        open_data_dir(settings)
    else:
        require_data_dir(settings)

    # Here, not at the top: the services are most of the CLI's start-up time, and
    # --help, init and the backup commands that read only the backup do without them.
    import asyncio
    import sqlite3

    from homesync.server import run as server_run
    from homesync.services.container import Services

    async def main() -> T:
        try:
            with upgrade_said():  # the first command after an upgrade may apply migrations
                services = await Services.open(settings)
        except OSError as exc:
            if isinstance(exc, PermissionError):
                raise  # permission_message below says whose the data dir is
            # As `serve` says it (server/run.py), not "[Errno 30] Read-only file system:
            # '/srv/homesync/.server.key.4242.tmp'".
            raise _CannotOpen(f"cannot open the data dir {settings.data_path}: "
                              f"{server_run.os_problem(settings.data_path, exc)}") from None
        except sqlite3.Error:
            # A read-only mount whose server key is there already: SQLite's "unable to
            # open database file" said nothing of why (gc, fsck and status alike).
            if not _read_only_mount(settings.data_path):
                raise
            raise _CannotOpen(f"cannot open the data dir {settings.data_path}: Read-only"
                              f" file system ({settings.db_path.name})") from None
        try:
            return await fn(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except HomesyncError as exc:
        raise fail(exc.message, _EXIT_BY_STATUS.get(exc.status, EXIT_ERROR)) from None
    except sqlite3.Error as exc:
        raise fail(f"database {settings.db_path}: {exc}") from None
    except ConfigError as exc:  # found while starting services (a push key file, say)
        raise fail(f"configuration: {exc}", EXIT_USAGE) from None
    except PermissionError as exc:
        raise fail(permission_message(settings.data_path, exc)) from None
    except (OSError, RuntimeError, _CannotOpen) as exc:
        raise fail(str(exc)) from None


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


class _CannotOpen(Exception):
    """Services.open failed on the data dir: the message says so, for people."""


def permission_message(data_dir: Path | None, exc: PermissionError) -> str:
    """Which path was refused: in the data dir, whose that is and how to run as them;
    elsewhere (a backup DEST, a restore target), the path and whose directory it is in.
    ``data_dir`` None: a command that reads no data dir (`backup list`, say)."""
    from homesync.server import run as server_run

    path = Path(exc.filename).absolute() if isinstance(exc.filename, str) else None
    if data_dir is not None:
        data = data_dir.absolute()
        path = path or data
        if (path == data or data in path.parents) and os.path.isdir(data):
            return f"cannot open the data dir {data_dir}: {server_run.os_problem(data_dir, exc)}"
    if path is None:
        return str(exc)
    place = next((p for p in path.parents if os.path.lexists(p)), path)
    owner = server_run.others_owner(place)
    whose = f" ({place} belongs to user {owner})" if owner else ""
    return f"{exc.strerror or 'Permission denied'}: {path}{whose}"


# JSON escapes C0 controls but lets DEL and the C1 controls through as they are, and some
# terminals run C1 ones (\x9b is CSI); direction overrides and isolates turn a line around:
# escaped too, as the tables do (cli.shown). They only ever stand inside a JSON string,
# where \u escapes read back as the same text.
_RAW_CONTROLS = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _json_text(encoded: bytes) -> str:
    return _RAW_CONTROLS.sub(lambda m: f"\\u{ord(m[0]):04x}", encoded.decode())


def print_json(rows: Any) -> None:
    """``rows`` (Structs, dicts, lists) as indented JSON on stdout."""
    sys.stdout.write(_json_text(msgspec.json.format(msgspec.json.encode(rows), indent=2)) + "\n")


def print_document(value: Any) -> None:
    """``value`` (a report Struct, a dict) as one JSON document on one line of stdout."""
    sys.stdout.write(_json_text(msgspec.json.encode(value)) + "\n")


def print_chunk_problems(problems: Iterable[ChunkProblem],
                         unused: str = "no current file") -> None:
    """One red line per chunk on stderr: its hash, what is wrong, the files that use it."""
    for p in problems:
        used_by = ", ".join(p.files) if p.files else unused
        err_console.print(Text.assemble((f"chunk {p.hash} ", "bold red"),
                                        f"{p.problem}; used by {used_by}"), soft_wrap=True)


def print_summary(title: str | Text, rows: Sequence[tuple[str, str | Text]]) -> None:
    """The two-column table long commands (backup, gc, fsck, status) end with.

    The title is printed as text (it names a data dir, a backup, a snapshot). A value
    that is a ``str`` is Rich markup, for the report's own styling (``[green]ok[/]``);
    a value holding a name or a path must be a ``Text``.
    """
    from rich.table import Table

    if isinstance(title, str):
        title = Text(title, style="table.title")  # the style Rich gives a markup title
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


def human_size(n: int | None) -> str:
    """A size as the server's texts write it (homesync.sizes); "-" for none."""
    return "-" if n is None else human_bytes(n)


def parse_quota(text: str) -> int:
    """``10GiB``, ``500MB``, ``0``/``unlimited`` (no limit)."""
    if text.strip().lower() in ("unlimited", "none", "0"):
        return 0
    try:
        size = parse_size(re.sub(r"\s+", "", text))
    except ValueError:
        raise fail(f"bad quota {text!r}: write e.g. 10GiB, 500MB, or 0 for unlimited",
                   EXIT_USAGE) from None
    if size > MAX_STORED_INT:
        raise fail(f"bad quota {text!r}: too large (0 means unlimited)", EXIT_USAGE)
    return size


def read_password(password_stdin: bool, prompt: str = "Password") -> str:
    if password_stdin:
        line = sys.stdin.readline()
        password = line.rstrip("\r\n")
        if not password:
            raise fail("no password on standard input", EXIT_USAGE)
        return password
    if not sys.stdin.isatty():
        raise fail("no terminal to ask for a password: use --password-stdin", EXIT_USAGE)
    password = typer.prompt(prompt, hide_input=True, confirmation_prompt=True)
    return str(password)
