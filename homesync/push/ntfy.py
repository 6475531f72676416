"""ntfy server mode: publish to a topic on the server's own, configured ntfy server.

Two ways to reach an ntfy app, and which token means which (the choice made here):

- A token that is an ``http(s)://`` URL is a UnifiedPush endpoint, even when that URL
  points at an ntfy server (ntfy is a UnifiedPush distributor): it goes to
  :class:`homesync.push.unifiedpush.UnifiedPushProvider`, which POSTs the JSON payload.
- A token ``ntfy://<topic>`` means "publish a human-readable notification to ``<topic>``
  on ``notifications.ntfy_server``" with ntfy's own headers. This is for people who run
  ntfy next to homesync and subscribe to a topic in the stock ntfy app (or on a desktop),
  without a UnifiedPush-aware homesync app. The topic is the only per-device part; the
  server URL and its access token stay in the server config. A topic is ntfy's own
  syntax: 1–64 of ``A-Z a-z 0-9 _ -``.

Request: ``POST {ntfy_server}/{topic}``, the body text as the message (cut to 4096 bytes,
ntfy's default message limit), headers ``Title`` (RFC 2047-encoded when not plain ASCII;
ntfy decodes it), ``Priority`` (security 5, high 4, normal 3), ``Tags`` (the category),
and ``Authorization: Bearer <ntfy_token>`` when configured.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING

from homesync.push.base import (
    DeliveryResult,
    PushMessage,
    PushTarget,
    fit_payload,
    network_errors,
    network_failure,
    parse_retry_after,
    request_timeout,
    status_detail,
)

if TYPE_CHECKING:  # httpx is imported when the first push goes out
    from homesync.push.base import HttpClient

__all__ = [
    "MAX_MESSAGE",
    "NTFY_PREFIX",
    "NtfyProvider",
    "header_text",
    "ntfy_priority",
    "ntfy_topic",
]

NTFY_PREFIX = "ntfy://"
MAX_MESSAGE = 4096
_TOPIC = re.compile(r"[-_A-Za-z0-9]{1,64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def ntfy_topic(token: str) -> str | None:
    """The topic in an ``ntfy://<topic>`` token, or ``None`` when it is not one."""
    if token[: len(NTFY_PREFIX)].lower() != NTFY_PREFIX:
        return None
    topic = token[len(NTFY_PREFIX) :]
    return topic if _TOPIC.fullmatch(topic) else None


def ntfy_priority(message: PushMessage) -> int:
    """ntfy's 1–5 scale: security alerts are urgent (5), high 4, normal the default 3."""
    if message.category == "security":
        return 5
    return 4 if message.priority == "high" else 3


def header_text(text: str) -> str:
    """Text safe for an HTTP header: control characters become spaces, and anything not
    plain ASCII (or looking like an encoded word) is sent as one RFC 2047 encoded word."""
    text = _CONTROL.sub(" ", text).strip()
    if text.isascii() and "=?" not in text:
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


class NtfyProvider:
    """Publishes ``ntfy://<topic>`` targets to one configured ntfy server.

    Args:
        client: Shared HTTP client.
        server: Base URL of the ntfy server (``notifications.ntfy_server``).
        token: ntfy access token (``tk_…``), sent as a bearer token when not empty.
        timeout: Seconds per network operation; a timeout is ``retry``.
    """

    name = "ntfy"

    def __init__(
        self,
        client: HttpClient,
        *,
        server: str,
        token: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._client = client
        self._server = server.rstrip("/")
        self._token = token
        self._timeout = timeout

    def handles(self, target: PushTarget) -> bool:
        return target.token[: len(NTFY_PREFIX)].lower() == NTFY_PREFIX

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        topic = ntfy_topic(target.token)
        if topic is None:
            return DeliveryResult.drop_endpoint("not a valid ntfy topic")
        body = fit_payload(message, lambda m: m.body.encode("utf-8"), MAX_MESSAGE) or b""
        headers = {
            "Content-Type": "text/plain; charset=utf-8",
            "Priority": str(ntfy_priority(message)),
            "Tags": message.category,
        }
        title = header_text(message.title)
        if title:
            headers["Title"] = title
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            response = await self._client.post(
                f"{self._server}/{topic}",
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
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return DeliveryResult.retry(status_detail(status), retry_after)
        if status in (401, 403):
            # The server's credentials, not the device's topic: keep the endpoint.
            return DeliveryResult.failed(f"{status_detail(status)} (check ntfy_token)")
        if 300 <= status < 400:
            return DeliveryResult.failed(f"redirect refused ({status_detail(status)})")
        return DeliveryResult.failed(status_detail(status))
