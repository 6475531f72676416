"""Building providers from settings, routing targets, and one trip through each provider."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from homesync.config import ConfigError, NotificationSettings
from homesync.push.base import Provider
from homesync.push.http_client import new_http_client
from homesync.push.registry import allowed_push_hosts, build_providers, canonical_token, pick
from tests.push.conftest import MakeReceiver, message, pem, target, write
from tests.push.receivers import Receiver, Reply, Request

FCM_TOKEN = "c1:APA91b-token"
APNS_TOKEN = "0f" * 32


def settings(**options: object) -> NotificationSettings:
    return msgspec.convert(options, NotificationSettings)


def names(providers: list[Provider]) -> list[str]:
    return [p.name for p in providers]


async def test_defaults_give_unifiedpush_only(http: httpx.AsyncClient) -> None:
    assert names(build_providers(settings(), http)) == ["unifiedpush"]
    assert build_providers(settings(enabled=False, ntfy_server="https://n.example"), http) == []


@pytest.mark.parametrize(
    ("options", "message_part"),
    [
        ({"fcm_project_id": "p"}, "notifications.fcm_service_account_file: required"),
        ({"fcm_service_account_file": "/x.json"}, "notifications.fcm_project_id: required"),
        ({"apns_key_file": "/k.p8", "apns_key_id": "K"}, "apns_team_id, notifications.apns_topic"),
        ({"webhook_url": "https://hook.example/"}, "webhook_secret: required"),
        ({"ntfy_server": "ntfy.example.com"}, "ntfy_server: not an http(s) URL"),
        ({"fcm_project_id": "p", "fcm_service_account_file": "/nonexistent.json"}, "cannot read"),
    ],
)
async def test_half_configured_providers_fail_start_up(
    http: httpx.AsyncClient, options: dict[str, object], message_part: str
) -> None:
    with pytest.raises(ConfigError, match=message_part.replace("(", r"\(").replace(")", r"\)")):
        build_providers(settings(**options), http)


def test_allowed_hosts_include_the_ntfy_server() -> None:
    s = settings(allowed_hosts=["push.lan"], ntfy_server="http://[fd00::5]:2586/")
    assert allowed_push_hosts(s) == ["push.lan", "[fd00::5]:2586"]
    assert allowed_push_hosts(settings(ntfy_server="https://ntfy.lan")) == ["ntfy.lan:443"]
    assert allowed_push_hosts(settings(webhook_url="http://10.0.0.2/hook")) == []


async def test_routing(
    http: httpx.AsyncClient,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    everything = settings(**full_options(tmp_path, rsa_key, ec_key, "http://127.0.0.1:9"))
    full = build_providers(everything, http)
    assert names(full) == ["unifiedpush", "ntfy", "webhook", "fcm", "apns"]
    bare = build_providers(settings(), http)
    relay = build_providers(settings(webhook_url="http://h.example", webhook_secret="s"), http)

    def route(providers: list[Provider], token: str, platform: str) -> str | None:
        chosen = pick(providers, target(token, platform))
        return chosen.name if chosen else None

    assert route(full, "https://ntfy.sh/upX", "android") == "unifiedpush"
    assert route(full, "http://ntfy.lan/upX", "ios") == "unifiedpush"
    assert route(full, "ntfy://alice", "desktop") == "ntfy"
    assert route(full, FCM_TOKEN, "android") == "fcm"
    assert route(full, APNS_TOKEN, "ios") == "apns"
    assert route(full, "not hex", "ios") == "webhook"
    assert route(full, "anything", "web") == "webhook"
    assert route(bare, "https://ntfy.sh/upX", "web") == "unifiedpush"
    assert route(bare, FCM_TOKEN, "android") is None
    assert route(bare, "ntfy://alice", "desktop") is None
    assert route(relay, FCM_TOKEN, "android") == "webhook"
    assert route(relay, APNS_TOKEN, "ios") == "webhook"
    assert route(relay, "ntfy://alice", "desktop") == "webhook"
    assert route(relay, "https://ntfy.sh/upX", "web") == "unifiedpush"


def full_options(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey, base: str
) -> dict[str, object]:
    account = {
        "client_email": "push@p.iam.gserviceaccount.com",
        "private_key": pem(rsa_key).decode(),
        "token_uri": f"{base}/token",
    }
    return {
        "ntfy_server": f"{base}/ntfy",
        "webhook_url": f"{base}/hook",
        "webhook_secret": "s3cret",
        "fcm_project_id": "proj",
        "fcm_service_account_file": write(tmp_path / "sa.json", json.dumps(account)),
        "fcm_base_url": f"{base}/fcm",
        "fcm_token_url": f"{base}/token",
        "apns_key_file": write(tmp_path / "key.p8", pem(ec_key)),
        "apns_key_id": "KEYID",
        "apns_team_id": "TEAMID",
        "apns_topic": "org.homesync.app",
        "apns_base_url": f"{base}/apns",
    }


async def test_every_provider_end_to_end(
    http: httpx.AsyncClient,
    h2c: httpx.AsyncClient,
    make_receiver: MakeReceiver,
    tmp_path: Path,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    """build_providers → pick → send, each against the one local receiver."""
    rx = await make_receiver()

    def answer(req: Request) -> Reply:
        if req.path == "/token":
            return Reply.json(200, {"access_token": "ya29.t", "expires_in": 3600})
        return Reply(201 if req.path.startswith("/up") else 200)

    rx.handler = answer
    options = full_options(tmp_path, rsa_key, ec_key, rx.url)
    providers = build_providers(settings(**options), http, apns_client=h2c)
    targets = [
        target(f"{rx.url}/up/1", "android"),  # allowed: the ntfy server's host:port
        target("ntfy://alice", "desktop"),
        target(FCM_TOKEN, "android"),
        target(APNS_TOKEN, "ios"),
        target("opaque", "web"),
    ]
    for tgt in targets:
        provider = pick(providers, tgt)
        assert provider is not None
        result = await provider.send(message(), tgt)
        assert result.outcome == "delivered", (provider.name, result)
    paths = [(r.path, r.http_version) for r in rx.requests]
    assert paths == [
        ("/up/1", "1.1"),
        ("/ntfy/alice", "1.1"),
        ("/token", "1.1"),
        ("/fcm/v1/projects/proj/messages:send", "1.1"),
        (f"/apns/3/device/{APNS_TOKEN}", "2"),
        ("/hook", "1.1"),
    ]


async def test_the_http_client_makes_its_transport_once_at_the_first_push(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI command or a server nobody registered a push token with never loads the CA
    bundle; concurrent first pushes share one transport."""
    made: list[httpx.AsyncHTTPTransport] = []
    real = httpx.AsyncHTTPTransport

    def counting(**options: object) -> httpx.AsyncHTTPTransport:
        made.append(real(**options))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", counting)
    async with new_http_client(timeout=5.0) as client:
        assert made == []
        replies = await asyncio.gather(*(client.post(receiver.url, content=b"x")
                                         for _ in range(3)))
        assert [r.status_code for r in replies] == [200, 200, 200]
        assert len(made) == 1
    assert len(receiver.requests) == 3


async def test_a_transport_that_cannot_be_made_is_a_retry_not_a_crash(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A broken CA bundle shows at the first push now, not at start-up: the provider must
    still answer (retry, the cause in the log), and the next push, once mended, goes."""
    real = httpx.AsyncHTTPTransport
    broken = [True]

    def make(**options: object) -> httpx.AsyncHTTPTransport:
        if broken[0]:
            raise ssl.SSLError("[X509] no certificate or crl found")
        return real(**options)  # type: ignore[arg-type]

    monkeypatch.setattr(httpx, "AsyncHTTPTransport", make)
    async with new_http_client(timeout=5.0) as client:
        providers = build_providers(
            settings(webhook_url=f"{receiver.url}/hook", webhook_secret="s"), client)
        webhook = pick(providers, target("web-token", "web"))
        assert webhook is not None and webhook.name == "webhook"
        first = await webhook.send(message(), target("web-token", "web"))
        assert first.outcome == "retry" and "ConnectError" in first.detail
        assert "cannot set up TLS for push notifications" in caplog.text
        broken[0] = False
        second = await webhook.send(message(), target("web-token", "web"))
        assert second.outcome == "delivered"
    assert [r.path for r in receiver.requests] == ["/hook"]


@pytest.mark.parametrize(("token", "canonical"), [
    ("HTTPS://Push.Example.NET:8443/up/The-Phone?Key=AbC#Frag",
     "https://push.example.net:8443/up/The-Phone?Key=AbC#Frag"),
    ("Http://HOST?Q=/Path", "http://host?Q=/Path"),
    ("http://User:Pass@HOST/x", "http://User:Pass@host/x"),
    ("NTFY://The-Topic", "ntfy://The-Topic"),
    ("dGhpcyBpcyBGQ00:APA91b", "dGhpcyBpcyBGQ00:APA91b"),  # FCM, APNs: as they are
    ("ABCDEF0123456789", "ABCDEF0123456789"),
])
def test_a_token_is_compared_with_its_scheme_and_host_in_lower_case(token: str,
                                                                   canonical: str) -> None:
    assert canonical_token(token) == canonical
