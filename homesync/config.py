"""Typed settings: one schema, loaded from TOML, then ``HOMESYNC_*`` environment overrides.

Every option has a default, so ``homesync serve`` runs with no config file at all.
Every option is documented in ``homesync.toml.example`` (a test keeps the two in step).

Environment overrides: ``HOMESYNC_<OPTION>`` for top-level options (``HOMESYNC_DATA_DIR``)
and ``HOMESYNC_<SECTION>_<OPTION>`` for the rest (``HOMESYNC_AUTH_ACCESS_TOKEN_TTL=15m``).
A bad value fails start-up with a :class:`ConfigError` naming the option and its source.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

__all__ = [
    "AuthSettings",
    "ConfigError",
    "Duration",
    "NotificationSettings",
    "ServerSettings",
    "Settings",
    "Size",
    "StorageSettings",
    "SyncSettings",
    "UploadSettings",
    "default_data_dir",
    "example_config",
    "load_settings",
    "parse_duration",
    "parse_size",
]

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_SIZE_RE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$")
_SIZE_UNITS = {
    None: 1, "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40,
}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# A duration is written "90s", "15m", "1h", "30d"; a size "1024", "8MiB", "10GiB".
Duration = Annotated[str, Meta(pattern=_DURATION_RE.pattern)]
Size = Annotated[str, Meta(pattern=_SIZE_RE.pattern)]


class ConfigError(Exception):
    """A setting could not be read; the message names the option and where it came from."""


def parse_duration(text: str) -> int:
    """Seconds in a duration string such as ``15m``."""
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError(f"not a duration (use e.g. 90s, 15m, 1h, 7d): {text!r}")
    return int(m.group(1)) * _DURATION_UNITS[m.group(2)]


def format_duration(seconds: int) -> str:
    """The shortest exact duration string (``3600`` → ``1h``), as the contract's ``expiresIn``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_size(text: str) -> int:
    """Bytes in a size string such as ``10GiB``."""
    m = _SIZE_RE.match(text)
    if not m:
        raise ValueError(f"not a size (use e.g. 512KiB, 8MiB, 10GiB): {text!r}")
    return int(m.group(1)) * _SIZE_UNITS[m.group(2)]


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/homesync`` (usually ``~/.local/share/homesync``)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "homesync"


class _Section(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8080
    # Base of the absolute URLs the server hands out (chunk upload URLs). Empty: from the request.
    public_url: str = ""
    # Trust X-Forwarded-For from these proxy addresses when throttling by client address.
    trusted_proxies: list[str] = msgspec.field(default_factory=lambda: ["127.0.0.1", "::1"])
    max_json_body: Size = "1MiB"
    max_batch_body: Size = "4MiB"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

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
    access_token_ttl: Duration = "1h"
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
    refresh_per_minute: Annotated[int, Meta(ge=1)] = 30

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
    # Idle upload sessions expire after this long (410 UPLOAD_EXPIRED).
    session_ttl: Duration = "24h"
    # Quota of new accounts; "0" means unlimited.
    default_quota: Size = "0"
    # Unreferenced chunks younger than this are never collected (they may be mid-write).
    gc_grace: Duration = "48h"
    gc_interval: Duration = "1h"


class SyncSettings(_Section):
    default_page_size: Annotated[int, Meta(ge=1, le=10000)] = 1000
    max_page_size: Annotated[int, Meta(ge=1, le=100000)] = 10000
    max_wait: Annotated[int, Meta(ge=0, le=300)] = 300
    max_local_changes: Annotated[int, Meta(ge=1)] = 1000
    max_queue_ops: Annotated[int, Meta(ge=1)] = 500
    # Replaced versions kept per file, and for how long.
    keep_versions: Annotated[int, Meta(ge=0)] = 10
    version_retention: Duration = "30d"
    trash_retention: Duration = "30d"


class NotificationSettings(_Section):
    enabled: bool = True
    # Give up delivering a push after this long (the inbox keeps it regardless).
    give_up_after: Duration = "24h"
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


_SECTIONS = frozenset(name for name in Settings.__struct_fields__ if name != "data_dir")


def _env_overrides(environ: Mapping[str, str]) -> list[tuple[str, str | None, str, str]]:
    """(variable, section or None, option, raw value) for every HOMESYNC_* variable."""
    found: list[tuple[str, str | None, str, str]] = []
    for var, raw in sorted(environ.items()):
        if not var.startswith("HOMESYNC_"):
            continue
        key = var[len("HOMESYNC_"):].lower()
        if key in Settings.__struct_fields__ and key not in _SECTIONS:
            found.append((var, None, key, raw))
            continue
        section, _, option = key.partition("_")
        if section in _SECTIONS and option:
            found.append((var, section, option, raw))
        elif key not in ("config",):  # HOMESYNC_CONFIG names the file itself
            raise ConfigError(f"{var}: no such option")
    return found


def _coerce_env(raw: str) -> Any:
    """Environment values are strings; read them the way TOML would for the field's type."""
    text = raw.strip()
    if text.lower() in ("true", "false") or text.lstrip("-").isdigit() or text.startswith("["):
        try:
            return tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            return raw
    return raw


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment, then ``overrides``.

    ``overrides`` (top-level keys or ``{"section": {...}}``) come from command-line flags
    and win over everything else.
    """
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    if config_file is None and env.get("HOMESYNC_CONFIG"):
        config_file = env["HOMESYNC_CONFIG"]
    if config_file is not None:
        path = Path(config_file).expanduser()
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        _convert(data, source)

    for var, section, option, raw in _env_overrides(env):
        target = data if section is None else data.setdefault(section, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        target[option] = _coerce_env(raw)
        _convert(data, f"environment variable {var}")

    for key, value in (overrides or {}).items():
        if isinstance(value, dict):
            data.setdefault(key, {}).update(value)
        else:
            data[key] = value
    if overrides:
        _convert(data, "command line")
    return _convert(data, source)


def _convert(data: dict[str, Any], source: str) -> Settings:
    try:
        return msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc)}") from None


def _describe(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's ``... - at `$.auth.access_token_ttl` `` into ``auth.access_token_ttl: ...``."""
    text = str(exc)
    m = re.search(r"(.*) - at `\$\.?(.*)`$", text)
    if m:
        return f"option {m.group(2) or '(top level)'}: {m.group(1)}"
    return text


def example_config(data_dir: str = "") -> str:
    """The documented example config, with ``data_dir`` filled in."""
    from importlib import resources

    text = resources.files("homesync.data").joinpath("homesync.toml.example").read_text("utf-8")
    if data_dir:
        text = re.sub(r'(?m)^data_dir = ""$', f"data_dir = {_toml_string(data_dir)}", text, count=1)
    return text


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
