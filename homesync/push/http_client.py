"""The HTTP client push providers share (httpx); the server makes it on the first push
(:class:`homesync.push.registry.ClientOnFirstUse`), so an idle one never loads httpx."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from homesync.push.base import request_timeout

__all__ = ["new_http_client"]

log = logging.getLogger("homesync.push")


def new_http_client(*, h2c: bool = False, timeout: float = 10.0) -> httpx.AsyncClient:
    """The HTTP client the providers share; its owner closes it (``await client.aclose()``).

    HTTP/2 is on (APNs needs it; over TLS the protocol is negotiated per server). With
    ``h2c=True`` the client speaks only HTTP/2 with prior knowledge, which is what a
    cleartext ``http://`` APNs test server needs; don't use that one for the others.
    Redirects are never followed.
    """
    return httpx.AsyncClient(
        transport=_TransportOnFirstUse(http1=not h2c, http2=True),
        follow_redirects=False,
        timeout=request_timeout(timeout),
        headers={"User-Agent": "homesync-push"},
    )


class _TransportOnFirstUse(httpx.AsyncBaseTransport):
    """httpx's own transport, made when the first push goes out.

    Making it loads the CA bundle into a TLS context: ~100 ms and ~4 MiB that a CLI
    command never needs, and a server only once someone has a push token. It is made in a
    worker thread, so that first push does not stall the event loop either.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._transport: httpx.AsyncHTTPTransport | None = None
        self._making = asyncio.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._transport is None:
            async with self._making:
                if self._transport is None:
                    self._transport = await self._make()
        return await self._transport.handle_async_request(request)

    async def _make(self) -> httpx.AsyncHTTPTransport:
        try:
            return await asyncio.to_thread(httpx.AsyncHTTPTransport, **self._options)
        except OSError as exc:  # ssl.SSLError too: an unreadable or broken CA bundle
            # As a transport error the providers retry it like any network trouble; the
            # cause (no token in it) goes to the log, where the admin can mend it.
            log.error("cannot set up TLS for push notifications: %s", exc)
            raise httpx.ConnectError(f"cannot set up TLS: {exc}") from exc

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()


