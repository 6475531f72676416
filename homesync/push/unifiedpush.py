"""UnifiedPush: POST a small JSON payload to the endpoint URL the app got from its distributor.

Follows the UnifiedPush server spec (SERV_1): 1–4096 bytes per message, 201 accepted,
404/410 the endpoint is gone, 413 too big, 429 slow down; redirects are never followed.
The endpoint URL is client-supplied, so every send re-checks it with
:func:`homesync.push.safety.check_endpoint` (registration checks it too) and plain-``http``
endpoints are connected to the address that passed the check (DNS rebinding).

The payload is the compact JSON of :func:`homesync.push.base.message_payload`
(``{"notificationId","category","title","body","data","priority"}``), the body text cut
to fit 4096 bytes. It is sent in clear text: see "Known limits" in the package docstring.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from homesync.push.base import (
    DeliveryResult,
    PushMessage,
    PushTarget,
    fit_payload,
    is_endpoint_url,
    message_payload,
    network_errors,
    network_failure,
    parse_retry_after,
    request_timeout,
    status_detail,
)
from homesync.push.safety import Resolver, check_endpoint

if TYPE_CHECKING:  # httpx is imported when the first push goes out
    import httpx

    from homesync.push.base import HttpClient

__all__ = ["MAX_PAYLOAD", "UnifiedPushProvider", "classify_status", "encode_payload"]

MAX_PAYLOAD = 4096


def encode_payload(message: PushMessage) -> bytes:
    """The compact JSON body for one message (not yet size-limited)."""
    return msgspec.json.encode(message_payload(message))


def classify_status(response: httpx.Response) -> DeliveryResult:
    """A UnifiedPush (or ntfy) server's answer as a delivery outcome."""
    status = response.status_code
    if 200 <= status < 300:
        return DeliveryResult.delivered(status_detail(status))
    if 300 <= status < 400:
        return DeliveryResult.failed(f"redirect refused ({status_detail(status)})")
    if status in (404, 410):
        return DeliveryResult.drop_endpoint(status_detail(status))
    if status == 429 or status >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        return DeliveryResult.retry(status_detail(status), retry_after)
    return DeliveryResult.failed(status_detail(status))  # 413 and other 4xx


class UnifiedPushProvider:
    """Delivers to ``http(s)://`` endpoint tokens, whatever the platform.

    Args:
        client: Shared HTTP client (its redirect setting is overridden per request).
        allowed_hosts: Hosts that may resolve to non-public addresses (see ``safety``).
        timeout: Seconds for the whole exchange; a timeout is ``retry``.
        resolve: Resolver for the address check (tests).
    """

    name = "unifiedpush"

    def __init__(
        self,
        client: HttpClient,
        *,
        allowed_hosts: Iterable[str] = (),
        timeout: float = 10.0,
        resolve: Resolver | None = None,
    ) -> None:
        self._client = client
        self._allowed_hosts = tuple(allowed_hosts)
        self._timeout = timeout
        self._resolve = resolve

    def handles(self, target: PushTarget) -> bool:
        return is_endpoint_url(target.token)

    async def send(self, message: PushMessage, target: PushTarget) -> DeliveryResult:
        payload = fit_payload(message, encode_payload, MAX_PAYLOAD)
        if payload is None:
            return DeliveryResult.failed(f"payload over {MAX_PAYLOAD} bytes")
        check = await check_endpoint(target.token, self._allowed_hosts, resolve=self._resolve)
        if not check.ok:
            if check.transient:
                return DeliveryResult.retry(f"endpoint: {check.reason}")
            return DeliveryResult.failed(f"endpoint refused: {check.reason}")
        import httpx  # here, not at the top: an idle server never needs it

        try:
            url = httpx.URL(target.token)
            headers = {"Content-Type": "application/json"}
            if url.scheme == "http" and check.addresses:
                # Connect to the address we just checked, not to whatever the name
                # resolves to a moment later (DNS rebinding); keep the Host header.
                headers["Host"] = url.netloc.decode("ascii")
                url = url.copy_with(host=check.addresses[0])
            # Stream so that a hostile endpoint cannot make us buffer a huge reply (only
            # the status line and headers matter), and bound the whole exchange, not just
            # each read, so that a server dribbling bytes cannot hold a worker slot.
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream(
                    "POST",
                    url,
                    content=payload,
                    headers=headers,
                    timeout=request_timeout(self._timeout),
                    follow_redirects=False,
                ) as response,
            ):
                return classify_status(response)
        except TimeoutError:
            return DeliveryResult.retry("timeout")
        except network_errors() as exc:
            return network_failure(exc)
