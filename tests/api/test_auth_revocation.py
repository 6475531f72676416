"""Revocation is immediate (A11): logout, device removal, password change, account removal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec

from homesync.services.auth.sessions import DeviceRegistration
from tests.auth_helpers import FrozenClock, concurrent_client, notifications
from tests.helpers import API, PASSWORD, Device, device_info

DEVICES = f"{API}/devices"


async def refresh_status(client: Any, device: Device) -> int:
    r = await client.post(f"{API}/auth/refresh",
                          json={"refreshToken": device.refresh, "deviceId": device.client_id})
    return int(r.status_code)


async def devices_status(client: Any, device: Device) -> int:
    """GET /devices as ``device``: its status, 401 once the device is signed out."""
    return int((await client.get(DEVICES, headers=device.auth)).status_code)


async def listed_ids(client: Any, device: Device) -> list[str]:
    r = await client.get(DEVICES, headers=device.auth)
    assert r.status_code == 200, r.text
    return [d["id"] for d in r.json()["data"]["devices"]]


async def test_logout_ends_the_sign_in_but_keeps_the_device(client, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")

    r = await client.post(f"{API}/auth/logout", headers=phone.auth)

    assert r.status_code == 200
    assert r.json() == {"success": True, "data": {"loggedOut": True, "deviceId": phone.device_id}}
    assert await devices_status(client, phone) == 401
    assert await refresh_status(client, phone) == 401
    assert (await client.post(f"{API}/auth/logout", headers=phone.auth)).status_code == 401
    assert phone.device_id in await listed_ids(client, tablet)
    # Signing in again on the phone is the same device.
    again = await sign_in(client_id="phone")
    assert again.device_id == phone.device_id


async def test_a_logout_that_waited_ends_only_its_own_sign_in(
        client, services, make_user, sign_in, monkeypatch):
    # The phone signs out, and its request waits for the database (held by a CLI command,
    # say) while the same install signs in again: that newer sign-in, and the push token
    # it brought, are not the old one's to end.
    await make_user()
    phone = await sign_in(client_id="phone")
    db, transaction, again = services.db, services.db.transaction, []

    @asynccontextmanager
    async def after_signing_in_again() -> AsyncIterator[Any]:
        if not again:
            again.append(None)  # the sign-in's own transactions go through
            again[0] = (await services.sessions.register(
                "alice@example.com", PASSWORD,
                DeviceRegistration(platform="android", model="Pixel 7", os_version="14",
                                   app_version="1.2.0", client_id="phone",
                                   push_token="ntfy://alice-phone"), "testclient"))
        async with transaction() as tx:
            yield tx

    monkeypatch.setattr(db, "transaction", after_signing_in_again)
    r = await client.post(f"{API}/auth/logout", headers=phone.auth)
    monkeypatch.undo()

    assert r.status_code == 200, r.text
    newer = again[0]
    assert newer.device["id"] == phone.device_id
    auth = {"Authorization": f"Bearer {newer.tokens.access_token}"}
    assert (await client.get(DEVICES, headers=auth)).status_code == 200
    r = await client.post(f"{API}/auth/refresh", json={
        "refreshToken": newer.tokens.refresh_token, "deviceId": "phone"})
    assert r.status_code == 200, r.text
    row = await services.db.fetchone("SELECT push_token FROM devices WHERE id = ?",
                                     (phone.device_id,))
    assert row is not None and row["push_token"] == "ntfy://alice-phone"


async def test_logout_needs_a_token(client):
    r = await client.post(f"{API}/auth/logout")
    assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHORIZED"


async def test_removing_a_device_signs_it_out_at_once(client, services, make_user, sign_in):
    user_id = await make_user()
    phone = await sign_in(client_id="phone", pushToken="fcm-phone")
    tablet = await sign_in(client_id="tablet")

    r = await client.delete(f"{DEVICES}/{phone.device_id}", headers=tablet.auth)

    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "data": {"deviceId": phone.device_id, "removed": True}}
    assert await devices_status(client, phone) == 401
    assert await refresh_status(client, phone) == 401
    assert await listed_ids(client, tablet) == [tablet.device_id]
    row = await services.db.fetchone("SELECT * FROM devices WHERE id = ?", (phone.device_id,))
    assert row["push_token"] is None and row["removed_at"] is not None
    [event] = await notifications(services, user_id, "device_removed")
    assert event["category"] == "security"
    assert event["except_device_id"] == phone.device_id
    assert msgspec.json.decode(event["data"]) == {"deviceId": phone.device_id}
    # Gone is gone: a second delete is 404, and the install signing in again is a new device.
    again = await client.delete(f"{DEVICES}/{phone.device_id}", headers=tablet.auth)
    assert again.status_code == 404
    back = await sign_in(client_id="phone")
    assert back.device_id != phone.device_id


async def test_a_device_may_remove_itself(client, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    r = await client.delete(f"{DEVICES}/{phone.device_id}", headers=phone.auth)
    assert r.status_code == 200
    assert await devices_status(client, phone) == 401


async def test_removal_hooks_run_in_the_same_transaction(client, services, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    seen: list[tuple[str, str]] = []

    async def failing_hook(tx: Any, user_id: str, device_id: str) -> None:
        seen.append((user_id, device_id))
        raise RuntimeError("push registry unavailable")

    services.devices.removal_hooks.append(failing_hook)
    r = await client.delete(f"{DEVICES}/{phone.device_id}", headers=tablet.auth)
    assert r.status_code == 500
    assert seen == [(phone.user_id, phone.device_id)]
    # Nothing happened: the phone is still signed in and listed.
    assert await devices_status(client, phone) == 200
    assert phone.device_id in await listed_ids(client, tablet)


async def test_a_password_change_signs_out_every_device(client, services, make_user, sign_in):
    user_id = await make_user()
    await make_user("bob@example.com", name="Bob")
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    bob = await sign_in("bob@example.com")

    await services.accounts.set_password("alice@example.com", "a brand new passphrase")

    for device in (phone, tablet):
        assert await devices_status(client, device) == 401
        assert await refresh_status(client, device) == 401
    assert await devices_status(client, bob) == 200
    assert len(await notifications(services, user_id, "password_changed")) == 1


async def test_removing_the_account_invalidates_its_tokens(client, services, make_user, sign_in):
    await make_user()
    phone = await sign_in()
    await services.accounts.remove_user("alice@example.com")
    assert await devices_status(client, phone) == 401
    assert await refresh_status(client, phone) == 401


async def test_the_administrator_can_revoke_a_device(client, services, make_user, sign_in):
    await make_user()
    phone = await sign_in(client_id="phone")
    tablet = await sign_in(client_id="tablet")
    await services.devices.admin_revoke(phone.device_id)
    assert await devices_status(client, phone) == 401
    assert await listed_ids(client, tablet) == [tablet.device_id]


async def _sign_in_racing(services: Any, monkeypatch: Any, meanwhile: Any) -> Any:
    """POST /auth/register for alice whose password check is held open until
    ``meanwhile()`` (an admin command) has run; its answer."""
    frozen = FrozenClock()
    verified, go_on = asyncio.Event(), asyncio.Event()
    real_verify = services.passwords.verify

    async def held_verify(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
        result = await real_verify(stored_hash, password)
        verified.set()
        await go_on.wait()
        return result

    monkeypatch.setattr(services.passwords, "verify", held_verify)
    async with concurrent_client(services) as client:
        answer = asyncio.ensure_future(client.post(f"{API}/auth/register", json={
            "email": "alice@example.com", "password": PASSWORD,
            "deviceInfo": device_info("phone")}))
        await asyncio.wait_for(verified.wait(), 10)  # fails, not hangs, if never reached
        frozen.advance(1)
        monkeypatch.setattr(services.passwords, "verify", real_verify)
        await meanwhile()
        go_on.set()
        return await answer


async def test_a_sign_in_checked_against_a_password_changed_meanwhile_is_refused(
        services, make_user, monkeypatch):
    """The old password was right when checked, but the change signed every device out
    before the sign-in finished: it must not start a session the change never ended."""
    user_id = await make_user()
    r = await _sign_in_racing(services, monkeypatch, lambda: services.accounts.set_password(
        "alice@example.com", "a brand new passphrase"))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "INVALID_CREDENTIALS"
    live = await services.db.fetchone(
        "SELECT count(*) FROM token_families WHERE user_id = ? AND revoked_at IS NULL",
        (user_id,))
    assert live[0] == 0
    assert await services.db.fetchone("SELECT 1 FROM devices WHERE user_id = ?",
                                      (user_id,)) is None


async def test_a_sign_in_to_an_account_removed_meanwhile_is_refused_not_a_500(
        services, make_user, monkeypatch):
    await make_user()
    r = await _sign_in_racing(services, monkeypatch,
                              lambda: services.accounts.remove_user("alice@example.com"))
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert await services.db.fetchone("SELECT 1 FROM devices") is None
