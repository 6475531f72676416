"""Wire shapes of §Auth."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from homesync.api.schemas import RequestStruct, ResponseStruct

Platform = Literal["android", "ios", "web", "desktop"]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]


class DeviceInfoIn(RequestStruct):
    platform: Platform
    model: Annotated[str, Meta(max_length=200)]  # blank, too: refused by the service
    os_version: Annotated[str, Meta(max_length=100)]
    app_version: Annotated[str, Meta(max_length=100)]
    device_id: ShortText
    push_token: Annotated[str, Meta(max_length=4096)] | None = None


class RegisterIn(RequestStruct):
    email: Annotated[str, Meta(max_length=320)]
    password: Annotated[str, Meta(max_length=4096)]
    device_info: DeviceInfoIn


class RefreshIn(RequestStruct):
    refresh_token: Annotated[str, Meta(max_length=512)]
    device_id: ShortText


class UserOut(ResponseStruct):
    id: str
    email: str
    name: str


class TokensOut(ResponseStruct):
    access_token: str
    refresh_token: str
    expires_in: str


class RegisteredDeviceOut(ResponseStruct):
    id: str
    name: str
    registered_at: str


class SyncDataOut(ResponseStruct):
    last_sync_at: str | None
    pending_uploads: int
    cache_size: int


class RegisterOut(ResponseStruct):
    success: bool
    user: UserOut
    tokens: TokensOut
    device: RegisteredDeviceOut
    sync_data: SyncDataOut


class RefreshOut(ResponseStruct):
    success: bool
    tokens: TokensOut
