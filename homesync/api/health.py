"""GET /healthz (liveness) and GET /readyz (database and data dir usable)."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from litestar import Request, Response, get

from homesync.api.deps import ServicesDep
from homesync.api.wire import ok, respond

__all__ = ["route_handlers"]


@get("/healthz")
async def healthz(request: Request[Any, Any, Any]) -> Response[bytes]:
    return ok(request, {"status": "ok"})


@get("/readyz")
async def readyz(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    problems: list[str] = []
    try:
        await services.db.ping()
    except Exception as exc:  # readiness reports, it does not crash
        problems.append(f"database: {exc}")
    try:
        with tempfile.NamedTemporaryFile(dir=services.settings.data_path, prefix=".readyz-"):
            pass
    except OSError as exc:
        problems.append(f"data dir not writable: {exc.strerror}")
    if problems:
        body = {"success": False, "error": {"code": "UNAVAILABLE", "message": "; ".join(problems),
                                            "details": {"problems": problems}}}
        return respond(request, body, 503)
    return ok(request, {"status": "ready", "pid": os.getpid()})


route_handlers = [healthz, readyz]
