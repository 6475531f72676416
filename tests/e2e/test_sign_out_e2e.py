"""What ends when the administrator ends a sign-in from the CLI (another process) while a
real `homesync serve` runs: `user passwd` and `user remove` answer the account's parked
long polls with 401 (within `sync.wake_check_interval`, long before their wait), and stop
its devices' signed chunk URLs and access tokens; other accounts go on."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, Dev, ParkedPolls, sign_in, start_with_accounts
from tests.helpers import API, ServerProcess
from tests.sync.helpers import change, pull
from tests.uploads.flow import file_entry, init, path_of

pytestmark = pytest.mark.e2e

WAIT = 60  # a parked poll's wait: far longer than any answer below is awaited
SOON = 15  # seconds: a few rounds of the server's 2 s wake check


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV, metrics=True)


def assert_unauthorized(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["success"] is False and r.json()["error"]["code"] == "UNAUTHORIZED"


async def park(http: httpx.AsyncClient, dev: Dev) -> asyncio.Task[httpx.Response]:
    token = (await pull(http, dev))["nextSyncToken"]
    return asyncio.create_task(http.get(
        f"{API}/sync/status", params={"syncToken": token, "wait": WAIT}, headers=dev.auth))


async def open_upload(http: httpx.AsyncClient, dev: Dev, data: bytes) -> dict[str, Any]:
    r = await init(http, dev.auth, file_entry(data))
    assert r.status_code == 200, r.text
    item: dict[str, Any] = r.json()["data"]["files"][0]
    return item


async def put_signed(http: httpx.AsyncClient, item: dict[str, Any], data: bytes,
                     index: int) -> httpx.Response:
    chunk = item["chunks"][index]
    return await http.put(path_of(chunk["uploadUrl"]),
                          content=data[chunk["start"]:chunk["end"] + 1])


def test_the_cli_ending_an_accounts_sign_ins_ends_its_polls_uploads_and_tokens(
    server: ServerProcess,
) -> None:
    start_with_accounts(server)
    asyncio.run(_scenario(server, ParkedPolls(server)))


async def _scenario(server: ServerProcess, parked: ParkedPolls) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=WAIT + 10) as http:
        phone = await sign_in(http, "alice@example.com", "alice-phone")
        tablet = await sign_in(http, "alice@example.com", "alice-tablet")
        bob = await sign_in(http, "bob@example.com", "bob-phone")
        data = bytes(range(256)) * 48  # 12 KiB: three chunks
        upload = await open_upload(http, phone, data)
        assert (await put_signed(http, upload, data, 0)).status_code == 200
        phone_poll, tablet_poll, bob_poll = (await park(http, phone), await park(http, tablet),
                                             await park(http, bob))
        await parked.reach(http, 3)

        # The phone was stolen: the admin sets Alice a new password.
        done = await asyncio.to_thread(server.cli, "user", "passwd", "alice@example.com",
                                       "--password-stdin", input="a brand new passphrase\n")
        assert done.returncode == 0, done.stderr
        assert_unauthorized(await asyncio.wait_for(phone_poll, SOON))
        assert_unauthorized(await asyncio.wait_for(tablet_poll, SOON))
        assert_unauthorized(await put_signed(http, upload, data, 1))
        assert_unauthorized(await http.get(f"{API}/devices", headers=tablet.auth))
        assert not bob_poll.done()

        # Bob's account is removed: his poll and his token end too.
        done = await asyncio.to_thread(server.cli, "user", "remove", "bob@example.com", "--yes")
        assert done.returncode == 0, done.stderr
        assert_unauthorized(await asyncio.wait_for(bob_poll, SOON))
        assert_unauthorized(await http.get(f"{API}/files", headers=bob.auth))
        r = await http.post(f"{API}/sync/files", headers=bob.auth, json={
            "localChanges": [change("mkdir", folder="/after-removal")]})
        assert_unauthorized(r)
