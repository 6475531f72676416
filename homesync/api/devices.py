"""§Device management: GET /devices, PUT /devices/{id}/settings, DELETE /devices/{id}."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, delete, get, put
from litestar.params import FromPath

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.devices import (
    DeviceListOut,
    DeviceOut,
    DeviceRemovedOut,
    DeviceSettingsIn,
    DeviceSettingsOut,
)
from homesync.api.wire import ok, read_body
from homesync.models import DeviceInfo, Principal

__all__ = ["device_out", "route_handlers"]


def device_out(device: DeviceInfo, principal: Principal) -> DeviceOut:
    """The wire shape of one device, as the caller sees it."""
    return DeviceOut(
        id=device.id, name=device.name, platform=device.platform, model=device.model,
        os_version=device.os_version, app_version=device.app_version,
        registered_at=clock.rfc3339(device.registered_at) or "",
        last_active_at=clock.rfc3339(device.last_active_at) or "",
        last_sync_at=clock.rfc3339(device.last_sync_at),
        is_current=device.id == principal.device_id,
        push_enabled=device.has_push,
        # Stored settings are camelCase, like the wire; keys the Struct lacks are ignored.
        settings=msgspec.convert(device.settings, DeviceSettingsOut),
    )


@get("/devices")
async def list_devices(request: Request[Any, Any, Any], services: ServicesDep,
                       principal: CurrentPrincipal) -> Response[bytes]:
    found = await services.devices.list_for(principal)
    return ok(request, DeviceListOut(devices=[device_out(d, principal) for d in found],
                                     current_device=principal.device_id))


@put("/devices/{device_id:str}/settings")
async def update_settings(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal, device_id: FromPath[str]) -> Response[bytes]:
    body = await read_body(request, DeviceSettingsIn, services.settings.server.max_json_body_bytes)
    changes = {
        field.encode_name: getattr(body, field.name)
        for field in msgspec.structs.fields(body)
        if getattr(body, field.name) is not msgspec.UNSET
    }
    device = await services.devices.update_settings(principal, device_id, changes)
    return ok(request, {"device": device_out(device, principal)})


@delete("/devices/{device_id:str}", status_code=200)
async def remove_device(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal, device_id: FromPath[str]) -> Response[bytes]:
    await services.devices.remove(principal, device_id)
    return ok(request, DeviceRemovedOut(device_id=device_id, removed=True))


route_handlers = [list_devices, update_settings, remove_device]
