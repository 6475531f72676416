"""The outbox through each provider, configured the way a self-hoster does it, against
local stand-ins: an ntfy server, a webhook receiver, FCM (with its OAuth endpoint) and
APNs over cleartext HTTP/2."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from homesync.services.container import Services
from tests.helpers import make_settings
from tests.notifications.conftest import PUSH_SETTINGS, Clock, alert, delivery_rows, device
from tests.push.receivers import Receiver, Reply, Request

FCM_TOKEN = "dXk2:APA91bH_test-registration-token"
APNS_TOKEN = "a1b2c3d4" * 8


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@contextlib.asynccontextmanager
async def running(tmp_path: Path, **notifications: Any) -> AsyncIterator[Services]:
    settings = make_settings(tmp_path / "data", notifications={**PUSH_SETTINGS, **notifications})
    services = await Services.open(settings)
    try:
        yield services
    finally:
        await services.close()


async def test_ntfy_topic_on_the_servers_ntfy(
    tmp_path: Path, receiver: Receiver, frozen: Clock,
) -> None:
    async with running(tmp_path, ntfy_server=receiver.url, ntfy_token="tk_secret") as svc:
        phone = await device(svc, "alice@example.com", "phone")
        registered = await svc.notifications.register(
            phone, device_id="phone", push_token="ntfy://alice-phone", platform="android")
        assert registered.push.transport == "ntfy"
        await svc.outbox.drain()
        await alert(svc, phone.user_id)
        await svc.outbox.drain()
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", "/alice-phone")
    assert req.headers["title"] == "Password changed"
    assert (req.headers["priority"], req.headers["tags"]) == ("5", "security")
    assert req.headers["authorization"] == "Bearer tk_secret"
    assert req.body == b"Every device was signed out."


async def test_webhook_relay_for_desktop_tokens(
    tmp_path: Path, receiver: Receiver, frozen: Clock,
) -> None:
    async with running(tmp_path, webhook_url=f"{receiver.url}/hook",
                       webhook_secret="s3cret") as svc:
        laptop = await device(svc, "alice@example.com", "laptop", platform="desktop",
                              push_token="desktop-relay-token-1")
        await svc.outbox.drain()
        notification_id = await alert(svc, laptop.user_id)
        await svc.outbox.drain()
    (req,) = receiver.requests
    expected = hmac.new(b"s3cret", req.body, hashlib.sha256).hexdigest()
    assert req.headers["x-homesync-signature"] == f"sha256={expected}"
    body = req.json()
    assert body["notificationId"] == notification_id
    assert body["target"] == {"platform": "desktop", "token": "desktop-relay-token-1",
                              "deviceId": laptop.device_id}


async def test_fcm_v1_with_a_service_account_and_pruning_unregistered(
    tmp_path: Path, receiver: Receiver, rsa_key: rsa.RSAPrivateKey, frozen: Clock,
) -> None:
    account = tmp_path / "service-account.json"
    account.write_bytes(msgspec.json.encode({
        "type": "service_account", "client_email": "push@test.iam.gserviceaccount.com",
        "private_key": pem(rsa_key), "private_key_id": "key-1"}))
    gone = {"error": {"code": 404, "status": "NOT_FOUND", "message": "Requested entity was not found.",
                      "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                   "errorCode": "UNREGISTERED"}]}}
    sends: list[Request] = []

    def google(request: Request) -> Reply:
        if request.path == "/token":
            form = dict(urllib.parse.parse_qsl(request.body.decode()))
            jwt.decode(form["assertion"], rsa_key.public_key(), algorithms=["RS256"],
                       audience=f"{receiver.url}/token",
                       options={"verify_exp": False})  # signed at the frozen 2024 clock
            return Reply.json(200, {"access_token": "ya29.test", "expires_in": 3600})
        assert request.path == "/v1/projects/homesync-test/messages:send"
        assert request.headers["authorization"] == "Bearer ya29.test"
        sends.append(request)
        return Reply.json(200, {"name": "projects/homesync-test/messages/1"}) if len(sends) == 1 \
            else Reply.json(404, gone)

    receiver.handler = google
    async with running(tmp_path, fcm_project_id="homesync-test",
                       fcm_service_account_file=str(account), fcm_base_url=receiver.url,
                       fcm_token_url=f"{receiver.url}/token") as svc:
        phone = await device(svc, "alice@example.com", "phone", push_token=FCM_TOKEN)
        assert (await svc.notifications.preferences(phone)).push.transport == "fcm"
        await svc.outbox.drain()
        first = await alert(svc, phone.user_id)
        await svc.outbox.drain()
        await alert(svc, phone.user_id)
        await svc.outbox.drain()
        rows = await delivery_rows(svc)
        assert [(r["status"], r["last_error"]) for r in rows] == [
            ("delivered", None), ("dropped", "HTTP 404 UNREGISTERED")]
        assert (await svc.notifications.preferences(phone)).push.registered is False
    message = sends[0].json()["message"]
    assert message["token"] == FCM_TOKEN
    assert message["notification"] == {"title": "Password changed",
                                       "body": "Every device was signed out."}
    assert message["data"]["notificationId"] == first
    assert message["android"]["priority"] == "HIGH"


async def test_apns_over_http2_with_an_es256_token_and_pruning_on_410(
    tmp_path: Path, receiver: Receiver, ec_key: ec.EllipticCurvePrivateKey, frozen: Clock,
) -> None:
    key_file = tmp_path / "AuthKey_ABC123.p8"
    key_file.write_text(pem(ec_key))
    receiver.script(Reply(200), Reply.json(410, {"reason": "Unregistered"}))
    async with running(tmp_path, apns_key_file=str(key_file), apns_key_id="ABC123",
                       apns_team_id="TEAM123456", apns_topic="example.homesync",
                       apns_base_url=receiver.url) as svc:
        phone = await device(svc, "alice@example.com", "iphone", platform="ios",
                             push_token=APNS_TOKEN)
        assert (await svc.notifications.preferences(phone)).push.transport == "apns"
        await svc.outbox.drain()
        await alert(svc, phone.user_id)
        await svc.outbox.drain()
        await alert(svc, phone.user_id)
        await svc.outbox.drain()
        assert [r["status"] for r in await delivery_rows(svc)] == ["delivered", "dropped"]
        assert (await svc.notifications.preferences(phone)).push.registered is False
    first = receiver.requests[0]
    assert first.http_version == "2"
    assert (first.method, first.path) == ("POST", f"/3/device/{APNS_TOKEN}")
    assert first.headers["apns-topic"] == "example.homesync"
    assert first.headers["apns-priority"] == "10"
    token = first.headers["authorization"].removeprefix("bearer ")
    assert jwt.get_unverified_header(token)["kid"] == "ABC123"
    assert jwt.decode(token, ec_key.public_key(), algorithms=["ES256"])["iss"] == "TEAM123456"
    assert first.json()["aps"]["alert"] == {"title": "Password changed",
                                            "body": "Every device was signed out."}


async def test_half_configured_providers_stop_start_up(tmp_path: Path) -> None:
    from homesync.config import ConfigError

    with pytest.raises(ConfigError, match="apns_key_id"):
        async with running(tmp_path, apns_key_file=str(tmp_path / "missing.p8")):
            pass
    with pytest.raises(ConfigError, match="cannot read"):
        async with running(tmp_path, fcm_project_id="p",
                           fcm_service_account_file=str(tmp_path / "missing.json")):
            pass
