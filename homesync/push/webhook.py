"""Generic webhook: POST every notification, signed, to one admin-configured URL.

The webhook is a relay: the admin's own service (a home-automation hook, a bridge to
Gotify or Matrix, a push proxy holding FCM/APNs credentials as Nextcloud's does) receives
the message together with its target and delivers it however it likes. It is therefore
the fallback for device tokens no built-in provider handles (see
:func:`homesync.push.registry.pick`); ``http(s)`` endpoint tokens never go to it.

Request: ``POST {webhook_url}`` with the compact JSON body::

    {"notificationId", "category", "title", "body", "data", "priority", ["collapseKey"],
     "target": {"platform", "token", "deviceId"}, "sentAt": <unix seconds>}

and headers ``X-Homesync-Timestamp: <unix seconds>`` and
``X-Homesync-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with webhook_secret>``.
The timestamp is inside the signed body too (``sentAt``), so a receiver that checks the
signature, then that ``sentAt`` equals the header and is recent, rejects replays. Compare
signatures in constant time (``hmac.compare_digest``).

Answers: 2xx delivered; 410 drop the device's endpoint (the relay says the token is gone);
429 and 5xx retry (``Retry-After`` honoured); anything else, 3xx included, failed.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING

import msgspec

from homesync import clock
from homesync.push.base import (
    DeliveryResult,
    PushMessage,
    PushTarget,
    is_endpoint_url,
    message_payload,
    network_errors,
    network_failure,
    parse_retry_after,
    request_timeout,
    status_detail,
)

if TYPE_CHECKING:  # httpx is imported when the first push goes out
    from homesync.push.base import HttpClient

__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookProvider", "sign"]

SIGNATURE_HEADER = "X-Homesync-Signature"
TIMESTAMP_HEADER = "X-Homesync-Timestamp"


def sign(secret: str, body: bytes) -> str:
    """The signature header value for ``body``: ``sha256=<hex>``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WebhookProvider:
    """Posts signed JSON for any target that is not an endpoint URL.

    Args:
        client: Shared HTTP client.
        url: ``notifications.webhook_url`` (trusted: set by the admin, not checked for SSRF).
        secret: ``notifications.webhook_secret``, the HMAC key.
        timeout: Seconds per network operation; a timeout is ``retry``.
    """

    name = "webhook"

    def __init__(
        self, client: HttpClient, *, url: str, secret: str, timeout: float = 10.0
    ) -> None:
        self._client = client
        self._url = url
        self._secret = secret
        self._timeout = timeout

    def handles(self, target: PushTarget) -> bool:
        return not is_endpoint_url(target.token)

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        sent_at = int(clock.now())
        payload = message_payload(message)
        payload["target"] = {
            "platform": target.platform,
            "token": target.token,
            "deviceId": target.device_id,
        }
        payload["sentAt"] = sent_at
        body = msgspec.json.encode(payload)
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(sent_at),
            SIGNATURE_HEADER: sign(self._secret, body),
        }
        try:
            response = await self._client.post(
                self._url,
                content=body,
                headers=headers,
                timeout=request_timeout(self._timeout),
                follow_redirects=False,
            )
        except network_errors() as exc:
            return network_failure(exc)
        status = response.status_code
        if 200 <= status < 300:
            return DeliveryResult.delivered(status_detail(status))
        if status == 410:
            return DeliveryResult.drop_endpoint(status_detail(status))
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return DeliveryResult.retry(status_detail(status), retry_after)
        if 300 <= status < 400:
            return DeliveryResult.failed(f"redirect refused ({status_detail(status)})")
        return DeliveryResult.failed(status_detail(status))
