"""Dependencies the routes ask for by parameter name: ``services`` and ``principal``."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from homesync.errors import Unauthorized
from homesync.models import Principal
from homesync.services.container import Services

__all__ = ["CurrentPrincipal", "ServicesDep", "client_address", "dependencies"]

_MAX_AUTH_HEADER = 8192


def provide_services(request: Request[Any, Any, Any]) -> Services:
    services: Services = request.app.state.services
    return services


async def provide_principal(request: Request[Any, Any, Any],
                            services: NamedDependency[Services]) -> Principal:
    """The caller behind ``Authorization: Bearer …``; 401 otherwise.

    Taking ``services`` as a sub-dependency is deliberate: Litestar resolves independent
    dependencies of a handler concurrently in an anyio task group, which cost ~8% of an
    authenticated GET (bench/api.py); chained, they resolve one after the other.
    """
    header = request.headers.get("authorization", "")
    if not header:
        raise Unauthorized("Missing Authorization: Bearer token")
    if len(header) > _MAX_AUTH_HEADER:
        raise Unauthorized("Invalid access token")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use Authorization: Bearer <accessToken>")
    return await services.sessions.principal(token.strip())


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, believing X-Forwarded-For only from trusted proxies."""
    services: Services = request.app.state.services
    peer = request.client.host if request.client else "unknown"
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded and peer in services.settings.server.trusted_proxies:
        return forwarded.split(",")[-1].strip() or peer
    return peer


# Route parameters ask for these by name: `services: ServicesDep`, `principal: CurrentPrincipal`.
ServicesDep = NamedDependency[Services]
CurrentPrincipal = NamedDependency[Principal]

dependencies = {
    "services": Provide(provide_services, sync_to_thread=False),
    "principal": Provide(provide_principal),
}
