"""A server for property tests: the real services (SQLite and chunks in a temp dir) and
the ASGI app, called over HTTP on an event loop of its own.

Hypothesis runs each example as a plain function, so a test makes one of these for all
its examples (opening the services per example would cost more than the example) and
gives each example fresh accounts.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import httpx

from homesync.app import create_app
from homesync.services.container import Services
from tests.helpers import API, PASSWORD, Device, device_from, device_info, make_settings


class ServerOnLoop:
    """Services and app on a loop of their own; ``close`` when the test ends."""

    def __init__(self, root: Path, **settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.svc: Services = self.run(Services.open(make_settings(root, **settings)))
        app = create_app(self.svc.settings, self.svc)
        app.state.services = self.svc  # what the lifespan does when the server starts
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                      base_url="http://testserver.local")

    @classmethod
    @contextmanager
    def in_temp_dir(cls) -> Iterator[Self]:
        """A server on a data dir of its own, closed and removed at the end."""
        with tempfile.TemporaryDirectory() as root:
            server = cls(Path(root) / "data")
            try:
                yield server
            finally:
                server.close()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.svc.close())
        self.loop.close()

    async def call(self, method: str, url: str, dev: Device, **kw: Any) -> httpx.Response:
        """``method`` on the API as ``dev``; never a 5xx."""
        r = await self.http.request(method, f"{API}{url}", headers=dev.auth, **kw)
        assert r.status_code < 500, (method, url, r.text)
        return r

    async def sign_in(self, email: str, client_id: str) -> Device:
        """``client_id``'s device of the (existing) account ``email``, signed in."""
        r = await self.http.post(f"{API}/auth/register", json={
            "email": email, "password": PASSWORD, "deviceInfo": device_info(client_id)})
        assert r.status_code in (200, 201), r.text
        return device_from(r.json(), email, client_id)
