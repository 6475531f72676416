"""A phone's sync calls, for the tests: store content, pull changes, push changes."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.helpers import API, Device
from tests.uploads.flow import checksum, upload

__all__ = ["Replica", "change", "checksum", "parked", "pull", "push", "resolve", "store"]


async def parked(services: Any, user_id: str, count: int = 1) -> None:
    """Wait until ``count`` polls of the user are parked (the test's only sync point)."""
    for _ in range(500):
        if services.sync.notifier.parked(user_id) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the long poll never parked")


async def store(client: Any, dev: Device, data: bytes, name: str = "a.txt",
                folder: str = "/docs", file_id: str | None = None) -> str:
    """Upload ``data`` (a new file, or a new version of ``file_id``); its file id."""
    extra: dict[str, Any] = {"fileId": file_id} if file_id else {}
    done = await upload(client, dev.auth, data, name=name, folder=folder, **extra)
    return str(done["fileId"])


async def pull(client: Any, dev: Device, token: str | None = None, **params: Any) -> dict[str, Any]:
    """GET /sync/status; the data."""
    query = {k: v for k, v in {"syncToken": token, **params}.items() if v is not None}
    r = await client.get(f"{API}/sync/status", params=query, headers=dev.auth)
    assert r.status_code == 200, r.text
    return dict(r.json()["data"])


def change(action: str, local_id: str = "l1", **fields: Any) -> dict[str, Any]:
    return {"action": action, "localId": local_id, **fields}


async def push(client: Any, dev: Device, token: str | None, *changes: dict[str, Any],
               expect: int = 200) -> dict[str, Any]:
    """POST /sync/files; the data (or the error body when ``expect`` is not 200)."""
    body: dict[str, Any] = {"localChanges": list(changes)}
    if token is not None:
        body["syncToken"] = token
    r = await client.post(f"{API}/sync/files", json=body, headers=dev.auth)
    assert r.status_code == expect, r.text
    return dict(r.json()["data"] if expect == 200 else r.json())


async def resolve(client: Any, dev: Device, *items: dict[str, Any],
                  expect: int = 200) -> list[dict[str, Any]]:
    r = await client.post(f"{API}/conflicts/resolve", json={"conflicts": list(items)},
                          headers=dev.auth)
    assert r.status_code == expect, r.text
    return list(r.json()["data"]["results"]) if expect == 200 else [r.json()]


class Replica:
    """What a device knows of the server's tree, kept up to date from sync/status."""

    def __init__(self) -> None:
        self.entries: dict[str, dict[str, Any]] = {}
        self.token: str | None = None

    def apply(self, data: dict[str, Any]) -> None:
        if data.get("reset"):
            self.entries.clear()
        for entry in data["changes"]["created"] + data["changes"]["updated"]:
            self.entries[entry["id"]] = entry
        for entry in data["changes"]["deleted"]:
            self.entries.pop(entry["id"], None)
        self.token = data["nextSyncToken"]

    async def sync(self, client: Any, dev: Device, limit: int | None = None) -> None:
        while True:
            data = await pull(client, dev, self.token, limit=limit)
            self.apply(data)
            if not data["hasMore"]:
                return

    def paths(self) -> dict[str, str | None]:
        """path → checksum (None for folders) of every entry."""
        return {f"{e['folder'].rstrip('/')}/{e['name']}": e["checksum"]
                for e in self.entries.values()}
