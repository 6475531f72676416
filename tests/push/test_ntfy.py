"""ntfy server mode against a real local "ntfy server"."""

from __future__ import annotations

import email.header

import httpx
import pytest

from homesync.push.ntfy import NtfyProvider, header_text, ntfy_topic
from tests.push.conftest import assert_clean, message, target
from tests.push.receivers import Receiver, Reply


def decode_header(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


async def test_publishes_with_ntfy_headers(http: httpx.AsyncClient, receiver: Receiver) -> None:
    ntfy = NtfyProvider(http, server=receiver.url + "/", token="tk_secret")
    tgt = target("ntfy://homesync_alice-phone", platform="desktop")
    assert ntfy.handles(tgt)

    result = await ntfy.send(message(category="shares", priority="high"), tgt)

    assert result.outcome == "delivered"
    assert_clean(result, "tk_secret")
    (req,) = receiver.requests
    assert (req.method, req.path) == ("POST", "/homesync_alice-phone")
    assert req.body == b"IMG_0001.jpg is backed up"
    assert req.headers["title"] == "Upload complete"
    assert req.headers["priority"] == "4"
    assert req.headers["tags"] == "shares"
    assert req.headers["authorization"] == "Bearer tk_secret"


@pytest.mark.parametrize(
    ("category", "priority", "expected"),
    [
        ("security", "normal", "5"),
        ("security", "high", "5"),
        ("uploads", "high", "4"),
        ("storage", "normal", "3"),
    ],
)
async def test_priority_scale(
    http: httpx.AsyncClient, receiver: Receiver, category: str, priority: str, expected: str
) -> None:
    ntfy = NtfyProvider(http, server=receiver.url)
    await ntfy.send(message(category=category, priority=priority), target("ntfy://t"))
    (req,) = receiver.requests
    assert req.headers["priority"] == expected
    assert "authorization" not in req.headers  # no token configured


async def test_non_ascii_title_is_rfc2047(http: httpx.AsyncClient, receiver: Receiver) -> None:
    title = "Jürgen shared “Ferien 📷”\nwith you"
    await NtfyProvider(http, server=receiver.url).send(message(title=title), target("ntfy://t"))
    (req,) = receiver.requests
    assert req.headers["title"].isascii()
    assert decode_header(req.headers["title"]) == title.replace("\n", " ")


def test_header_text() -> None:
    assert header_text("plain\r\nInjected: yes") == "plain Injected: yes"
    assert header_text("=?looks?encoded?=").startswith("=?UTF-8?B?")


async def test_bad_topic_is_dropped_without_a_request(
    http: httpx.AsyncClient, receiver: Receiver
) -> None:
    ntfy = NtfyProvider(http, server=receiver.url)
    for token in ("ntfy://", "ntfy://../admin", "ntfy://a/b", "ntfy://" + "x" * 65):
        assert ntfy_topic(token) is None
        result = await ntfy.send(message(), target(token))
        assert result.outcome == "drop_endpoint"
    assert receiver.requests == []
    assert not ntfy.handles(target("https://ntfy.sh/upX"))
    assert not ntfy.handles(target("a" * 64, platform="ios"))


async def test_statuses(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(
        Reply(429, {"Retry-After": "12"}),
        Reply(507),
        Reply(403),
        Reply(413),
        Reply(301, {"Location": "https://elsewhere.example/"}),
    )
    ntfy = NtfyProvider(http, server=receiver.url, token="tk_x")
    results = [await ntfy.send(message(), target("ntfy://t")) for _ in range(5)]
    assert [(r.outcome, r.retry_after) for r in results] == [
        ("retry", 12.0),
        ("retry", None),
        ("failed", None),
        ("failed", None),
        ("failed", None),
    ]
    assert "ntfy_token" in results[2].detail


async def test_long_body_is_cut(http: httpx.AsyncClient, receiver: Receiver) -> None:
    await NtfyProvider(http, server=receiver.url).send(message(body="é" * 5000), target("ntfy://t"))
    (req,) = receiver.requests
    assert 4000 < len(req.body) <= 4096
    assert req.body.decode("utf-8").endswith("…")


async def test_timeout_is_retry(http: httpx.AsyncClient, receiver: Receiver) -> None:
    receiver.script(Reply(hang=True))
    result = await NtfyProvider(http, server=receiver.url, timeout=0.2).send(
        message(), target("ntfy://t")
    )
    assert (result.outcome, result.detail) == ("retry", "timeout")
