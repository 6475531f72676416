"""§Offline support: POST /queue/add, GET /queue?status=&limit=&cursor=, DELETE /queue/{id}."""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import unquote_to_bytes

from litestar import Request, Response, delete, get, post
from litestar.params import FromPath, FromQuery

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.queue import QueueAddIn, QueueAddOut, QueueListOut, QueueOpOut
from homesync.api.sync import error_out, parse_time
from homesync.api.timestamps import format_ms
from homesync.api.wire import ok, read_body
from homesync.services.sync.queue import MAX_PAGE, QueueOp, QueueOpView

__all__ = ["route_handlers"]


def _op_out(op: QueueOpView) -> QueueOpOut:
    return QueueOpOut(
        id=op.op_id, type=op.type, local_path=op.local_path, remote_path=op.remote_path,
        file_id=op.file_id, priority=op.priority, created_at=format_ms(op.created_at),
        received_at=format_ms(op.received_at), updated_at=format_ms(op.updated_at),
        status=op.status, error=error_out(op.error), result_file_id=op.result_file_id,
        conflict_id=op.conflict_id,
    )


@post("/queue/add", status_code=200)
async def add(request: Request[Any, Any, Any], services: ServicesDep,
              principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, QueueAddIn, services.settings.server.max_batch_body_bytes)
    now = clock.now_ms()
    ops = [QueueOp(op_id=o.id, type=o.type, local_path=o.local_path, remote_path=o.remote_path,
                   file_id=o.file_id, priority=o.priority,
                   created_at=parse_time(o.created_at, "createdAt") if o.created_at else now)
           for o in body.operations]
    views = await services.sync.queue.add(principal, ops, body.sync_token)
    return ok(request, QueueAddOut(operations=[_op_out(v) for v in views]))


@get("/queue")
async def list_queue(request: Request[Any, Any, Any], services: ServicesDep,
                     principal: CurrentPrincipal,
                     status: FromQuery[str | None] = None, limit: FromQuery[int] = MAX_PAGE,
                     cursor: FromQuery[str | None] = None) -> Response[bytes]:
    # Without limit, one page of MAX_PAGE: what the list was before it had pages.
    page = await services.sync.queue.list_ops(principal, status=status, limit=limit,
                                              cursor=cursor)
    return ok(request, QueueListOut(operations=[_op_out(v) for v in page.items],
                                    has_more=page.next_cursor is not None,
                                    next_cursor=page.next_cursor))


# A path parameter: the id is the app's own and may hold a "/" (sent as %2F or as is).
@delete("/queue/{op_id:path}", status_code=200)
async def cancel(request: Request[Any, Any, Any], services: ServicesDep,
                 principal: CurrentPrincipal, op_id: FromPath[str]) -> Response[bytes]:
    view = await services.sync.queue.cancel(principal, _sent_id(request, op_id))
    return ok(request, {"operation": _op_out(view)})


def _sent_id(request: Request[Any, Any, Any], op_id: str) -> str:
    """The operation id as the app sent it. The router's path value has "//" collapsed
    and the outer "/" dropped, so an id "/DCIM/1.jpg", "a/" or "a//b" named another one:
    it is read off the raw path (percent-decoded once) when the server passes that on."""
    raw = request.scope.get("raw_path")
    if isinstance(raw, bytes):
        _, found, sent = raw.partition(b"/queue/")  # the API's prefix holds no "/queue/"
        if found and sent:
            with contextlib.suppress(UnicodeDecodeError):
                return unquote_to_bytes(sent).decode("utf-8")
    return op_id.removeprefix("/")


route_handlers = [add, list_queue, cancel]
