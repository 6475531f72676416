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

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from homesync.config import ConfigError, NotificationSettings
from homesync.push.base import Provider, PushTarget, is_endpoint_url
from homesync.push.ntfy import NTFY_PREFIX, NtfyProvider
from homesync.push.unifiedpush import UnifiedPushProvider
from homesync.push.webhook import WebhookProvider

if TYPE_CHECKING:  # see ClientOnFirstUse; FCM and APNs are imported when configured
    import httpx

    from homesync.push.base import HttpClient

__all__ = ["ClientOnFirstUse", "allowed_push_hosts", "build_providers", "canonical_token", "pick"]

DEFAULT_TIMEOUT = 10.0


class ClientOnFirstUse:
    """The providers' shared client as the server holds it: ``new_http_client(**options)``
    (:mod:`homesync.push.http_client`), made when the first push goes out. httpx (~2.5 MiB
    of an idle server's memory) is imported then, never by a server that sends no push.

    Has the part of ``httpx.AsyncClient`` the providers use: ``post``, ``stream``, ``aclose``.
    """

    def __init__(self, *, h2c: bool = False, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._options: dict[str, Any] = {"h2c": h2c, "timeout": timeout}
        self._client: httpx.AsyncClient | None = None

    def _real(self) -> httpx.AsyncClient:
        if self._client is None:
            from homesync.push.http_client import new_http_client

            self._client = new_http_client(**self._options)
        return self._client

    async def post(self, *args: Any, **kwargs: Any) -> httpx.Response:
        return await self._real().post(*args, **kwargs)

    def stream(self, *args: Any, **kwargs: Any) -> AbstractAsyncContextManager[httpx.Response]:
        return self._real().stream(*args, **kwargs)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def allowed_push_hosts(settings: NotificationSettings) -> list[str]:
    """Hosts an endpoint URL may point at even when they resolve to private addresses:
    ``notifications.allowed_hosts`` plus the configured ntfy server (a UnifiedPush
    distributor on the LAN hands out endpoints on itself).

    The webhook's host is deliberately not included: it is the admin's relay, and letting
    users register it as an endpoint would let them POST unsigned messages to it.
    """
    hosts = list(settings.allowed_hosts)
    if settings.ntfy_server:
        import httpx  # here, not at the top: only a configured ntfy server needs it

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
    client: HttpClient,
    *,
    apns_client: HttpClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> list[Provider]:
    """The providers whose configuration is present, UnifiedPush always among them.

    Args:
        settings: The ``[notifications]`` section.
        client: Shared HTTP client (:class:`ClientOnFirstUse`, or
            :func:`~homesync.push.http_client.new_http_client`'s); must be HTTP/2-capable
            for APNs unless ``apns_client`` is given.
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
        from homesync.push.fcm import FcmProvider, load_service_account  # cryptography, PyJWT

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
        from homesync.push.apns import ApnsProvider, load_apns_key  # cryptography, PyJWT

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


def canonical_token(token: str) -> str:
    """The push token as stored and compared (a token moves to the device that registered
    it last): an endpoint URL's scheme and host, and an ntfy token's ``ntfy://``, in lower
    case, which name the same endpoint in any case (RFC 3986); the rest as given, since a
    URL's path, an ntfy topic and FCM and APNs tokens are case-sensitive."""
    if is_endpoint_url(token):
        scheme, _, rest = token.partition("://")
        end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
        userinfo, at, host = rest[:end].rpartition("@")  # (refused at register anyway)
        return f"{scheme.lower()}://{userinfo}{at}{host.lower()}{rest[end:]}"
    if token[: len(NTFY_PREFIX)].lower() == NTFY_PREFIX:
        return NTFY_PREFIX + token[len(NTFY_PREFIX) :]
    return token


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
