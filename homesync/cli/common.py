"""What every command shares: options, settings, running services, printing errors."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from homesync.config import ConfigError, Settings, load_settings, parse_size
from homesync.errors import HomesyncError
from homesync.services.container import Services

__all__ = [
    "ConfigOpt",
    "DataDirOpt",
    "console",
    "err_console",
    "fail",
    "human_size",
    "parse_quota",
    "read_password",
    "run_with_services",
    "settings_from",
]

T = TypeVar("T")

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="HOMESYNC_DATA_DIR", help="Data directory (database, chunks).",
                 show_default=False),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", envvar="HOMESYNC_CONFIG", help="TOML config file.", show_default=False),
]

# Exit codes scripts can rely on.
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT = 0, 1, 2, 3, 4


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)


def settings_from(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    flags: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        flags["data_dir"] = str(data_dir)
    environ = {k: v for k, v in os.environ.items() if k != "HOMESYNC_CONFIG"}
    try:
        return load_settings(config, environ=environ, overrides=flags)
    except ConfigError as exc:
        raise fail(f"configuration: {exc}", EXIT_USAGE) from None


def run_with_services(settings: Settings, fn: Callable[[Services], Awaitable[T]]) -> T:
    """Open the data dir, run ``fn``, close it; homesync errors become a clean exit."""

    async def main() -> T:
        services = await Services.open(settings)
        try:
            return await fn(services)
        finally:
            await services.close()

    try:
        return asyncio.run(main())
    except HomesyncError as exc:
        code = {404: EXIT_NOT_FOUND, 409: EXIT_CONFLICT, 400: EXIT_USAGE}.get(exc.status, EXIT_ERROR)
        raise fail(exc.message, code) from None
    except (OSError, RuntimeError) as exc:
        raise fail(str(exc)) from None


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def parse_quota(text: str) -> int:
    """``10GiB``, ``500MB``, ``0``/``unlimited`` (no limit)."""
    if text.strip().lower() in ("unlimited", "none", "0"):
        return 0
    try:
        return parse_size(re.sub(r"\s+", "", text))
    except ValueError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


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
