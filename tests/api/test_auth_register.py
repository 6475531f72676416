"""POST /auth/register: shapes, new vs known install, notifications, open sign-up."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest

from homesync import clock
from tests.auth_helpers import (
    FrozenClock,
    concurrent_client,
    db_state,
    notifications,
    row_counts,
    running,
)
from tests.helpers import API, PASSWORD, device_from, device_info, make_settings

REGISTER = f"{API}/auth/register"


def body(email: str = "alice@example.com", password: str = PASSWORD,
         client_id: str = "app-install-1", **info: object) -> dict[str, object]:
    return {"email": email, "password": password, "deviceInfo": device_info(client_id, **info)}


async def test_new_device_gets_201_and_the_contract_shape(client, services, make_user):
    frozen = FrozenClock(1_705_764_600)  # 2024-01-20T15:30:00Z
    user_id = await make_user()

    r = await client.post(REGISTER, json=body(pushToken="fcm-token-1"))

    assert r.status_code == 201, r.text
    data = r.json()
    assert list(data) == ["success", "user", "tokens", "device", "syncData"]
    assert data["success"] is True
    assert data["user"] == {"id": user_id, "email": "alice@example.com", "name": "Alice Liddell"}
    assert set(data["tokens"]) == {"accessToken", "refreshToken", "expiresIn"}
    assert data["tokens"]["expiresIn"] == "15m"  # auth.access_token_ttl's default
    assert data["tokens"]["refreshToken"].startswith("rt_mobile_")
    assert data["tokens"]["accessToken"].count(".") == 2
    device = data["device"]
    assert set(device) == {"id", "name", "registeredAt"}
    assert device["id"].startswith("device_")
    assert device["name"] == "Alice's Pixel 7"
    assert device["registeredAt"] == "2024-01-20T15:30:00Z" == clock.rfc3339(int(frozen.now * 1000))
    assert data["syncData"] == {"lastSyncAt": None, "pendingUploads": 0, "cacheSize": 0}

    stored = await services.db.fetchone("SELECT * FROM devices WHERE id = ?", (device["id"],))
    assert stored["client_id"] == "app-install-1" and stored["push_token"] == "fcm-token-1"
    assert stored["platform"] == "android" and stored["os_version"] == "14"


async def test_answers_with_tokens_may_not_be_stored_by_any_cache(client, make_user):
    # RFC 6749 §5.1: a proxy's or the app's HTTP cache must not keep the tokens.
    await make_user()
    for _ in range(2):  # a new device (201), then the same install again (200)
        r = await client.post(REGISTER, json=body())
        assert r.status_code in (200, 201), r.text
        assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    r = await client.post(f"{API}/auth/refresh", json={
        "refreshToken": r.json()["tokens"]["refreshToken"], "deviceId": "app-install-1"})
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store" and r.headers["pragma"] == "no-cache"
    r = await client.post(REGISTER, json=body(), headers={"Accept": "application/msgpack"})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"


async def test_expires_in_follows_the_configured_ttl(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"access_token_ttl": "2h"})
    async with running(settings) as (services, client):
        await services.accounts.create_user("alice@example.com", PASSWORD)
        r = await client.post(REGISTER, json=body())
        assert r.json()["tokens"]["expiresIn"] == "2h"


async def test_same_install_again_is_200_same_device_and_ends_the_previous_sign_in(
        client, services, make_user):
    await make_user()
    first = await client.post(REGISTER, json=body())
    old = device_from(first.json(), "alice@example.com", "app-install-1")

    again = await client.post(REGISTER, json=body(model="Pixel 8", appVersion="1.3.0"))

    assert again.status_code == 200, again.text
    new = device_from(again.json(), "alice@example.com", "app-install-1")
    assert new.device_id == old.device_id
    assert again.json()["device"]["registeredAt"] == first.json()["device"]["registeredAt"]
    # The previous sign-in of this install is over; the new one works.
    assert (await client.get(f"{API}/devices", headers=old.auth)).status_code == 401
    r = await client.post(f"{API}/auth/refresh",
                          json={"refreshToken": old.refresh, "deviceId": "app-install-1"})
    assert r.status_code == 401
    listed = await client.get(f"{API}/devices", headers=new.auth)
    assert listed.status_code == 200
    devices = listed.json()["data"]["devices"]
    assert len(devices) == 1
    assert devices[0]["model"] == "Pixel 8" and devices[0]["appVersion"] == "1.3.0"
    # One "new device" notification: the first registration, not the second.
    assert len(await notifications(services, old.user_id, "new_device")) == 1


async def test_same_install_on_another_model_is_named_after_it(client, make_user):
    """The contract names a device "<first name>'s <model>"; registering again updates the
    device, so a restored install on a new phone is not listed under the old model."""
    await make_user()
    await client.post(REGISTER, json=body())
    again = await client.post(REGISTER, json=body(model="Pixel 8"))
    assert again.status_code == 200, again.text
    assert again.json()["device"]["name"] == "Alice's Pixel 8"
    auth = {"Authorization": f"Bearer {again.json()['tokens']['accessToken']}"}
    [listed] = (await client.get(f"{API}/devices", headers=auth)).json()["data"]["devices"]
    assert (listed["name"], listed["model"]) == ("Alice's Pixel 8", "Pixel 8")


async def test_new_device_makes_a_security_notification_for_the_other_devices(
        client, services, make_user):
    user_id = await make_user()
    phone = await client.post(REGISTER, json=body(client_id="phone"))
    tablet = await client.post(REGISTER, json=body(client_id="tablet", model="Galaxy Tab"))
    assert phone.status_code == tablet.status_code == 201

    rows = await notifications(services, user_id, "new_device")
    assert len(rows) == 2
    latest = rows[-1]
    assert latest["category"] == "security"
    assert latest["title"] == "New device login detected"
    assert latest["except_device_id"] == tablet.json()["device"]["id"]
    assert msgspec.json.decode(latest["data"]) == {"deviceId": tablet.json()["device"]["id"]}
    assert "Galaxy Tab" in latest["body"]


async def test_two_users_may_use_the_same_install_id(client, make_user):
    await make_user()
    await make_user("bob@example.com", name="Bob")
    a = await client.post(REGISTER, json=body())
    b = await client.post(REGISTER, json=body(email="bob@example.com"))
    assert a.status_code == b.status_code == 201
    assert a.json()["device"]["id"] != b.json()["device"]["id"]
    assert b.json()["device"]["name"] == "Bob's Pixel 7"


async def test_unknown_email_is_indistinguishable_from_a_wrong_password(
        client, services, make_user):
    await make_user()
    before = await row_counts(services)

    wrong = await client.post(REGISTER, json=body(password="not the password"))
    unknown = await client.post(REGISTER, json=body(email="nobody@example.com"))
    malformed = await client.post(REGISTER, json=body(email="not-an-email"))

    assert wrong.status_code == unknown.status_code == malformed.status_code == 401
    assert wrong.content == unknown.content == malformed.content
    assert wrong.json()["error"]["code"] == "INVALID_CREDENTIALS"
    assert wrong.headers.get("content-type") == unknown.headers.get("content-type")
    after = await row_counts(services)
    assert after["devices"] == before["devices"] and after["users"] == before["users"]


async def test_email_is_matched_without_regard_to_case(client, make_user):
    await make_user()
    r = await client.post(REGISTER, json=body(email="  Alice@EXAMPLE.com "))
    assert r.status_code == 201, r.text


async def test_an_email_with_non_ascii_capitals_signs_in_as_spelt(client, services):
    """The email column folds only A-Z; "Ärger@…" is found as spelt (any ASCII case),
    while "ärger@…" may be another account."""
    await services.accounts.create_user("Ärger@Example.com", PASSWORD, name="Ärger")
    for email in ("Ärger@example.com", "ÄRGER@EXAMPLE.COM"):
        r = await client.post(REGISTER, json=body(email=email))
        assert r.status_code in (200, 201), (email, r.text)
    r = await client.post(REGISTER, json=body(email="ärger@example.com"))
    assert r.status_code == 401 and r.json()["error"]["code"] == "INVALID_CREDENTIALS"


async def test_open_sign_up_is_off_by_default(client, services):
    assert services.settings.auth.open_signup is False
    r = await client.post(REGISTER, json=body(email="new@example.com"))
    assert r.status_code == 401
    assert (await row_counts(services))["users"] == 0


async def test_open_sign_up_creates_the_account(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        r = await client.post(REGISTER, json=body(email="carol@example.com"))
        assert r.status_code == 201, r.text
        assert r.json()["user"]["email"] == "carol@example.com"
        assert r.json()["device"]["name"] == "carol's Pixel 7"
        user = await services.accounts.get("carol@example.com")
        assert user.is_admin is False
        # Signing in again with the wrong password does not "sign up" anew.
        wrong = await client.post(REGISTER, json=body(email="carol@example.com", password="x" * 9))
        assert wrong.status_code == 401
        assert (await row_counts(services))["users"] == 1


async def test_open_sign_up_refuses_weak_passwords_and_bad_emails(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        short = await client.post(REGISTER, json=body(email="dan@example.com", password="short"))
        assert short.status_code == 400 and short.json()["error"]["code"] == "VALIDATION_ERROR"
        bad = await client.post(REGISTER, json=body(email="no at sign"))
        assert bad.status_code == 400
        assert (await row_counts(services))["users"] == 0


async def test_open_sign_up_is_limited_per_address(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True,
                                                   "signups_per_ip_per_hour": 2})
    async with running(settings) as (services, client):
        for n in range(2):
            r = await client.post(REGISTER, json=body(email=f"u{n}@example.com"))
            assert r.status_code == 201
        r = await client.post(REGISTER, json=body(email="u9@example.com"))
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        # Existing accounts still sign in from that address.
        assert (await client.post(REGISTER, json=body(email="u0@example.com"))).status_code == 200
        assert (await row_counts(services))["users"] == 2


async def test_open_sign_ups_sent_at_once_keep_to_the_limit(tmp_path: Path):
    # Checked before the slow password hash and counted after it, eight sent at once all
    # passed a limit of two.
    settings = make_settings(tmp_path / "d", auth={"open_signup": True,
                                                   "signups_per_ip_per_hour": 2})
    async with running(settings) as (services, _), concurrent_client(services) as client:
        results = await asyncio.gather(*(
            client.post(REGISTER, json=body(email=f"u{n}@example.com")) for n in range(8)))
        assert sorted(r.status_code for r in results) == [201, 201] + [429] * 6
        assert (await row_counts(services))["users"] == 2


async def test_a_refused_open_sign_up_does_not_use_up_the_limit(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True,
                                                   "signups_per_ip_per_hour": 1})
    async with running(settings) as (services, client):
        r = await client.post(REGISTER, json=body(email="u0@example.com", password="short"))
        assert r.status_code == 400
        assert (await client.post(REGISTER, json=body(email="u1@example.com"))).status_code == 201


async def test_extra_fields_such_as_role_are_refused_and_nothing_is_created(tmp_path: Path):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        before = await db_state(services)
        for extra in ({"role": "admin"}, {"isAdmin": True}, {"name": "Mallory"}):
            r = await client.post(REGISTER, json={**body(email="eve@example.com"), **extra})
            assert r.status_code == 400, r.text
            assert r.json()["error"]["code"] == "VALIDATION_ERROR"
            assert next(iter(extra)) in r.json()["error"]["message"]
        nested = body(email="eve@example.com", userId="user_x")
        assert (await client.post(REGISTER, json=nested)).status_code == 400
        assert await db_state(services) == before


async def test_device_info_is_validated(client, services, make_user):
    await make_user()
    before = await db_state(services)
    cases = [
        body(platform="symbian"),
        body(model=""),
        body(client_id=""),
        body(model="x" * 201),
        body(pushToken=12),
        {"email": "alice@example.com", "password": PASSWORD},
        {**body(), "deviceInfo": "android"},
    ]
    for case in cases:
        r = await client.post(REGISTER, json=case)
        assert r.status_code == 400, (case, r.text)
        assert r.json()["success"] is False
    assert await db_state(services) == before


# What the app says about itself is shown to people: the device's name in GET /devices,
# the "New device login detected" alert on the user's other phones, the admin's terminal
# (`homesync device list`, where an escape sequence would be run, not shown).
CONTROL_CHARACTERS = [
    ("model", {"model": "Pixel\x1b[2J 7"}),
    ("model", {"model": "Pixel 7\nAlice's laptop signed out"}),
    ("osVersion", {"osVersion": "14\x00"}),
    ("appVersion", {"appVersion": "1.2\x9b31m"}),  # C1 CSI: an escape on some terminals
    ("deviceId", {"client_id": "install\x07"}),
]


@pytest.mark.parametrize("field, info", CONTROL_CHARACTERS)
async def test_control_characters_in_device_info_are_refused(tmp_path: Path, field, info):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        known = await client.post(REGISTER, json=body(email="carol@example.com"))
        assert known.status_code == 201, known.text
        before = await db_state(services)
        # A new device, the known install signing in again, and an unknown email (which
        # open sign-up would make an account of): refused alike, and nothing is stored.
        for email, client_id in (("carol@example.com", "new-install"),
                                 ("carol@example.com", "app-install-1"),
                                 ("dave@example.com", "app-install-1")):
            r = await client.post(REGISTER, json=body(email=email, **{"client_id": client_id,
                                                                      **info}))
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert error["details"] == {"field": f"deviceInfo.{field}"}
            assert await db_state(services) == before
        # Spaces, accents and emoji are not control characters.
        fine = await client.post(REGISTER, json=body(email="carol@example.com",
                                                     model="Café Phone ✨ 7 Pro"))
        assert fine.status_code == 200, fine.text
        assert fine.json()["device"]["name"] == "carol's Café Phone ✨ 7 Pro"


async def test_register_speaks_messagepack(client, make_user):
    await make_user()
    r = await client.post(
        REGISTER, content=msgspec.msgpack.encode(body()),
        headers={"Content-Type": "application/msgpack", "Accept": "application/msgpack"},
    )
    assert r.status_code == 201
    assert r.headers["content-type"].startswith("application/msgpack")
    data = msgspec.msgpack.decode(r.content)
    assert data["success"] is True
    assert data["device"]["name"] == "Alice's Pixel 7"
    assert data["syncData"] == {"lastSyncAt": None, "pendingUploads": 0, "cacheSize": 0}
    # The same install again over JSON: the same device, and the same shape.
    again = await client.post(REGISTER, json=body())
    assert again.status_code == 200
    assert again.json()["device"]["id"] == data["device"]["id"]
    assert list(again.json()) == list(data)


# Empty (the schema's min_length), spaces, a no-break space, an ideographic space, a tab.
@pytest.mark.parametrize("model", ["", "   ", "\u00a0 ", "\u3000", " \t "])
async def test_a_blank_model_is_refused(tmp_path: Path, model: str):
    settings = make_settings(tmp_path / "d", auth={"open_signup": True})
    async with running(settings) as (services, client):
        known = await client.post(REGISTER, json=body(email="carol@example.com"))
        assert known.status_code == 201, known.text
        before = await db_state(services)
        # The model names the device ("carol's Pixel 7"): a blank one would leave "carol's".
        for email, client_id in (("carol@example.com", "new-install"),
                                 ("carol@example.com", "app-install-1"),
                                 ("dave@example.com", "app-install-1")):
            r = await client.post(REGISTER, json=body(email=email, client_id=client_id,
                                                      model=model))
            assert r.status_code == 400, r.text
            error = r.json()["error"]
            assert error["code"] == "VALIDATION_ERROR"
            assert error["details"] == {"field": "deviceInfo.model"}
            assert await db_state(services) == before
