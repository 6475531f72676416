"""The ASGI application for servers that import it by name, configured from the
environment (``HOMESYNC_CONFIG`` and ``HOMESYNC_*``, as ``load_settings`` reads them):

    HOMESYNC_DATA_DIR=/srv/homesync granian --interface asgi --factory \
        homesync.asgi:app_from_environment

``homesync serve`` does not need it (it runs uvicorn in-process); bench/api.py uses it to
measure homesync under another ASGI server. One process only: the app keeps
per-process state (the single SQLite writer, throttles), so never run several workers.
"""

from __future__ import annotations

from litestar import Litestar

from homesync.app import create_app
from homesync.config import load_settings
from homesync.logs import configure_logging

__all__ = ["app_from_environment"]


def app_from_environment() -> Litestar:
    """A new application for the settings in ``os.environ`` (logging configured to match)."""
    settings = load_settings()
    configure_logging(settings.server.log_level, settings.server.log_format)
    return create_app(settings)
