"""GET /files?folder=, GET /files/{id}, GET|HEAD /files/{id}/content (Range, ETag, Last-Modified)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get, head
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.files import FileListOut, FileOut
from homesync.api.wire import ok
from homesync.paths import join
from homesync.services.files.downloads import Content
from homesync.services.files.preconditions import http_date, quoted_etag
from homesync.services.files.views import FileInfo

__all__ = ["file_out", "route_handlers"]


def file_out(info: FileInfo) -> FileOut:
    return FileOut(
        id=info.id, type=info.kind, name=info.name, folder=info.folder,
        path=join(info.folder, info.name), size=info.size, mime_type=info.mime_type,
        checksum=info.checksum, modified_at=clock.rfc3339(info.modified_at) or "",
        created_at=clock.rfc3339(info.created_at) or "", version_id=info.version_id,
        metadata=info.metadata,
    )


@get("/files")
async def list_files(
    request: Request[Any, Any, Any], services: ServicesDep, principal: CurrentPrincipal,
    folder: FromQuery[str] = "/",
    limit: FromQuery[int] = 1000,
    cursor: FromQuery[str | None] = None,
) -> Response[bytes]:
    listing = await services.downloads.list_folder(principal.user_id, folder, after=cursor,
                                                   limit=limit)
    return ok(request, FileListOut(folder=listing.folder,
                                   files=[file_out(e) for e in listing.entries],
                                   has_more=listing.next_cursor is not None,
                                   next_cursor=listing.next_cursor))


@get("/files/{file_id:str}")
async def get_file(request: Request[Any, Any, Any], services: ServicesDep,
                   principal: CurrentPrincipal, file_id: FromPath[str]) -> Response[bytes]:
    return ok(request, file_out(await services.downloads.get(principal.user_id, file_id)))


def _content_headers(content: Content) -> dict[str, str]:
    name = content.file.name
    fallback = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = {
        "ETag": quoted_etag(content.etag),
        "Accept-Ranges": "bytes",
        "Cache-Control": "private, no-cache",
        "Content-Length": str(content.length),
        "Content-Disposition": f"attachment; filename=\"{fallback}\"; "
                               f"filename*=UTF-8''{quote(name, safe='')}",
        "Last-Modified": http_date(content.stored_at),
        "X-Content-Type-Options": "nosniff",
        # Set here, not as a media type, which would add "; charset=utf-8" to text/* on
        # GET only: the type is the uploaded one, on GET and HEAD alike.
        "Content-Type": content.mime_type,
    }
    if content.partial:
        headers["Content-Range"] = f"bytes {content.start}-{content.end}/{content.size}"
    return headers


def _header(request: Request[Any, Any, Any], name: str) -> str | None:
    """Every line of a header, as one comma-separated value (RFC 9110 §5.3): an
    If-None-Match list may come over several lines; a header that allows one value and
    comes twice then does not parse, and is ignored like any value that does not."""
    lines = request.headers.getall(name, None)
    return ", ".join(lines) if lines else None


async def _open(request: Request[Any, Any, Any], services: ServicesDep,
                principal: CurrentPrincipal, file_id: str) -> Content:
    return await services.downloads.open_content(
        principal.user_id, file_id, range_header=_header(request, "range"),
        if_range=_header(request, "if-range"),
        if_none_match=_header(request, "if-none-match"),
        if_modified_since=_header(request, "if-modified-since"),
        if_unmodified_since=_header(request, "if-unmodified-since"),
        if_match=_header(request, "if-match"))


async def _not_modified(content: Content) -> Response[None] | None:
    """304 when the client's copy is current (``If-None-Match``, else ``If-Modified-Since``),
    for GET and HEAD alike."""
    if not content.not_modified:
        return None
    await content.body.aclose()
    return Response(content=None, status_code=304, headers={
        "ETag": quoted_etag(content.etag), "Cache-Control": "private, no-cache"})


@get("/files/{file_id:str}/content")
async def download(request: Request[Any, Any, Any], services: ServicesDep,
                   principal: CurrentPrincipal, file_id: FromPath[str]) -> Response[Any]:
    content = await _open(request, services, principal, file_id)
    if (unchanged := await _not_modified(content)) is not None:
        return unchanged
    return Stream(content.body, status_code=206 if content.partial else 200,
                  headers=_content_headers(content))


@head("/files/{file_id:str}/content")
async def download_head(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal, file_id: FromPath[str]) -> Response[None]:
    content = await _open(request, services, principal, file_id)
    if (unchanged := await _not_modified(content)) is not None:
        return unchanged
    await content.body.aclose()
    # What a GET would send, minus the bytes.
    return Response(content=None, status_code=206 if content.partial else 200,
                    headers=_content_headers(content))


route_handlers = [list_files, get_file, download, download_head]
