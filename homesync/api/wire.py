"""One code path, two encodings: JSON by default, MessagePack on request.

A client sending ``Accept: application/msgpack`` gets MessagePack answers (the seed's
"reduced payload sizes"), and may send ``Content-Type: application/msgpack`` bodies.
Bodies are read with an explicit size limit and decoded straight into msgspec Structs,
so wrong types and unknown fields become a 400 envelope naming the field.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import InternalServerException

from homesync.errors import (
    ClientClosedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)

__all__ = ["MSGPACK_TYPES", "body_stream", "envelope", "ok", "read_body", "respond",
           "wants_msgpack"]

T = TypeVar("T")

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")
_JSON = "application/json"

_json_encoder = msgspec.json.Encoder()
_msgpack_encoder = msgspec.msgpack.Encoder()


def wants_msgpack(request: Request[Any, Any, Any]) -> bool:
    accept = request.headers.get("accept", "")
    return any(t in accept for t in MSGPACK_TYPES)


def respond(request: Request[Any, Any, Any], payload: Any, status: int = 200,
            headers: dict[str, str] | None = None) -> Response[bytes]:
    """``payload`` encoded as the client prefers."""
    if wants_msgpack(request):
        body, media_type = _msgpack_encoder.encode(payload), MSGPACK_TYPES[0]
    else:
        body, media_type = _json_encoder.encode(payload), _JSON
    return Response(content=body, status_code=status, media_type=media_type, headers=headers)


class _Envelope(msgspec.Struct):
    success: bool
    data: Any


def envelope(data: Any) -> _Envelope:
    return _Envelope(success=True, data=data)


def ok(request: Request[Any, Any, Any], data: Any, status: int = 200,
       headers: dict[str, str] | None = None) -> Response[bytes]:
    """The contract's success envelope ``{"success": true, "data": ...}``."""
    return respond(request, _Envelope(success=True, data=data), status, headers)


async def body_stream(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    """The request body as it arrives (``request.stream()``); a client that hangs up before
    the end is :class:`ClientClosedRequest`, where Litestar raises a 500 (the only
    InternalServerException its stream raises)."""
    try:
        async for part in request.stream():
            yield part
    except InternalServerException:
        raise ClientClosedRequest() from None


async def _read_limited(request: Request[Any, Any, Any], limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise PayloadTooLarge(f"Request body is larger than {limit} bytes", limit=limit)
        except ValueError:
            raise ValidationError("Content-Length is not a number") from None
    parts: list[bytes] = []
    total = 0
    async for part in body_stream(request):
        total += len(part)
        if total > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes", limit=limit)
        parts.append(part)
    return b"".join(parts)


async def read_body(request: Request[Any, Any, Any], type_: type[T], limit: int) -> T:
    """The request body decoded into ``type_`` (JSON or MessagePack by Content-Type)."""
    content_type = request.headers.get("content-type", _JSON).split(";")[0].strip().lower()
    raw = await _read_limited(request, limit)
    if not raw:
        raise ValidationError("Request body is empty")
    try:
        if content_type in MSGPACK_TYPES:
            return msgspec.msgpack.decode(raw, type=type_, ext_hook=_no_extension_types)
        if content_type in (_JSON, "") or content_type.endswith("+json"):
            return msgspec.json.decode(raw, type=type_)
    except msgspec.ValidationError as exc:
        raise ValidationError(_friendly(str(exc))) from None
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise ValidationError("Request body is not valid "
                              f"{'MessagePack' if content_type in MSGPACK_TYPES else 'JSON'}") from None
    raise UnsupportedMediaType(f"Send {_JSON} or {MSGPACK_TYPES[0]}, not {content_type}")


def _no_extension_types(code: int, data: memoryview) -> Any:
    # What JSON cannot carry either: an Ext in free-form fields (upload metadata) would
    # reach the database and fail there to be stored as JSON. Timestamps never get here.
    raise ValidationError(f"MessagePack extension type {code} is not accepted")


def _friendly(message: str) -> str:
    # msgspec: "Expected `int`, got `str` - at `$.files[0].size`" → keep it, drop the "$."
    return message.replace("`$.", "`").replace("`$`", "the body")
