"""§Push notifications: register, preferences, and the inbox.

- ``POST /notifications/register``: the calling device's push token, platform and
  (optionally) preferences.
- ``GET``/``PUT /notifications/preferences``: the calling device's preferences.
- ``GET /notifications?unread=&category=&limit=&cursor=``: the inbox, newest first.
- ``POST /notifications/{id}/read[?summary=true]``, ``POST /notifications/read-all``.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post, put
from litestar.params import FromPath, FromQuery

from homesync import clock
from homesync.api.deps import CurrentPrincipal, ServicesDep
from homesync.api.schemas.notifications import (
    DevicePushOut,
    InboxOut,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    PushStatusOut,
    QuietHoursOut,
    ReadAllOut,
    RegisterPushIn,
)
from homesync.api.wire import ok, read_body
from homesync.services.notifications.quiet_hours import format_hhmm
from homesync.services.notifications.service import (
    DevicePush,
    InboxItem,
    PreferenceChanges,
    QuietHoursChanges,
)

__all__ = ["route_handlers"]


def _unset_to_none(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


def _changes(body: PreferencesIn) -> PreferenceChanges:
    quiet = None
    if body.quiet_hours is not msgspec.UNSET:
        q = body.quiet_hours
        quiet = QuietHoursChanges(enabled=_unset_to_none(q.enabled), start=_unset_to_none(q.start),
                                  end=_unset_to_none(q.end), timezone=_unset_to_none(q.timezone))
    return PreferenceChanges(
        uploads=_unset_to_none(body.uploads), shares=_unset_to_none(body.shares),
        storage=_unset_to_none(body.storage), security=_unset_to_none(body.security),
        quiet_hours=quiet,
    )


def _device_push_out(result: DevicePush) -> DevicePushOut:
    p, q, s = result.preferences, result.preferences.quiet_hours, result.push
    return DevicePushOut(
        device_id=result.device_id,
        preferences=PreferencesOut(
            uploads=p.uploads, shares=p.shares, storage=p.storage, security=p.security,
            quiet_hours=QuietHoursOut(enabled=q.enabled, start=format_hhmm(q.start),
                                      end=format_hhmm(q.end), timezone=q.timezone),
        ),
        push=PushStatusOut(registered=s.registered, transport=s.transport, pending=s.pending,
                           last_delivered_at=clock.rfc3339(s.last_delivered_at),
                           last_error=s.last_error),
    )


def _notification_out(item: InboxItem) -> NotificationOut:
    return NotificationOut(
        id=item.id, category=item.category, kind=item.kind, title=item.title, body=item.body,
        data=item.data, created_at=clock.rfc3339(item.created_at) or "",
        read=item.read_at is not None, read_at=clock.rfc3339(item.read_at),
    )


@post("/notifications/register", status_code=200)
async def register_push(request: Request[Any, Any, Any], services: ServicesDep,
                        principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, RegisterPushIn, services.settings.server.max_json_body_bytes)
    changes = None if body.preferences is msgspec.UNSET else _changes(body.preferences)
    result = await services.notifications.register(
        principal, device_id=body.device_id, push_token=body.push_token, platform=body.platform,
        changes=changes,
    )
    return ok(request, _device_push_out(result))


@get("/notifications/preferences")
async def get_preferences(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal) -> Response[bytes]:
    return ok(request, _device_push_out(await services.notifications.preferences(principal)))


@put("/notifications/preferences")
async def put_preferences(request: Request[Any, Any, Any], services: ServicesDep,
                          principal: CurrentPrincipal) -> Response[bytes]:
    body = await read_body(request, PreferencesIn, services.settings.server.max_json_body_bytes)
    result = await services.notifications.update_preferences(principal, _changes(body))
    return ok(request, _device_push_out(result))


@get("/notifications")
async def list_inbox(
    request: Request[Any, Any, Any], services: ServicesDep, principal: CurrentPrincipal,
    unread: FromQuery[bool] = False, category: FromQuery[str | None] = None,
    limit: FromQuery[int] = 50, cursor: FromQuery[str | None] = None,
) -> Response[bytes]:
    page = await services.notifications.inbox(principal, limit=limit, unread_only=unread,
                                               category=category, cursor=cursor)
    return ok(request, InboxOut(
        notifications=[_notification_out(i) for i in page.items],
        unread_count=page.unread_count, has_more=page.next_cursor is not None,
        next_cursor=page.next_cursor,
    ))


@post("/notifications/read-all", status_code=200)
async def read_all(request: Request[Any, Any, Any], services: ServicesDep,
                   principal: CurrentPrincipal) -> Response[bytes]:
    marked = await services.notifications.mark_all_read(principal)
    return ok(request, ReadAllOut(marked_read=marked))


@post("/notifications/{notification_id:str}/read", status_code=200)
async def read_one(request: Request[Any, Any, Any], services: ServicesDep,
                   principal: CurrentPrincipal, notification_id: FromPath[str],
                   summary: FromQuery[bool] = False) -> Response[bytes]:
    item = await services.notifications.mark_read(principal, notification_id, summary=summary)
    return ok(request, {"notification": _notification_out(item)})


route_handlers = [register_push, get_preferences, put_preferences, list_inbox, read_all, read_one]
