"""The ASGI application for servers that import it by name (``homesync serve`` with the
granian engine, or any ASGI server: ``granian --interface asgi --factory
homesync.asgi:app_from_environment``).

Settings come from the environment exactly as ``load_settings`` reads them anywhere else:
``HOMESYNC_CONFIG`` names the file and ``HOMESYNC_*`` variables override it. This is how
``homesync serve`` hands its command-line flags to a server worker process, so
``create_app(settings)`` stays the one way an application is built.
"""

from __future__ import annotations

from litestar import Litestar

from homesync.app import create_app
from homesync.config import load_settings

__all__ = ["app_from_environment"]


def app_from_environment() -> Litestar:
    """A new application for the settings in ``os.environ``."""
    return create_app(load_settings())
