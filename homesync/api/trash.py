"""The trash and version history: GET /trash?limit=&cursor=, POST /trash/{id}/restore,
DELETE /trash/{id}, GET /files/{id}/versions, POST /files/{id}/versions/{versionId}/restore."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery

from homesync.api.conflicts import actor_of
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.files import file_out
from homesync.api.schemas.queue import (
    FileResultOut,
    PurgedOut,
    TrashItemOut,
    TrashListOut,
    VersionListOut,
    VersionOut,
)
from homesync.api.sync import parse_int
from homesync.api.timestamps import format_ms, format_optional
from homesync.api.wire import ok
from homesync.cursors import decode_cursor, encode_cursor, not_a_cursor
from homesync.errors import ValidationError
from homesync.paths import join

__all__ = ["route_handlers"]

_MAX_PAGE = 1000


@get("/trash")
async def list_trash(request: Request[Any, Any, Any], services: ServicesDep,
                     principal: CurrentPrincipal, limit: FromQuery[str | None] = None,
                     offset: FromQuery[str | None] = None,
                     cursor: FromQuery[str | None] = None) -> Response[bytes]:
    size = parse_int(limit, "limit")
    size = 100 if size is None else size
    skip = parse_int(offset, "offset") or 0
    if size < 1 or skip < 0:
        raise ValidationError("limit must be at least 1 and offset not negative")
    if cursor and skip:
        raise ValidationError("pass cursor or offset, not both", field="cursor")
    size = min(size, _MAX_PAGE)
    # A cursor names the last entry of a page: what is restored or purged meanwhile does
    # not shift the next page, as it does an offset (which skipped an entry then).
    entries = await services.sync.trash.list(principal.user_id, limit=size + 1, offset=skip,
                                             after=_decode_cursor(cursor) if cursor else None)
    items = [TrashItemOut(
        id=e.id, type=e.kind, name=e.name, folder=e.folder, path=join(e.folder, e.name),
        size=e.size, checksum=e.checksum, modified_at=format_ms(e.modified_at),
        deleted_at=format_ms(e.deleted_at), purge_at=format_optional(e.purge_at),
        items=e.items, total_size=e.total_size,
    ) for e in entries[:size]]
    last = entries[size - 1] if len(entries) > size else None
    return ok(request, TrashListOut(
        items=items, has_more=last is not None,
        next_cursor=_encode_cursor(last.deleted_at, last.id) if last else None))


def _encode_cursor(deleted_at: int, file_id: str) -> str:
    return encode_cursor(f"t{deleted_at}.{file_id}")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    raw = decode_cursor(cursor, max_chars=200)
    at, _, file_id = raw[1:].partition(".")
    # ASCII digits under 2**63 (SQLite's integers): else a 500 from the query.
    if raw[:1] != "t" or not (at.isascii() and at.isdigit()) or len(at) > 18 or not file_id:
        raise not_a_cursor()
    return int(at), file_id


@post("/trash/{file_id:str}/restore", status_code=200)
async def restore_from_trash(request: Request[Any, Any, Any], services: ServicesDep,
                             principal: CurrentPrincipal,
                             file_id: FromPath[str]) -> Response[bytes]:
    info = await services.sync.trash.restore(principal.user_id, principal.device_id, file_id,
                                             caller=principal)
    return ok(request, FileResultOut(file=file_out(info)))


@delete("/trash/{file_id:str}", status_code=200)
async def purge(request: Request[Any, Any, Any], services: ServicesDep,
                principal: CurrentPrincipal, file_id: FromPath[str]) -> Response[bytes]:
    freed = await services.sync.trash.purge(principal.user_id, file_id, caller=principal)
    return ok(request, PurgedOut(file_id=file_id, purged=True, freed_bytes=freed))


@get("/files/{file_id:str}/versions")
async def list_versions(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal, file_id: FromPath[str]) -> Response[bytes]:
    info, versions = await services.sync.versions.list(principal.user_id, file_id)
    return ok(request, VersionListOut(file=file_out(info), versions=[VersionOut(
        id=v.id, size=v.size, checksum=v.checksum, mime_type=v.mime_type,
        modified_at=format_ms(v.modified_at), created_at=format_ms(v.created_at),
        device_id=v.device_id, device_name=v.device_name, is_current=v.is_current,
    ) for v in versions]))


@post("/files/{file_id:str}/versions/{version_id:str}/restore", status_code=200)
async def restore_version(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal, file_id: FromPath[str],
                          version_id: FromPath[str]) -> Response[bytes]:
    info = await services.sync.versions.restore(actor_of(principal), file_id, version_id,
                                                caller=principal)
    return ok(request, FileResultOut(file=file_out(info)))


route_handlers = [list_trash, restore_from_trash, purge, list_versions, restore_version]
