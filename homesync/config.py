"""Typed settings: one schema, loaded from TOML, then ``HOMESYNC_*`` environment overrides.

Every option has a default, so ``homesync serve`` runs with no config file at all.
Every option is documented in ``homesync.toml.example`` (a test keeps the two in step).

Environment overrides: ``HOMESYNC_<OPTION>`` for top-level options (``HOMESYNC_DATA_DIR``)
and ``HOMESYNC_<SECTION>_<OPTION>`` for the rest (``HOMESYNC_AUTH_ACCESS_TOKEN_TTL=15m``).
A bad value fails start-up with a :class:`ConfigError` naming the option and its source.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from functools import cache
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
    "env_var",
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
    # "text" for people, "json" (one object per line) for log collectors.
    log_format: Literal["text", "json"] = "text"
    # Prometheus metrics on their own listener, e.g. "127.0.0.1:9464". Empty: off.
    metrics_address: Annotated[str, Meta(pattern=r"^$|^(\[[0-9A-Fa-f:.]+\]|[^:\[\]\s]+):[0-9]{1,5}$")] = ""
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
    # Replaced versions kept per file, and for how long (0 / "0d": no limit).
    keep_versions: Annotated[int, Meta(ge=0)] = 10
    version_retention: Duration = "30d"
    # Deleted files stay restorable this long ("0d": until emptied by hand).
    trash_retention: Duration = "30d"
    # Finished offline-queue operations (and resolved conflicts) are kept this long.
    queue_retention: Duration = "7d"
    # How often versions, trash and finished queue operations past retention are purged.
    retention_interval: Duration = "1h"
    # How often parked long polls also check the journal for changes that did not wake
    # them directly (another process, such as the CLI, wrote them).
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


_SECTIONS = frozenset(name for name in Settings.__struct_fields__ if name != "data_dir")
# HOMESYNC_* variables that are not options: HOMESYNC_CONFIG names the config file itself.
_NOT_OPTIONS = frozenset({"HOMESYNC_CONFIG"})
# msgspec reports a failed pattern as the regex; people read these instead.
_PATTERN_HELP = {
    _DURATION_RE.pattern: "expected a duration such as 90s, 15m, 1h or 7d",
    _SIZE_RE.pattern: "expected a size such as 1024, 512KiB, 8MiB or 10GiB",
}


@cache
def _options() -> dict[str, tuple[str | None, str, Any]]:
    """Every option as ``dotted name → (section or None, option, type)``."""
    found: dict[str, tuple[str | None, str, Any]] = {}
    for field in msgspec.structs.fields(Settings):
        if field.name in _SECTIONS:
            for sub in msgspec.structs.fields(field.type):
                found[f"{field.name}.{sub.name}"] = (field.name, sub.name, sub.type)
        else:
            found[field.name] = (None, field.name, field.type)
    return found


def env_var(option: str) -> str:
    """The environment variable that sets a dotted option (``auth.access_token_ttl``)."""
    return "HOMESYNC_" + option.replace(".", "_").upper()


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build :class:`Settings` from defaults, a TOML file, the environment, then ``overrides``.

    ``config_file`` defaults to ``$HOMESYNC_CONFIG``. ``overrides`` (top-level keys or
    ``{"section": {...}}``) come from command-line flags and win over everything else.
    Raises :class:`ConfigError` naming the option and its source (the file, the
    variable or the command line) for an unknown option or a bad value.
    """
    env = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    if config_file is None and env.get("HOMESYNC_CONFIG"):
        config_file = env["HOMESYNC_CONFIG"]
    if config_file is not None:
        path = Path(config_file).expanduser()
        data = _read_toml(path)
        _check_known(data, str(path))
        _convert(data, str(path))

    for option, value in _env_values(env):
        section, name, _ = _options()[option]
        (data if section is None else data.setdefault(section, {}))[name] = value

    if overrides:
        flags = {key: dict(value) if isinstance(value, Mapping) else value
                 for key, value in overrides.items()}
        _check_known(flags, "command line")
        for key, value in flags.items():
            if isinstance(value, dict):
                data.setdefault(key, {}).update(value)
            else:
                data[key] = value
        _convert(data, "command line")
    settings = _convert(data, "configuration")
    _check_relations(settings)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ConfigError(f"cannot read config file {path}: {reason}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _check_known(data: Mapping[str, Any], source: str) -> None:
    """Reject unknown options by name, with a suggestion for a likely typo."""
    for key, value in data.items():
        if key in _SECTIONS:
            if not isinstance(value, Mapping):
                raise ConfigError(f"{source}: {key} must be a table ([{key}])")
            names = [f"{key}.{option}" for option in value]
        else:
            names = [key]
        for name in names:
            if name not in _options():
                raise ConfigError(f"{source}: unknown option {name}{_did_you_mean(name)}")


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, _options(), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _env_values(environ: Mapping[str, str]) -> list[tuple[str, Any]]:
    """``(dotted option, typed value)`` for every ``HOMESYNC_*`` variable."""
    by_var = {env_var(option): option for option in _options()}
    found: list[tuple[str, Any]] = []
    for var, raw in sorted(environ.items()):
        if not var.startswith("HOMESYNC_") or var in _NOT_OPTIONS:
            continue
        option = by_var.get(var)
        if option is None:
            guess = difflib.get_close_matches(var, by_var, n=1, cutoff=0.85)
            hint = f" (did you mean {guess[0]}?)" if guess else ""
            raise ConfigError(f"{var}: no such option{hint}")
        found.append((option, _parse_env(var, option, raw)))
    return found


def _parse_env(var: str, option: str, raw: str) -> Any:
    """An environment string read as the option's type: ``true``/``false`` for booleans,
    digits for integers, a TOML array (``["a", "b"]``) or ``a,b`` for lists."""
    type_ = _options()[option][2]
    value: Any = raw
    if typing.get_origin(type_) is list:
        text = raw.strip()
        if text.startswith("["):
            try:
                value = tomllib.loads(f"v = {text}")["v"]
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{var}: option {option}: not a TOML array: {exc}") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    try:
        return msgspec.convert(value, type_, strict=False)
    except msgspec.ValidationError as exc:
        message, _ = _split_path(str(exc))
        raise ConfigError(f"{var}: option {option}: {_explain(message, option)}, got {raw!r}") from None


def _convert(data: dict[str, Any], source: str) -> Settings:
    try:
        return msgspec.convert(data, Settings)
    except msgspec.ValidationError as exc:
        message, path = _split_path(str(exc))
        value = _lookup(data, path)
        got = "" if value is _MISSING else f", got {value!r}"
        raise ConfigError(
            f"{source}: option {path or '(top level)'}: {_explain(message, path)}{got}") from None


def _split_path(text: str) -> tuple[str, str]:
    """msgspec's ``"Expected `int`, got `str` - at `$.server.port`"`` → (message, "server.port")."""
    m = re.fullmatch(r"(.*) - at `\$\.?(.*)`", text, flags=re.DOTALL)
    return (m.group(1), m.group(2)) if m else (text, "")


_MISSING = object()


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    """The value at msgspec's error path (``server.trusted_proxies[0]``) in ``data``."""
    node: Any = data
    for key, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", dotted):
        if key and isinstance(node, Mapping) and key in node:
            node = node[key]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return _MISSING
    return _MISSING if node is data else node


_TYPE_WORDS = {"int": "an integer", "bool": "true or false", "str": "a string",
               "array": "a list", "object": "a table", "float": "a number"}


def _explain(message: str, option: str) -> str:
    """msgspec's wording made readable; the caller appends the offending value."""
    m = re.fullmatch(r"Expected `str` matching regex '(.*)'", message)
    if m:
        pattern = m.group(1).encode().decode("unicode_escape")
        if pattern in _PATTERN_HELP:
            return _PATTERN_HELP[pattern]
    if message.startswith("Invalid enum value") and option in _options():
        choices = typing.get_args(_options()[option][2])
        return "must be one of " + ", ".join(str(c) for c in choices)
    m = re.fullmatch(r"Expected `(\w+)`(.*?)(, got `\w+`)?", message)
    if m:
        return f"expected {_TYPE_WORDS.get(m.group(1), m.group(1))}{m.group(2)}"
    return message


def _check_relations(settings: Settings) -> None:
    """Options that are each valid but contradict one another."""
    up = settings.uploads
    sizes = {name: parse_size(getattr(up, name))
             for name in ("min_chunk_size", "default_chunk_size", "max_chunk_size")}
    if sizes["min_chunk_size"] < 1:
        raise ConfigError("option uploads.min_chunk_size: must be at least 1 byte")
    if not sizes["min_chunk_size"] <= sizes["default_chunk_size"] <= sizes["max_chunk_size"]:
        raise ConfigError(
            "options uploads.min_chunk_size <= uploads.default_chunk_size <= "
            f"uploads.max_chunk_size do not hold ({up.min_chunk_size}, {up.default_chunk_size}, "
            f"{up.max_chunk_size})")
    if settings.sync.default_page_size > settings.sync.max_page_size:
        raise ConfigError(
            f"option sync.default_page_size ({settings.sync.default_page_size}) is larger than "
            f"sync.max_page_size ({settings.sync.max_page_size})")


def example_config(data_dir: str = "") -> str:
    """The documented example config, with ``data_dir`` filled in."""
    from importlib import resources

    text = resources.files("homesync.data").joinpath("homesync.toml.example").read_text("utf-8")
    if data_dir:
        line = f"data_dir = {_toml_string(data_dir)}"
        text = re.sub(r'(?m)^data_dir = ""$', lambda _: line, text, count=1)
    return text


def _toml_string(value: str) -> str:
    """A TOML basic string: backslash, quote and control characters escaped."""
    escaped = "".join(
        f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F or c in '"\\' else c
        for c in value
    )
    return f'"{escaped}"'
