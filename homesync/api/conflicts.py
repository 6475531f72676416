"""POST /conflicts/resolve, and GET /conflicts (the open ones, as in sync status)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.sync import (
    ConflictListOut,
    ResolveIn,
    ResolveOut,
    ResolveResultOut,
    UploadTargetOut,
)
from homesync.api.sync import conflict_out, error_out, parse_time
from homesync.api.wire import ok, read_body
from homesync.models import Principal
from homesync.services.sync.resolutions import Resolution, ResolutionResult
from homesync.services.sync.types import Actor

__all__ = ["actor_of", "route_handlers"]


def actor_of(principal: Principal, base_seq: int = 0) -> Actor:
    return Actor(user_id=principal.user_id, device_id=principal.device_id,
                 device_name=principal.device_name, base_seq=base_seq, now=clock.now_ms())


def _result_out(result: ResolutionResult) -> ResolveResultOut:
    target = result.upload_to
    return ResolveResultOut(
        conflict_id=result.conflict_id, status=result.status, resolution=result.resolution,
        file_id=result.file_id, copy_file_id=result.copy_file_id,
        upload_to=UploadTargetOut(folder=target.folder, name=target.name,
                                  file_id=target.file_id) if target else None,
        error=error_out(result.error),
    )


@post("/conflicts/resolve", status_code=200)
async def resolve(request: Request[Any, Any, Any], services: ServicesDep,
                  principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, ResolveIn, services.settings.server.max_batch_body_bytes)
    items = []
    for c in body.conflicts:
        data = c.local_data
        items.append(Resolution(
            conflict_id=c.conflict_id, resolution=c.resolution, file_id=c.file_id,
            local_name=data.name if data else None, local_folder=data.folder if data else None,
            local_modified_at=parse_time(data.modified_at, "localData.modifiedAt")
            if data and data.modified_at else None,
            local_checksum=data.checksum if data else None,
            local_size=data.size if data else None,
        ))
    results = await services.sync.resolver.resolve(actor_of(principal), items, caller=principal)
    return ok(request, ResolveOut(results=[_result_out(r) for r in results]))


@get("/conflicts")
async def list_conflicts(request: Request[Any, Any, Any], services: ServicesDep,
                         principal: CurrentPrincipal) -> Response[bytes]:
    views = await services.sync.conflicts.open_for(principal.user_id)
    return ok(request, ConflictListOut(conflicts=[conflict_out(v) for v in views]))


route_handlers = [resolve, list_conflicts]
