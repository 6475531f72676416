"""Sharing: POST/GET /shares, DELETE /shares/{id}, GET /shares/{id}/files?folder=.

A recipient reads shared files with the files API (``GET /files/{id}``,
``GET /files/{id}/content``), by the ids these answers give.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.shares import (
    PersonOut,
    ShareCreatedOut,
    SharedEntryOut,
    SharedFolderOut,
    ShareIn,
    ShareListOut,
    ShareOut,
    ShareRemovedOut,
)
from homesync.api.wire import ok, read_body
from homesync.services.sharing.shares import Share

__all__ = ["route_handlers"]


def _share_out(share: Share) -> ShareOut:
    return ShareOut(
        id=share.id, file_id=share.file_id, type=share.kind, name=share.name, size=share.size,
        mime_type=share.mime_type, checksum=share.checksum,
        modified_at=clock.rfc3339(share.modified_at) or "", permission=share.permission,
        email=share.email, owner=PersonOut(name=share.owner_name, email=share.owner_email),
        created_at=clock.rfc3339(share.created_at) or "", path=share.path,
    )


@post("/shares", status_code=201)
async def create_share(request: Request[Any, Any, Any], services: ServicesDep,
                       principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, ShareIn, services.settings.server.max_json_body_bytes)
    share, created = await services.shares.share(principal, file_id=body.file_id,
                                                  email=body.email, permission=body.permission)
    return ok(request, ShareCreatedOut(share=_share_out(share)), 201 if created else 200)


@get("/shares")
async def list_shares(request: Request[Any, Any, Any], services: ServicesDep,
                      principal: CurrentPrincipal) -> Response[bytes]:
    mine, theirs = await services.shares.overview(principal)
    return ok(request, ShareListOut(shared=[_share_out(s) for s in mine],
                                    shared_with_me=[_share_out(s) for s in theirs]))


@delete("/shares/{share_id:str}", status_code=200)
async def remove_share(request: Request[Any, Any, Any], services: ServicesDep,
                       principal: CurrentPrincipal, share_id: FromPath[str]) -> Response[bytes]:
    await services.shares.remove(principal, share_id)
    return ok(request, ShareRemovedOut(share_id=share_id, removed=True))


@get("/shares/{share_id:str}/files")
async def list_shared_folder(
    request: Request[Any, Any, Any], services: ServicesDep, principal: CurrentPrincipal,
    share_id: FromPath[str], folder: FromQuery[str] = "/", limit: FromQuery[int] = 1000,
    cursor: FromQuery[str | None] = None,
) -> Response[bytes]:
    page = await services.shares.list_folder(principal, share_id, folder, after=cursor,
                                             limit=limit)
    return ok(request, SharedFolderOut(
        share_id=page.share_id, folder=page.folder,
        files=[SharedEntryOut(id=e.id, type=e.kind, name=e.name, path=path, size=e.size,
                              mime_type=e.mime_type, checksum=e.checksum,
                              modified_at=clock.rfc3339(e.modified_at) or "")
               for path, e in page.entries],
        has_more=page.next_cursor is not None, next_cursor=page.next_cursor,
    ))


route_handlers = [create_share, list_shares, remove_share, list_shared_folder]
