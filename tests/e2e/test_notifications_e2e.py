"""Push notifications end to end: a real `homesync serve` pushing to a UnifiedPush endpoint
that the test runs: sign-ins, a share from another user, a kill -9 and a restart."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.helpers import API, PASSWORD, ServerProcess, device_info
from tests.push.receivers import Receiver, Reply, Request
from tests.uploads.flow import upload

pytestmark = pytest.mark.e2e

SERVER_ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    # The test's endpoint listens on 127.0.0.1, which only an allow-listed host may use.
    "HOMESYNC_NOTIFICATIONS_ALLOWED_HOSTS": '["127.0.0.1"]',
    "HOMESYNC_NOTIFICATIONS_POLL_INTERVAL": "1s",
    "HOMESYNC_NOTIFICATIONS_SEND_TIMEOUT": "2s",
    "HOMESYNC_STORAGE_DISK_RESERVE": "0",
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path / "data", env=SERVER_ENV)
    made = proc.cli("user", "add", "alice@example.com", "--name", "Alice Liddell",
                    "--password-stdin", input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
async def endpoint() -> AsyncIterator[Receiver]:
    async with Receiver(default=Reply(201)) as rx:
        yield rx


async def next_push(rx: Receiver, wait_s: float = 20) -> Request:
    """Wait for the endpoint's next request (the server pushes within a poll interval)."""
    arrived = asyncio.Event()
    seen = len(rx.requests)
    previous = rx.handler

    def note(request: Request) -> Reply:
        arrived.set()
        return rx.default

    rx.handler = note
    try:
        if len(rx.requests) == seen:
            await asyncio.wait_for(arrived.wait(), wait_s)
    finally:
        rx.handler = previous
    return rx.requests[seen]


async def sign_in(http: httpx.AsyncClient, client_id: str, model: str,
                  email: str = "alice@example.com") -> dict[str, Any]:
    r = await http.post(f"{API}/auth/register", json={
        "email": email, "password": PASSWORD,
        "deviceInfo": device_info(client_id, model=model)})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def auth(device: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {device['tokens']['accessToken']}"}


def outbox(server: ServerProcess) -> list[sqlite3.Row]:
    """The server's push_deliveries rows, read straight from its database."""
    conn = sqlite3.connect(f"file:{server.data_dir / 'homesync.sqlite3'}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM push_deliveries ORDER BY id").fetchall()
    finally:
        conn.close()


async def until_outbox(server: ServerProcess, check: Any, wait_s: float = 20) -> list[sqlite3.Row]:
    # Another process's commits can only be watched for.
    deadline = time.monotonic() + wait_s
    while True:
        rows = outbox(server)
        if check(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox never got there: {[dict(r) for r in rows]}")
        await asyncio.sleep(0.05)


async def test_phone_is_pushed_when_another_device_of_the_user_signs_in(
    server: ServerProcess, endpoint: Receiver,
) -> None:
    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        phone = await sign_in(http, "phone-b", "Pixel 7")
        r = await http.post(f"{API}/notifications/register", headers=auth(phone), json={
            "deviceId": "phone-b", "pushToken": f"{endpoint.url}/up/phone-b",
            "platform": "android",
            "preferences": {"uploads": True, "shares": True, "storage": True, "security": True,
                            "quietHours": {"enabled": True, "start": "00:00", "end": "23:59",
                                           "timezone": "Europe/Berlin"}}})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["push"]["transport"] == "unifiedpush"

        laptop = await sign_in(http, "laptop-a", "ThinkPad")
        push = await next_push(endpoint)

        # Security alerts go through even in (nearly all-day) quiet hours.
        assert (push.method, push.path) == ("POST", "/up/phone-b")
        body = push.json()
        assert body["category"] == "security"
        assert body["title"] == "New device login detected"
        assert body["data"] == {"deviceId": laptop["device"]["id"], "kind": "new_device"}
        inbox = (await http.get(f"{API}/notifications", headers=auth(phone))).json()["data"]
        assert body["notificationId"] == inbox["notifications"][0]["id"]
        rows = await until_outbox(server, lambda rows: rows and rows[0]["status"] == "delivered")
        assert len(rows) == 1 and len(endpoint.requests) == 1  # not to the laptop itself


async def test_pending_pushes_survive_kill_9_and_are_delivered_once(
    server: ServerProcess, endpoint: Receiver,
) -> None:
    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        phone = await sign_in(http, "phone-b", "Pixel 7")
        r = await http.post(f"{API}/notifications/register", headers=auth(phone), json={
            "deviceId": "phone-b", "pushToken": f"{endpoint.url}/up/phone-b",
            "platform": "android"})
        assert r.status_code == 200, r.text
        # The push service is down.
        endpoint.default = Reply(503, {"Retry-After": "2"})
        await sign_in(http, "laptop-a", "ThinkPad")
        first = await next_push(endpoint)
    await until_outbox(server, lambda rows: rows and rows[0]["attempts"] == 1
                       and rows[0]["lease_until"] is None)
    server.kill9()

    # While the server is down, the admin changes the password: one more notification.
    changed = server.cli("user", "passwd", "alice@example.com", "--password-stdin",
                         input="another horse battery\n")
    assert changed.returncode == 0, changed.stderr

    endpoint.default = Reply(201)  # the push service is back
    server.start()
    rows = await until_outbox(server, lambda rows: len(rows) == 2
                              and all(r["status"] == "delivered" for r in rows))
    accepted = [r.json() for r in endpoint.requests[1:]]
    assert sorted(p["title"] for p in accepted) == ["New device login detected",
                                                    "Password changed"]
    assert accepted.count(first.json()) == 1  # the failed one, delivered once
    assert [r["attempts"] for r in rows] == [2, 1]


async def test_bob_is_pushed_when_alice_shares_a_photo_and_can_download_it(
    server: ServerProcess, endpoint: Receiver,
) -> None:
    made = server.cli("user", "add", "bob@example.com", "--name", "Bob Builder",
                      "--password-stdin", input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        bob = await sign_in(http, "bob-phone", "Pixel 8", email="bob@example.com")
        r = await http.post(f"{API}/notifications/register", headers=auth(bob), json={
            "deviceId": "bob-phone", "pushToken": f"{endpoint.url}/up/bob",
            "platform": "android"})
        assert r.status_code == 200, r.text
        alice = await sign_in(http, "alice-phone", "iPhone")
        photo = os.urandom(5000)
        done = await upload(http, auth(alice), photo, name="beach.jpg", folder="/holiday")
        file_id = done["file"]["id"]
        r = await http.post(f"{API}/shares", headers=auth(alice), json={
            "fileId": file_id, "email": "bob@example.com", "permission": "read"})
        assert r.status_code == 201, r.text
        share_id = r.json()["data"]["share"]["id"]

        push = (await next_push(endpoint)).json()
        assert push["category"] == "shares"
        assert push["title"] == "Alice Liddell shared a file with you"
        assert push["data"] == {"shareId": share_id, "fileId": file_id,
                                "kind": "shared_with_you"}
        assert all(photo[:64] not in r.body for r in endpoint.requests)  # never file content
        r = await http.get(f"{API}/files/{file_id}/content", headers=auth(bob))
        assert r.status_code == 200 and r.content == photo

        r = await http.delete(f"{API}/shares/{share_id}", headers=auth(alice))
        assert r.status_code == 200, r.text
        r = await http.get(f"{API}/files/{file_id}/content", headers=auth(bob))
        assert r.status_code == 404



async def test_a_logged_out_device_is_pushed_nothing_more(
    server: ServerProcess, endpoint: Receiver,
) -> None:
    server.start()
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:

        async def register_push(device: dict[str, Any], client_id: str) -> None:
            r = await http.post(f"{API}/notifications/register", headers=auth(device), json={
                "deviceId": client_id, "pushToken": f"{endpoint.url}/up/{client_id}",
                "platform": "android"})
            assert r.status_code == 200, r.text

        phone = await sign_in(http, "phone-c", "Pixel 7")
        await register_push(phone, "phone-c")
        tablet = await sign_in(http, "tablet-c", "Galaxy Tab")
        assert (await next_push(endpoint)).path == "/up/phone-c"  # the tablet's sign-in
        await register_push(tablet, "tablet-c")
        r = await http.post(f"{API}/auth/logout", headers=auth(tablet))
        assert r.status_code == 200, r.text

        laptop = await sign_in(http, "laptop-c", "ThinkPad")  # security: every other device
        push = await next_push(endpoint)
        assert push.path == "/up/phone-c"
        assert push.json()["data"] == {"deviceId": laptop["device"]["id"], "kind": "new_device"}
        # The fan-out made every delivery of that notification at once: none is the tablet's.
        rows = await until_outbox(server, lambda rows: len(rows) == 2 and all(
            r["status"] == "delivered" for r in rows))
        assert {r["device_id"] for r in rows} == {phone["device"]["id"]}
        assert [r.path for r in endpoint.requests] == ["/up/phone-c", "/up/phone-c"]
