"""Around every HTTP request: a request id, an access-log line, and the request metrics.

Wraps the whole Litestar ASGI handler (outside routing), so 404s and errors are counted
and logged too. The request id is the client's ``X-Request-ID`` when it is a sane token
(a reverse proxy's id then follows the request through), else a fresh one; it is sent
back in ``X-Request-ID`` and stamped on every log line the request causes.

The access line has the path but never the query string: chunk URLs carry signatures.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from litestar import Litestar

from homesync.api.deps import forwarded_client
from homesync.api.request_metrics import RequestMetrics
from homesync.errors import ServiceUnavailable
from homesync.logs import request_id

__all__ = ["Observability", "install"]

# Plain ASGI shapes: this wraps the app from outside, before Litestar has typed anything.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("homesync.access")

_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Probes every few seconds: only at debug level, also answered 503 (the readiness check
# logs when it starts and stops failing; a line per probe would fill the log meanwhile).
_QUIET = ("/healthz", "/readyz")
_CHUNK_ROUTE = "/upload/chunk/"
# The answer to a request a stop cut off (see Observability.__call__).
_STOPPING = ServiceUnavailable("The server is stopping; send the request again shortly"
                               ).envelope_json()


def install(app: Litestar, metrics: RequestMetrics, access_log: str,
            trusted_proxies: Sequence[str] = ()) -> None:
    """Wrap ``app``'s whole ASGI handler (outside routing) in :class:`Observability`."""
    # Litestar types its handler with strict per-event TypedDicts; ours is plain ASGI.
    inner: Any = app.asgi_handler
    wrapped: Any = Observability(inner, metrics, access_log, trusted_proxies)
    app.asgi_handler = wrapped


class Observability:
    """ASGI middleware recording every HTTP request: see the module docstring.

    ``access_log`` (``server.access_log``): ``all`` writes every request at INFO (health
    probes at DEBUG), ``errors`` only answers of 400 and up (the rest at DEBUG), ``off``
    nothing. The line's client is the one ``trusted_proxies`` forwarded, as the sign-in
    throttle reads it: behind the reverse proxy the peer is always the proxy.
    """

    def __init__(self, app: ASGIApp, metrics: RequestMetrics, access_log: str,
                 trusted_proxies: Sequence[str] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log
        self.trusted_proxies = tuple(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or _new_request_id()
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        answered = False

        async def tagging_send(message: Message) -> None:
            nonlocal status, answered
            if message["type"] == "http.response.start":
                answered = True
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
            await send(message)

        self.metrics.in_flight += 1
        try:
            await self.app(scope, counting_receive, tagging_send)
        except asyncio.CancelledError:
            # Only a stop that outlived its grace period cancels a request (a chunk still
            # trickling in, say); uvicorn would answer a plain-text 500. The envelope's 503
            # instead: send it again once the server is back (every write is safe to repeat).
            if answered:
                raise
            await tagging_send({"type": "http.response.start", "status": 503, "headers": [
                (b"content-type", b"application/json"), (b"retry-after", b"10"),
                (b"content-length", str(len(_STOPPING)).encode()),
                (b"connection", b"close")]})
            await tagging_send({"type": "http.response.body", "body": _STOPPING})
            # Answered whole, so ended here: raised on, uvicorn logged "Exception in ASGI
            # application" and a traceback for each request the stop cut off, as expected
            # as its access line's 503. Nobody waits on this task for its cancellation.
        finally:
            seconds = time.perf_counter() - started
            self.metrics.in_flight -= 1
            route = str(scope.get("path_template") or "unmatched")
            method = scope["method"]
            self.metrics.observe_request(method, route, status, seconds)
            if _CHUNK_ROUTE in route and 200 <= status < 300:
                self.metrics.observe_upload(received)
            level = self._level(scope["path"], status)
            if level and log.isEnabledFor(level):
                path = scope["path"]
                log.log(level, "%s %s %s %.1fms", method, path, status, seconds * 1000, extra={
                    "method": method, "path": path, "route": route, "status": status,
                    "ms": round(seconds * 1000, 1), "bytes_in": received,
                    "client": self._client(scope),
                })
            request_id.reset(token)

    def _client(self, scope: Scope) -> str | None:
        peer = scope.get("client")
        if not peer:
            return None
        forwarded = [value.decode("latin-1") for name, value in scope["headers"]
                     if name == b"x-forwarded-for"]
        return forwarded_client(peer[0], forwarded, self.trusted_proxies)

    def _level(self, path: str, status: int) -> int:
        """The access line's level, 0 for none."""
        if self.access_log == "off":
            return 0
        if path in _QUIET:
            return logging.DEBUG
        if status >= 400:
            return logging.INFO
        if self.access_log == "errors":
            return logging.DEBUG
        return logging.INFO


# Request ids need to be unique, not secret: a random prefix per process and a counter
# (a system call for fresh randomness on every request was measurable in bench/api.py).
_ID_PREFIX = secrets.token_hex(4)
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFF:08x}"


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None
