"""A6 against a real `homesync serve`: `homesync keys rotate` and `retire`, run in other
processes while it serves, take effect without a restart (a long poll parked with a
retired key's token too)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from typing import Any

import httpx
import jwt
import pytest

from tests.auth_helpers import claims_of, header_of
from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, Dev, ParkedPolls, sign_in, start_with_accounts
from tests.helpers import API, PASSWORD, ServerProcess, device_info, make_settings

pytestmark = pytest.mark.e2e


async def status(http: httpx.AsyncClient, token: str) -> int:
    r = await http.get(f"{API}/devices", headers={"Authorization": f"Bearer {token}"})
    return int(r.status_code)


def access(dev: Dev) -> str:
    return dev.auth["Authorization"].removeprefix("Bearer ")


def keys(server: ServerProcess) -> Any:
    done = server.cli("keys", "list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def key_secret(server: ServerProcess, kid: str) -> bytes:
    """A key as only the database knows it (what a client of that key would hold)."""
    db = sqlite3.connect(f"file:{make_settings(server.data_dir).db_path}?mode=ro", uri=True)
    try:
        row = db.execute("SELECT secret FROM signing_keys WHERE kid = ?", (kid,)).fetchone()
    finally:
        db.close()
    assert row is not None and row[0] is not None
    return bytes(row[0])


async def test_rotate_and_retire_reach_a_running_server(make_server: MakeServer) -> None:
    server = make_server(ENV, metrics=True)
    parked_polls = ParkedPolls(server)
    start_with_accounts(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        r = await http.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD,
            "deviceInfo": device_info("phone")})
        assert r.status_code == 201, r.text
        phone_access, phone_refresh = (r.json()["tokens"]["accessToken"],
                                       r.json()["tokens"]["refreshToken"])
        k1 = header_of(phone_access)["kid"]

        rotated = server.cli("keys", "rotate")
        assert rotated.returncode == 0, rotated.stderr
        [old, new] = keys(server)
        k2 = new["kid"]
        assert (old["kid"], old["state"], new["state"]) == (k1, "previous", "active")

        # The server still accepts k1's token, and one signed with k2, which it has not
        # seen yet: an unknown kid makes it reload the keys from the database.
        assert await status(http, phone_access) == 200
        forged = jwt.encode(claims_of(phone_access), key_secret(server, k2), algorithm="HS256",
                            headers={"typ": "at+jwt", "kid": k2})
        assert await status(http, forged) == 200
        # New tokens, from a sign-in or a refresh, carry k2.
        laptop = await sign_in(http, "alice@example.com", "laptop")
        assert header_of(access(laptop))["kid"] == k2
        r = await http.post(f"{API}/auth/refresh",
                            json={"refreshToken": phone_refresh, "deviceId": "phone"})
        assert r.status_code == 200, r.text
        refreshed = r.json()["tokens"]["accessToken"]
        assert header_of(refreshed)["kid"] == k2

        # Retiring k1 now would cut tokens short: refused without --force.
        early = server.cli("keys", "retire", k1)
        assert early.returncode == 4 and "--force" in early.stderr
        assert await status(http, phone_access) == 200
        assert server.cli("keys", "retire", k2, "--force").returncode == 4  # the active key
        # A long poll parked with k1's token answers 401 once k1 is retired (the server's
        # wake-up check, every 2 s), not when its wait ends.
        phone_auth = {"Authorization": f"Bearer {phone_access}"}
        r = await http.get(f"{API}/sync/status", headers=phone_auth)
        assert r.status_code == 200, r.text
        poll = asyncio.create_task(http.get(f"{API}/sync/status", headers=phone_auth, params={
            "syncToken": r.json()["data"]["nextSyncToken"], "wait": 60}))
        await parked_polls.reach(http)
        done = await asyncio.to_thread(server.cli, "keys", "retire", k1, "--force")
        assert done.returncode == 0, done.stderr
        answer = await asyncio.wait_for(poll, 15)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "UNAUTHORIZED"

        r = await http.get(f"{API}/devices", headers={"Authorization": f"Bearer {phone_access}"})
        assert r.status_code == 401, r.text
        assert r.json()["success"] is False
        assert r.json()["error"]["code"] == "UNAUTHORIZED"
        for token in (refreshed, access(laptop), forged):
            assert await status(http, token) == 200
