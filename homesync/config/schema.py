"""The settings schema: one Struct per section, every option with its default."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from homesync.config.units import (
    Duration,
    ListenHost,
    MetricsAddress,
    PublicUrl,
    Size,
    parse_duration,
    parse_size,
)

__all__ = [
    "AuthSettings",
    "NotificationSettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "SyncSettings",
    "UploadSettings",
    "default_data_dir",
]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/homesync`` (usually ``~/.local/share/homesync``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "homesync"


class _Section(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerSettings(_Section):
    host: ListenHost = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    # Base of the absolute URLs the server hands out (chunk upload URLs). Empty: from the request.
    public_url: PublicUrl = ""
    # Trust X-Forwarded-For from these proxy addresses when throttling by client address.
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    max_json_body: Size = "1MiB"
    max_batch_body: Size = "4MiB"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # "text" for people, "json" (one object per line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    # Access lines: "errors" (answers of 400 and up), "all" requests, or "off". With
    # "errors", the others are still written at log_level = "debug".
    access_log: Literal["errors", "all", "off"] = "errors"
    # Prometheus metrics on their own listener, e.g. "127.0.0.1:9464". Empty: off.
    metrics_address: MetricsAddress = ""
    # How often the metrics' database-derived gauges (files, bytes, outbox) are refreshed.
    metrics_refresh: Duration = "30s"

    @property
    def max_json_body_bytes(self) -> int:
        return parse_size(self.max_json_body)

    @property
    def max_batch_body_bytes(self) -> int:
        return parse_size(self.max_batch_body)


class StorageSettings(_Section):
    # fsync files and directories before acknowledging. Switch off only in tests.
    fsync: bool = True
    # Free space always left on the data dir's disk; uploads that would eat into it get 507.
    disk_reserve: Size = "1GiB"

    @property
    def disk_reserve_bytes(self) -> int:
        return parse_size(self.disk_reserve)


class AuthSettings(_Section):
    access_token_ttl: Duration = "15m"
    refresh_idle_ttl: Duration = "30d"
    refresh_absolute_ttl: Duration = "90d"
    # A rotated refresh token presented again within this window, from the same device,
    # gets the same successor (its response was lost); later it counts as theft.
    refresh_reuse_grace: Duration = "60s"
    open_signup: bool = False
    # With open_signup: accounts one client address may create per hour.
    signups_per_ip_per_hour: Annotated[int, Meta(ge=1)] = 3
    issuer: str = "homesync"
    audience: str = "homesync-mobile"
    # argon2id parameters (RFC 9106 second recommended profile by default).
    argon2_time_cost: Annotated[int, Meta(ge=1)] = 3
    argon2_memory_kib: Annotated[int, Meta(ge=8)] = 65536
    argon2_parallelism: Annotated[int, Meta(ge=1)] = 4
    max_concurrent_hashes: Annotated[int, Meta(ge=1)] = 4
    # Login throttling: free failures per account before backoff, hard lock after lockout_after.
    login_free_failures: Annotated[int, Meta(ge=1)] = 5
    login_max_backoff: Duration = "15m"
    login_lockout_after: Annotated[int, Meta(ge=1)] = 100
    login_failures_per_ip: Annotated[int, Meta(ge=1)] = 20
    login_ip_window: Duration = "10m"
    # Token refreshes per minute per device (0: no limit).
    refresh_per_minute: Annotated[int, Meta(ge=0)] = 30
    # Authenticated API calls per device: api_requests_per_second on average, bursts of
    # up to api_request_burst; past it 429 + Retry-After. Chunk PUTs are not counted
    # (they have their own limits). 0 in either: no limit.
    api_requests_per_second: Annotated[int, Meta(ge=0)] = 20
    api_request_burst: Annotated[int, Meta(ge=0)] = 60

    @property
    def access_ttl_s(self) -> int:
        return parse_duration(self.access_token_ttl)

    @property
    def refresh_idle_s(self) -> int:
        return parse_duration(self.refresh_idle_ttl)

    @property
    def refresh_absolute_s(self) -> int:
        return parse_duration(self.refresh_absolute_ttl)

    @property
    def refresh_grace_s(self) -> int:
        return parse_duration(self.refresh_reuse_grace)


class UploadSettings(_Section):
    min_chunk_size: Size = "256KiB"
    max_chunk_size: Size = "16MiB"
    default_chunk_size: Size = "8MiB"
    max_file_size: Size = "100GiB"
    max_files_per_init: Annotated[int, Meta(ge=1)] = 100
    # Chunk PUTs streaming at once, per device and in all; past either: 429 + Retry-After.
    max_chunk_puts_per_device: Annotated[int, Meta(ge=1)] = 4
    max_chunk_puts: Annotated[int, Meta(ge=1)] = 32
    # Upload sessions (upload/init calls) a device may have open at once; past it: 429.
    max_open_sessions_per_device: Annotated[int, Meta(ge=1)] = 20
    # Idle upload sessions expire after this long (410 UPLOAD_EXPIRED).
    session_ttl: Duration = "24h"
    # Quota of new accounts; "0" means unlimited.
    default_quota: Size = "0"
    # Unreferenced chunks younger than this are never collected (they may be mid-write).
    gc_grace: Duration = "48h"
    # How often the server runs gc; "0s": never (run `homesync gc` by hand).
    gc_interval: Duration = "1h"


class SyncSettings(_Section):
    default_page_size: Annotated[int, Meta(ge=1, le=10000)] = 1000
    max_page_size: Annotated[int, Meta(ge=1, le=100000)] = 10000
    max_wait: Annotated[int, Meta(ge=0, le=300)] = 300
    # Long polls one device may have parked at once; one more answers its oldest at once
    # (no changes, same token), so a looping app cannot hold a socket per poll.
    max_polls_per_device: Annotated[int, Meta(ge=1)] = 4
    max_local_changes: Annotated[int, Meta(ge=1)] = 1000
    max_queue_ops: Annotated[int, Meta(ge=1)] = 500
    # Replaced versions kept per file, and for how long (0 / "0d": no limit).
    keep_versions: Annotated[int, Meta(ge=0)] = 10
    version_retention: Duration = "30d"
    # Deleted files stay restorable this long ("0d": until emptied by hand).
    trash_retention: Duration = "30d"
    # Finished offline-queue operations (and resolved conflicts) are kept this long.
    queue_retention: Duration = "7d"
    # Sync history (journal, deletion tombstones, share feed) is compacted past this
    # ("0d": kept for good); a device last synced before it syncs from scratch.
    history_retention: Duration = "180d"
    # How often versions, trash, finished queue operations and sync history past
    # retention are purged.
    retention_interval: Duration = "1h"
    # How often parked long polls also check the journal for changes that did not wake
    # them directly (another process, such as the CLI, wrote them), and whether another
    # process ended their sign-in (they then answer 401).
    wake_check_interval: Duration = "2s"

    @property
    def version_retention_ms(self) -> int:
        return parse_duration(self.version_retention) * 1000

    @property
    def trash_retention_ms(self) -> int:
        return parse_duration(self.trash_retention) * 1000

    @property
    def queue_retention_ms(self) -> int:
        return parse_duration(self.queue_retention) * 1000

    @property
    def history_retention_ms(self) -> int:
        return parse_duration(self.history_retention) * 1000


class NotificationSettings(_Section):
    enabled: bool = True
    # Give up delivering a push after this long (the inbox keeps it regardless).
    give_up_after: Duration = "24h"
    # Retries wait retry_initial_delay, doubling (with jitter) up to retry_max_delay.
    retry_initial_delay: Duration = "15s"
    retry_max_delay: Duration = "30m"
    # One request to a push service may take this long before it is retried.
    send_timeout: Duration = "10s"
    # How often the push worker looks for new notifications made outside this process.
    poll_interval: Duration = "2s"
    # Upload notifications wait until uploads pause this long (at most uploads_digest_max)
    # so a backup of many photos is one push ("37 photos backed up").
    uploads_digest_delay: Duration = "30s"
    uploads_digest_max: Duration = "10m"
    # Inbox entries older than this are deleted.
    inbox_retention: Duration = "90d"
    # Outgoing push URLs must resolve to public addresses or to one of these hosts.
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    webhook_url: str = ""
    webhook_secret: str = ""
    ntfy_server: str = ""
    ntfy_token: str = ""
    fcm_project_id: str = ""
    fcm_service_account_file: str = ""
    fcm_base_url: str = "https://fcm.googleapis.com"
    fcm_token_url: str = "https://oauth2.googleapis.com/token"
    apns_key_file: str = ""
    apns_key_id: str = ""
    apns_team_id: str = ""
    apns_topic: str = ""
    apns_base_url: str = "https://api.push.apple.com"


class Settings(Struct, forbid_unknown_fields=True, kw_only=True):
    # Where the database, chunks and server secret live. Empty: ~/.local/share/homesync.
    data_dir: str = ""
    server: ServerSettings = msgspec.field(default_factory=ServerSettings)
    storage: StorageSettings = msgspec.field(default_factory=StorageSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    uploads: UploadSettings = msgspec.field(default_factory=UploadSettings)
    sync: SyncSettings = msgspec.field(default_factory=SyncSettings)
    notifications: NotificationSettings = msgspec.field(default_factory=NotificationSettings)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser() if self.data_dir else default_data_dir()

    @property
    def db_path(self) -> Path:
        return self.data_path / "homesync.sqlite3"
