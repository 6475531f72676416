"""Typed settings: one schema, loaded from TOML, then ``HOMESYNC_*`` environment overrides.

Every option has a default, so ``homesync serve`` runs with no config file at all.
Every option is documented in ``homesync.toml.example`` (a test keeps the two in step).

Environment overrides: ``HOMESYNC_<OPTION>`` for top-level options (``HOMESYNC_DATA_DIR``)
and ``HOMESYNC_<SECTION>_<OPTION>`` for the rest (``HOMESYNC_AUTH_ACCESS_TOKEN_TTL=15m``).
A bad value fails start-up with a :class:`ConfigError` naming the option and its source.

Split by job: ``units`` (durations and sizes), ``schema`` (the settings Structs) and
``loader`` (files, environment, flags, error messages). Import from ``homesync.config``.
"""

from __future__ import annotations

from homesync.config.loader import (
    MAX_DURATION_S,
    ConfigError,
    env_var,
    example_config,
    load_settings,
)
from homesync.config.schema import (
    AuthSettings,
    NotificationSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    SyncSettings,
    UploadSettings,
    default_data_dir,
)
from homesync.config.units import Duration, Size, format_duration, parse_duration, parse_size

__all__ = [
    "MAX_DURATION_S",
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
    "format_duration",
    "load_settings",
    "parse_duration",
    "parse_size",
]
