"""FCM HTTP v1 against a local OAuth token endpoint and a local FCM, with a real RSA key."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from homesync import clock
from homesync.config import ConfigError
from homesync.push.fcm import FCM_SCOPE, JWT_BEARER_GRANT, FcmProvider, load_service_account
from tests.push.conftest import MakeReceiver, assert_clean, message, pem, target, write
from tests.push.receivers import Receiver, Reply, Request

PROJECT = "homesync-test"
EMAIL = "push@homesync-test.iam.gserviceaccount.com"
TOKEN = "dXk2:APA91bH_test-registration-token"
T0 = 1_700_000_000.0
MakeFcm = Callable[..., FcmProvider]


@dataclass
class Google:
    """A local OAuth token endpoint that checks the JWT assertion like Google does."""

    rx: Receiver
    public_key: rsa.RSAPublicKey
    issued: list[str] = field(default_factory=list)
    assertions: list[dict[str, object]] = field(default_factory=list)

    @property
    def token_url(self) -> str:
        return f"{self.rx.url}/token"

    def __call__(self, request: Request) -> Reply:
        form = dict(urllib.parse.parse_qsl(request.body.decode()))
        assert request.method == "POST" and request.path == "/token"
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert form["grant_type"] == JWT_BEARER_GRANT
        header = jwt.get_unverified_header(form["assertion"])
        assert header["alg"] == "RS256" and header["kid"] == "key-1"
        claims = jwt.decode(
            form["assertion"],
            self.public_key,
            algorithms=["RS256"],
            audience=self.token_url,
            issuer=EMAIL,
            options={"verify_exp": False, "verify_iat": False},
        )
        assert claims["scope"] == FCM_SCOPE
        assert claims["exp"] - claims["iat"] == 3600
        self.assertions.append(claims)
        self.issued.append(f"ya29.access-{len(self.issued) + 1}")
        return Reply.json(
            200, {"access_token": self.issued[-1], "expires_in": 3599, "token_type": "Bearer"}
        )


@pytest.fixture
async def google(make_receiver: MakeReceiver, rsa_key: rsa.RSAPrivateKey) -> Google:
    g = Google(await make_receiver(), rsa_key.public_key())
    g.rx.handler = g
    return g


@pytest.fixture
def account_file(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> str:
    return write(
        tmp_path / "sa.json",
        json.dumps(
            {
                "type": "service_account",
                "project_id": PROJECT,
                "private_key_id": "key-1",
                "private_key": pem(rsa_key).decode(),
                "client_email": EMAIL,
                "token_uri": "https://oauth2.googleapis.com/token",
            }
        ),
    )


@pytest.fixture
def make_fcm(
    http: httpx.AsyncClient, google: Google, account_file: str, receiver: Receiver
) -> MakeFcm:
    def make(**kw: object) -> FcmProvider:
        account, key = load_service_account(account_file)
        return FcmProvider(
            http,
            project_id=PROJECT,
            account=account,
            key=key,
            base_url=receiver.url,
            token_url=google.token_url,
            **kw,  # type: ignore[arg-type]
        )

    clock.set_now(lambda: T0)
    receiver.default = Reply.json(200, {"name": f"projects/{PROJECT}/messages/1"})
    return make


def fcm_error(
    status: int,
    kind: str,
    error_code: str | None = None,
    field: str | None = None,
    text: str = "error",
) -> Reply:
    details: list[dict[str, object]] = []
    if error_code:
        details.append(
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }
        )
    if field:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "fieldViolations": [{"field": field, "description": text}],
            }
        )
    return Reply.json(
        status, {"error": {"code": status, "message": text, "status": kind, "details": details}}
    )


async def test_sends_v1_message_with_oauth_token(
    make_fcm: MakeFcm, google: Google, receiver: Receiver
) -> None:
    fcm = make_fcm()
    tgt = target(TOKEN, platform="android")
    assert fcm.handles(tgt)

    result = await fcm.send(message(priority="high", collapse_key="uploads-digest"), tgt)

    assert result.outcome == "delivered"
    assert_clean(result, TOKEN, "ya29")
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", f"/v1/projects/{PROJECT}/messages:send")
    assert req.headers["authorization"] == "Bearer ya29.access-1"
    assert req.json() == {
        "message": {
            "token": TOKEN,
            "notification": {"title": "Upload complete", "body": "IMG_0001.jpg is backed up"},
            "data": {"fileId": "file_123", "notificationId": "ntf_abc", "category": "uploads"},
            "android": {"priority": "HIGH", "collapse_key": "uploads-digest"},
        }
    }
    assert google.assertions[0]["iat"] == int(T0)


async def test_access_token_is_cached_until_near_expiry(
    make_fcm: MakeFcm, google: Google, receiver: Receiver
) -> None:
    fcm = make_fcm()
    now = T0
    clock.set_now(lambda: now)
    for _ in range(3):
        assert (await fcm.send(message(), target(TOKEN))).outcome == "delivered"
    await asyncio.gather(*(fcm.send(message(), target(TOKEN)) for _ in range(5)))
    assert len(google.issued) == 1
    now = T0 + 3599 - 301  # still inside the margin
    await fcm.send(message(), target(TOKEN))
    assert len(google.issued) == 1
    now = T0 + 3599 - 299  # within five minutes of expiry: refresh
    await fcm.send(message(), target(TOKEN))
    assert len(google.issued) == 2
    assert receiver.requests[-1].headers["authorization"] == "Bearer ya29.access-2"


async def test_401_refreshes_once_then_resends(
    make_fcm: MakeFcm, google: Google, receiver: Receiver
) -> None:
    fcm = make_fcm()
    receiver.script(fcm_error(401, "UNAUTHENTICATED"))
    result = await fcm.send(message(), target(TOKEN))
    assert result.outcome == "delivered"
    assert [r.headers["authorization"] for r in receiver.requests] == [
        "Bearer ya29.access-1",
        "Bearer ya29.access-2",
    ]
    # Twice in a row: give up on this attempt, the worker retries later.
    receiver.script(fcm_error(401, "UNAUTHENTICATED"), fcm_error(401, "UNAUTHENTICATED"))
    result = await fcm.send(message(), target(TOKEN))
    assert result.outcome == "retry"
    assert len(google.issued) == 3


@pytest.mark.parametrize(
    ("reply", "outcome", "detail"),
    [
        (fcm_error(404, "NOT_FOUND", "UNREGISTERED"), "drop_endpoint", "HTTP 404 UNREGISTERED"),
        (
            fcm_error(400, "INVALID_ARGUMENT", "UNREGISTERED"),
            "drop_endpoint",
            "HTTP 400 UNREGISTERED",
        ),
        (
            fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"),
            "drop_endpoint",
            "HTTP 403 SENDER_ID_MISMATCH",
        ),
        (
            fcm_error(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                "message.token",
                "The registration token is not a valid FCM registration token",
            ),
            "drop_endpoint",
            "HTTP 400 INVALID_ARGUMENT",
        ),
        (
            fcm_error(
                400,
                "INVALID_ARGUMENT",
                "INVALID_ARGUMENT",
                "message.data[0].value",
                "Invalid value",
            ),
            "failed",
            "HTTP 400 INVALID_ARGUMENT",
        ),
        (fcm_error(403, "PERMISSION_DENIED"), "failed", "HTTP 403 PERMISSION_DENIED"),
        (fcm_error(500, "INTERNAL", "INTERNAL"), "retry", "HTTP 500 INTERNAL"),
        (Reply(502, body=b"<html>Bad gateway</html>"), "retry", "HTTP 502"),
        (
            Reply(301, {"Location": "https://elsewhere.example/"}),
            "failed",
            "redirect refused (HTTP 301)",
        ),
    ],
)
async def test_error_answers(
    make_fcm: MakeFcm, receiver: Receiver, reply: Reply, outcome: str, detail: str
) -> None:
    receiver.script(reply)
    result = await make_fcm().send(message(), target(TOKEN))
    assert (result.outcome, result.detail) == (outcome, detail)


async def test_429_and_503_honour_retry_after(make_fcm: MakeFcm, receiver: Receiver) -> None:
    receiver.script(
        Reply.json(
            429,
            {
                "error": {
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [{"errorCode": "QUOTA_EXCEEDED"}],
                }
            },
            {"Retry-After": "30"},
        ),
        Reply(503, {"Retry-After": "4"}),
    )
    fcm = make_fcm()
    first, second = [await fcm.send(message(), target(TOKEN)) for _ in range(2)]
    assert (first.outcome, first.retry_after, first.detail) == (
        "retry",
        30.0,
        "HTTP 429 QUOTA_EXCEEDED",
    )
    assert (second.outcome, second.retry_after) == ("retry", 4.0)


async def test_token_endpoint_failures(
    make_fcm: MakeFcm, google: Google, receiver: Receiver
) -> None:
    google.rx.script(
        Reply.json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
        Reply(503, {"Retry-After": "9"}),
        Reply(hang=True),
    )
    fcm = make_fcm(timeout=0.2)
    bad, down, slow = [await fcm.send(message(), target(TOKEN)) for _ in range(3)]
    assert (bad.outcome, bad.detail) == ("failed", "oauth: HTTP 400 invalid_grant")
    assert (down.outcome, down.retry_after) == ("retry", 9.0)
    assert (slow.outcome, slow.detail) == ("retry", "oauth: timeout")
    assert receiver.requests == []  # nothing reached FCM without a token


async def test_send_timeout_is_retry(make_fcm: MakeFcm, receiver: Receiver) -> None:
    receiver.script(Reply(hang=True))
    result = await make_fcm(timeout=0.2).send(message(), target(TOKEN))
    assert (result.outcome, result.detail) == ("retry", "timeout")


async def test_only_android_fcm_tokens(make_fcm: MakeFcm) -> None:
    fcm = make_fcm()
    assert not fcm.handles(target(TOKEN, platform="ios"))
    assert not fcm.handles(target("https://ntfy.sh/upX"))
    assert not fcm.handles(target("ntfy://topic"))
    assert (await fcm.send(message(), target("bad token/../x"))).outcome == "drop_endpoint"


def test_service_account_problems_are_config_errors(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_service_account(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="not a service-account JSON"):
        load_service_account(write(tmp_path / "a.json", "{}"))
    bad_key = json.dumps(
        {"client_email": EMAIL, "private_key": "-----BEGIN PRIVATE KEY-----\nnope"}
    )
    with pytest.raises(ConfigError, match="private_key"):
        load_service_account(write(tmp_path / "b.json", bad_key))
