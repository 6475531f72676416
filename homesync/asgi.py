"""The ASGI application for servers that import it by name: ``homesync serve`` with
``server.engine = "granian"``, or any ASGI server
(``granian --interface asgi --factory homesync.asgi:app_from_environment``).

``homesync serve`` hands the settings it resolved (file, environment and flags) to the
worker process as JSON in ``HOMESYNC_WORKER_SETTINGS``; without it the settings are read
from the environment as ``load_settings`` reads them anywhere else. Either way
``create_app(settings)`` stays the one way an application is built.
"""

from __future__ import annotations

import os

import msgspec
from litestar import Litestar

from homesync.app import create_app
from homesync.config import WORKER_SETTINGS_ENV, ConfigError, Settings, load_settings
from homesync.logs import configure_logging

__all__ = ["app_from_environment", "worker_environment"]


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment variable that gives a worker process exactly ``settings``."""
    return {WORKER_SETTINGS_ENV: msgspec.json.encode(settings).decode()}


def app_from_environment() -> Litestar:
    """A new application for the settings in ``os.environ`` (logging configured to match)."""
    raw = os.environ.get(WORKER_SETTINGS_ENV)
    try:
        settings = msgspec.json.decode(raw, type=Settings) if raw else load_settings()
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{WORKER_SETTINGS_ENV}: {exc}") from None
    configure_logging(settings.server.log_level, settings.server.log_format)
    return create_app(settings)
