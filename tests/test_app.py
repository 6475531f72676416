"""The Litestar application as built by create_app."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from litestar import Litestar

from homesync.api.metrics import Metrics
from homesync.app import create_app
from homesync.services.container import Services
from tests.helpers import make_settings


def test_no_pydantic_plugin(tmp_path: Path) -> None:
    """homesync's wire types are msgspec Structs: the app carries no pydantic plugin, and
    building it imports no pydantic. The override relies on Litestar calling its private
    ``_get_default_plugins`` from ``__init__``; this fails if an upgrade stops doing so."""
    assert callable(getattr(Litestar, "_get_default_plugins", None))
    app = create_app(make_settings(tmp_path / "data"))
    assert not [p for p in app.plugins if "pydantic" in type(p).__module__]
    code = ("import sys, tempfile; from pathlib import Path; "
            "from homesync.app import create_app; from tests.helpers import make_settings; "
            "create_app(make_settings(Path(tempfile.mkdtemp()) / 'data')); "
            "print('pydantic' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "False"


async def test_an_app_stopped_past_its_deadline_still_closes_the_services_it_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping the metrics re-raises a cancellation that came meanwhile (the stop's
    deadline passing); the lifespan closes its services all the same."""
    # Port 0: any free port, taken as the metrics server binds (nothing here scrapes it).
    settings = make_settings(tmp_path / "data", server={"metrics_address": "127.0.0.1:0"})
    refreshing, stopping, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def slow_refresh(self: Metrics, services: Services) -> None:
        refreshing.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopping.set()
            await release.wait()
            raise

    monkeypatch.setattr(Metrics, "refresh", slow_refresh)
    app = create_app(settings)  # opens and owns its services

    async def serve() -> None:
        async with app.lifespan():
            await asyncio.Event().wait()

    running = asyncio.create_task(serve())
    await refreshing.wait()
    async with app.state.services.db.transaction() as tx:  # something in the WAL
        await tx.execute("PRAGMA user_version")
    running.cancel()  # the server stops
    await stopping.wait()
    running.cancel()  # and its deadline passes while the metrics stop
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await running
    # SQLite checkpoints and removes the WAL when the last connection closes.
    assert not (settings.data_path / "homesync.sqlite3-wal").exists()
