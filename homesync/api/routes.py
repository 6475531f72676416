"""Every route of the server, in one table (the BOLA test walks it)."""

from __future__ import annotations

from typing import Any

from homesync.api import (
    auth,
    conflicts,
    devices,
    files,
    health,
    notifications,
    queue,
    shares,
    sync,
    trash,
    uploads,
)

__all__ = ["MOBILE_PREFIX", "mobile_route_handlers", "root_route_handlers"]

MOBILE_PREFIX = "/api/mobile"


def mobile_route_handlers() -> list[Any]:
    """Handlers mounted under ``/api/mobile``."""
    return [*auth.route_handlers, *devices.route_handlers, *notifications.route_handlers,
            *uploads.route_handlers, *files.route_handlers,
            *sync.route_handlers, *conflicts.route_handlers, *queue.route_handlers,
            *trash.route_handlers, *shares.route_handlers]


def root_route_handlers() -> list[Any]:
    """Handlers outside the mobile API (health checks)."""
    return [*health.route_handlers]
