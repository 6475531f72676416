"""A12, no BOLA: for every route that takes an id, another user gets 404 and nothing changes.

The cases are keyed by the app's own route table: a new route with a path parameter and no
case here fails ``test_every_route_with_an_id_has_a_case``. Each case makes Bob send Alice's
real id (404 NOT_FOUND, every row of Alice's and every file on disk unchanged), then Alice
sends the very same request, which must succeed: the id Bob was refused is a live one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from homesync.app import create_app
from homesync.config import Settings
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device, make_settings
from tests.sync.helpers import change, checksum, pull, push, store
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import file_entry, init, put_chunks

PENDING = bytes(range(256)) * 24  # two 4 KiB chunks (the second one short)
CONFLICTED = b"the phone's edit"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"})


@dataclass
class World:
    """Alice's things (two devices, files, an upload, a conflict, ...) and Bob, a stranger."""

    services: Services
    alice: Device  # the phone: Alice's requests come from it
    laptop: Device
    bob: Device
    carol: Device  # someone Alice shares a folder with
    ids: dict[str, str] = field(default_factory=dict)


@pytest.fixture
async def world(client: AsyncTestClient[Any], services: Services, make_user: MakeUser,
                sign_in: SignIn) -> World:
    await make_user("alice@example.com", "Alice Liddell")
    await make_user("bob@example.com", "Bob Builder")
    await make_user("carol@example.com", "Carol Danvers")
    laptop = await sign_in("alice@example.com", client_id="alice-laptop")
    alice = await sign_in("alice@example.com", client_id="alice-phone")  # → an inbox item
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    carol = await sign_in("carol@example.com", client_id="carol-phone")
    w = World(services, alice, laptop, bob, carol)
    ids = w.ids
    ids["laptop"] = laptop.device_id
    ids["phone_client"] = alice.client_id

    # A file with two versions, a trashed file, a conflict on a third file.
    ids["file"] = await store(client, alice, b"first", name="a.txt")
    await store(client, alice, b"second", name="a.txt", file_id=ids["file"])
    r = await client.get(f"{API}/files/{ids['file']}/versions", headers=alice.auth)
    ids["old_version"] = r.json()["data"]["versions"][1]["id"]
    ids["trashed"] = await store(client, alice, b"bin me", name="gone.txt")
    await push(client, alice, None, change("delete", fileId=ids["trashed"]))
    ids["conflicted_file"], ids["conflict"] = await _conflict(client, laptop, alice)

    # An upload with every chunk sent, not completed yet.
    r = await init(client, alice.auth, file_entry(PENDING, name="pending.bin", folder="/up"))
    entry = r.json()["data"]["files"][0]
    await put_chunks(client, entry, PENDING)
    ids["upload"] = entry["uploadId"]

    # A pending queue operation, an inbox item, the /docs folder shared with Carol.
    r = await client.post(f"{API}/queue/add", headers=alice.auth, json={"operations": [
        {"id": "op_a", "type": "upload", "priority": "normal", "createdAt": "2024-01-20T15:00:00Z",
         "localPath": "/sdcard/later.txt", "remotePath": "/later/later.txt"}]})
    assert r.json()["data"]["operations"][0]["status"] == "pending", r.text
    ids["op"] = "op_a"
    r = await client.get(f"{API}/notifications", headers=alice.auth)
    ids["notification"] = r.json()["data"]["notifications"][0]["id"]
    r = await client.get(f"{API}/files", headers=alice.auth)
    docs = next(f["id"] for f in r.json()["data"]["files"] if f["name"] == "docs")
    r = await client.post(f"{API}/shares", headers=alice.auth,
                          json={"fileId": docs, "email": "carol@example.com",
                                "permission": "read"})
    assert r.status_code == 201, r.text
    ids["share"] = r.json()["data"]["share"]["id"]
    return w


async def _conflict(client: AsyncTestClient[Any], laptop: Device,
                    phone: Device) -> tuple[str, str]:
    """The laptop edits notes.txt while the phone edits a stale copy: a conflict."""
    file_id = await store(client, laptop, b"original", name="notes.txt")
    stale = (await pull(client, phone))["nextSyncToken"]
    await store(client, laptop, b"laptop's edit", name="notes.txt", file_id=file_id)
    await store(client, phone, CONFLICTED, name="scratch.bin", folder="/tmp")
    out = await push(client, phone, stale, change(
        "upload", name="notes.txt", folder="/docs", fileId=file_id, size=len(CONFLICTED),
        checksum=checksum(CONFLICTED)))
    assert out["results"][0]["status"] == "conflict", out
    return file_id, str(out["results"][0]["conflictId"])


@dataclass(frozen=True)
class Attempt:
    """One request naming Alice's things: path parameters, and a JSON body or raw bytes.

    ``rightful`` is who may send it (Alice, or Carol for the folder Alice shared with her).
    """

    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    rightful: str = "alice"


Case = Callable[[dict[str, str]], Attempt]

# "METHOD /path/{param}" (as mounted under /api/mobile, types stripped) → Alice's ids for it.
ROUTE_CASES: dict[str, Case] = {
    "PUT /devices/{device_id}/settings":
        lambda ids: Attempt({"device_id": ids["laptop"]}, json={"wifiOnly": False}),
    "DELETE /devices/{device_id}": lambda ids: Attempt({"device_id": ids["laptop"]}),
    "POST /notifications/{notification_id}/read":
        lambda ids: Attempt({"notification_id": ids["notification"]}),
    "PUT /upload/chunk/{upload_id}/{index}":
        lambda ids: Attempt({"upload_id": ids["upload"], "index": "0"}, content=PENDING[:4096]),
    "PUT /upload/chunk/{upload_id}":
        lambda ids: Attempt({"upload_id": ids["upload"]}, content=PENDING[:4096],
                            headers={"X-Chunk-Index": "0"}),
    "GET /upload/{upload_id}": lambda ids: Attempt({"upload_id": ids["upload"]}),
    "DELETE /upload/{upload_id}": lambda ids: Attempt({"upload_id": ids["upload"]}),
    "GET /files/{file_id}": lambda ids: Attempt({"file_id": ids["file"]}),
    "GET /files/{file_id}/content": lambda ids: Attempt({"file_id": ids["file"]}),
    "HEAD /files/{file_id}/content": lambda ids: Attempt({"file_id": ids["file"]}),
    "DELETE /queue/{op_id}": lambda ids: Attempt({"op_id": ids["op"]}),
    "POST /trash/{file_id}/restore": lambda ids: Attempt({"file_id": ids["trashed"]}),
    "DELETE /trash/{file_id}": lambda ids: Attempt({"file_id": ids["trashed"]}),
    "GET /files/{file_id}/versions": lambda ids: Attempt({"file_id": ids["file"]}),
    "POST /files/{file_id}/versions/{version_id}/restore":
        lambda ids: Attempt({"file_id": ids["file"], "version_id": ids["old_version"]}),
    "DELETE /shares/{share_id}": lambda ids: Attempt({"share_id": ids["share"]}),
    "GET /shares/{share_id}/files":
        lambda ids: Attempt({"share_id": ids["share"]}, rightful="carol"),
}

# Routes whose path has no id but whose body names one of Alice's things.
BODY_CASES: dict[str, Case] = {
    "POST /upload/progress":
        lambda ids: Attempt(json={"uploadId": ids["upload"], "status": "paused"}),
    "POST /upload/complete":
        lambda ids: Attempt(json={"uploadId": ids["upload"], "checksum": checksum(PENDING)}),
    "POST /conflicts/resolve":
        lambda ids: Attempt(json={"conflicts": [{
            "conflictId": ids["conflict"], "resolution": "keep_local",
            "fileId": ids["conflicted_file"]}]}),
    "POST /notifications/register":
        lambda ids: Attempt(json={"deviceId": ids["phone_client"], "platform": "android",
                                  "pushToken": "fcm-token-of-bobs-choosing"}),
    "POST /shares":
        lambda ids: Attempt(json={"fileId": ids["file"], "email": "carol@example.com",
                                  "permission": "write"}),
}


def _route_keys() -> set[str]:
    """Every "METHOD /path" of the mobile API that has a path parameter."""
    app = create_app(make_settings(Path("/nonexistent-bola-data")))
    keys: set[str] = set()
    for route in app.routes:
        if "{" not in route.path:
            continue
        assert isinstance(route, HTTPRoute), f"{route.path}: a websocket/ASGI route, not covered"
        assert route.path.startswith(API), f"{route.path}: an id-taking route outside {API}"
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path.removeprefix(API))
        for handler in route.route_handlers:
            keys.update(f"{method} {path}" for method in handler.http_methods
                        if method != "OPTIONS")
    return keys


def test_every_route_with_an_id_has_a_case() -> None:
    routes = _route_keys()
    assert routes - ROUTE_CASES.keys() == set(), "add these routes to ROUTE_CASES"
    assert ROUTE_CASES.keys() - routes == set(), "these ROUTE_CASES name no route any more"


async def _rows(services: Services) -> dict[str, set[tuple[Any, ...]]]:
    tables = await services.db.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {t[0]: {tuple(row) for row in await services.db.fetchall(f'SELECT * FROM "{t[0]}"')}
            for t in tables}


def _files(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under the data dir but the database, with its size and mtime."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and not p.name.startswith("homesync.sqlite3")}


def _changed_rows(before: dict[str, set[tuple[Any, ...]]],
                  after: dict[str, set[tuple[Any, ...]]], bob: Device) -> list[Any]:
    """Rows added, removed or changed that are not Bob's own (his device's last-seen time)."""
    changed = []
    for table in before.keys() | after.keys():
        old, new = before.get(table, set()), after.get(table, set())
        for row in old ^ new:
            if bob.user_id not in row and bob.device_id not in row:
                changed.append((table, row))
    return changed


async def _send(client: AsyncTestClient[Any], who: Device, key: str, attempt: Attempt) -> Any:
    method, template = key.split(" ", 1)
    url = API + template.format(**attempt.params)
    return await client.request(method, url, headers={**who.auth, **attempt.headers},
                                json=attempt.json, content=attempt.content)


@pytest.mark.parametrize("key", sorted(ROUTE_CASES) + sorted(BODY_CASES))
async def test_another_users_id_is_404_and_changes_nothing(
    client: AsyncTestClient[Any], world: World, key: str,
) -> None:
    attempt = {**ROUTE_CASES, **BODY_CASES}[key](world.ids)
    rows, files = await _rows(world.services), _files(world.services.settings.data_path)

    r = await _send(client, world.bob, key, attempt)

    assert r.status_code == 404, r.text
    if not key.startswith("HEAD "):
        assert r.json() == {"success": False, "error": {
            "code": "NOT_FOUND", "message": r.json()["error"]["message"],
            "details": r.json()["error"]["details"]}}
    assert _changed_rows(rows, await _rows(world.services), world.bob) == []
    assert _files(world.services.settings.data_path) == files

    r = await _send(client, getattr(world, attempt.rightful), key, attempt)
    assert r.status_code < 300, f"the rightful request failed, so Bob's 404 proves nothing: {r.text}"
