"""Long polls of many devices of several people on a real `homesync serve`: one change
wakes exactly the polls of its owner's devices, once each and with the change; the others
stay parked until their wait runs out (then answer empty, same position) or the server
stops (then answer at once, and the server exits 0)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, Dev, ParkedPolls, sign_in, start_with_accounts
from tests.helpers import API
from tests.sync.helpers import change, pull, push

pytestmark = pytest.mark.e2e

PEOPLE = (("alice@example.com", "Alice"), ("bob@example.com", "Bob"),
          ("carol@example.com", "Carol"))
DEVICES = 6  # each person's; the polls of one device are capped (max_polls_per_device)


def test_one_change_wakes_only_its_owners_polls_and_a_stop_answers_the_rest(
        make_server: MakeServer) -> None:
    server = make_server(ENV, metrics=True)
    start_with_accounts(server, PEOPLE)
    asyncio.run(_scenario(server, ParkedPolls(server)))


async def _scenario(server, parked: ParkedPolls) -> None:  # noqa: ANN001
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=server.base, timeout=60, limits=limits) as http:
        devices = {email: [await sign_in(http, email, f"{email}-{i}") for i in range(DEVICES)]
                   for email, _ in PEOPLE}
        writer = devices["alice@example.com"].pop()
        tokens = {d.device_id: (await pull(http, d))["nextSyncToken"]
                  for ds in devices.values() for d in ds}

        def poll(dev: Dev, wait: int) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(http.get(
                f"{API}/sync/status", headers=dev.auth,
                params={"syncToken": tokens[dev.device_id], "wait": wait}))

        alice = [poll(d, 60) for d in devices["alice@example.com"]]
        bob = [poll(d, 2) for d in devices["bob@example.com"]]
        carol = [poll(d, 60) for d in devices["carol@example.com"]]
        await parked.reach(http, len(alice) + len(bob) + len(carol))

        made = await push(http, writer, None, change("mkdir", folder="/", name="new"))
        for answer in await asyncio.wait_for(asyncio.gather(*alice), 10):
            data = answer.json()["data"]
            assert answer.status_code == 200 and data["hasChanges"], answer.text
            assert [e["id"] for e in data["changes"]["created"]] == [made["results"][0]["fileId"]]
        assert not any(t.done() for t in bob + carol)
        assert await parked.count(http) == len(bob) + len(carol)

        for dev, answer in zip(devices["bob@example.com"], await asyncio.gather(*bob),
                               strict=True):
            data = answer.json()["data"]
            assert answer.status_code == 200 and not data["hasChanges"], answer.text
            assert data["nextSyncToken"] == tokens[dev.device_id]
        assert not any(t.done() for t in carol)

        assert server.proc is not None
        stopped_at = time.monotonic()
        server.proc.terminate()
        for answer in await asyncio.wait_for(asyncio.gather(*carol), 10):
            assert answer.status_code == 200 and not answer.json()["data"]["hasChanges"]
        assert time.monotonic() - stopped_at < 5  # at once, not after the 30 s grace
        assert await asyncio.to_thread(server.proc.wait, 30) == 0
