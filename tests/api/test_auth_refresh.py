"""A7–A10: refresh rotation, reuse detection, expiry, device binding, concurrent and
retried refreshes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import pytest

from homesync.services.auth.tokens import hash_refresh_token
from tests.auth_helpers import FrozenClock, concurrent_client, db_state, notifications, running
from tests.helpers import API, PASSWORD, Device, device_from, device_info, make_settings

REFRESH = f"{API}/auth/refresh"
DAY = 86400


@pytest.fixture
def frozen() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def alice(frozen, make_user, sign_in) -> Device:
    await make_user()
    return await sign_in()


async def refresh(client: Any, token: str, device_id: str = "app-install-1") -> Any:
    return await client.post(REFRESH, json={"refreshToken": token, "deviceId": device_id})


def rt(r: Any) -> str:
    assert r.status_code == 200, r.text
    return str(r.json()["tokens"]["refreshToken"])


async def family_of(services: Any, device: Device) -> Any:
    return await services.db.fetchone(
        "SELECT f.* FROM token_families f WHERE f.device_id = ? ORDER BY created_at DESC",
        (device.device_id,))


async def assert_signed_out(client: Any, device: Device, *refresh_tokens: str) -> None:
    assert (await client.get(f"{API}/devices", headers=device.auth)).status_code == 401
    for token in refresh_tokens:
        r = await refresh(client, token, device.client_id)
        assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"


async def test_refresh_rotates_and_answers_in_the_contract_shape(client, alice):
    r = await refresh(client, alice.refresh)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == ["success", "tokens"] and body["success"] is True
    assert set(body["tokens"]) == {"accessToken", "refreshToken", "expiresIn"}
    r2 = body["tokens"]["refreshToken"]
    assert r2 != alice.refresh and r2.startswith("rt_mobile_")
    new_access = {"Authorization": f"Bearer {body['tokens']['accessToken']}"}
    assert (await client.get(f"{API}/devices", headers=new_access)).status_code == 200
    assert rt(await refresh(client, r2)) not in (r2, alice.refresh)


async def test_the_database_keeps_only_hashes_of_refresh_tokens(client, services, alice):
    r2 = rt(await refresh(client, alice.refresh))
    rows = await services.db.fetchall("SELECT token_hash FROM refresh_tokens")
    stored = {row["token_hash"] for row in rows}
    assert stored == {hash_refresh_token(alice.refresh), hash_refresh_token(r2)}
    dump = repr(await db_state(services))
    assert alice.refresh not in dump and r2 not in dump


async def test_reuse_after_the_grace_window_revokes_the_whole_sign_in(
        client, services, frozen, alice):
    r = await refresh(client, alice.refresh)
    r2, access2 = rt(r), r.json()["tokens"]["accessToken"]
    frozen.advance(61)

    reused = await refresh(client, alice.refresh)

    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    newest = Device(**{**alice.__dict__, "access": access2})
    await assert_signed_out(client, newest, r2)
    family = await family_of(services, alice)
    assert family["revoke_reason"] == "token_reuse"
    [event] = await notifications(services, alice.user_id, "token_reuse")
    assert event["category"] == "security"
    assert msgspec.json.decode(event["data"])["deviceId"] == alice.device_id


async def test_a_lost_response_retried_within_the_grace_gets_the_same_token(
        client, services, frozen, alice):
    r2 = rt(await refresh(client, alice.refresh))
    frozen.advance(60)

    retried = await refresh(client, alice.refresh)

    assert rt(retried) == r2
    assert (await family_of(services, alice))["revoked_at"] is None
    # The family is alive and rotates on from R2.
    r3 = rt(await refresh(client, r2))
    assert r3 != r2
    assert await notifications(services, alice.user_id, "token_reuse") == []


async def test_a_retry_at_61_seconds_counts_as_reuse(client, services, frozen, alice):
    r2 = rt(await refresh(client, alice.refresh))
    frozen.advance(61)
    assert (await refresh(client, alice.refresh)).status_code == 401
    await assert_signed_out(client, alice, r2)


async def test_a_retry_after_the_successor_was_used_counts_as_reuse(client, frozen, alice):
    r2 = rt(await refresh(client, alice.refresh))
    r3 = rt(await refresh(client, r2))
    frozen.advance(5)  # well within the grace window, but R2 is spent: R1 is stale
    assert (await refresh(client, alice.refresh)).status_code == 401
    await assert_signed_out(client, alice, r3)


async def test_an_old_token_replayed_months_later_is_still_theft(
        client, services, frozen, alice):
    """Reuse is judged before expiry: a leaked old token must raise the alarm."""
    r2 = rt(await refresh(client, alice.refresh))
    frozen.advance(20 * DAY)
    r3 = rt(await refresh(client, r2))
    frozen.advance(20 * DAY)
    assert (await refresh(client, alice.refresh)).status_code == 401
    assert (await family_of(services, alice))["revoke_reason"] == "token_reuse"
    assert len(await notifications(services, alice.user_id, "token_reuse")) == 1
    assert (await refresh(client, r3)).status_code == 401


async def test_a_refresh_token_works_only_for_its_device(client, services, alice):
    wrong = await refresh(client, alice.refresh, device_id="someone-elses-phone")
    assert wrong.status_code == 401
    # The stolen token is now useless even with the right device id.
    await assert_signed_out(client, alice, alice.refresh)
    assert (await family_of(services, alice))["revoke_reason"] == "token_reuse"
    [event] = await notifications(services, alice.user_id, "token_reuse")
    assert msgspec.json.decode(event["data"])["reason"] == "wrong_device"


async def test_idle_expiry_after_30_days_unused(client, services, frozen, alice):
    frozen.advance(30 * DAY)
    r2 = rt(await refresh(client, alice.refresh))  # 30 days exactly: still alive
    frozen.advance(30 * DAY + 1)
    r = await refresh(client, r2)
    assert r.status_code == 401
    assert (await family_of(services, alice))["revoke_reason"] == "expired"
    assert await notifications(services, alice.user_id, "token_reuse") == []


async def test_absolute_expiry_after_90_days_however_active(client, services, frozen, alice):
    token = alice.refresh
    for _ in range(4):
        frozen.advance(22 * DAY)
        token = rt(await refresh(client, token))  # day 88: still fine
    frozen.advance(3 * DAY)  # day 91
    assert (await refresh(client, token)).status_code == 401
    assert (await family_of(services, alice))["revoke_reason"] == "expired"


async def test_a_retry_in_the_grace_window_past_90_days_gets_no_new_access_token(
        client, services, frozen, alice):
    """The grace replays a lost answer, not the sign-in: once its 90 days are over, the
    retry ends it like any other refresh (no fresh access token after the limit)."""
    token = alice.refresh
    for _ in range(4):
        frozen.advance(22 * DAY)
        token = rt(await refresh(client, token))  # day 88
    frozen.advance(2 * DAY - 2)
    rt(await refresh(client, token))  # its answer "lost", two seconds before the end
    frozen.advance(5)  # day 90 + 3 s: within the 60 s grace
    retry = await refresh(client, token)
    assert retry.status_code == 401, retry.text
    assert (await family_of(services, alice))["revoke_reason"] == "expired"
    assert await notifications(services, alice.user_id, "token_reuse") == []


async def test_no_access_token_outlives_the_90_days_of_its_sign_in(tmp_path: Path):
    # With 7-day access tokens, a refresh on day 89 would have minted one working until
    # day 96: six days of a sign-in that had ended.
    frozen = FrozenClock()
    settings = make_settings(tmp_path / "d", auth={"access_token_ttl": "7d"})
    async with running(settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        r = await client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        token = device_from(r.json(), "alice@example.com", "app-install-1").refresh
        for days in (22, 22, 22, 22, 1):
            frozen.advance(days * DAY)
            r = await refresh(client, token)
            token = rt(r)  # day 89: still fine
        auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
        assert (await client.get(f"{API}/devices", headers=auth)).status_code == 200
        frozen.advance(DAY + 30)  # day 90 + the leeway
        assert (await client.get(f"{API}/devices", headers=auth)).status_code == 200
        frozen.advance(1)
        r = await client.get(f"{API}/devices", headers=auth)
        assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_EXPIRED"


async def test_no_access_token_outlives_a_sign_in_left_idle(tmp_path: Path):
    # Access tokens longer-lived than refresh_idle_ttl: the sign-in ends unused after 30
    # days, and its last access token with it.
    frozen = FrozenClock()
    settings = make_settings(tmp_path / "d", auth={"access_token_ttl": "60d"})
    async with running(settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        r = await client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        alice = device_from(r.json(), "alice@example.com", "app-install-1")
        frozen.advance(DAY)
        token = rt(await refresh(client, alice.refresh))
        frozen.advance(40)
        r = await refresh(client, alice.refresh)  # a retry within the grace: the same token
        assert rt(r) == token
        auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
        frozen.advance(30 * DAY - 40 + 30)  # 30 days after `token` was issued, + the leeway
        assert (await client.get(f"{API}/devices", headers=auth)).status_code == 200
        frozen.advance(1)
        r = await client.get(f"{API}/devices", headers=auth)
        assert r.status_code == 401 and r.json()["error"]["code"] == "TOKEN_EXPIRED"
        assert (await refresh(client, token)).status_code == 401


async def test_concurrent_refreshes_with_one_token_cannot_fork_the_sign_in(services, alice):
    async with concurrent_client(services) as client:
        results = await asyncio.gather(*(refresh(client, alice.refresh) for _ in range(8)))
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    successors = {r.json()["tokens"]["refreshToken"] for r in results}
    assert len(successors) == 1
    family = await family_of(services, alice)
    rows = await services.db.fetchall(
        "SELECT token_hash, used_at FROM refresh_tokens WHERE family_id = ?", (family["id"],))
    live = [row for row in rows if row["used_at"] is None]
    assert len(rows) == 2 and len(live) == 1
    assert live[0]["token_hash"] == hash_refresh_token(successors.pop())
    assert family["revoked_at"] is None


async def test_unknown_and_malformed_refresh_tokens(client, services, alice):
    before = await db_state(services)
    assert (await refresh(client, "rt_mobile_" + "x" * 43)).status_code == 401
    assert (await refresh(client, "")).status_code == 401
    too_long = await refresh(client, "x" * 600)
    assert too_long.status_code == 400
    missing = await client.post(REFRESH, json={"refreshToken": alice.refresh})
    assert missing.status_code == 400
    wrong_type = await client.post(REFRESH, json={"refreshToken": 5, "deviceId": "a"})
    assert wrong_type.status_code == 400
    extra = await client.post(REFRESH, json={"refreshToken": alice.refresh,
                                             "deviceId": "app-install-1", "userId": "x"})
    assert extra.status_code == 400
    assert await db_state(services) == before


async def test_refresh_is_rate_limited(tmp_path: Path):
    FrozenClock()
    settings = make_settings(tmp_path / "d", auth={"refresh_per_minute": 3})
    async with running(settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        r = await client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD, "deviceInfo": device_info()})
        alice = device_from(r.json(), "alice@example.com", "app-install-1")
        for _ in range(3):  # the same token retried (a flaky network): fine up to the limit
            assert (await refresh(client, alice.refresh)).status_code == 200
        limited = await refresh(client, alice.refresh)
        assert limited.status_code == 429 and "retry-after" in limited.headers


async def test_refresh_is_limited_per_device_across_rotating_tokens(
        client, services, frozen, make_user, sign_in):
    """30 a minute per device (the default): each refresh presents a new token, so a limit
    per token would never bite."""
    assert services.settings.auth.refresh_per_minute == 30
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    token = phone.refresh
    for _ in range(30):
        token = rt(await refresh(client, token, "phone"))
        frozen.advance(1)

    before = await db_state(services)
    limited = await refresh(client, token, "phone")
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    # The first of the 30 leaves the window 60 s after it was made (30 s from now).
    assert limited.headers["retry-after"] == "30"
    assert await db_state(services) == before  # not spent, not rotated, nothing revoked

    assert rt(await refresh(client, tablet.refresh, "tablet"))  # another device: its own 30
    frozen.advance(30)
    fresh = await refresh(client, token, "phone")  # the refused token still works, once
    assert rt(fresh)
    listed = await client.get(f"{API}/devices", headers={
        "Authorization": f"Bearer {fresh.json()['tokens']['accessToken']}"})
    assert listed.status_code == 200


async def test_a_refresh_answered_503_spends_nothing(client, services, frozen, alice):
    """No usable signing key (server.key replaced): the 503 changes nothing, so the app's
    retry once the admin has run `homesync keys rotate` is not taken for theft."""
    async with services.db.transaction() as tx:  # as if made from another server.key
        await tx.execute("UPDATE signing_keys SET kid = 'a0a0a0a0a0a0' WHERE secret IS NULL")
    before = await db_state(services)
    r = await refresh(client, alice.refresh)
    assert r.status_code == 503 and r.json()["error"]["code"] == "UNAVAILABLE"
    assert await db_state(services) == before

    await services.signing_keys.rotate()
    frozen.advance(120)  # past the grace window: a spent token would now count as reuse
    fresh = await refresh(client, alice.refresh)
    assert rt(fresh)
    listed = await client.get(f"{API}/devices", headers={
        "Authorization": f"Bearer {fresh.json()['tokens']['accessToken']}"})
    assert listed.status_code == 200
    assert await notifications(services, alice.user_id, "token_reuse") == []


@pytest.mark.parametrize("end", ["logout", "device removed", "password changed"])
async def test_the_grace_window_does_not_outlive_the_sign_in(
        client, services, frozen, make_user, sign_in, end):
    """A retry within the grace gets the same token only while the sign-in is live."""
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    r = await refresh(client, phone.refresh, "phone")
    access = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
    if end == "logout":
        assert (await client.post(f"{API}/auth/logout", headers=access)).status_code == 200
    elif end == "device removed":
        r = await client.delete(f"{API}/devices/{phone.device_id}", headers=tablet.auth)
        assert r.status_code == 200
    else:
        await services.accounts.set_password("alice@example.com", "another password!")
    frozen.advance(5)
    retry = await refresh(client, phone.refresh, "phone")
    assert retry.status_code == 401 and retry.json()["error"]["code"] == "INVALID_REFRESH_TOKEN"
    assert (await client.get(f"{API}/devices", headers=access)).status_code == 401


async def test_another_users_refresh_token_answers_like_a_made_up_one(
        client, frozen, make_user, sign_in):
    await make_user()
    await make_user("bob@example.com", name="Bob")
    alice = await sign_in(client_id="phone")
    bob = await sign_in("bob@example.com", client_id="bobs-phone")
    stolen = await refresh(client, alice.refresh, "bobs-phone")
    made_up = await refresh(client, "rt_mobile_" + "x" * 43, "bobs-phone")
    assert stolen.status_code == made_up.status_code == 401
    assert stolen.content == made_up.content
    assert (await client.get(f"{API}/devices", headers=bob.auth)).status_code == 200
    assert (await client.get(f"{API}/devices", headers=alice.auth)).status_code == 401
