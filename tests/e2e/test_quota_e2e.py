"""Quotas end to end: the administrator sets one with the CLI while `homesync serve` runs,
the phone fills it over HTTP, hears of it in its inbox, and is refused past it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, sign_in, start_with_accounts
from tests.helpers import API
from tests.uploads.flow import file_entry, init, random_bytes, upload

pytestmark = pytest.mark.e2e

KiB = 1024
ALICE = "alice@example.com"


def usage(server: Any) -> tuple[int, int]:
    """(quotaBytes, usedBytes) of Alice, as `homesync user list --json` prints them."""
    listed = server.cli("user", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [alice] = [u for u in json.loads(listed.stdout) if u["email"] == ALICE]
    return alice["quotaBytes"], alice["usedBytes"]


async def test_a_quota_set_on_a_running_server_is_kept(make_server: MakeServer) -> None:
    server = make_server(ENV)
    start_with_accounts(server)
    quota = server.cli("user", "quota", ALICE, "64KiB")
    assert quota.returncode == 0, quota.stderr
    assert usage(server) == (64 * KiB, 0)

    async with httpx.AsyncClient(base_url=server.base, timeout=10) as http:
        phone = await sign_in(http, ALICE, "phone-1")
        await upload(http, phone.auth, random_bytes(40 * KiB), name="a.jpg", local_id="a")
        await upload(http, phone.auth, random_bytes(20 * KiB), name="b.jpg", local_id="b")
        assert usage(server) == (64 * KiB, 60 * KiB)

        # 60 of 64 KiB: past 80 % and 90 %, told once, as the inbox shows.
        r = await http.get(f"{API}/notifications", headers=phone.auth)
        assert r.status_code == 200, r.text
        storage = [n for n in r.json()["data"]["notifications"] if n["category"] == "storage"]
        assert len(storage) == 1, storage
        assert "90%" in storage[0]["title"]

        # 8 KiB more does not fit: refused at init, before a byte is sent, and nothing kept.
        r = await init(http, phone.auth, file_entry(random_bytes(8 * KiB), name="c.jpg"))
        assert r.status_code == 507, r.text
        assert r.json()["success"] is False
        assert r.json()["error"]["code"] == "QUOTA_EXCEEDED"
        r = await http.get(f"{API}/files", params={"folder": "/photos"}, headers=phone.auth)
        assert sorted(f["name"] for f in r.json()["data"]["files"]) == ["a.jpg", "b.jpg"]

        # Lifting the quota (0: none) lets the same file in, without a restart.
        lifted = server.cli("user", "quota", ALICE, "0")
        assert lifted.returncode == 0, lifted.stderr
        await upload(http, phone.auth, random_bytes(8 * KiB), name="c.jpg", local_id="c")
    assert usage(server) == (0, 68 * KiB)
