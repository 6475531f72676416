"""``homesync serve`` and ``homesync init``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.text import Text

from homesync.cli.common import (
    EXIT_CONFLICT,
    ConfigOpt,
    DataDirOpt,
    console,
    fail,
    open_data_dir,
    settings_from,
)
from homesync.config import env_var, example_config

__all__ = ["init", "serve", "server_environ"]

# What `homesync serve` becomes (homesync/server/__main__.py).
SERVER_MODULE = "homesync.server"


def serve(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(
        "--host", metavar="ADDRESS", help="Address to listen on (0.0.0.0: every interface);"
        " default: server.host (127.0.0.1, this machine only, unless set).")] = None,
    port: Annotated[int | None, typer.Option(
        "--port", metavar="PORT",
        help="Port to listen on; default: server.port (8080 unless set).")] = None,
) -> None:
    """Run the server (no config needed: SQLite and chunks under the data dir)."""
    server_overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    # A bad option or config fails here, as every command's does; nothing is opened yet.
    settings_from(config, data_dir, server=server_overrides or None)
    _become_server(server_environ(os.environ, config=config, data_dir=data_dir,
                                  host=host, port=port))


def server_environ(environ: Mapping[str, str], *, config: Path | None, data_dir: Path | None,
                   host: str | None, port: int | None) -> dict[str, str]:
    """``environ`` with the options given on the command line as the variables that set
    them, so ``python -m homesync.server`` loads the settings this command checked (a
    variable wins over the config file, as a flag does; the flag wins over the variable)."""
    env = dict(environ)
    given = {"HOMESYNC_CONFIG": config, env_var("data_dir"): data_dir,
             env_var("server.host"): host, env_var("server.port"): port}
    env.update({var: str(value) for var, value in given.items() if value is not None})
    return env


def _become_server(env: dict[str, str]) -> NoReturn:
    """Replace this process with the server (same pid, for systemd, tests and ``kill``):
    the server runs for months, and typer, rich and pydantic (~10 MiB) would stay with it.

    The same interpreter with the same options and the same import path (a zipapp's
    packages too): PYTHONPATH is this process's sys.path, and -P keeps the current
    directory from going in front of it.
    """
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    # The interpreter options this process runs with (-O, -X ..., -W ...): what
    # multiprocessing uses to start its workers the same way.
    flags: list[str] = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    argv = [sys.executable, *flags, "-P", "-m", SERVER_MODULE]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, argv, env)
    except OSError as exc:
        raise fail(f"cannot start the server: {exc.strerror or exc}") from None


def init(
    data_dir: DataDirOpt = None,
    # Not ConfigOpt: here it is where the config goes, not one to read.
    config: Annotated[Path | None, typer.Option(
        "--config", envvar="HOMESYNC_CONFIG", metavar="FILE", show_default=False,
        help="Where to write the config; default: homesync.toml in the data dir.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
) -> None:
    """Create the data dir and a commented config file in it (or at --config)."""
    settings = settings_from(None, data_dir)
    data_path = settings.data_path.absolute()
    target = Path(config).absolute() if config else data_path / "homesync.toml"
    if target.exists() and not force:
        raise fail(f"{target} exists (use --force to overwrite it)", EXIT_CONFLICT)
    open_data_dir(settings)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # 0600: the config may hold push credentials and webhook secrets.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(example_config(data_dir=str(data_path)))
    except OSError as exc:
        raise fail(f"cannot write {target}: {exc.strerror or exc}") from None
    # Text: a path may hold "[...]" (see common.console).
    console.print(Text(f"Wrote {target} (data dir {data_path}).\n"
                       f"Start the server with: homesync serve --config {target}"),
                  soft_wrap=True)
