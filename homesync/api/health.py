"""GET /healthz (liveness) and GET /readyz (database and data dir usable).

Both answer anyone (no token), so they say only ready or not and which check failed:
no pid, no paths, no exception text. What went wrong goes to the server log.
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from litestar import Request, Response, get

from homesync.api.deps import ServicesDep
from homesync.api.wire import ok
from homesync.errors import ServiceUnavailable

__all__ = ["route_handlers"]

log = logging.getLogger("homesync.api.health")

# The checks /readyz names when they fail (details.failed), and what the message says.
_FAILED = {"database": "the database does not answer", "dataDir": "the data dir is not writable"}


@get("/healthz")
async def healthz(request: Request[Any, Any, Any]) -> Response[bytes]:
    return ok(request, {"status": "ok"})


@get("/readyz")
async def readyz(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    causes: dict[str, str] = {}
    try:
        await services.db.ping()
    except Exception as exc:  # readiness reports, it does not crash
        causes["database"] = f"the database does not answer: {exc}"
    try:
        with tempfile.NamedTemporaryFile(dir=services.settings.data_path, prefix=".readyz-"):
            pass
    except OSError as exc:
        causes["dataDir"] = f"the data dir {services.settings.data_path} is not writable: {exc}"
    _log_changes(request, causes)
    if causes:
        failed = list(causes)
        raise ServiceUnavailable("Not ready: " + "; ".join(_FAILED[c] for c in failed),
                                 failed=failed)
    return ok(request, {"status": "ready"})


def _log_changes(request: Request[Any, Any, Any], causes: dict[str, str]) -> None:
    """Log a check when it starts or stops failing, not at every probe: a monitor asking
    every few seconds would otherwise fill the log while the disk is read-only."""
    state = request.app.state
    before: set[str] = state.get("readyz_failing", set())
    for check in causes.keys() - before:
        log.warning("not ready: %s", causes[check])
    for check in before - causes.keys():
        log.info("ready again: the %s check passes", check)
    state["readyz_failing"] = set(causes)


route_handlers = [healthz, readyz]
