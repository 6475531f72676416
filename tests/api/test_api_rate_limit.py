"""The per-device limit on authenticated API calls (reliability-plan §2: 20 rps, burst 60):
a token bucket per device; past it 429 RATE_LIMITED with Retry-After, and nothing changes.
Time is moved with the frozen clock, never slept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.config import Settings
from homesync.services.auth.throttle import TokenBucket
from tests.auth_helpers import FrozenClock, concurrent_client, running
from tests.conftest import MakeUser, SignIn
from tests.helpers import API, PASSWORD, Device, device_from, device_info, make_settings
from tests.sync.helpers import pull, store
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import complete, file_entry, init, path_of, random_bytes

DEVICES = f"{API}/devices"
# The defaults, spelled out: these tests are about these numbers whatever the tests'
# usual settings say.
LIMITS = {"api_requests_per_second": 20, "api_request_burst": 60}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", auth=LIMITS, uploads=SMALL_CHUNKS,
                         storage={"disk_reserve": "0"})


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


async def spend(client: Any, device: Device, calls: int) -> None:
    """``calls`` authenticated requests that must all be answered."""
    for n in range(calls):
        r = await client.get(DEVICES, headers=device.auth)
        assert r.status_code == 200, f"call {n + 1}: {r.text}"


async def refused(client: Any, device: Device) -> Any:
    r = await client.get(DEVICES, headers=device.auth)
    assert r.status_code == 429, r.text
    return r


async def test_a_burst_of_60_then_429_with_retry_after_then_20_a_second(
        client: AsyncTestClient[Any], frozen: FrozenClock, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    phone = await sign_in()
    await spend(client, phone, 60)

    r = await refused(client, phone)
    assert r.headers["retry-after"] == "1"
    assert r.json() == {"success": False, "error": {
        "code": "RATE_LIMITED", "message": "Too many requests", "details": {"retryAfter": 1}}}

    # Refused calls take nothing: a second later there are exactly 20 more.
    await refused(client, phone)
    frozen.advance(1)
    await spend(client, phone, 20)
    await refused(client, phone)

    # The bucket fills up to the burst, no further.
    frozen.advance(60)
    await spend(client, phone, 60)
    await refused(client, phone)


async def test_a_refused_request_changes_nothing(
        client: AsyncTestClient[Any], frozen: FrozenClock, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    phone = await sign_in()
    await spend(client, phone, 60)
    r = await client.put(f"{DEVICES}/{phone.device_id}/settings", headers=phone.auth,
                         json={"wifiOnly": False})
    assert r.status_code == 429
    frozen.advance(1)
    listed = (await client.get(DEVICES, headers=phone.auth)).json()["data"]["devices"]
    assert [d["settings"]["wifiOnly"] for d in listed] == [True]


async def test_one_device_limited_leaves_the_others_alone(
        client: AsyncTestClient[Any], frozen: FrozenClock, make_user: MakeUser,
        sign_in: SignIn) -> None:
    await make_user()
    await make_user("bob@example.com", name="Bob")
    phone = await sign_in(client_id="phone")
    laptop = await sign_in(client_id="laptop")
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    await spend(client, phone, 60)
    await refused(client, phone)
    await spend(client, laptop, 60)  # same user, another device: its own bucket
    await spend(client, bob, 60)
    await refused(client, phone)


async def test_chunk_puts_are_not_counted(
        client: AsyncTestClient[Any], frozen: FrozenClock, make_user: MakeUser,
        sign_in: SignIn) -> None:
    """Chunk PUTs have their own in-flight limits; a phone on a LAN sends 100+ a second."""
    await make_user()
    phone = await sign_in()
    data = random_bytes(4096 * 70)
    r = await init(client, phone.auth, file_entry(data), chunk_size=4096)
    entry = r.json()["data"]["files"][0]
    assert entry["totalChunks"] == 70
    await spend(client, phone, 59)
    await refused(client, phone)

    for chunk in entry["chunks"]:
        body = data[chunk["start"]:chunk["end"] + 1]
        if chunk["index"] % 3 == 0:  # Bearer on the chunk's own URL
            url, headers = path_of(chunk["uploadUrl"]).split("?")[0], phone.auth
        elif chunk["index"] % 3 == 1:  # the signed URL, no Bearer at all
            url, headers = path_of(chunk["uploadUrl"]), {}
        else:  # Bearer on the file-level URL
            url = path_of(entry["uploadUrl"]).split("?")[0]
            headers = {**phone.auth, "X-Chunk-Index": str(chunk["index"])}
        r = await client.put(url, content=body, headers=headers)
        assert r.status_code == 200, r.text

    await refused(client, phone)  # still empty: the chunks took nothing, and gave nothing
    frozen.advance(1)
    assert (await complete(client, phone.auth, entry["uploadId"], data)).status_code == 200


async def test_a_long_poll_is_one_request(services: Any, frozen: FrozenClock,
                                          make_user: MakeUser, sign_in: SignIn) -> None:
    """Checking the caller again before answering a parked poll is not another request."""
    await make_user()
    phone = await sign_in()
    async with concurrent_client(services) as live:
        token = (await pull(live, phone))["nextSyncToken"]  # 1
        await store(live, phone, b"new", name="n.txt")  # init + complete: 3
        await spend(live, phone, 56)  # 59: one left
        data = await pull(live, phone, token, wait=30)  # answers at once: there is a change
        assert data["hasChanges"]
        await refused(live, phone)


async def test_a_clock_set_back_does_not_stop_the_refill(
        client: AsyncTestClient[Any], frozen: FrozenClock, make_user: MakeUser,
        sign_in: SignIn) -> None:
    # The phone used its burst while the server's clock ran an hour fast; then NTP set it
    # right. Told to retry in a second, it must get 20 calls a second again, not wait out
    # the hour the clock stepped back.
    await make_user()
    frozen.advance(3600)
    phone = await sign_in()
    await spend(client, phone, 60)
    frozen.advance(-3600)
    phone = await sign_in()  # its token is from the fast clock's future: signed in again
    r = await refused(client, phone)
    assert r.headers["retry-after"] == "1"
    frozen.advance(1)
    await spend(client, phone, 20)
    await refused(client, phone)


@pytest.mark.parametrize("off", [{"api_requests_per_second": 0}, {"api_request_burst": 0}])
async def test_zero_turns_the_limit_off(tmp_path: Path, off: dict[str, int]) -> None:
    FrozenClock()
    async with running(make_settings(tmp_path / "d", auth={**LIMITS, **off})) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        r = await client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        phone = device_from(r.json(), "alice@example.com", "app-install-1")
        await spend(client, phone, 200)


# -- the bucket itself -----------------------------------------------------------------


def test_idle_buckets_are_forgotten_when_room_is_needed(frozen: FrozenClock) -> None:
    bucket = TokenBucket(rate=1, burst=2, max_keys=2)
    bucket.take("a")
    frozen.advance(1)
    bucket.take("b")
    frozen.advance(1)  # "a" is full again (idle 2 s); "b" is not
    bucket.take("c")
    assert set(bucket._buckets) == {"b", "c"}
    bucket.take("d")  # nothing idle: the oldest goes (it starts full when it comes back)
    assert set(bucket._buckets) == {"c", "d"}
    assert clock.now() == frozen.now
