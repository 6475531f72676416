"""Serving: the data dir lock, the listening socket, the services and uvicorn, in this order.

Failures to start are :class:`StartError`: a message and an exit code, which the entry
(``python -m homesync.server``) prints as ``error: <message>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import os
import pwd
import shutil
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homesync.config import ConfigError, Settings
from homesync.exit_codes import EXIT_CONFLICT, EXIT_ERROR, EXIT_USAGE
from homesync.server.first_admin import announce_first_admin
from homesync.store.keys import SECRET_FILE
from homesync.store.server_lock import LOCK_FILE, DataDirInUse, hold_server_lock

if TYPE_CHECKING:
    from homesync.services.container import Services

__all__ = ["StartError", "bind_listener", "check_push_settings", "not_a_data_dir",
           "not_a_directory", "open_data_dir", "os_problem", "others_owner", "serve"]

# Uploads in flight get this long to finish when the server is asked to stop.
_GRACEFUL_SHUTDOWN_S = 30


class StartError(Exception):
    """The server cannot start: ``message`` says why, ``code`` is the exit code."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def open_data_dir(settings: Settings) -> None:
    """Create the data dir private to its owner (it holds people's files and the server key).

    An existing directory holding other things is refused, not filled (see not_a_data_dir).
    """
    check_push_settings(settings)
    path = settings.data_path
    if problem := not_a_directory(path):
        raise StartError(problem)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StartError(f"cannot create data dir {path}: {exc.strerror or exc}") from None
    try:
        problem = not_a_data_dir(path)
    except OSError as exc:
        raise StartError(f"cannot read the data dir {path}: {os_problem(path, exc)}") from None
    if problem:
        raise StartError(problem)


def check_push_settings(settings: Settings) -> None:
    """The push providers' settings (half a provider, an ntfy server that is no URL, a
    key file missing or bad), checked as the services will: before a data dir is made,
    so a bad one stops `serve` or `user add` before anything exists (it stopped them
    only after a new data dir had its database and key). No request is made."""
    from homesync.push.registry import ClientOnFirstUse, build_providers

    try:
        build_providers(settings.notifications, ClientOnFirstUse())
    except ConfigError as exc:
        raise StartError(f"configuration: {exc}", EXIT_USAGE) from None


def not_a_directory(path: Path) -> str | None:
    """Why ``path`` cannot be (or become) a directory, or None: it, or a directory above
    it, is a file, or a symbolic link to nothing (a data dir on a disk not mounted).
    mkdir would only say "File exists" or "Not a directory"."""
    for place in reversed((path, *path.parents)):  # the outermost is what is in the way
        if os.path.lexists(place) and not place.is_dir():
            what = "it" if place == path else str(place)
            if not place.exists():
                return (f"cannot use {path} as the data dir: {what} is a symbolic link to "
                        f"{os.readlink(place)}, which does not exist")
            return f"cannot use {path} as the data dir: {what} is a file, not a directory"
    return None


def not_a_data_dir(path: Path) -> str | None:
    """Why the existing directory ``path`` must not become a data dir, or None.

    ``--data-dir ~`` or ``/srv`` (a typo) would fill it with a database, a key and chunk
    folders: a directory holding other things and nothing of homesync's is refused. An
    empty one is fine (systemd's StateDirectory=, a new volume), and so is a mount
    point's own lost+found.
    """
    # Loaded here, as the services are (see _run): only two names are needed of it.
    from homesync.services.maintenance.restore import LIVE_DB, RESTORE_MARKER

    # Any of these says a directory is homesync's: its database, the config `init` writes,
    # the key, the lock of a first start that failed (a taken port), a restore under way.
    marks = (LIVE_DB, "homesync.toml", SECRET_FILE, LOCK_FILE, RESTORE_MARKER)
    if any((path / mark).exists() for mark in marks):
        return None
    if any(entry.name != "lost+found" for entry in path.iterdir()):
        return (f"{path} is not a homesync data dir (it holds other files and no"
                " homesync.sqlite3); check --data-dir, or choose an empty or new directory")
    return None


def os_problem(data_dir: Path, exc: OSError) -> str:
    """``exc`` for people: "Permission denied (server.key)", and, when the data dir is
    another user's (the service's, say), whose it is and how to run as them."""
    text = exc.strerror or str(exc)
    if isinstance(exc.filename, str) and Path(exc.filename) != data_dir:
        text += f" ({Path(exc.filename).name})"
    owner = others_owner(data_dir) if isinstance(exc, PermissionError) else None
    if owner is None:
        return text
    how = f" (sudo -u {owner} homesync ...)" if not owner.startswith("id ") else ""
    return f"{text}; it belongs to user {owner}: run homesync as that user{how}"


def others_owner(path: Path) -> str | None:
    """The user ``path`` belongs to when that is not us (a name, else "id 1001"), or None."""
    try:
        uid = path.stat().st_uid
    except OSError:
        return None
    if uid == os.geteuid():
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"id {uid}"


def serve(settings: Settings) -> None:
    """Run the server until it is stopped (SIGTERM, Ctrl-C); :class:`StartError` if it cannot."""
    open_data_dir(settings)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(hold_server_lock(settings.data_path))
        except DataDirInUse as exc:
            # Two servers on one data dir would each keep their own in-memory state.
            raise StartError(f"{exc}; stop it first, or give this one another --data-dir",
                             EXIT_CONFLICT) from None
        except OSError as exc:
            raise StartError(f"cannot lock the data dir {settings.data_path}: "
                             f"{os_problem(settings.data_path, exc)}") from None
        _run(settings)


def _run(settings: Settings) -> None:
    # Imported here, not at the top: the web stack (Litestar, uvicorn) and the services
    # are most of the start-up time, and the CLI (which imports open_data_dir) needs neither.
    import uvloop

    # uvloop: thread hand-offs (every aiosqlite query) and socket writes cost less
    # than on asyncio's own loop (bench/api.py).
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        forced = runner.run(_serve(settings))
    if forced:  # a second Ctrl-C cut the stop short: exit as an interrupted command (130)
        raise KeyboardInterrupt


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
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                         f"{_listen_hint(exc, port)}") from None
    return sock


def _listen_hint(exc: OSError, port: int, *, choose: str = "with --port or server.port",
                 in_front: str = ", and a reverse proxy in front for 80 or 443") -> str:
    """What to do about the two failures an operator meets: the port is taken, or it is
    a privileged one (below 1024, only root may listen there). ``choose`` says where the
    port is set; ``in_front`` what serves the privileged port instead."""
    if exc.errno == errno.EADDRINUSE:
        return (f" (another process listens on port {port}: choose another port {choose},"
                " or stop that process)")
    if exc.errno == errno.EACCES and port < 1024:
        return (f" (port {port} is below 1024, which only root may listen on: use a port"
                f" of 1024 or more{in_front})")
    return ""


async def _open_services(settings: Settings) -> Services:
    from homesync.services.container import Services  # see _run()

    try:
        return await Services.open(settings)
    except ConfigError as exc:  # found while starting services (a push key file, say)
        raise StartError(f"configuration: {exc}", EXIT_USAGE) from None
    except OSError as exc:
        raise StartError(f"cannot open the data dir {settings.data_path}: "
                         f"{os_problem(settings.data_path, exc)}"
                         f"{_full_disk_hint(settings.data_path)}") from None
    except (RuntimeError, sqlite3.Error) as exc:
        raise StartError(f"cannot open the data dir {settings.data_path}: {exc}"
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


async def _serve(settings: Settings) -> bool:
    """uvicorn in this process, sharing one Services with the first-start check; True
    when a second Ctrl-C forced the stop (see GracefulServer).

    bench/api.py measured granian against uvicorn for this app: 0.9-1.3x on GET /devices,
    0.8-0.95x on refresh; bench/upload.py 1.1-1.2x with 1 MiB chunks but 0.6-0.9x with
    8 MiB; and it would need a worker process (~28 MiB more). Not a clear win, so
    uvicorn it is.
    """
    import uvicorn

    from homesync.api.request_metrics import MetricsListenError
    from homesync.app import create_app
    from homesync.http_protocol import EnvelopeHttpToolsProtocol
    from homesync.server.graceful import GracefulServer

    with bind_listener(settings.server.host, settings.server.port) as sock:
        services = await _open_services(settings)
        try:
            app = create_app(settings, services)
            try:
                # Before "serving" is said, as for a taken HTTP port: in the lifespan a
                # taken metrics port would end the start with uvicorn's traceback. And
                # before the first admin is made: a start that fails makes no account.
                app.state.metrics.listen(settings)
            except MetricsListenError as exc:
                hint = _listen_hint(exc.cause, exc.port, choose="in server.metrics_address",
                                    in_front="")
                raise StartError(f"{exc}{hint}") from None
            try:
                await announce_first_admin(services)
            except ConfigError as exc:  # its password cannot be hashed (auth.argon2_*)
                raise StartError(f"configuration: {exc}", EXIT_USAGE) from None
            await services.start_background()
            config = uvicorn.Config(
                app, host=settings.server.host, port=settings.server.port, lifespan="on",
                http=EnvelopeHttpToolsProtocol,  # a 400 for unparsable HTTP in our envelope
                log_level=settings.server.log_level, access_log=False, proxy_headers=False,
                server_header=False, timeout_graceful_shutdown=_GRACEFUL_SHUTDOWN_S,
                log_config=None,  # keep homesync.logs' handlers (request ids, JSON, redaction)
            )
            server = GracefulServer(config, on_stop=services.sync.notifier.stop)
            # Once "serving" is said, a stop is a clean one (before it, the default: the
            # process ends at once, see README), even before serve() has its handlers.
            with server.stop_signals_held():
                _announce_address(settings, sock.getsockname())
                await server.serve(sockets=[sock])
        finally:
            await services.close()
    return server.force_exit


def _announce_address(settings: Settings, address: Any) -> None:
    """``address`` as ``socket.getsockname()`` gives it (IPv6 adds two fields)."""
    host, port = address[0], address[1]
    print(f"homesync serving http://{_url_host(host)}:{port} "
          f"with data in {settings.data_path.absolute()}", flush=True)
    if ipaddress.ip_address(host).is_loopback:
        # The default: right behind a reverse proxy, puzzling for a first try from a phone.
        print("Only this machine can reach it. Phones connect through your TLS "
              "reverse proxy (README: Running it for real); to try it from a phone "
              "on your home network, start it with --host 0.0.0.0 (plain HTTP).", flush=True)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
