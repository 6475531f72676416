"""The push providers ``[notifications]`` configures, built once when the services start."""

from __future__ import annotations

from homesync.config import NotificationSettings, parse_duration
from homesync.push.base import Provider
from homesync.push.registry import ClientOnFirstUse, build_providers

__all__ = ["PushProviders"]


class PushProviders:
    """The providers ``[notifications]`` configures, and the HTTP clients they share.

    Built when the services start, so a half-configured provider or an unreadable key
    file stops start-up with a :class:`~homesync.config.ConfigError` naming the option.
    Close with :meth:`aclose`.
    """

    def __init__(self, settings: NotificationSettings) -> None:
        self._clients: list[ClientOnFirstUse] = []
        self.providers: list[Provider] = []
        if not settings.enabled:
            return
        timeout = float(parse_duration(settings.send_timeout))
        client = ClientOnFirstUse(timeout=timeout)
        self._clients.append(client)
        apns_client = None
        if settings.apns_key_file and settings.apns_base_url.startswith("http://"):
            # Real APNs is HTTP/2 over TLS; a cleartext base URL is a test server, which
            # speaks HTTP/2 only with prior knowledge.
            apns_client = ClientOnFirstUse(h2c=True, timeout=timeout)
            self._clients.append(apns_client)
        self.providers = build_providers(settings, client, apns_client=apns_client,
                                         timeout=timeout)

    async def aclose(self) -> None:
        for client in self._clients:
            await client.aclose()
        self._clients.clear()
