"""Device settings end to end: a phone narrows its sync to one folder on a real server,
bad settings change nothing, and another user cannot touch them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, Dev, sign_in, start_with_accounts
from tests.helpers import API
from tests.uploads.flow import random_bytes, upload

pytestmark = pytest.mark.e2e


async def settings_of(http: httpx.AsyncClient, dev: Dev) -> dict[str, Any]:
    r = await http.get(f"{API}/devices", headers=dev.auth)
    assert r.status_code == 200, r.text
    [me] = [d for d in r.json()["data"]["devices"] if d["id"] == dev.device_id]
    return dict(me["settings"])


async def synced_paths(http: httpx.AsyncClient, dev: Dev) -> set[str]:
    r = await http.get(f"{API}/sync/status", headers=dev.auth)
    assert r.status_code == 200, r.text
    created = r.json()["data"]["changes"]["created"]
    return {f"{e['folder'].rstrip('/')}/{e['name']}" for e in created if e["type"] == "file"}


async def test_sync_folders_and_settings_on_a_real_server(make_server: MakeServer) -> None:
    server = make_server(ENV)
    start_with_accounts(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        phone = await sign_in(http, "alice@example.com", "phone-1")
        bob = await sign_in(http, "bob@example.com", "bob-phone")
        await upload(http, phone.auth, random_bytes(100), name="p.jpg", folder="/photos")
        await upload(http, phone.auth, random_bytes(100), name="d.txt", folder="/docs",
                     local_id="d")
        assert await synced_paths(http, phone) == {"/photos/p.jpg", "/docs/d.txt"}

        url = f"{API}/devices/{phone.device_id}/settings"
        r = await http.put(url, headers=phone.auth,
                           json={"syncFolders": ["/photos"], "wifiOnly": True})
        assert r.status_code == 200, r.text
        before = await settings_of(http, phone)
        assert before["syncFolders"] == ["/photos"] and before["wifiOnly"] is True
        assert await synced_paths(http, phone) == {"/photos/p.jpg"}

        # Bad input is refused in the envelope and changes nothing.
        for body in ({"syncFolders": "photos"}, {"userId": "user_x"}, {"maxCacheSize": -1}):
            r = await http.put(url, headers=phone.auth, json=body)
            assert r.status_code == 400, (body, r.text)
            assert r.json()["success"] is False
        # Another user's device does not exist, as far as Bob can tell.
        r = await http.put(url, headers=bob.auth, json={"wifiOnly": False})
        assert r.status_code == 404, r.text
        assert await settings_of(http, phone) == before
