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
    failed: list[str] = []
    try:
        await services.db.ping()
    except Exception as exc:  # readiness reports, it does not crash
        log.warning("not ready: the database does not answer: %s", exc)
        failed.append("database")
    try:
        with tempfile.NamedTemporaryFile(dir=services.settings.data_path, prefix=".readyz-"):
            pass
    except OSError as exc:
        log.warning("not ready: the data dir %s is not writable: %s",
                    services.settings.data_path, exc)
        failed.append("dataDir")
    if failed:
        raise ServiceUnavailable("Not ready: " + "; ".join(_FAILED[c] for c in failed),
                                 failed=failed)
    return ok(request, {"status": "ready"})


route_handlers = [healthz, readyz]
