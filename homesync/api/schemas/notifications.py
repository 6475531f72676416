"""Wire shapes of §Push notifications and the inbox."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import UNSET, Meta, UnsetType

from homesync.api.schemas import RequestStruct, ResponseStruct

Platform = Literal["android", "ios", "web", "desktop"]


class QuietHoursIn(RequestStruct):
    """Quiet hours; on PUT only the fields sent change. ``start``/``end`` are ``HH:MM``."""

    enabled: bool | UnsetType = UNSET
    start: Annotated[str, Meta(max_length=5)] | UnsetType = UNSET
    end: Annotated[str, Meta(max_length=5)] | UnsetType = UNSET
    timezone: Annotated[str, Meta(max_length=64)] | UnsetType = UNSET


class PreferencesIn(RequestStruct):
    """The body of ``PUT /notifications/preferences`` and ``preferences`` of register."""

    uploads: bool | UnsetType = UNSET
    shares: bool | UnsetType = UNSET
    storage: bool | UnsetType = UNSET
    security: bool | UnsetType = UNSET
    quiet_hours: QuietHoursIn | UnsetType = UNSET


class RegisterPushIn(RequestStruct):
    device_id: Annotated[str, Meta(min_length=1, max_length=200)]
    # null (or "") stops pushes to this device; the inbox keeps working.
    push_token: Annotated[str, Meta(max_length=4096)] | None
    platform: Platform
    preferences: PreferencesIn | UnsetType = UNSET


class QuietHoursOut(ResponseStruct):
    enabled: bool
    start: str
    end: str
    timezone: str


class PreferencesOut(ResponseStruct):
    uploads: bool
    shares: bool
    storage: bool
    security: bool
    quiet_hours: QuietHoursOut


class PushStatusOut(ResponseStruct):
    registered: bool
    transport: str | None
    pending: int
    last_delivered_at: str | None
    last_error: str | None


class DevicePushOut(ResponseStruct):
    device_id: str
    preferences: PreferencesOut
    push: PushStatusOut


class NotificationOut(ResponseStruct):
    id: str
    category: str
    kind: str
    title: str
    body: str
    data: dict[str, str]
    created_at: str
    read: bool
    read_at: str | None


class InboxOut(ResponseStruct):
    notifications: list[NotificationOut]
    unread_count: int
    has_more: bool
    next_cursor: str | None


class ReadAllOut(ResponseStruct):
    marked_read: int  # how many were unread
