"""Helpers for the auth and device tests: a frozen clock, row counts, forged tokens."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.app import create_app
from homesync.config import Settings
from homesync.services.container import Services

# The tables a sign-in, refresh or device change may touch.
AUTH_TABLES = ("users", "devices", "token_families", "refresh_tokens", "notifications")


class FrozenClock:
    """homesync's clock, stopped; ``advance`` moves it. conftest restores the real one."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(int(start if start is not None else time.time()))
        clock.set_now(lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def row_counts(services: Services) -> dict[str, int]:
    counts = {}
    for table in AUTH_TABLES:
        row = await services.db.fetchone(f"SELECT count(*) FROM {table}")
        assert row is not None
        counts[table] = row[0]
    return counts


async def db_state(services: Services) -> list[Any]:
    """Every row of the auth tables: equal before and after means nothing changed."""
    state: list[Any] = []
    for table in AUTH_TABLES:
        rows = await services.db.fetchall(f"SELECT * FROM {table} ORDER BY rowid")
        state.append((table, [tuple(r) for r in rows]))
    return state


async def notifications(services: Services, user_id: str, kind: str | None = None) -> list[Any]:
    sql = "SELECT * FROM notifications WHERE user_id = ?"
    params: list[Any] = [user_id]
    if kind is not None:
        sql += " AND kind = ?"
        params.append(kind)
    return await services.db.fetchall(sql + " ORDER BY created_at, rowid", params)


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def header_of(token: str) -> dict[str, Any]:
    return dict(jwt.get_unverified_header(token))


def sign(services: Services, claims: dict[str, Any], *, algorithm: str = "HS256",
         key: Any = None, headers: dict[str, Any] | None = None) -> str:
    """A token signed with the server's own access-token key (or ``key``)."""
    codec = services.codec
    hdr = {"typ": "at+jwt", "kid": codec.kid, **(headers or {})}
    return jwt.encode(claims, codec.signing_key if key is None else key, algorithm=algorithm,
                      headers=hdr)


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Services, AsyncTestClient[Any]]]:
    """Services plus an HTTP test client for settings other than the fixtures' defaults."""
    services = await Services.open(settings)
    try:
        app = create_app(settings, services)
        async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
            yield services, client
    finally:
        await services.close()


@contextlib.asynccontextmanager
async def concurrent_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests really run at the same time.

    Litestar's AsyncTestClient sends each request through a blocking portal, one after
    another, so ``asyncio.gather`` over it tests nothing concurrent. This client runs the
    app in the test's own event loop, interleaving requests the way a real server does.
    """
    app = create_app(services.settings, services)
    app.state.services = services  # what the lifespan does when given services
    transport = httpx.ASGITransport(app=app, client=("testclient", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c
