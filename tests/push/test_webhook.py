"""The signed webhook relay against a real local receiver."""

from __future__ import annotations

import hashlib
import hmac

import httpx

from homesync import clock
from homesync.push.webhook import WebhookProvider
from tests.push.conftest import assert_clean, message, target
from tests.push.receivers import Receiver, Reply

SECRET = "whsec-very-secret"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does: recompute the HMAC over the raw body, compare in constant time."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


async def test_signed_json(http: httpx.AsyncClient, receiver: Receiver) -> None:
    clock.set_now(lambda: 1_700_000_123.5)
    hook = WebhookProvider(http, url=f"{receiver.url}/hooks/push", secret=SECRET)
    tgt = target("fcm-registration-token", platform="android", device_id="dev_9")
    assert hook.handles(tgt)

    result = await hook.send(message(category="security", priority="high"), tgt)

    assert result.outcome == "delivered"
    assert_clean(result, SECRET, tgt.token)
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", "/hooks/push")
    assert req.headers["content-type"] == "application/json"
    assert verify(SECRET, req.body, req.headers["x-homesync-signature"])
    assert not verify("wrong-secret", req.body, req.headers["x-homesync-signature"])
    assert req.headers["x-homesync-timestamp"] == "1700000123"
    assert req.json() == {
        "notificationId": "ntf_abc",
        "category": "security",
        "title": "Upload complete",
        "body": "IMG_0001.jpg is backed up",
        "data": {"fileId": "file_123"},
        "priority": "high",
        "target": {"platform": "android", "token": "fcm-registration-token", "deviceId": "dev_9"},
        "sentAt": 1700000123,
    }


async def test_tampered_body_fails_verification(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    await WebhookProvider(http, url=receiver.url, secret=SECRET).send(message(), target("t"))
    (req,) = receiver.requests
    tampered = req.body.replace(b"uploads", b"securit")
    assert not verify(SECRET, tampered, req.headers["x-homesync-signature"])


async def test_statuses(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(
        Reply(204),
        Reply(410),
        Reply(429, {"Retry-After": "5"}),
        Reply(502),
        Reply(400),
        Reply(404),
        Reply(302, {"Location": receiver.url + "/elsewhere"}),
    )
    hook = WebhookProvider(http, url=receiver.url, secret=SECRET)
    results = [await hook.send(message(), target("t")) for _ in range(7)]
    assert [(r.outcome, r.retry_after) for r in results] == [
        ("delivered", None),
        ("drop_endpoint", None),
        ("retry", 5.0),
        ("retry", None),
        ("failed", None),
        ("failed", None),
        ("failed", None),
    ]
    assert len(receiver.requests) == 7  # the redirect was not followed


async def test_endpoint_urls_are_not_relayed(http: httpx.AsyncClient) -> None:
    hook = WebhookProvider(http, url="http://127.0.0.1:9/", secret=SECRET)
    assert not hook.handles(target("https://ntfy.sh/upX"))
    assert hook.handles(target("ntfy://topic", platform="web"))


async def test_timeout_is_retry(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(hang=True))
    hook = WebhookProvider(http, url=receiver.url, secret=SECRET, timeout=0.2)
    result = await hook.send(message(), target("t"))
    assert (result.outcome, result.detail) == ("retry", "timeout")
