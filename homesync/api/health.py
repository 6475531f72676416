"""GET /healthz (liveness) and GET /readyz (database and data dir usable).

/readyz is polled every few seconds, so what it can ask without writing it asks with
access(2): the database file (and its WAL) and the chunk store's chunks/ and tmp/ are
writable by this process. That is the kernel's own answer: mode bits (which root
overrides, as it does when writing), a read-only filesystem or mount (EROFS, for root
too), an immutable file. A database made read-only after the server opened it is still
written through the open handle, but not after a restart: it is reported at once. The
65,536 chunks/ab/cd directories are too many to ask at every probe: the chunk store
remembers those that refused a chunk, and each is asked until it passes (chunkWrites).

Both answer anyone (no token), so they say only ready or not and which check failed:
no pid, no paths, no exception text. What went wrong goes to the server log.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from litestar import HttpMethod, Request, Response, route

from homesync.api.deps import ServicesDep
from homesync.api.wire import ok
from homesync.errors import ServiceUnavailable
from homesync.services.container import Services
from homesync.store.access import may

__all__ = ["route_handlers"]

log = logging.getLogger("homesync.api.health")

# The checks /readyz names when they fail (details.failed), and what the message says.
_FAILED = {"database": "the database does not answer", "dataDir": "the data dir is not writable",
           "databaseFile": "the database file is not writable",
           "chunksDir": "the chunks dir is not writable", "tmpDir": "the tmp dir is not writable",
           "chunkWrites": "a directory under chunks is not writable"}


# HEAD wherever GET is answered (RFC 9110 9.3.2): uptime monitors ask with it, and a 405
# read as a server that is down. One handler: uvicorn leaves out the body of a HEAD
# answer, whose Content-Length then is the GET's, as it must be.
_GET_AND_HEAD = [HttpMethod.GET, HttpMethod.HEAD]


@route("/healthz", http_method=_GET_AND_HEAD)
async def healthz(request: Request[Any, Any, Any]) -> Response[bytes]:
    return ok(request, {"status": "ok"})


@route("/readyz", http_method=_GET_AND_HEAD)
async def readyz(request: Request[Any, Any, Any], services: ServicesDep) -> Response[bytes]:
    await _check_ready(request, services)
    return ok(request, {"status": "ready"})


async def _check_ready(request: Request[Any, Any, Any], services: Services) -> None:
    """Raises ServiceUnavailable naming the checks that fail."""
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
    db = services.db.path
    for path in (db, db.with_name(db.name + "-wal")):
        if not _writable(path, os.W_OK, missing_ok=path != db):
            causes["databaseFile"] = f"the database file {path} is not writable"
            break
    for check, path in services.chunks.local_dirs().items():
        if not _writable(path, os.W_OK | os.X_OK):
            causes[check] = f"{path} is not writable (or not a directory we may enter)"
    if (refused := services.chunks.refused_dir()) is not None:
        causes["chunkWrites"] = f"a chunk write into {refused} was refused and it is still " \
                                "not writable"
    _log_changes(request, causes)
    if causes:
        failed = list(causes)
        raise ServiceUnavailable("Not ready: " + "; ".join(_FAILED[c] for c in failed),
                                 failed=failed)


def _writable(path: Path, mode: int, *, missing_ok: bool = False) -> bool:
    if missing_ok and not os.path.lexists(path):
        return True
    return may(path, mode)


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
