"""Sync tests: small chunks (so files stay tiny) and every fixture of tests/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from homesync.app import create_app
from homesync.config import Settings
from homesync.services.container import Services
from tests.helpers import make_settings

SMALL_CHUNKS = {"min_chunk_size": "4KiB", "default_chunk_size": "16KiB", "max_chunk_size": "64KiB"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"})


@pytest.fixture
async def live_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests run concurrently on the test's own event loop.

    Litestar's AsyncTestClient handles one request at a time (it blocks on a portal), so
    a parked long poll would block the test; httpx's ASGI transport does not.
    """
    app = create_app(services.settings, services)
    app.state.services = services  # what the lifespan does when the server starts
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c
