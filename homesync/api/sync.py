"""§File synchronisation: GET /sync/status (deltas, long poll), POST /sync/files."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromQuery, QueryParameter

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep, bearer_principal
from homesync.api.schemas.sync import (
    ChangeResultOut,
    ChangesOut,
    ConflictOut,
    ConflictSideOut,
    DeletedEntryOut,
    ErrorOut,
    LocalChangeIn,
    SyncEntryOut,
    SyncFilesIn,
    SyncFilesOut,
    SyncStatusOut,
)
from homesync.api.timestamps import format_ms, format_optional
from homesync.api.wire import ok, read_body
from homesync.errors import ValidationError
from homesync.services.sync.changes import SyncStatus
from homesync.services.sync.conflicts import ConflictSide, ConflictView
from homesync.services.sync.types import ChangeResult, ErrorInfo, LocalChange, error_info
from homesync.store.changes import DeltaRow

__all__ = ["conflict_out", "error_out", "parse_int", "parse_time", "route_handlers"]

_WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def parse_int(value: str | None, field: str) -> int | None:
    """A whole-number query parameter (None when absent), else 400 naming it."""
    if value is None or value == "":
        return None
    text = value.strip()
    # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses (a 500).
    if not _WHOLE_NUMBER.fullmatch(text) or len(text) > 12:
        raise ValidationError(f"{field} must be a whole number", field=field)
    return int(text)


def parse_time(value: str, field: str) -> int:
    """An RFC 3339 timestamp in milliseconds, else 400 naming the field."""
    try:
        return clock.from_rfc3339(value)
    except (ValueError, OverflowError, OSError):
        raise ValidationError(f"{field} must be an RFC 3339 time such as "
                              "2024-01-20T15:30:00Z", field=field) from None


def error_out(error: ErrorInfo | None) -> ErrorOut | None:
    return ErrorOut(code=error.code, message=error.message) if error else None


def _side(side: ConflictSide) -> ConflictSideOut:
    return ConflictSideOut(
        file_id=side.file_id, entry_type=side.kind, action=side.action, local_id=side.local_id,
        name=side.name, folder=side.folder, size=side.size, checksum=side.checksum,
        modified_at=format_optional(side.modified_at),
        deleted_at=format_optional(side.deleted_at), version_id=side.version_id,
        device_id=side.device_id, device_name=side.device_name,
    )


def conflict_out(view: ConflictView) -> ConflictOut:
    return ConflictOut(id=view.id, type=view.kind, file_id=view.file_id,
                       created_at=format_ms(view.created_at), local=_side(view.local),
                       remote=_side(view.remote))


def _entry(row: DeltaRow) -> SyncEntryOut:
    # Columns by position, as store.changes.DELTA_COLUMNS lists them (pages are large).
    return SyncEntryOut(id=row[0], type=row[1], name=row[2], folder=row[3], size=row[4],
                        modified_at=format_ms(row[5]), checksum=row[6], mime_type=row[7])


async def _disconnected(request: Request[Any, Any, Any]) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request[Any, Any, Any],
                               poll: Coroutine[Any, Any, SyncStatus]) -> SyncStatus | None:
    """The long poll's answer, or None if the client hung up first.

    Servers do not cancel a request whose client is gone; without this a phone on a
    flaky network would leave a parked poll behind at every reconnect until ``wait`` ran out.
    """
    answer = asyncio.ensure_future(poll)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((answer, gone), return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (answer, gone):
            if not task.done():
                task.cancel()
    return answer.result() if answer.done() and not answer.cancelled() else None


@get("/sync/status")
async def sync_status(
    request: Request[Any, Any, Any], services: ServicesDep, principal: CurrentPrincipal,
    sync_token: Annotated[str | None, QueryParameter(name="syncToken")] = None,
    last_sync: Annotated[str | None, QueryParameter(name="lastSync")] = None,
    limit: FromQuery[str | None] = None, wait: FromQuery[str | None] = None,
) -> Response[bytes]:
    seconds = parse_int(wait, "wait") or 0
    poll = services.sync.changes.status(
        principal,
        sync_token=sync_token or None,
        last_sync=parse_time(last_sync, "lastSync") if last_sync and not sync_token else None,
        limit=parse_int(limit, "limit"),
        wait=seconds,
    )
    if seconds > 0:
        status = await _unless_disconnected(request, poll)
        if status is None:  # the phone went away while the poll was parked: nobody to answer
            return Response(content=b"", status_code=204)
        # The device may have been signed out or removed while the poll was parked:
        # revocation holds for answers too, not just for new requests. Still one request
        # as far as the rate limit goes.
        await bearer_principal(request, services, count=False)
    else:
        status = await poll
    synced_at = format_ms(status.synced_at)
    deleted = [DeletedEntryOut(id=r[0], deleted_at=format_ms(r[8]) if r[8] else synced_at)
               for r in status.deleted]
    return ok(request, SyncStatusOut(
        last_sync_at=synced_at,
        has_changes=bool(status.created or status.updated or status.deleted),
        has_more=status.has_more,
        changes=ChangesOut(created=[_entry(r) for r in status.created],
                           updated=[_entry(r) for r in status.updated], deleted=deleted),
        conflicts=[conflict_out(c) for c in status.conflicts],
        next_sync_token=status.next_token,
        reset=status.reset,
    ))


def _result_out(result: ChangeResult) -> ChangeResultOut:
    return ChangeResultOut(local_id=result.local_id, status=result.status,
                           file_id=result.file_id, conflict_id=result.conflict_id,
                           error=error_out(result.error))


def _local_change(c: LocalChangeIn) -> LocalChange:
    """One change as the engine takes it. A ``lastModified`` that is no time rejects this
    change only (its result says why), as a bad path does: the rest of the batch applies."""
    modified_at: int | None = None
    invalid: ErrorInfo | None = None
    if c.last_modified:
        try:
            modified_at = parse_time(c.last_modified, "lastModified")
        except ValidationError as exc:
            invalid = error_info(exc)
    return LocalChange(action=c.action, local_id=c.local_id, file_id=c.file_id, name=c.name,
                       folder=c.folder, size=c.size, checksum=c.checksum,
                       mime_type=c.mime_type, modified_at=modified_at, restore=c.restore,
                       invalid=invalid)


@post("/sync/files", status_code=200)
async def sync_files(request: Request[Any, Any, Any], services: ServicesDep,
                     principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, SyncFilesIn, services.settings.server.max_batch_body_bytes)
    changes = [_local_change(c) for c in body.local_changes]
    batch = await services.sync.local.apply(principal, body.sync_token, changes)
    return ok(request, SyncFilesOut(results=[_result_out(r) for r in batch.results],
                                    next_sync_token=batch.next_token))


route_handlers = [sync_status, sync_files]
