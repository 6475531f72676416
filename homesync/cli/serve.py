"""``homesync serve`` and ``homesync init``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.panel import Panel

from homesync.app import configure_logging, create_app
from homesync.cli.common import ConfigOpt, DataDirOpt, console, fail, settings_from
from homesync.config import Settings
from homesync.services.container import Services

INITIAL_PASSWORD_FILE = "initial-admin-password.txt"


def serve(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on.")] = None,
) -> None:
    """Run the server (no config needed: SQLite and chunks under the data dir)."""
    server_overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = settings_from(config, data_dir, server=server_overrides or None)
    configure_logging(settings.server.log_level)
    asyncio.run(_serve(settings))


async def _serve(settings: Settings) -> None:
    try:
        services = await Services.open(settings)
    except (OSError, RuntimeError) as exc:
        raise fail(f"cannot open {settings.data_path}: {exc}") from None
    try:
        await _announce_first_admin(services)
        app = create_app(settings, services)
        await services.start_background()
        config = uvicorn.Config(
            app, host=settings.server.host, port=settings.server.port, lifespan="on",
            log_level=settings.server.log_level, access_log=False, proxy_headers=False,
            server_header=False, timeout_graceful_shutdown=30,
        )
        console.print(f"homesync serving [bold]http://{settings.server.host}:{settings.server.port}"
                      f"[/] with data in {settings.data_path}", soft_wrap=True)
        await uvicorn.Server(config).serve()
    finally:
        await services.close()


async def _announce_first_admin(services: Services) -> None:
    created = await services.accounts.create_first_admin()
    if created is None:
        return
    user, password = created
    path = services.settings.data_path / INITIAL_PASSWORD_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{user.email}\n{password}\n")
    console.print(Panel(
        f"No accounts yet, so an administrator was created:\n\n"
        f"  email:    [bold]{user.email}[/]\n  password: [bold]{password}[/]\n\n"
        f"(also saved in {path}). Sign in from the app with these, then set your own\n"
        f"password with `homesync user passwd {user.email}` and add people with\n"
        f"`homesync user add you@example.com`.",
        title="homesync: first start", expand=False,
    ))


def init(
    data_dir: DataDirOpt = None,
    config: ConfigOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config.")] = False,
) -> None:
    """Create the data dir and a commented config file in it."""
    settings = settings_from(None, data_dir)
    target = Path(config) if config else settings.data_path / "homesync.toml"
    if target.exists() and not force:
        raise fail(f"{target} exists (use --force to overwrite)", 4)
    settings.data_path.mkdir(parents=True, exist_ok=True)
    from homesync.config import example_config

    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(example_config(data_dir=str(settings.data_path)), encoding="utf-8")
    console.print(f"Wrote {target}; data dir {settings.data_path}.\n"
                  f"Start with: homesync serve --config {target}")
