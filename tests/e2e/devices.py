"""A signed-in device over real HTTP, and the few calls the sync and sharing end-to-end
tests make with it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.helpers import API, PASSWORD, ServerProcess, device_info
from tests.uploads.flow import upload

# Cheap password hashing and small chunks, so scenarios stay quick. The per-device
# request limit (20/s, bursts of 60) stays at its default: no scenario makes more than
# 60 counted calls from one device (checked with refill switched off), so none can meet
# it however slow the machine; a load test that does turns it off itself.
ENV = {
    "HOMESYNC_AUTH_ARGON2_TIME_COST": "1",
    "HOMESYNC_AUTH_ARGON2_MEMORY_KIB": "8",
    "HOMESYNC_AUTH_ARGON2_PARALLELISM": "1",
    "HOMESYNC_UPLOADS_MIN_CHUNK_SIZE": "4KiB",
    "HOMESYNC_STORAGE_DISK_RESERVE": "0",
}


class ParkedPolls:
    """How many long polls a server has parked, from its metrics endpoint: the one sign a
    separate process gives that a poll waits for a change (so the next change must wake
    it) rather than still being on its way or reading the journal.

    The server must be made with ``metrics=True``.
    """

    def __init__(self, server: ServerProcess) -> None:
        self._server = server

    async def count(self, http: httpx.AsyncClient) -> int:
        r = await http.get(self._server.metrics_url)  # read now: a restart may move it
        assert r.status_code == 200, r.text
        line = next(line for line in r.text.splitlines()
                    if line.startswith("homesync_sync_long_polls_parked "))
        return int(float(line.split()[1]))

    async def reach(self, http: httpx.AsyncClient, count: int = 1) -> None:
        """Return once ``count`` polls are parked; fail after 10 seconds."""
        deadline = time.monotonic() + 10
        while (parked := await self.count(http)) < count:
            assert time.monotonic() < deadline, f"{parked} long polls parked, not {count}"
            await asyncio.sleep(0.01)


ALICE_AND_BOB = (("alice@example.com", "Alice Liddell"), ("bob@example.com", "Bob"))


def start_with_accounts(server: ServerProcess,
                        people: tuple[tuple[str, str], ...] = ALICE_AND_BOB) -> None:
    """Make the accounts with the CLI, as an admin would, then start the server."""
    for email, name in people:
        done = server.cli("user", "add", email, "--name", name, "--password-stdin",
                          input=PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
    server.start()


class Dev:
    """A signed-in device over real HTTP (what tests.sync.helpers expects of a Device)."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.device_id = body["device"]["id"]
        self.auth = {"Authorization": f"Bearer {body['tokens']['accessToken']}"}


async def sign_in(http: httpx.AsyncClient, email: str, client_id: str,
                  **info: Any) -> Dev:
    r = await http.post(f"{API}/auth/register", json={
        "email": email, "password": PASSWORD, "deviceInfo": device_info(client_id, **info)})
    assert r.status_code == 201, r.text
    return Dev(r.json())


async def put(http: httpx.AsyncClient, dev: Dev, data: bytes, name: str,
              file_id: str | None = None, folder: str = "/docs") -> str:
    extra = {"fileId": file_id} if file_id else {}
    done = await upload(http, dev.auth, data, name=name, folder=folder, **extra)
    return str(done["fileId"])


async def content(http: httpx.AsyncClient, dev: Dev, file_id: str) -> bytes:
    r = await http.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert r.status_code == 200, r.text
    return r.content


async def top_folder_id(http: httpx.AsyncClient, dev: Dev, name: str) -> str:
    """The id of the folder ``/<name>`` (made by uploading into it)."""
    r = await http.get(f"{API}/files", headers=dev.auth)
    return str(next(f["id"] for f in r.json()["data"]["files"] if f["name"] == name))
