"""Retention prunes the refresh tokens of sign-ins that ended more than 30 days ago; a
live sign-in keeps every token it spent, which is how a replay is caught as theft."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth_helpers import FrozenClock, notifications
from tests.helpers import API, Device

REFRESH = f"{API}/auth/refresh"
DAY = 86400


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


async def refresh(client: Any, device: Device, token: str) -> Any:
    return await client.post(REFRESH, json={"refreshToken": token, "deviceId": device.client_id})


def rt(r: Any) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["tokens"]["refreshToken"])


async def tokens_of(services: Any, device: Device) -> int:
    row = await services.db.fetchone(
        "SELECT count(*) FROM refresh_tokens r JOIN token_families f ON f.id = r.family_id"
        " WHERE f.device_id = ?", (device.device_id,))
    return int(row[0])


async def families_of(services: Any, device: Device) -> int:
    row = await services.db.fetchone(
        "SELECT count(*) FROM token_families WHERE device_id = ?", (device.device_id,))
    return int(row[0])


async def pruned(services: Any) -> int:
    """How many refresh tokens a retention pass run now removes."""
    return int((await services.sync.retention.run_once()).refresh_tokens)


def assert_refused(r: Any) -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["success"] is False and body["error"]["code"] == "INVALID_REFRESH_TOKEN"


async def test_a_signed_out_sign_ins_tokens_go_30_days_later_and_stay_refused(
        client, services, frozen, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    r2 = rt(await refresh(client, phone, phone.refresh))
    r3 = rt(await refresh(client, phone, r2))
    r = await client.post(f"{API}/auth/logout", headers=phone.auth)
    assert r.status_code == 200, r.text
    frozen.advance(30 * DAY)  # ended exactly 30 days ago: still kept
    assert await pruned(services) == 0
    assert await tokens_of(services, phone) == 3
    frozen.advance(1)
    assert await pruned(services) == 3
    assert await tokens_of(services, phone) == 0
    assert await families_of(services, phone) == 1  # the sign-in itself stays
    for token in (phone.refresh, r2, r3):
        assert_refused(await refresh(client, phone, token))
    assert (await client.get(f"{API}/devices", headers=phone.auth)).status_code == 401


async def test_a_sign_in_left_idle_is_pruned_30_days_after_it_ran_out(
        client, services, frozen, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    r2 = rt(await refresh(client, phone, phone.refresh))
    frozen.advance(30 * DAY + 30 * DAY)  # idle 30 days, then 30 more: kept
    assert await pruned(services) == 0
    frozen.advance(1)
    assert await pruned(services) == 2
    assert_refused(await refresh(client, phone, r2))
    assert_refused(await refresh(client, phone, phone.refresh))
    # Its sign-in had run out without a refresh attempt: nothing new recorded for it.
    assert await tokens_of(services, phone) == 0
    assert await notifications(services, phone.user_id, "token_reuse") == []


async def test_a_live_sign_in_keeps_its_spent_tokens_and_still_catches_a_replay(
        client, services, frozen, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    old = await sign_in(client_id="old-tablet")
    await client.post(f"{API}/auth/logout", headers=old.auth)
    token = phone.refresh
    for _ in range(3):  # day 60: a live sign-in older than the 30 days kept after an end
        frozen.advance(20 * DAY)
        token = rt(await refresh(client, phone, token))
    assert await pruned(services) == 1  # the tablet's, signed out 60 days ago
    assert (await tokens_of(services, old), await tokens_of(services, phone)) == (0, 4)
    # The phone's first token, spent on day 20, replayed: theft, the sign-in ends.
    assert_refused(await refresh(client, phone, phone.refresh))
    family = await services.db.fetchone(
        "SELECT revoke_reason FROM token_families WHERE device_id = ?", (phone.device_id,))
    assert family["revoke_reason"] == "token_reuse"
    assert len(await notifications(services, phone.user_id, "token_reuse")) == 1
    assert_refused(await refresh(client, phone, token))
