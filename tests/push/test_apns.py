"""APNs over real HTTP/2 (cleartext, prior knowledge) with a real EC P-256 key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from homesync import clock
from homesync.config import ConfigError
from homesync.logs import configure_logging
from homesync.push.apns import ApnsProvider, load_apns_key
from tests.push.conftest import assert_clean, message, pem, target, write
from tests.push.receivers import Receiver, Reply

TOKEN = "a1" * 32
TEAM, KEY_ID, TOPIC = "TEAM123456", "KEY7654321", "org.homesync.app"
T0 = 1_700_000_000.0
MakeApns = Callable[..., ApnsProvider]


@pytest.fixture
def key_file(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> str:
    return write(tmp_path / f"AuthKey_{KEY_ID}.p8", pem(ec_key))


@pytest.fixture
def make_apns(h2c: httpx.AsyncClient, receiver: Receiver, key_file: str) -> MakeApns:
    def make(**kw: object) -> ApnsProvider:
        return ApnsProvider(
            h2c,
            key=load_apns_key(key_file),
            key_id=KEY_ID,
            team_id=TEAM,
            topic=TOPIC,
            base_url=receiver.url,
            **kw,  # type: ignore[arg-type]
        )

    clock.set_now(lambda: T0)
    return make


def bearer_claims(auth: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, object]:
    scheme, _, token = auth.partition(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": KEY_ID, "typ": "JWT"}
    return jwt.decode(token, public_key, algorithms=["ES256"], options={"verify_iat": False})


async def test_sends_alert_over_http2(
    make_apns: MakeApns, receiver: Receiver, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    apns = make_apns()
    tgt = target(TOKEN, platform="ios")
    assert apns.handles(tgt)

    result = await apns.send(message(priority="high", collapse_key="digest"), tgt)

    assert result.outcome == "delivered"
    assert_clean(result, TOKEN)
    (req,) = receiver.requests
    assert req.http_version == "2"
    assert (req.method, req.path) == ("POST", f"/3/device/{TOKEN}")
    assert bearer_claims(req.headers["authorization"], ec_key.public_key()) == {
        "iss": TEAM,
        "iat": int(T0),
    }
    assert req.headers["apns-topic"] == TOPIC
    assert req.headers["apns-push-type"] == "alert"
    assert req.headers["apns-priority"] == "10"
    assert req.headers["apns-collapse-id"] == "digest"
    assert req.json() == {
        "aps": {
            "alert": {"title": "Upload complete", "body": "IMG_0001.jpg is backed up"},
            "sound": "default",
        },
        "fileId": "file_123",
        "notificationId": "ntf_abc",
        "category": "uploads",
    }


async def test_normal_priority_and_no_collapse_id(make_apns: MakeApns, receiver: Receiver) -> None:
    await make_apns().send(message(priority="normal", collapse_key="x" * 100), target(TOKEN, "ios"))
    await make_apns().send(message(), target(TOKEN, "ios"))
    first, second = receiver.requests
    assert first.headers["apns-priority"] == "5"
    assert len(first.headers["apns-collapse-id"]) == 64  # long keys hashed to APNs' limit
    assert "apns-collapse-id" not in second.headers


async def test_provider_token_reused_then_renewed_after_50_minutes(
    make_apns: MakeApns, receiver: Receiver, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    apns = make_apns()
    now = T0
    clock.set_now(lambda: now)
    await asyncio.gather(*(apns.send(message(), target(TOKEN, "ios")) for _ in range(3)))
    now = T0 + 49 * 60
    await apns.send(message(), target(TOKEN, "ios"))
    now = T0 + 50 * 60
    await apns.send(message(), target(TOKEN, "ios"))
    auths = [r.headers["authorization"] for r in receiver.requests]
    assert len(set(auths[:4])) == 1
    assert auths[4] != auths[0]
    assert bearer_claims(auths[4], ec_key.public_key())["iat"] == int(T0) + 3000


async def test_concurrent_sends_share_one_connection(
    make_apns: MakeApns, receiver: Receiver
) -> None:
    apns = make_apns()
    results = await asyncio.gather(*(apns.send(message(), target(TOKEN, "ios")) for _ in range(8)))
    assert {r.outcome for r in results} == {"delivered"}
    assert len(receiver.requests) == 8


@pytest.mark.parametrize(
    ("reply", "outcome", "detail"),
    [
        (
            Reply.json(410, {"reason": "Unregistered", "timestamp": 1700000000000}),
            "drop_endpoint",
            "HTTP 410 Unregistered",
        ),
        (Reply.json(400, {"reason": "BadDeviceToken"}), "drop_endpoint", "HTTP 400 BadDeviceToken"),
        (
            Reply.json(400, {"reason": "DeviceTokenNotForTopic"}),
            "drop_endpoint",
            "HTTP 400 DeviceTokenNotForTopic",
        ),
        (Reply.json(400, {"reason": "BadTopic"}), "failed", "HTTP 400 BadTopic"),
        (
            Reply.json(403, {"reason": "InvalidProviderToken"}),
            "failed",
            "HTTP 403 InvalidProviderToken",
        ),
        (Reply.json(413, {"reason": "PayloadTooLarge"}), "failed", "HTTP 413 PayloadTooLarge"),
        (Reply.json(429, {"reason": "TooManyRequests"}), "retry", "HTTP 429 TooManyRequests"),
        (
            Reply.json(500, {"reason": "InternalServerError"}),
            "retry",
            "HTTP 500 InternalServerError",
        ),
        (Reply.json(503, {"reason": "ServiceUnavailable"}), "retry", "HTTP 503 ServiceUnavailable"),
        (Reply(502, body=b"not json"), "retry", "HTTP 502"),
    ],
)
async def test_error_answers(
    make_apns: MakeApns, receiver: Receiver, reply: Reply, outcome: str, detail: str
) -> None:
    receiver.script(reply)
    result = await make_apns().send(message(), target(TOKEN, "ios"))
    assert (result.outcome, result.detail) == (outcome, detail)


async def test_expired_provider_token_is_renewed_and_resent(
    make_apns: MakeApns, receiver: Receiver
) -> None:
    receiver.script(Reply.json(403, {"reason": "ExpiredProviderToken"}))
    result = await make_apns().send(message(), target(TOKEN, "ios"))
    assert result.outcome == "delivered"
    first, second = receiver.requests
    assert first.headers["authorization"] != second.headers["authorization"]


async def test_retry_after_and_timeout(make_apns: MakeApns, receiver: Receiver) -> None:
    receiver.script(
        Reply.json(429, {"reason": "TooManyRequests"}, {"retry-after": "60"}), Reply(hang=True)
    )
    apns = make_apns(timeout=0.2)
    limited = await apns.send(message(), target(TOKEN, "ios"))
    slow = await apns.send(message(), target(TOKEN, "ios"))
    assert (limited.outcome, limited.retry_after) == ("retry", 60.0)
    assert (slow.outcome, slow.detail) == ("retry", "timeout")


async def test_payload_is_cut_to_4096_bytes(make_apns: MakeApns, receiver: Receiver) -> None:
    await make_apns().send(message(body="🔒" * 3000), target(TOKEN, "ios"))
    (req,) = receiver.requests
    assert 4000 < len(req.body) <= 4096
    assert req.json()["aps"]["alert"]["body"].endswith("…")


async def test_bad_tokens_never_reach_the_url(make_apns: MakeApns, receiver: Receiver) -> None:
    apns = make_apns()
    for token in ("../../3/device/x", "zz" * 32, "ab", TOKEN + "?x=1"):
        assert not apns.handles(target(token, "ios"))
        assert (await apns.send(message(), target(token, "ios"))).outcome == "drop_endpoint"
    assert not apns.handles(target(TOKEN, "android"))
    assert receiver.requests == []


def test_key_file_problems_are_config_errors(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_apns_key(tmp_path / "missing.p8")
    with pytest.raises(ConfigError, match="not an unencrypted PEM"):
        load_apns_key(write(tmp_path / "junk.p8", "junk"))
    with pytest.raises(ConfigError, match="P-256"):
        load_apns_key(write(tmp_path / "rsa.p8", pem(rsa_key)))
    other_curve = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ConfigError, match="P-256"):
        load_apns_key(write(tmp_path / "p384.p8", pem(other_curve)))


@pytest.fixture
def debug_logging(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """log_level = "debug" as the server sets it (to capsys' stderr), undone afterwards."""
    names = ("", "aiosqlite", "httpx", "httpcore", "hpack", "h2")
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    handlers = list(logging.getLogger().handlers)
    configure_logging("debug")
    yield
    logging.getLogger().handlers[:] = handlers
    for logger, level in saved:
        logger.setLevel(level)


async def test_debug_logging_does_not_show_the_device_token(
    capsys: pytest.CaptureFixture[str], debug_logging: None, make_apns: MakeApns,
    receiver: Receiver,
) -> None:
    # hpack logs every header it encodes (and the receiver's, every one it decodes) at
    # DEBUG: APNs' :path is /3/device/<token>, and whoever reads the token may push.
    logging.getLogger("homesync.test").debug("debug lines still show")
    result = await make_apns().send(message(), target(TOKEN, platform="ios"))
    assert result.outcome == "delivered"
    (req,) = receiver.requests
    assert req.path == f"/3/device/{TOKEN}"
    logged = capsys.readouterr().err
    assert "debug lines still show" in logged
    assert TOKEN not in logged
