"""Fixtures for notification tests: push allowed to local receivers, a frozen clock, helpers
to make notifications happen the way the server does (sign-ins, device removal, uploads)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.config import Settings
from homesync.errors import Conflict
from homesync.ids import new_id
from homesync.models import Principal
from homesync.services.auth.sessions import DeviceRegistration
from homesync.services.container import Services
from homesync.services.notifications.events import security_event, share_event
from homesync.services.uploads.events import upload_event
from homesync.store import files, shares, users
from homesync.store.db import fetchone
from tests.helpers import API, PASSWORD, Device, make_settings
from tests.push.conftest import MakeReceiver, make_receiver, receiver  # noqa: F401  (shared fixtures)

# 2024-06-03 10:00:00 UTC, a Monday in summer time.
T0 = 1_717_408_800.0

PUSH_SETTINGS: dict[str, Any] = {
    # Receivers listen on 127.0.0.1, which endpoint URLs may only reach when allow-listed.
    "allowed_hosts": ["127.0.0.1"],
    # Long enough for a loaded CI box (at 1s, a push to a local receiver now and then timed
    # out under -n 4 and was retried, failing tests that count deliveries); the test of
    # the timeout itself sets a short one.
    "send_timeout": "10s",
}



class Clock:
    """The frozen clock the server code reads (homesync.clock), moved by the test."""

    def __init__(self, start: float = T0) -> None:
        self.now = start
        clock.set_now(lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, when: float) -> None:
        self.now = when

    @property
    def ms(self) -> int:
        return int(self.now * 1000)


@pytest.fixture
def frozen() -> Iterator[Clock]:
    yield Clock()
    clock.set_now(None)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", notifications=dict(PUSH_SETTINGS),
                         storage={"disk_reserve": "0"})


RegisterPush = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def register_push(client: AsyncTestClient[Any]) -> RegisterPush:
    """POST /notifications/register for a device; returns ``data``."""

    async def register(device: Device, token: str | None, platform: str = "android",
                       **preferences: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"deviceId": device.client_id, "pushToken": token,
                                "platform": platform}
        if preferences:
            body["preferences"] = preferences
        r = await client.post(f"{API}/notifications/register", json=body, headers=device.auth)
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data

    return register


async def uploaded(services: Services, by: Device | Principal, name: str, *,
                   ok: bool = True) -> str:
    """The notification the uploads service makes when ``by`` (a device) completes or
    fails an upload of ``name``; its id."""
    row = {"id": f"upload_{name}", "session_id": "session_1", "local_id": f"local_{name}",
           "user_id": by.user_id, "device_id": by.device_id}
    async with services.db.transaction() as tx:
        if ok:
            await upload_event(tx, row, "upload_completed", "Upload completed",  # type: ignore[arg-type]
                               f"{name} is safe on your server.", clock.now_ms(),
                               file_id=f"file_{name}")
        else:
            await upload_event(tx, row, "upload_failed", "Upload failed",  # type: ignore[arg-type]
                               f"{name} could not be uploaded.", clock.now_ms())
        newest = await fetchone(tx, "SELECT id FROM notifications WHERE user_id = ?"
                                    " ORDER BY rowid DESC LIMIT 1", (by.user_id,))
    assert newest is not None
    return str(newest["id"])


async def delivery_rows(services: Services, **where: str) -> list[dict[str, Any]]:
    """push_deliveries rows (as dicts), optionally filtered by column equality."""
    clause = " AND ".join(f"{k} = ?" for k in where) or "1"
    rows = await services.db.fetchall(
        f"SELECT * FROM push_deliveries WHERE {clause} ORDER BY id", tuple(where.values()))
    return [dict(r) for r in rows]


async def alert(services: Services, user_id: str, kind: str = "password_changed",
                title: str = "Password changed") -> str:
    """A ``security`` notification, as the auth services make them."""
    async with services.db.transaction() as tx:
        return await security_event(tx, user_id=user_id, kind=kind, title=title,
                                    body="Every device was signed out.", now=clock.now_ms())


async def shared(services: Services, recipient_id: str, name: str = "holiday.jpg") -> str:
    """A ``shares`` notification, as the shares service makes them, for a real share (a
    push is sent only while its share lasts): John's item ``name`` shared with the user."""
    with contextlib.suppress(Conflict):  # John exists already
        await services.accounts.create_user("john@example.com", PASSWORD, name="John")
    async with services.db.transaction() as tx:
        john, recipient = (await users.by_email(tx, "john@example.com"),
                           await users.by_id(tx, recipient_id))
        assert john is not None and recipient is not None
        path = await files.ensure_folder(tx, user_id=john["id"], folder=f"/{name}",
                                         device_id=None, now=clock.now_ms())
        item = await files.find_by_name(tx, john["id"], "/", path[1:])
        assert item is not None
        share_id, _ = await shares.upsert(
            tx, share_id=new_id("share"), owner_id=john["id"], file_id=item["id"],
            email=recipient["email"], recipient_id=recipient_id, permission="read",
            now=clock.now_ms())
        return await share_event(tx, recipient_id=recipient_id, owner_name="John", item="file",
                                 name=name, share_id=share_id, now=clock.now_ms(),
                                 file_id=item["id"])


async def device(services: Services, email: str, client_id: str, *, platform: str = "android",
                 push_token: str | None = None, name: str = "Alice Liddell") -> Principal:
    """Sign a device in through the services (no HTTP), creating the account if needed."""
    with contextlib.suppress(Conflict):  # the account exists already
        await services.accounts.create_user(email, PASSWORD, name=name)
    result = await services.sessions.register(
        email, PASSWORD,
        DeviceRegistration(platform=platform, model="Phone", os_version="1", app_version="1",
                           client_id=client_id, push_token=push_token),
        "127.0.0.1",
    )
    return await services.sessions.principal(result.tokens.access_token)
