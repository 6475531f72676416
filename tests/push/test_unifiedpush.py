"""UnifiedPush against a real local endpoint: statuses, size limit, redirects, SSRF."""

from __future__ import annotations

import email.utils
import json

import httpx

from homesync import clock
from homesync.push.unifiedpush import MAX_PAYLOAD, UnifiedPushProvider
from tests.push.conftest import MakeReceiver, assert_clean, closed_port, message, target
from tests.push.receivers import Receiver, Reply


def provider(client: httpx.AsyncClient, rx: Receiver, **kw: object) -> UnifiedPushProvider:
    return UnifiedPushProvider(client, allowed_hosts=[f"127.0.0.1:{rx.port}"], **kw)  # type: ignore[arg-type]


async def test_delivers_compact_json(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(201))
    tgt = target(f"{receiver.url}/up/abc?x=1", platform="android")
    up = provider(http, receiver)
    assert up.handles(tgt)

    result = await up.send(message(priority="high"), tgt)

    assert result.outcome == "delivered"
    assert_clean(result, tgt.token)
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", "/up/abc?x=1")
    assert req.headers["content-type"] == "application/json"
    assert b'": ' not in req.body and b', "' not in req.body  # compact
    assert req.json() == {
        "notificationId": "ntf_abc",
        "category": "uploads",
        "title": "Upload complete",
        "body": "IMG_0001.jpg is backed up",
        "data": {"fileId": "file_123"},
        "priority": "high",
    }


async def test_500_twice_then_201(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(503), Reply(201))
    up, tgt = provider(http, receiver), target(f"{receiver.url}/up/1")
    outcomes = [(await up.send(message(), tgt)).outcome for _ in range(3)]
    assert outcomes == ["retry", "retry", "delivered"]
    assert len(receiver.requests) == 3


async def test_gone_endpoints_are_dropped(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(404), Reply(410))
    up, tgt = provider(http, receiver), target(f"{receiver.url}/up/1")
    for status in (404, 410):
        result = await up.send(message(), tgt)
        assert (result.outcome, result.detail) == ("drop_endpoint", f"HTTP {status}")


async def test_413_fails_without_retry(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(413))
    result = await provider(http, receiver).send(message(), target(f"{receiver.url}/up/1"))
    assert result.outcome == "failed"


async def test_429_honours_retry_after(http: httpx.AsyncClient, receiver: Receiver) -> None:
    clock.set_now(lambda: 1_700_000_000.0)
    date = email.utils.formatdate(1_700_000_000 + 90, usegmt=True)
    receiver.script(Reply(429, {"Retry-After": "7"}), Reply(429, {"Retry-After": date}), Reply(429))
    up, tgt = provider(http, receiver), target(f"{receiver.url}/up/1")
    results = [await up.send(message(), tgt) for _ in range(3)]
    assert [r.outcome for r in results] == ["retry"] * 3
    assert [r.retry_after for r in results] == [7.0, 90.0, None]


async def test_slow_endpoint_times_out_as_retry(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.script(Reply(hang=True))
    up = provider(http, receiver, timeout=0.2)
    result = await up.send(message(), target(f"{receiver.url}/up/1"))
    assert (result.outcome, result.detail) == ("retry", "timeout")


async def test_connection_refused_is_retry(http: httpx.AsyncClient) -> None:
    up = UnifiedPushProvider(http, allowed_hosts=["127.0.0.1"])
    with closed_port() as port:
        tgt = target(f"http://127.0.0.1:{port}/up/secret-token")
        result = await up.send(message(), tgt)
    assert result.outcome == "retry"
    assert result.detail.startswith("network error")
    assert_clean(result, tgt.token, "secret-token")


async def test_redirect_is_not_followed(
    http: httpx.AsyncClient, make_receiver: MakeReceiver
) -> None:
    endpoint, elsewhere = await make_receiver(), await make_receiver()
    endpoint.script(Reply(307, {"Location": f"{elsewhere.url}/internal"}))
    up = UnifiedPushProvider(http, allowed_hosts=["127.0.0.1"])
    result = await up.send(message(), target(f"{endpoint.url}/up/1"))
    assert result.outcome == "failed"
    assert "redirect" in result.detail
    assert elsewhere.requests == []


async def test_long_body_is_cut_to_4096_bytes(http: httpx.AsyncClient, receiver: Receiver) -> None:
    long_body = "Ünïcødé 📷 " * 1000  # multi-byte characters: cut on characters, not bytes
    await provider(http, receiver).send(message(body=long_body), target(f"{receiver.url}/u"))
    (req,) = receiver.requests
    assert len(req.body) <= MAX_PAYLOAD
    assert len(req.body) > MAX_PAYLOAD - 16  # cut to fit, not emptied
    sent = json.loads(req.body.decode("utf-8"))
    assert sent["title"] == "Upload complete"
    assert sent["body"].endswith("…")
    assert long_body.startswith(sent["body"][:-1])


async def test_oversized_data_fails_without_sending(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    huge = {f"id{i}": "x" * 100 for i in range(60)}
    result = await provider(http, receiver).send(message(data=huge), target(f"{receiver.url}/u"))
    assert result.outcome == "failed"
    assert receiver.requests == []


async def test_private_endpoint_refused_unless_allow_listed(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    tgt = target(f"{receiver.url}/up/1")
    result = await UnifiedPushProvider(http).send(message(), tgt)
    assert result.outcome == "failed"
    assert "loopback" in result.detail
    assert receiver.requests == []
    # Allow-listed on another port only: still refused.
    other = UnifiedPushProvider(http, allowed_hosts=[f"127.0.0.1:{receiver.port + 1}"])
    assert (await other.send(message(), tgt)).outcome == "failed"
    ok = UnifiedPushProvider(http, allowed_hosts=[f"127.0.0.1:{receiver.port}"])
    assert (await ok.send(message(), tgt)).outcome == "delivered"


async def test_rechecked_at_send_time(http: httpx.AsyncClient) -> None:
    """A name that resolved publicly at registration and privately now is refused."""
    answers = {"push.example": ["10.0.0.7"]}

    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    result = await UnifiedPushProvider(http, resolve=resolve).send(
        message(), target("https://push.example/up/1")
    )
    assert result.outcome == "failed"
    assert "private" in result.detail


async def test_unresolvable_host_is_retry(http: httpx.AsyncClient) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        raise OSError("temporary failure in name resolution")

    result = await UnifiedPushProvider(http, resolve=resolve).send(
        message(), target("https://push.example/up/1")
    )
    assert result.outcome == "retry"


async def test_plain_http_is_pinned_to_the_checked_address() -> None:
    """Wire format (MockTransport): connect to the address checked, keep the Host header."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201)

    async def resolve(host: str, port: int) -> list[str]:
        return ["203.0.114.9"] if host == "rebind.example" else []

    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as client:
        up = UnifiedPushProvider(client, resolve=resolve)
        result = await up.send(message(), target("http://rebind.example:8080/up/1?t=2"))
        assert result.outcome == "delivered"
        https = await up.send(message(), target("https://rebind.example/up/1"))
        assert https.outcome == "delivered"
    assert seen[0].url.host == "203.0.114.9"
    assert seen[0].url.port == 8080
    assert seen[0].url.raw_path == b"/up/1?t=2"
    assert seen[0].headers["host"] == "rebind.example:8080"
    # https keeps the name: certificate verification is the guard there.
    assert seen[1].url.host == "rebind.example"
