"""§Auth: POST /auth/register, /auth/refresh, /auth/logout."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep, client_address
from homesync.api.schemas.auth import (
    RefreshIn,
    RefreshOut,
    RegisteredDeviceOut,
    RegisterIn,
    RegisterOut,
    SyncDataOut,
    TokensOut,
    UserOut,
)
from homesync.api.wire import ok, read_body, respond
from homesync.services.auth.sessions import DeviceRegistration, TokenPair

__all__ = ["route_handlers"]

# Answers holding tokens are kept by no cache, a proxy's or the app's (RFC 6749 §5.1).
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _tokens(pair: TokenPair) -> TokensOut:
    return TokensOut(access_token=pair.access_token, refresh_token=pair.refresh_token,
                     expires_in=pair.expires_in)


@post("/auth/register", status_code=200)
async def register(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    body = await read_body(request, RegisterIn, services.settings.server.max_json_body_bytes)
    info = body.device_info
    result = await services.sessions.register(
        body.email, body.password,
        DeviceRegistration(platform=info.platform, model=info.model, os_version=info.os_version,
                           app_version=info.app_version, client_id=info.device_id,
                           push_token=info.push_token),
        client_address(request),
    )
    device = result.device
    out = RegisterOut(
        success=True,
        user=UserOut(id=result.user["id"], email=result.user["email"], name=result.user["name"]),
        tokens=_tokens(result.tokens),
        device=RegisteredDeviceOut(id=device["id"], name=device["name"],
                                   registered_at=clock.rfc3339(device["registered_at"]) or ""),
        sync_data=SyncDataOut(last_sync_at=clock.rfc3339(device["last_sync_at"]),
                              pending_uploads=result.pending_uploads, cache_size=0),
    )
    return respond(request, out, 201 if result.created else 200, headers=_NO_STORE)


@post("/auth/refresh", status_code=200)
async def refresh(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    body = await read_body(request, RefreshIn, services.settings.server.max_json_body_bytes)
    pair = await services.sessions.refresh(body.refresh_token, body.device_id)
    return respond(request, RefreshOut(success=True, tokens=_tokens(pair)), headers=_NO_STORE)


@post("/auth/logout", status_code=200)
async def logout(request: Request[Any, Any, Any], services: ServicesDep,
                 principal: CurrentPrincipal) -> Response[bytes]:
    await services.sessions.logout(principal)
    return ok(request, {"loggedOut": True, "deviceId": principal.device_id})


route_handlers = [register, refresh, logout]
