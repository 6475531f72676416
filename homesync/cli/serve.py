"""``homesync serve`` and ``homesync init``."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import shutil
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homesync.cli.common import (
    EXIT_CONFLICT,
    EXIT_USAGE,
    ConfigOpt,
    DataDirOpt,
    console,
    fail,
    open_data_dir,
    settings_from,
)
from homesync.config import ConfigError, Settings, example_config
from homesync.logs import configure_logging
from homesync.store.durable_files import write_atomic
from homesync.store.server_lock import DataDirInUse, hold_server_lock

if TYPE_CHECKING:
    from homesync.services.container import Services

__all__ = ["INITIAL_PASSWORD_FILE", "bind_listener", "forget_initial_password", "init", "serve"]

INITIAL_PASSWORD_FILE = "initial-admin-password.txt"
# Uploads in flight get this long to finish when the server is asked to stop.
_GRACEFUL_SHUTDOWN_S = 30


def serve(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
) -> None:
    """Run the server (no config needed: SQLite and chunks under the data dir)."""
    server_overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings_from(config, data_dir, server=server_overrides or None)
    configure_logging(settings.server.log_level, settings.server.log_format)
    open_data_dir(settings)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(hold_server_lock(settings.data_path))
        except DataDirInUse as exc:
            # Two servers on one data dir would each keep their own in-memory state.
            raise fail(f"{exc}; stop it first, or give this one another --data-dir",
                       EXIT_CONFLICT) from None
        except OSError as exc:
            raise fail(f"cannot lock the data dir {settings.data_path}: "
                       f"{exc.strerror or exc}") from None
        _run(settings)


def _run(settings: Settings) -> None:
    # Imported here, not at the top: the web stack (Litestar, uvicorn) and the services
    # are most of every other command's start-up time, and only the server needs both.
    import uvloop

    # uvloop: thread hand-offs (every aiosqlite query) and socket writes cost less
    # than on asyncio's own loop (bench/api.py).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(settings))


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind before anything else happens, so a taken port fails fast and cleanly."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not socket.create_server's 0: asyncio sets TCP_NODELAY only on
    # sockets that say they are TCP, and without it every response waits ~40 ms for a
    # delayed ACK (Nagle) when the headers and the body go out in separate writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def _open_services(settings: Settings) -> Services:
    from homesync.services.container import Services  # see serve(): only the server needs it

    try:
        return await Services.open(settings)
    except ConfigError as exc:  # found while starting services (a push key file, say)
        raise fail(f"configuration: {exc}", EXIT_USAGE) from None
    except (OSError, RuntimeError, sqlite3.Error) as exc:
        raise fail(f"cannot open the data dir {settings.data_path}: {exc}"
                   f"{_full_disk_hint(settings.data_path)}") from None


# Less free space than this when the start fails: say so, SQLite only says "disk I/O error"
# when it cannot make its shared-memory file.
_FULL_DISK_BYTES = 1024 * 1024


def _full_disk_hint(path: Path) -> str:
    try:
        free = shutil.disk_usage(path).free
    except OSError:
        return ""
    if free >= _FULL_DISK_BYTES:
        return ""
    return f" (the disk is full: {free} bytes free; free some space and start again)"


async def _serve(settings: Settings) -> None:
    """uvicorn in this process, sharing one Services with the first-start check.

    bench/api.py measured granian against uvicorn for this app: 0.9-1.3x on GET /devices,
    0.8-0.95x on refresh; bench/upload.py 1.1-1.2x with 1 MiB chunks but 0.6-0.9x with
    8 MiB; and it would need a worker process (~28 MiB more). Not a clear win, so
    uvicorn it is.
    """
    import uvicorn

    from homesync.app import create_app
    from homesync.cli.graceful import GracefulServer
    from homesync.http_protocol import EnvelopeHttpToolsProtocol

    with bind_listener(settings.server.host, settings.server.port) as sock:
        services = await _open_services(settings)
        try:
            await _announce_first_admin(services)
            app = create_app(settings, services)
            await services.start_background()
            config = uvicorn.Config(
                app, host=settings.server.host, port=settings.server.port, lifespan="on",
                http=EnvelopeHttpToolsProtocol,  # a 400 for unparsable HTTP in our envelope
                log_level=settings.server.log_level, access_log=False, proxy_headers=False,
                server_header=False, timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
                log_config=None,  # keep homesync.logs' handlers (request ids, JSON, redaction)
            )
            server = GracefulServer(config, on_stop=services.sync.notifier.stop)
            _announce_address(settings, sock.getsockname())
            await server.serve(sockets=[sock])
        finally:
            await services.close()


def _announce_address(settings: Settings, address: Any) -> None:
    """``address`` as ``socket.getsockname()`` gives it (IPv6 adds two fields)."""
    host, port = address[0], address[1]
    console.print(f"homesync serving http://{_url_host(host)}:{port} "
                  f"with data in {settings.data_path}", soft_wrap=True, markup=False)
    if ipaddress.ip_address(host).is_loopback:
        # The default: right behind a reverse proxy, puzzling for a first try from a phone.
        console.print("Only this machine can reach it. Phones connect through your TLS "
                      "reverse proxy (README: Running it for real); to try it from a phone "
                      "on your home network, start it with --host 0.0.0.0 (plain HTTP).",
                      soft_wrap=True, markup=False, highlight=False)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def forget_initial_password(settings: Settings, email: str) -> None:
    """Delete the saved first-start password once that account has a password of its own."""
    path = settings.data_path / INITIAL_PASSWORD_FILE
    if _initial_password_email(path) == email:
        path.unlink(missing_ok=True)


def _initial_password_email(path: Path) -> str | None:
    """The account the saved first-start password is for (its first line), if the file
    is there and readable; a damaged one is as good as none, never a crash at start-up."""
    try:
        return path.read_text(encoding="utf-8").split("\n", 1)[0].strip()
    except (OSError, UnicodeDecodeError):
        return None


async def _announce_first_admin(services: Services) -> None:
    """On a data dir with no accounts: create an admin and show its password, once."""
    created = await services.accounts.create_first_admin()
    if created is None:
        _remind_initial_password(services.settings.data_path / INITIAL_PASSWORD_FILE)
        return
    user, password = created
    path = services.settings.data_path / INITIAL_PASSWORD_FILE
    # On disk before it is announced: the account exists from now on, and a crash must
    # not leave the only copy of its password lost or half written.
    write_atomic(path, f"{user.email}\n{password}\n".encode())
    console.print(
        "\nNo accounts yet, so an administrator was created. Sign in from the app with:\n\n"
        f"    email:    {user.email}\n"
        f"    password: {password}\n\n"
        f"The password is also in {path} until you change it:\n"
        f"    homesync user passwd {user.email}\n"
        "Add accounts for your people with: homesync user add you@example.com\n",
        markup=False, highlight=False, soft_wrap=True,
    )


def _remind_initial_password(path: Path) -> None:
    """While the printed password is still the first admin's (its file goes when they
    choose their own), say where it is: the first start's output may be long gone."""
    email = _initial_password_email(path)
    if email is None:
        return
    console.print(f"The first administrator's password is still in {path}; choose your own"
                  f" with: homesync user passwd {email}",
                  markup=False, highlight=False, soft_wrap=True)


def init(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
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
    console.print(f"Wrote {target} (data dir {data_path}).\n"
                  f"Start the server with: homesync serve --config {target}",
                  markup=False, soft_wrap=True)
