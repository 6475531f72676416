"""Fixtures for the three tiers: services, API (AsyncTestClient) and end-to-end."""

from __future__ import annotations

import asyncio
import compileall
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings
from litestar.testing import AsyncTestClient

import homesync
from homesync import clock
from homesync.app import create_app
from homesync.config import Settings
from homesync.services.container import Services
from homesync.store.db import Database
from tests.helpers import (
    API,
    PASSWORD,
    Device,
    ServerProcess,
    device_from,
    device_info,
    make_settings,
)

# CI gates landing, so there the property tests replay the same examples every run: a
# rare counterexample found by a new random draw is found locally, not as a red CI.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI") == "true":
    hypothesis_settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    # Where Python is told not to write bytecode (PYTHONDONTWRITEBYTECODE, as in many
    # containers), every `homesync` the tests start (hundreds of CLI runs and servers)
    # compiled each module it imports anew: ~0.1 s of CPU a CLI run, ~0.3 s a server
    # start. Written once here (atomically, and only what is out of date), they read it.
    if sys.dont_write_bytecode:
        compileall.compile_dir(Path(homesync.__file__).parent, quiet=1)


@pytest.fixture(autouse=True)
def _real_clock() -> Iterator[None]:
    yield
    clock.set_now(None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with every migration applied and nothing else in it, made once per test
    process. Migrations add tables, indexes and triggers, never rows, so a copy of it is
    what ``Services.open`` would make in a new data dir; making it anew took each test
    ~35 commits, each waiting for its fdatasync and a thread hand-off."""
    path = tmp_path_factory.mktemp("migrated") / "homesync.sqlite3"

    async def migrate() -> None:
        await (await Database.open(path)).close()

    asyncio.run(migrate())
    # The last connection's close folded the WAL into the file: the file is all of it.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
async def services(settings: Settings, migrated_db: Path) -> AsyncIterator[Services]:
    if not settings.data_path.exists():  # a new data dir: start from the migrated copy
        settings.data_path.mkdir(mode=0o700, parents=True)  # as Services.open makes it
        shutil.copyfile(migrated_db, settings.db_path)
    svc = await Services.open(settings)
    try:
        yield svc
    finally:
        await svc.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(services.settings, services)
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as c:
        yield c


MakeUser = Callable[..., Awaitable[str]]
SignIn = Callable[..., Awaitable[Device]]


@pytest.fixture
def make_user(services: Services) -> MakeUser:
    async def make(email: str = "alice@example.com", name: str = "Alice Liddell",
                   **kw: Any) -> str:
        user = await services.accounts.create_user(email, PASSWORD, name=name, **kw)
        return user.id

    return make


@pytest.fixture
def sign_in(client: AsyncTestClient[Any]) -> SignIn:
    async def sign(email: str = "alice@example.com", client_id: str = "app-install-1",
                   **info: Any) -> Device:
        r = await client.post(f"{API}/auth/register", json={
            "email": email, "password": PASSWORD, "deviceInfo": device_info(client_id, **info)})
        assert r.status_code in (200, 201), r.text
        return device_from(r.json(), email, client_id)

    return sign


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "e2e-data")
    try:
        yield proc
    finally:
        proc.stop()
