"""Dependencies the routes ask for by parameter name: ``services`` and ``principal``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from homesync.errors import Unauthorized
from homesync.models import Principal
from homesync.services.container import Services

__all__ = ["CurrentPrincipal", "ServicesDep", "bearer_principal", "client_address", "dependencies",
           "forwarded_client"]

_MAX_AUTH_HEADER = 8192


def provide_services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


async def provide_principal(request: Request[Any, Any, Any],
                            services: NamedDependency[Services]) -> Principal:
    """The caller behind ``Authorization: Bearer …``; 401 otherwise. The request counts
    against the device's API rate limit (429 RATE_LIMITED past it).

    Taking ``services`` as a sub-dependency is deliberate: Litestar resolves independent
    dependencies of a handler concurrently in an anyio task group, which cost ~8% of an
    authenticated GET (bench/api.py); chained, they resolve one after the other.
    """
    return await bearer_principal(request, services, count=True)


async def bearer_principal(request: Request[Any, Any, Any], services: Services, *,
                           count: bool) -> Principal:
    """The caller behind ``Authorization: Bearer …``; 401 otherwise.

    For routes that authenticate by hand: ``count=False`` where the request must not
    count against the device's API rate limit (chunk PUTs, which have their own limits;
    a long poll checking its caller again before it answers).
    """
    header = request.headers.get("authorization", "")
    if not header:
        raise Unauthorized("Missing Authorization: Bearer token")
    if len(header) > _MAX_AUTH_HEADER:
        raise Unauthorized("Invalid access token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use Authorization: Bearer <accessToken>")
    return await services.sessions.principal(token.strip(), count=count)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, believing X-Forwarded-For only from trusted proxies (see
    :func:`forwarded_client`)."""
    services: Services = request.app.state.services
    return forwarded_client(request.client.host if request.client else None,
                            request.headers.getall("x-forwarded-for", []),
                            services.settings.server.trusted_proxies)


def forwarded_client(peer: str | None, forwarded: Iterable[str],
                     trusted_proxies: Iterable[str]) -> str:
    """The client of a request from ``peer`` with these X-Forwarded-For lines.

    Each proxy appends the address it was sent the request from, so the client is the
    last one that is not a proxy of ours: read from the end, past trusted proxies (a
    chain of them would otherwise put every client in one throttling window). All lines
    of the header count, in order: a proxy that adds a line of its own (HAProxy) leaves
    the client's made-up one first.
    """
    peer = _plain(peer) if peer else "unknown"
    trusted = {_plain(proxy) for proxy in trusted_proxies}
    if peer not in trusted:
        return peer
    hops = [_plain(_without_port(hop.strip()))
            for line in forwarded for hop in line.split(",")]
    hops = [hop for hop in hops if hop]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return hops[0] if hops else peer  # sent by one of our proxies itself


def _without_port(hop: str) -> str:
    """A forwarded hop's address without the source port some proxies add
    ("203.0.113.7:51234", "[2001:db8::1]:443"), or each connection would be an address
    of its own. A bare IPv6 address has colons too, but more than one."""
    if hop.startswith("["):
        return hop[1:].partition("]")[0]
    if hop.count(":") == 1:
        return hop.partition(":")[0]
    return hop


def _plain(address: str) -> str:
    """``address`` as trusted_proxies name it: a server listening on "::" (dual stack)
    sees IPv4 peers as IPv4-mapped (``::ffff:127.0.0.1``); IPv6 in its short form."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


# Route parameters ask for these by name: `services: ServicesDep`, `principal: CurrentPrincipal`.
ServicesDep = NamedDependency[Services]
CurrentPrincipal = NamedDependency[Principal]

dependencies = {
    "services": Provide(provide_services, sync_to_thread=False),
    "principal": Provide(provide_principal),
}
