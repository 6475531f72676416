"""Internal value types shared by services, the API and the CLI (not wire shapes)."""

from __future__ import annotations

from msgspec import Struct

__all__ = ["DeviceInfo", "Principal", "UserInfo"]


class UserInfo(Struct, frozen=True, kw_only=True):
    id: str
    email: str
    name: str
    is_admin: bool
    quota_bytes: int
    used_bytes: int
    created_at: int
    locked: bool = False
    device_count: int = 0


class DeviceInfo(Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    client_id: str
    name: str
    platform: str
    model: str
    os_version: str
    app_version: str
    registered_at: int
    last_active_at: int
    last_sync_at: int | None
    settings: dict[str, object]
    has_push: bool = False
    email: str | None = None


class Principal(Struct, frozen=True, kw_only=True):
    """Who is calling: an authenticated user on one of their active devices."""

    user_id: str
    email: str
    name: str
    is_admin: bool
    device_id: str
    client_id: str
    device_name: str
    family_id: str
    settings: dict[str, object]
    # The access token the call came with: the key that signed it, and the moment (ms)
    # from which it is refused as expired (its ``exp`` plus the clock leeway). A parked
    # long poll ends by then, and when that key is retired (sync.notifier).
    kid: str = ""
    token_refused_at: int | None = None
