"""Loading :class:`Settings`: defaults, a TOML file, ``HOMESYNC_*`` variables, flags.

Errors name the option and its source, in words people read rather than msgspec's.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import msgspec

from homesync.config.schema import Settings
from homesync.config.units import (
    PATTERN_HELP,
    Duration,
    Size,
    format_duration,
    parse_duration,
    parse_size,
)

__all__ = ["ConfigError", "env_var", "example_config", "load_settings"]


class ConfigError(Exception):
    """A setting could not be read; the message names the option and where it came from."""


_SECTIONS = frozenset(name for name in Settings.__struct_fields__ if name != "data_dir")
# HOMESYNC_* variables that are not options: HOMESYNC_CONFIG names the config file itself.
_NOT_OPTIONS = frozenset({"HOMESYNC_CONFIG"})


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
    _check_bounds(settings)
    _check_not_zero(settings)
    _check_relations(settings)
    _check_floors(settings)
    _check_trusted_proxies(settings)
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
        elif isinstance(value, Mapping) and key not in _options():
            # A table is a section: a misspelt [sever] is one name to fix, not an option.
            raise ConfigError(f"{source}: unknown section [{key}]{_did_you_mean_section(key)}")
        else:
            names = [key]
        for name in names:
            if name not in _options():
                raise ConfigError(f"{source}: unknown option {name}{_did_you_mean(name)}")


def _did_you_mean(name: str) -> str:
    close = difflib.get_close_matches(name, _options(), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _did_you_mean_section(name: str) -> str:
    close = difflib.get_close_matches(name, _SECTIONS, n=1)
    return f" (did you mean [{close[0]}]?)" if close else ""


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
        if pattern in PATTERN_HELP:
            return PATTERN_HELP[pattern]
    if message.startswith("Invalid enum value") and option in _options():
        choices = typing.get_args(_options()[option][2])
        return "must be one of " + ", ".join(str(c) for c in choices)
    m = re.fullmatch(r"Expected `(\w+)`(.*?)(, got `\w+`)?", message)
    if m:
        return f"expected {_TYPE_WORDS.get(m.group(1), m.group(1))}{m.group(2)}"
    return message


# Far past any sensible setting, and small enough that times and byte counts computed from
# them (now minus a retention, in ms; sums of sizes) stay within SQLite's 64-bit integers.
# The CLI's duration flags (gc --grace) take the same bound.
MAX_DURATION_S = 36_500 * 86_400  # 100 years
_MAX_SIZE = 2**60  # 1 EiB


def _check_bounds(settings: Settings) -> None:
    """Every duration and size within what the database can hold, or a ConfigError now,
    rather than an OverflowError from a background job later."""
    for option, (section, name, type_) in _options().items():
        if type_ not in (Duration, Size):
            continue
        value = getattr(getattr(settings, section) if section else settings, name)
        if type_ is Duration and parse_duration(value) > MAX_DURATION_S:
            raise ConfigError(f"option {option}: {value!r} is too long"
                              f" (at most {format_duration(MAX_DURATION_S)})")
        if type_ is Size and parse_size(value) > _MAX_SIZE:
            raise ConfigError(f"option {option}: {value!r} is too large (at most 1 EiB)")


# Durations that 0 would not switch anything off with but break: tokens and uploads that
# expire as they are made, pushes that time out unsent, background loops that would run
# back to back, and failed pushes retried at once, again and again, until give_up_after.
# (0 does mean "off" or "no limit" for the retentions and gc_interval.)
_MORE_THAN_ZERO = (
    ("server", "metrics_refresh"), ("auth", "access_token_ttl"),
    ("auth", "refresh_idle_ttl"), ("auth", "refresh_absolute_ttl"),
    ("uploads", "session_ttl"), ("sync", "retention_interval"),
    ("sync", "wake_check_interval"), ("notifications", "send_timeout"),
    ("notifications", "poll_interval"), ("notifications", "retry_initial_delay"),
    ("notifications", "retry_max_delay"),
)


def _check_not_zero(settings: Settings) -> None:
    for section, name in _MORE_THAN_ZERO:
        value = getattr(getattr(settings, section), name)
        if parse_duration(value) <= 0:
            raise ConfigError(f"option {section}.{name}: {value!r} must be longer than 0s")


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
    auth = settings.auth
    if auth.argon2_memory_kib < 8 * auth.argon2_parallelism:
        # argon2 takes 8 KiB per lane at least; else every password hash fails at sign-in.
        raise ConfigError(
            f"option auth.argon2_memory_kib ({auth.argon2_memory_kib}) must be at least 8 per "
            f"lane of auth.argon2_parallelism ({auth.argon2_parallelism}): "
            f"{8 * auth.argon2_parallelism} or more")
    if settings.sync.default_page_size > settings.sync.max_page_size:
        raise ConfigError(
            f"option sync.default_page_size ({settings.sync.default_page_size}) is larger than "
            f"sync.max_page_size ({settings.sync.max_page_size})")


# Request bodies smaller than this would refuse requests the apps must make: a sign-in
# with a 4,096-character push token, escaped, is tens of KiB.
_MIN_BODY = 64 * 1024


def _check_floors(settings: Settings) -> None:
    """Sizes that 0 (read as "no limit", as a quota's 0 is) or a tiny value would turn
    into "refuse everything": every sign-in, or every upload, answered 413."""
    for name in ("max_json_body", "max_batch_body"):
        value = getattr(settings.server, name)
        if parse_size(value) < _MIN_BODY:
            raise ConfigError(f"option server.{name}: {value!r} is too small: requests the"
                              " apps make (sign-in among them) would be refused; at least 64KiB")
    if parse_size(settings.uploads.max_file_size) < 1:
        raise ConfigError(f"option uploads.max_file_size: {settings.uploads.max_file_size!r}"
                          " would refuse every file but empty ones (it has no \"0: unlimited\", as"
                          " quotas do; at most 1 EiB)")


def _check_trusted_proxies(settings: Settings) -> None:
    """Each proxy one address: a peer is compared with them as written, so a network
    ("10.0.0.0/8") or a host name never matched, and every client behind that proxy
    shared the proxy's sign-in throttle (one guesser locked everyone out)."""
    for proxy in settings.server.trusted_proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError:
            raise ConfigError(
                f"option server.trusted_proxies: {proxy!r} is not an IP address (list each"
                " proxy's address, such as 10.0.0.2; networks and host names are not"
                " supported)") from None


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
