"""§Background upload: init, chunk PUTs, status, progress, complete, cancel.

Chunk bodies are never read whole: the request stream (``wire.body_stream``) goes to the
uploads service, which hashes and writes each piece as it arrives and stops the moment a
body runs past its chunk's length.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.params import FromPath
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep, bearer_principal
from homesync.api.files import file_out
from homesync.api.schemas.uploads import (
    ChunkOut,
    ChunkPutOut,
    CompleteIn,
    CompleteOut,
    ErrorOut,
    InitFileOut,
    InitIn,
    InitOut,
    ProgressIn,
    UploadStatusOut,
)
from homesync.api.wire import body_stream, ok, read_body
from homesync.errors import ChunkSizeMismatch, PayloadTooLarge, ValidationError
from homesync.services.container import Services
from homesync.services.uploads.types import (
    ChunkTarget,
    FileRequest,
    InitEntry,
    UploadOptions,
    UploadState,
)

__all__ = ["route_handlers"]

_CONTENT_RANGE = re.compile(r"^bytes (\d{1,19})-(\d{1,19})/(\d{1,19}|\*)$")


# -- URLs ------------------------------------------------------------------------------


def _base_url(request: Request[Any, Any, Any], services: Services) -> str:
    """Absolute URLs start from the configured public URL, else from the request's host."""
    public = services.settings.server.public_url.rstrip("/")
    return public or str(request.base_url).rstrip("/")


def _file_url(request: Request[Any, Any, Any], services: Services, state: UploadState) -> str:
    path = request.app.route_reverse("upload_chunk_file", upload_id=state.id)
    return f"{_base_url(request, services)}{path}"


def _query(state: UploadState) -> str:
    return urlencode({"exp": state.url_exp, "sig": state.url_sig})


def _chunks(file_url: str, state: UploadState, indexes: list[int] | None = None) -> list[ChunkOut]:
    query = _query(state)
    return [ChunkOut(index=s.index, start=s.start, end=s.end,
                     upload_url=f"{file_url}/{s.index}?{query}")
            for s in state.spans(indexes)]


def _status_out(request: Request[Any, Any, Any], services: Services,
                state: UploadState) -> UploadStatusOut:
    live = state.status in ("pending", "uploading", "paused", "failed")
    file_url = _file_url(request, services, state)
    return UploadStatusOut(
        upload_id=state.id, upload_session=state.session_id, local_id=state.local_id,
        name=state.name, folder=state.folder, size=state.size, mime_type=state.mime_type,
        checksum=state.checksum, priority=state.priority, wifi_only=state.wifi_only,
        max_retries=state.max_retries, chunk_size=state.chunk_size, status=state.status,
        completed_chunks=state.completed_chunks, missing_chunks=state.missing_chunks,
        bytes_uploaded=state.bytes_uploaded, total_chunks=state.total_chunks,
        expires_at=clock.rfc3339(state.expires_at) or "", file_id=state.file_id,
        upload_url=f"{file_url}?{_query(state)}" if live else None,
        chunks=_chunks(file_url, state, state.missing_chunks) if live else [],
    )


def _entry_out(request: Request[Any, Any, Any], services: Services,
               entry: InitEntry) -> InitFileOut:
    state = entry.upload
    if state is None:
        error = (ErrorOut(code=entry.error_code, message=entry.error_message or "")
                 if entry.error_code else None)
        return InitFileOut(local_id=entry.local_id, status=entry.status, file_id=entry.file_id,
                           conflicted_with=entry.conflicted_with, error=error)
    file_url = _file_url(request, services, state)
    return InitFileOut(
        local_id=entry.local_id, status=state.status, upload_id=state.id,
        upload_url=f"{file_url}?{_query(state)}", chunks=_chunks(file_url, state),
        total_chunks=state.total_chunks, chunk_size=state.chunk_size,
        completed_chunks=state.completed_chunks,
    )


# -- handlers --------------------------------------------------------------------------


@post("/upload/init", status_code=200)
async def init_upload(request: Request[Any, Any, Any], services: ServicesDep,
                      principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, InitIn, services.settings.server.max_batch_body_bytes)
    options = body.upload_options
    result = await services.uploads.init(
        user_id=principal.user_id, device_id=principal.device_id,
        requests=[FileRequest(local_id=f.local_id, name=f.name, folder=f.folder, size=f.size,
                              checksum=f.checksum, mime_type=f.mime_type, priority=f.priority,
                              file_id=f.file_id, restore=f.restore, sync_token=f.sync_token)
                  for f in body.files],
        options=UploadOptions(wifi_only=options.wifi_only, chunk_size=options.chunk_size or None,
                              max_retries=options.max_retries),
        caller=principal,
    )
    return ok(request, InitOut(
        upload_session=result.session_id,
        files=[_entry_out(request, services, e) for e in result.entries],
        expires_at=clock.rfc3339(result.expires_at) or "",
    ))


async def _authorize_chunk(request: Request[Any, Any, Any], services: Services, upload_id: str,
                           index: str | None,
                           byte_range: tuple[int, int, int | None] | None = None) -> ChunkTarget:
    """The owner's Bearer token, or the upload's signed URL (OS background uploaders)."""
    exp, sig = request.query_params.get("exp"), request.query_params.get("sig")
    if exp is not None and sig is not None:
        return await services.uploads.receiver.chunk_target(upload_id, index, byte_range, user_id=None,
                                                   url_exp=exp, url_sig=sig)
    # Not a dependency of the route: a signed URL needs no Bearer header at all. Not
    # counted against the device's API rate limit: chunk PUTs have their own (in flight).
    principal = await bearer_principal(request, services, count=False)
    return await services.uploads.receiver.chunk_target(upload_id, index, byte_range,
                                               user_id=principal.user_id)


def _check_declared_length(request: Request[Any, Any, Any], target: ChunkTarget) -> None:
    """Refuse a body of the wrong declared length before reading a byte of it."""
    declared = request.headers.get("content-length")
    if declared is None:
        return  # chunked transfer: the service counts as the bytes arrive
    if not (declared.isascii() and declared.isdigit()) or len(declared) > 19:
        raise ValidationError("Content-Length is not a number")
    if int(declared) > target.length:
        raise PayloadTooLarge(f"Chunk {target.index} has {target.length} bytes",
                              expected=target.length, declared=int(declared))
    if int(declared) < target.length:
        raise ChunkSizeMismatch(f"Chunk {target.index} must have {target.length} bytes",
                                expected=target.length, declared=int(declared))


async def _receive(request: Request[Any, Any, Any], services: Services,
                   target: ChunkTarget) -> Response[bytes]:
    _check_declared_length(request, target)
    receipt = await services.uploads.receiver.receive_chunk(
        target, body_stream(request), checksum=request.headers.get("x-chunk-checksum"))
    return ok(request, ChunkPutOut(
        upload_id=receipt.upload_id, index=receipt.index, bytes_received=receipt.bytes_received,
        completed_chunks=receipt.completed_chunks, total_chunks=receipt.total_chunks,
        status=receipt.status,
    ))


def _close_when_too_large(app: ASGIApp) -> ASGIApp:
    """A 413 answer to a chunk PUT also closes the connection.

    The service stops reading a body the moment it runs past the chunk's length; without
    ``Connection: close`` the HTTP server would keep the connection and quietly drain
    the rest — a client could push a gigabyte at a URL meant for 8 MiB. Other refusals
    (401, 404, 409, 410, ...) keep the connection: their bodies are at most one chunk,
    and an abrupt close could cost the client (or a proxy in front) the answer itself.
    """

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 413:
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_closing)

    return middleware


@put("/upload/chunk/{upload_id:str}/{index:str}", name="upload_chunk", status_code=200,
     middleware=[_close_when_too_large])
async def put_chunk(request: Request[Any, Any, Any], services: ServicesDep,
                    upload_id: FromPath[str], index: FromPath[str]) -> Response[bytes]:
    target = await _authorize_chunk(request, services, upload_id, index)
    return await _receive(request, services, target)


@put("/upload/chunk/{upload_id:str}", name="upload_chunk_file", status_code=200,
     middleware=[_close_when_too_large])
async def put_chunk_by_range(request: Request[Any, Any, Any], services: ServicesDep,
                             upload_id: FromPath[str]) -> Response[bytes]:
    """The file-level URL: the chunk is named by ``X-Chunk-Index`` or ``Content-Range``."""
    index = request.headers.get("x-chunk-index")
    byte_range: tuple[int, int, int | None] | None = None
    if index is None:
        m = _CONTENT_RANGE.match(request.headers.get("content-range", ""))
        if not m:
            raise ValidationError("Send X-Chunk-Index, or Content-Range: bytes <start>-<end>/<size>"
                                  ", or use the chunk's own URL")
        byte_range = (int(m.group(1)), int(m.group(2)),
                      None if m.group(3) == "*" else int(m.group(3)))
    target = await _authorize_chunk(request, services, upload_id, index, byte_range)
    return await _receive(request, services, target)


@get("/upload/{upload_id:str}")
async def upload_status(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal, upload_id: FromPath[str]) -> Response[bytes]:
    state = await services.uploads.status(principal.user_id, upload_id)
    return ok(request, _status_out(request, services, state))


@delete("/upload/{upload_id:str}", status_code=200)
async def cancel_upload(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal, upload_id: FromPath[str]) -> Response[bytes]:
    state = await services.uploads.cancel(principal.user_id, upload_id, caller=principal)
    return ok(request, _status_out(request, services, state))


@post("/upload/progress", status_code=200)
async def upload_progress(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, ProgressIn, services.settings.server.max_batch_body_bytes)
    state = await services.uploads.progress(principal.user_id, body.upload_id,
                                            status=body.status,
                                            bytes_uploaded=body.bytes_uploaded,
                                            caller=principal)
    return ok(request, _status_out(request, services, state))


def _json_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """``metadata`` as JSON would carry it (it is stored as JSON).

    A MessagePack body can nest maps whose keys JSON has no form for (nil, true, an array).
    A JSON body can hold integers MessagePack has no form for (past 64 bits): stored, they
    would make every MessagePack answer showing the file a 500.
    """
    try:
        encoded = msgspec.json.encode(metadata)
    except TypeError:
        raise ValidationError("metadata must be JSON: map keys are strings or numbers",
                              field="metadata") from None
    try:
        msgspec.msgpack.encode(metadata)
    except OverflowError:
        raise ValidationError("metadata integers must be between -2**63 and 2**64 - 1",
                              field="metadata") from None
    decoded: dict[str, Any] = msgspec.json.decode(encoded)
    return decoded


@post("/upload/complete", status_code=200)
async def complete_upload(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, CompleteIn, services.settings.server.max_json_body_bytes)
    result = await services.uploads.complete(
        user_id=principal.user_id, device_id=principal.device_id, upload_id=body.upload_id,
        checksum=body.checksum, metadata=_json_metadata(body.metadata), caller=principal)
    return ok(request, CompleteOut(upload_id=result.upload_id, file_id=result.file.id,
                                   file=file_out(result.file),
                                   conflicted_with=result.conflicted_with))


route_handlers = [init_upload, put_chunk, put_chunk_by_range, upload_status, cancel_upload,
                  upload_progress, complete_upload]
