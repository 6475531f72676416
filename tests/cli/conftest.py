"""CLI tests run the Typer app in-process (CliRunner) on a tmp data dir."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import Result
from typer.testing import CliRunner

from homesync.cli import app
from homesync.config import Settings
from homesync.services.auth.sessions import DeviceRegistration
from homesync.services.container import Services
from tests.helpers import PASSWORD, make_settings
from tests.operations.data import chunk_files, photo, put_file

T = TypeVar("T")

# The CLI reads its settings from the environment like any user's shell would:
# cheapest argon2 and no fsync keep the tests fast.
FAST_ENV = {
    "HOMESYNC_STORAGE_FSYNC": "false",
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
}


@dataclass
class Cli:
    data_dir: Path
    runner: CliRunner

    @property
    def settings(self) -> Settings:
        return make_settings(self.data_dir)

    def __call__(self, *args: str, input: str | None = None,
                 env: dict[str, str] | None = None, data_dir: bool = True) -> Result:
        argv = [*args, "--data-dir", str(self.data_dir)] if data_dir else list(args)
        return self.runner.invoke(app, argv, input=input, env={**FAST_ENV, **(env or {})},
                                  catch_exceptions=False)

    def json(self, *args: str) -> Any:
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def add_user(self, email: str = "alice@example.com", *extra: str) -> Result:
        result = self("user", "add", email, "--password-stdin", *extra, input=PASSWORD + "\n")
        assert result.exit_code == 0, result.output
        return result

    def with_services(self, fn: Callable[[Services], Awaitable[T]]) -> T:
        """Look at (or change) the data dir the way the server would."""

        async def run() -> T:
            services = await Services.open(self.settings)
            try:
                return await fn(services)
            finally:
                await services.close()

        return asyncio.run(run())

    def sign_in(self, email: str = "alice@example.com", client_id: str = "phone-1",
                model: str = "Pixel 7") -> Any:
        """Register a device the way the app does; returns the RegisterResult."""
        info = DeviceRegistration(platform="android", model=model, os_version="14",
                                  app_version="1.0", client_id=client_id)
        return self.with_services(
            lambda s: s.sessions.register(email, PASSWORD, info, "127.0.0.1"))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(data_dir=tmp_path / "data", runner=CliRunner())


def alices_photo(cli: Cli) -> tuple[str, Path]:
    """alice@example.com (added now) stores /camera/IMG_1.jpg, ``photo(1, 1000)``: one
    chunk. Its hash, and its file in the data dir."""
    cli.add_user()

    async def store(s: Services) -> None:
        uid = (await s.accounts.get("alice@example.com")).id
        await put_file(s, uid, "/camera", "IMG_1.jpg", photo(1, 1000))

    cli.with_services(store)
    [(chunk_hash, path)] = chunk_files(cli.data_dir).items()
    return chunk_hash, path
