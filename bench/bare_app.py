"""The baseline for bench/api.py: bare Litestar routes that answer with fixed bytes.

Same paths and methods as the homesync routes being measured, no auth, no database:
what is left is the cost of the HTTP server and of Litestar itself. The bytes to send
are the real homesync answers, passed in a JSON file named by BENCH_BARE_BODIES.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from litestar import Litestar, Request, Response, get, post


def create() -> Litestar:
    with open(os.environ["BENCH_BARE_BODIES"], encoding="utf-8") as fh:
        bodies = {name: base64.b64decode(value) for name, value in json.load(fh).items()}

    @get("/healthz")
    async def healthz() -> Response[bytes]:
        return Response(content=b'{"success":true}', media_type="application/json")

    @get("/api/mobile/devices")
    async def devices() -> Response[bytes]:
        return Response(content=bodies["devices"], media_type="application/json")

    @post("/api/mobile/auth/refresh", status_code=200)
    async def refresh(request: Request[Any, Any, Any]) -> Response[bytes]:
        await request.body()  # a real handler has to read what it was sent
        return Response(content=bodies["refresh"], media_type="application/json")

    return Litestar(route_handlers=[healthz, devices, refresh], openapi_config=None,
                    logging_config=None)
