"""Helpers of the provider contract."""

from __future__ import annotations

import email.utils

import httpx
import msgspec

from homesync import clock
from homesync.push.base import (
    DeliveryResult,
    Provider,
    fit_payload,
    is_endpoint_url,
    network_failure,
    parse_retry_after,
    status_detail,
)
from homesync.push.unifiedpush import UnifiedPushProvider, encode_payload
from tests.push.conftest import message


def test_retry_after_forms() -> None:
    clock.set_now(lambda: 1_700_000_000.0)
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(email.utils.formatdate(1_700_000_030, usegmt=True)) == 30.0
    assert parse_retry_after(email.utils.formatdate(1_600_000_000, usegmt=True)) == 0.0
    assert parse_retry_after("99999999") == 24 * 3600.0
    for bad in (None, "", "soon", "-5", "1.5e3", "\u00b2"):
        assert parse_retry_after(bad) is None


def test_endpoint_urls() -> None:
    assert is_endpoint_url("https://ntfy.sh/upABC")
    assert is_endpoint_url("HTTP://ntfy.lan/up")
    assert not is_endpoint_url("ntfy://topic")
    assert not is_endpoint_url("fcm-token:APA91b")
    assert not is_endpoint_url("a" * 64)


def test_network_failures_are_retry_without_urls() -> None:
    req = httpx.Request("POST", "https://push.example/up/SECRET")
    timeout = network_failure(httpx.ReadTimeout("timed out", request=req))
    refused = network_failure(httpx.ConnectError("https://push.example/up/SECRET refused"))
    assert (timeout.outcome, timeout.detail) == ("retry", "timeout")
    assert (refused.outcome, refused.detail) == ("retry", "network error (ConnectError)")
    assert network_failure(httpx.UnsupportedProtocol("nope")).outcome == "failed"


def test_status_detail_sanitises_codes() -> None:
    assert status_detail(410) == "HTTP 410"
    assert status_detail(400, "BadDeviceToken") == "HTTP 400 BadDeviceToken"
    assert status_detail(400, "x<script>\n" + "y" * 200).startswith("HTTP 400 xscripty")
    assert len(status_detail(400, "y" * 500)) < 80


def test_fit_payload_cuts_body_then_title() -> None:
    msg = message(title="T" * 5000, body="B" * 5000)
    raw = fit_payload(msg, encode_payload, 4096)
    assert raw is not None and len(raw) <= 4096
    sent = msgspec.json.decode(raw)
    assert sent["body"] == "" and sent["title"].endswith("…")
    assert fit_payload(message(), encode_payload, 10) is None
    small = fit_payload(message(), encode_payload, 4096)
    assert small == encode_payload(message())


def test_result_constructors_and_protocol() -> None:
    assert DeliveryResult.retry("x", 3.0) == DeliveryResult(
        outcome="retry", retry_after=3.0, detail="x"
    )
    assert isinstance(UnifiedPushProvider(httpx.AsyncClient()), Provider)
