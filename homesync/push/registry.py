"""Which providers exist (from the settings) and which one serves a given target.

Routing (:func:`pick`), first match wins:

========================================  ==============================================
token / platform                          provider
========================================  ==============================================
``http://…`` or ``https://…``             ``unifiedpush`` (always configured; no fallback)
``ntfy://<topic>``                        ``ntfy``, else ``webhook``
platform ``android``                      ``fcm``, else ``webhook``
platform ``ios``                          ``apns``, else ``webhook``
anything else (``web``, ``desktop``)      ``webhook``
========================================  ==============================================

``None`` means no configured provider can reach the target: the notification stays in
the user's inbox only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import httpx

from homesync.config import ConfigError, NotificationSettings
from homesync.push.apns import ApnsProvider, load_apns_key
from homesync.push.base import Provider, PushTarget, is_endpoint_url
from homesync.push.fcm import FcmProvider, load_service_account
from homesync.push.ntfy import NTFY_PREFIX, NtfyProvider
from homesync.push.unifiedpush import UnifiedPushProvider
from homesync.push.webhook import WebhookProvider

__all__ = ["allowed_push_hosts", "build_providers", "new_http_client", "pick"]

DEFAULT_TIMEOUT = 10.0

log = logging.getLogger("homesync.push")


def new_http_client(*, h2c: bool = False, timeout: float = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """The HTTP client the providers share; its owner closes it (``await client.aclose()``).

    HTTP/2 is on (APNs needs it; over TLS the protocol is negotiated per server). With
    ``h2c=True`` the client speaks only HTTP/2 with prior knowledge, which is what a
    cleartext ``http://`` APNs test server needs; don't use that one for the others.
    Redirects are never followed.
    """
    return httpx.AsyncClient(
        transport=_TransportOnFirstUse(http1=not h2c, http2=True),
        follow_redirects=False,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
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


def allowed_push_hosts(settings: NotificationSettings) -> list[str]:
    """Hosts an endpoint URL may point at even when they resolve to private addresses:
    ``notifications.allowed_hosts`` plus the configured ntfy server (a UnifiedPush
    distributor on the LAN hands out endpoints on itself).

    The webhook's host is deliberately not included: it is the admin's relay, and letting
    users register it as an endpoint would let them POST unsigned messages to it.
    """
    hosts = list(settings.allowed_hosts)
    if settings.ntfy_server:
        try:
            url = httpx.URL(settings.ntfy_server)
        except httpx.InvalidURL:
            url = httpx.URL()
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(
                f"notifications.ntfy_server: not an http(s) URL: {settings.ntfy_server!r}"
            )
        host = url.raw_host.decode("ascii")
        if ":" in host:
            host = f"[{host}]"
        port = url.port or (443 if url.scheme == "https" else 80)
        hosts.append(f"{host}:{port}")
    return hosts


def build_providers(
    settings: NotificationSettings,
    client: httpx.AsyncClient,
    *,
    apns_client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Provider]:
    """The providers whose configuration is present, UnifiedPush always among them.

    Args:
        settings: The ``[notifications]`` section.
        client: Shared HTTP client (:func:`new_http_client`); must be HTTP/2-capable for
            APNs unless ``apns_client`` is given.
        apns_client: A separate client for APNs (tests: ``new_http_client(h2c=True)``).
        timeout: Per-request timeout handed to each provider.

    Returns:
        An empty list when ``notifications.enabled`` is false.

    Raises:
        ConfigError: A provider is half-configured, or its key file is missing or invalid.
            Called at start-up, so a bad key stops the server instead of every push failing.
    """
    if not settings.enabled:
        return []
    providers: list[Provider] = [
        UnifiedPushProvider(client, allowed_hosts=allowed_push_hosts(settings), timeout=timeout)
    ]
    if settings.ntfy_server:
        providers.append(
            NtfyProvider(
                client, server=settings.ntfy_server, token=settings.ntfy_token, timeout=timeout
            )
        )
    if settings.webhook_url:
        if not settings.webhook_secret:
            raise ConfigError(
                "notifications.webhook_secret: required when webhook_url is set "
                "(the receiver checks the X-Homesync-Signature HMAC with it)"
            )
        providers.append(
            WebhookProvider(
                client, url=settings.webhook_url, secret=settings.webhook_secret, timeout=timeout
            )
        )
    fcm = _present(settings, "fcm_project_id", "fcm_service_account_file")
    if fcm:
        account, key = load_service_account(settings.fcm_service_account_file)
        providers.append(
            FcmProvider(
                client,
                project_id=settings.fcm_project_id,
                account=account,
                key=key,
                base_url=settings.fcm_base_url,
                token_url=settings.fcm_token_url,
                timeout=timeout,
            )
        )
    apns = _present(settings, "apns_key_file", "apns_key_id", "apns_team_id", "apns_topic")
    if apns:
        providers.append(
            ApnsProvider(
                apns_client or client,
                key=load_apns_key(settings.apns_key_file),
                key_id=settings.apns_key_id,
                team_id=settings.apns_team_id,
                topic=settings.apns_topic,
                base_url=settings.apns_base_url,
                timeout=timeout,
            )
        )
    return providers


def _present(settings: NotificationSettings, *options: str) -> bool:
    """True when all options are set, False when none is; half a configuration is an error."""
    given = [name for name in options if getattr(settings, name)]
    if given and len(given) < len(options):
        missing = ", ".join(f"notifications.{name}" for name in options if name not in given)
        raise ConfigError(f"{missing}: required together with notifications.{given[0]}")
    return bool(given)


def _route(target: PushTarget) -> Sequence[str]:
    if is_endpoint_url(target.token):
        return ("unifiedpush",)
    if target.token[: len(NTFY_PREFIX)].lower() == NTFY_PREFIX:
        return ("ntfy", "webhook")
    if target.platform == "android":
        return ("fcm", "webhook")
    if target.platform == "ios":
        return ("apns", "webhook")
    return ("webhook",)


def pick(providers: Sequence[Provider], target: PushTarget) -> Provider | None:
    """The provider that should deliver to ``target`` (see the routing table above)."""
    by_name = {provider.name: provider for provider in providers}
    for name in _route(target):
        provider = by_name.get(name)
        if provider is not None and provider.handles(target):
            return provider
    return None
