"""A parked long poll ends with 401 as soon as its sign-in does (device removed, signed
out, refresh token stolen), its access token expires or the key that signed it is retired,
not when its ``wait`` runs out; other devices' polls go on."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homesync import clock
from homesync.config import Settings
from homesync.services.auth.tokens import LEEWAY_S
from homesync.services.container import Services
from tests.helpers import API, Device, make_settings
from tests.sync.helpers import change, parked, pull, push

WAIT = 60  # seconds each poll may park
SOON = 5  # seconds its answer is awaited: far less than WAIT, so only a wake-up can answer


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The watcher's own rounds come an hour apart: in time, only the revocation wakes a poll.
    return make_settings(tmp_path / "data", storage={"disk_reserve": "0"},
                         sync={"wake_check_interval": "1h"})


@pytest.fixture
async def watcher(services: Services) -> AsyncIterator[None]:
    """The journal watcher's loop running, as under `homesync serve`."""
    task = asyncio.create_task(services.sync.watcher.run_forever())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def park(client: httpx.AsyncClient, services: Services,
               dev: Device, count: int = 1) -> asyncio.Task[httpx.Response]:
    """``dev``'s long poll, parked (nothing new after its token); ``count``: how many of
    the user's polls are parked then."""
    token = (await pull(client, dev))["nextSyncToken"]
    poll = asyncio.create_task(client.get(
        f"{API}/sync/status", params={"syncToken": token, "wait": WAIT}, headers=dev.auth))
    await parked(services, dev.user_id, count)
    return poll


def assert_unauthorized(r: httpx.Response, code: str = "UNAUTHORIZED") -> None:
    """The answer any request with a dead token gets."""
    assert r.status_code == 401, r.text
    body: dict[str, Any] = r.json()
    assert body["success"] is False and body["error"]["code"] == code


async def test_removing_a_device_ends_its_parked_poll(live_client, services, watcher,
                                                      make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    poll = await park(live_client, services, phone)
    r = await live_client.delete(f"{API}/devices/{phone.device_id}", headers=laptop.auth)
    assert r.status_code == 200, r.text
    assert_unauthorized(await asyncio.wait_for(poll, SOON))
    assert services.sync.notifier.parked() == 0


async def test_signing_out_ends_the_devices_parked_poll(live_client, services, watcher,
                                                        make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    poll = await park(live_client, services, phone)
    r = await live_client.post(f"{API}/auth/logout", headers=phone.auth)
    assert r.status_code == 200, r.text
    assert_unauthorized(await asyncio.wait_for(poll, SOON))


async def test_a_stolen_refresh_token_ends_the_parked_poll(live_client, services, watcher,
                                                           make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    poll = await park(live_client, services, phone)
    # Presented by another install: theft, and the phone's whole sign-in is revoked.
    r = await live_client.post(f"{API}/auth/refresh", json={
        "refreshToken": phone.refresh, "deviceId": "someone-elses-phone"})
    assert r.status_code == 401, r.text
    assert_unauthorized(await asyncio.wait_for(poll, SOON))


async def test_removing_another_device_leaves_the_poll_parked(live_client, services, watcher,
                                                              make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    poll = await park(live_client, services, phone)
    r = await live_client.delete(f"{API}/devices/{laptop.device_id}", headers=phone.auth)
    assert r.status_code == 200, r.text
    await services.sync.watcher.check()  # whether or not the nudged round already ran
    await push(live_client, phone, None, change("mkdir", folder="/still-here"))
    answer = await asyncio.wait_for(poll, SOON)
    assert answer.status_code == 200, answer.text
    assert [e["name"] for e in answer.json()["data"]["changes"]["created"]] == ["still-here"]


async def test_a_device_removed_by_another_process_is_noticed_at_the_next_check(
        live_client, services, settings, make_user, sign_in):
    """The CLI (`homesync device revoke`) wakes nobody here: the watcher's round does."""
    await make_user()
    phone = await sign_in(client_id="phone")
    poll = await park(live_client, services, phone)
    other = await Services.open(settings)  # what the CLI opens
    try:
        await other.devices.admin_revoke(phone.device_id)
    finally:
        await other.close()
    assert not poll.done()
    await services.sync.watcher.check()
    assert_unauthorized(await asyncio.wait_for(poll, SOON))


async def test_a_poll_parks_no_longer_than_its_access_token_is_accepted(
        live_client, services, make_user, sign_in):
    """It answers 401 TOKEN_EXPIRED (the client refreshes) when the token runs out."""
    start = float(int(time.time()))
    clock.set_now(lambda: start)
    await make_user()
    phone = await sign_in(client_id="phone")
    # Refused from the second after exp + leeway; let the clock run again 2 s short of it.
    refused_at = start + services.settings.auth.access_ttl_s + LEEWAY_S + 1
    offset = refused_at - 2 - time.time()
    clock.set_now(lambda: time.time() + offset)
    poll = await park(live_client, services, phone)
    assert_unauthorized(await asyncio.wait_for(poll, SOON), "TOKEN_EXPIRED")
    assert services.sync.notifier.parked() == 0


async def test_retiring_its_tokens_key_in_another_process_ends_the_poll_at_the_next_check(
        live_client, services, settings, make_user, sign_in):
    """`homesync keys rotate`, then `keys retire OLD --force` (after a leak), from the CLI:
    the watcher's round ends the polls of the old key's tokens, and only those."""
    await make_user()
    phone = await sign_in(client_id="phone")  # its token is signed by the first key
    other = await Services.open(settings)  # what the CLI opens
    try:
        _, old = await other.signing_keys.rotate()
        assert old is not None
        laptop = await sign_in(client_id="laptop")  # signed by the new key
        phone_poll = await park(live_client, services, phone)
        laptop_poll = await park(live_client, services, laptop, count=2)
        await other.signing_keys.retire(old.kid, force=True)
    finally:
        await other.close()
    assert not phone_poll.done()
    await services.sync.watcher.check()
    assert_unauthorized(await asyncio.wait_for(phone_poll, SOON))
    assert not laptop_poll.done()
    await push(live_client, laptop, None, change("mkdir", folder="/still-here"))
    answer = await asyncio.wait_for(laptop_poll, SOON)
    assert answer.status_code == 200, answer.text


async def test_retiring_a_key_in_this_process_ends_its_polls_at_once(
        live_client, services, watcher, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    _, old = await services.signing_keys.rotate()
    assert old is not None
    poll = await park(live_client, services, phone)
    await services.signing_keys.retire(old.kid, force=True)
    assert_unauthorized(await asyncio.wait_for(poll, SOON))
