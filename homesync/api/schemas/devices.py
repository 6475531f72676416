"""Wire shapes of §Device management."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, UnsetType

from homesync.api.schemas import RequestStruct, ResponseStruct


class DeviceSettingsIn(RequestStruct):
    """A partial update: only the fields sent change."""

    auto_upload: bool | UnsetType = UNSET
    background_sync: bool | UnsetType = UNSET
    wifi_only: bool | UnsetType = UNSET
    upload_quality: str | UnsetType = UNSET
    # Up to 8192 as sync/files' folders: one under /Shared with me is longer than the
    # owner's path there (paths.normalize_folder holds it to its limits).
    sync_folders: list[Annotated[str, Meta(max_length=8192)]] | UnsetType = UNSET
    max_cache_size: Annotated[int, Meta(ge=0, le=2**62)] | UnsetType = UNSET


class DeviceSettingsOut(ResponseStruct):
    auto_upload: bool
    background_sync: bool
    wifi_only: bool
    upload_quality: str
    sync_folders: list[str]
    max_cache_size: int


class DeviceOut(ResponseStruct):
    id: str
    name: str
    platform: str
    model: str
    os_version: str
    app_version: str
    registered_at: str
    last_active_at: str
    last_sync_at: str | None
    is_current: bool
    push_enabled: bool
    settings: DeviceSettingsOut


class DeviceListOut(ResponseStruct):
    devices: list[DeviceOut]
    current_device: str


class DeviceRemovedOut(ResponseStruct):
    device_id: str
    removed: bool
