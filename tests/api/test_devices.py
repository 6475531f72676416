"""§Device management: listing, settings (partial, validated), BOLA, encodings."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from homesync.services.auth.devices import DEFAULT_SETTINGS
from tests.auth_helpers import FrozenClock
from tests.helpers import API, Device

DEVICES = f"{API}/devices"
DEVICE_KEYS = {"id", "name", "platform", "model", "osVersion", "appVersion", "registeredAt",
               "lastActiveAt", "lastSyncAt", "isCurrent", "pushEnabled", "settings"}


@pytest.fixture
async def phone(make_user, sign_in) -> Device:
    await make_user()
    return await sign_in(client_id="phone", pushToken="fcm-secret-push-token")


@pytest.fixture
async def tablet(phone, sign_in) -> Device:
    return await sign_in(client_id="tablet", platform="ios", model="iPad Air")


@pytest.fixture
async def bob(make_user, sign_in) -> Device:
    await make_user("bob@example.com", name="Bob Builder")
    return await sign_in("bob@example.com", client_id="bobs-phone")


async def device_row(services: Any, device_id: str) -> dict[str, Any]:
    """The stored device, less last_active_at (any authenticated request may touch it)."""
    row = await services.db.fetchone("SELECT * FROM devices WHERE id = ?", (device_id,))
    return {k: row[k] for k in row.keys() if k != "last_active_at"}


async def put_settings(client: Any, device: Device, target: str, body: Any) -> Any:
    return await client.put(f"{DEVICES}/{target}/settings", json=body, headers=device.auth)


async def test_list_shape_with_current_device_and_default_settings(client, phone, tablet, bob):
    r = await client.get(DEVICES, headers=tablet.auth)

    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True and set(body["data"]) == {"devices", "currentDevice"}
    assert body["data"]["currentDevice"] == tablet.device_id
    devices = body["data"]["devices"]
    assert [d["id"] for d in devices] == [phone.device_id, tablet.device_id]  # oldest first
    for d in devices:
        assert set(d) == DEVICE_KEYS
        assert d["settings"] == DEFAULT_SETTINGS
        assert d["registeredAt"].endswith("Z") and d["lastSyncAt"] is None
    first, second = devices
    assert (first["isCurrent"], second["isCurrent"]) == (False, True)
    assert first["name"] == "Alice's Pixel 7" and first["platform"] == "android"
    assert second["name"] == "Alice's iPad Air" and second["platform"] == "ios"
    assert first["pushEnabled"] is True and second["pushEnabled"] is False
    # Push tokens are never shown, and Bob's phone is not Alice's business.
    assert "fcm-secret-push-token" not in r.text
    assert bob.device_id not in r.text


async def test_settings_update_is_partial(client, services, phone, tablet):
    r = await put_settings(client, phone, phone.device_id, {"autoUpload": True})
    assert r.status_code == 200, r.text
    settings = r.json()["data"]["device"]["settings"]
    assert settings == {**DEFAULT_SETTINGS, "autoUpload": True}

    r = await put_settings(client, phone, phone.device_id,
                           {"syncFolders": ["/photos", "/photos/", "/Cafe\u0301"],
                            "uploadQuality": "high", "maxCacheSize": 0, "wifiOnly": False})
    assert r.status_code == 200, r.text
    settings = r.json()["data"]["device"]["settings"]
    assert settings == {**DEFAULT_SETTINGS, "autoUpload": True, "wifiOnly": False,
                        "uploadQuality": "high", "maxCacheSize": 0,
                        "syncFolders": ["/photos", "/Caf\u00e9"]}  # normalised, NFC, once

    listed = (await client.get(DEVICES, headers=phone.auth)).json()["data"]["devices"]
    assert listed[0]["settings"] == settings
    assert listed[1]["settings"] == DEFAULT_SETTINGS  # the tablet is untouched

    # One device may change another of the same user's devices; {} changes nothing.
    r = await put_settings(client, phone, tablet.device_id, {"backgroundSync": False})
    assert r.json()["data"]["device"]["settings"]["backgroundSync"] is False
    before = await device_row(services, phone.device_id)
    assert (await put_settings(client, phone, phone.device_id, {})).status_code == 200
    assert await device_row(services, phone.device_id) == before


BAD_SETTINGS = [
    ({"syncFolders": ["relative"]}, "INVALID_PATH"),
    ({"syncFolders": ["/a/../b"]}, "INVALID_PATH"),
    ({"syncFolders": ["/a//b"]}, "INVALID_PATH"),
    ({"syncFolders": ["/a/./b"]}, "INVALID_PATH"),
    ({"syncFolders": ["C:\\photos"]}, "INVALID_PATH"),
    ({"syncFolders": ["/a\\b"]}, "INVALID_PATH"),
    ({"syncFolders": ["/a\u0000b"]}, "INVALID_PATH"),
    ({"syncFolders": [""]}, "INVALID_PATH"),
    ({"syncFolders": ["/" + "x" * 256]}, "INVALID_PATH"),
    ({"syncFolders": [f"/f{i}" for i in range(101)]}, "VALIDATION_ERROR"),
    ({"syncFolders": "/photos"}, "VALIDATION_ERROR"),
    ({"syncFolders": ["/ok", 5]}, "VALIDATION_ERROR"),
    ({"syncFolders": None}, "VALIDATION_ERROR"),
    ({"maxCacheSize": -1}, "VALIDATION_ERROR"),
    ({"maxCacheSize": "10"}, "VALIDATION_ERROR"),
    ({"maxCacheSize": 1.5}, "VALIDATION_ERROR"),
    ({"maxCacheSize": 2**63}, "VALIDATION_ERROR"),
    ({"uploadQuality": "ultra"}, "VALIDATION_ERROR"),
    ({"uploadQuality": 1}, "VALIDATION_ERROR"),
    ({"autoUpload": "yes"}, "VALIDATION_ERROR"),
    ({"autoUpload": None}, "VALIDATION_ERROR"),
    ({"wifiOnly": 1}, "VALIDATION_ERROR"),
    ({"userId": "user_x"}, "VALIDATION_ERROR"),
    ({"deviceId": "device_x"}, "VALIDATION_ERROR"),
    ({"isAdmin": True}, "VALIDATION_ERROR"),
    ({"createdAt": "2024-01-01T00:00:00Z"}, "VALIDATION_ERROR"),
    ({"autoUpload": True, "maxCacheSize": -1}, "VALIDATION_ERROR"),  # all or nothing
    ({"autoUpload": True, "syncFolders": ["nope"]}, "INVALID_PATH"),
    ([], "VALIDATION_ERROR"),
    ("autoUpload", "VALIDATION_ERROR"),
]


@pytest.mark.parametrize("body, code", BAD_SETTINGS)
async def test_bad_settings_are_400_and_change_nothing(client, services, phone, body, code):
    before = await device_row(services, phone.device_id)
    r = await put_settings(client, phone, phone.device_id, body)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and r.json()["error"]["code"] == code
    assert await device_row(services, phone.device_id) == before


async def test_another_users_device_is_not_found_exactly_like_a_missing_one(
        client, services, phone, bob):
    before = await device_row(services, phone.device_id)
    missing = await put_settings(client, bob, "device_doesnotexist", {"autoUpload": True})
    foreign = await put_settings(client, bob, phone.device_id, {"autoUpload": True})
    assert missing.status_code == foreign.status_code == 404
    assert missing.content == foreign.content
    assert foreign.json()["error"]["code"] == "NOT_FOUND"

    missing = await client.delete(f"{DEVICES}/device_doesnotexist", headers=bob.auth)
    foreign = await client.delete(f"{DEVICES}/{phone.device_id}", headers=bob.auth)
    assert missing.status_code == foreign.status_code == 404
    assert missing.content == foreign.content

    assert await device_row(services, phone.device_id) == before
    assert (await client.get(DEVICES, headers=phone.auth)).status_code == 200


async def test_a_removed_device_is_not_found(client, phone, tablet):
    await client.delete(f"{DEVICES}/{tablet.device_id}", headers=phone.auth)
    r = await put_settings(client, phone, tablet.device_id, {"autoUpload": True})
    assert r.status_code == 404


async def test_devices_speak_messagepack(client, phone, tablet):
    as_json = (await client.get(DEVICES, headers=phone.auth)).json()
    r = await client.get(DEVICES, headers={**phone.auth, "Accept": "application/msgpack"})
    assert r.headers["content-type"].startswith("application/msgpack")
    assert msgspec.msgpack.decode(r.content) == as_json

    r = await client.put(
        f"{DEVICES}/{tablet.device_id}/settings",
        content=msgspec.msgpack.encode({"syncFolders": ["/photos"], "maxCacheSize": 1024}),
        headers={**phone.auth, "Content-Type": "application/msgpack",
                 "Accept": "application/msgpack"},
    )
    assert r.status_code == 200
    settings = msgspec.msgpack.decode(r.content)["data"]["device"]["settings"]
    assert settings["syncFolders"] == ["/photos"] and settings["maxCacheSize"] == 1024

    bad = await client.put(f"{DEVICES}/{tablet.device_id}/settings",
                           content=msgspec.msgpack.encode({"maxCacheSize": "big"}),
                           headers={**phone.auth, "Content-Type": "application/msgpack",
                                    "Accept": "application/msgpack"})
    assert bad.status_code == 400
    assert msgspec.msgpack.decode(bad.content)["error"]["code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("accept, expected", [("br", "br"), ("gzip", "gzip"),
                                              ("br, gzip", "br"), ("identity", None)])
async def test_large_answers_are_compressed_when_the_client_allows(
        client, phone, sign_in, accept, expected):
    for n in range(6):
        await sign_in(client_id=f"extra-{n}", model=f"Test Device {n}")
    r = await client.get(DEVICES, headers={**phone.auth, "Accept-Encoding": accept})
    assert r.status_code == 200
    assert r.headers.get("content-encoding") == expected
    assert len(r.json()["data"]["devices"]) == 7
    if expected:
        assert int(r.headers["content-length"]) < len(r.content)


async def test_small_answers_are_not_compressed(client, phone):
    r = await client.get(DEVICES, headers={**phone.auth, "Accept-Encoding": "br, gzip"})
    assert len(r.content) < 1024 and "content-encoding" not in r.headers


async def test_last_active_follows_a_clock_set_back(client, make_user, sign_in):
    # Requests while the server's clock ran a day ahead, then NTP set it right: the
    # device's lastActiveAt must not stay a day ahead (and stale) for that day.
    frozen = FrozenClock()
    await make_user()
    phone = await sign_in(client_id="phone")

    async def active_at(token: str) -> str:
        r = await client.get(DEVICES, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        return str(r.json()["data"]["devices"][0]["lastActiveAt"])

    async def refreshed() -> str:
        r = await client.post(f"{API}/auth/refresh",
                              json={"refreshToken": phone.refresh, "deviceId": "phone"})
        assert r.status_code == 200, r.text
        phone.refresh = r.json()["tokens"]["refreshToken"]
        return str(r.json()["tokens"]["accessToken"])

    frozen.advance(86400)
    ahead = await active_at(await refreshed())
    frozen.advance(-86400 + 120)
    now = await active_at(await refreshed())
    assert now < ahead
