"""Baselines for bench/upload.py: servers that only hash and write chunk bodies.

- ``asgi``: a raw ASGI app — the Python ceiling on this machine for receiving bytes;
- ``litestar``: a bare Litestar route streaming ``request.stream()`` through sha256 into
  a file — the baseline the upload goals are stated against;
- ``durable``: the same route keeping reliability-plan §2's blob discipline as homesync
  does (temp file, fsync, rename, fsync of the directory) — what durability alone costs.

Both answer ``PUT /chunk/{n}`` with the hex digest, and ``GET /healthz``. Files go to
``$BENCH_BASELINE_DIR``. Run as ``python bench/upload_baselines.py KIND PORT``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from litestar import Litestar, Request, get, put


def _target(name: str) -> Path:
    """A fresh file for each chunk, as homesync writes one.

    Rewriting the previous round's file in place (O_TRUNC) would make ext4 flush it on
    close (auto_da_alloc) and slow the baseline down unfairly.
    """
    path = Path(os.environ["BENCH_BASELINE_DIR"]) / name
    path.unlink(missing_ok=True)
    return path


async def _hash_into(request: Request[Any, Any, Any], fh: BinaryIO) -> str:
    """Stream the body into ``fh`` through sha256; the hex digest."""
    digest = hashlib.sha256()
    async for piece in request.stream():
        digest.update(piece)
        fh.write(piece)
    return digest.hexdigest()


def _with_healthz(chunk: Any) -> Litestar:
    @get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return Litestar(route_handlers=[chunk, healthz], openapi_config=None, logging_config=None,
                    request_max_body_size=64 * 1024 * 1024)


def litestar_app() -> Litestar:
    @put("/chunk/{n:str}", status_code=200)
    async def chunk(request: Request[Any, Any, Any], n: str) -> dict[str, str]:
        # Plain blocking writes in the loop: the simplest route, as the goals describe it.
        with open(_target(n), "wb") as fh:  # noqa: ASYNC230
            return {"sha256": await _hash_into(request, fh)}

    return _with_healthz(chunk)


def durable_app() -> Litestar:
    @put("/chunk/{n:str}", status_code=200)
    async def chunk(request: Request[Any, Any, Any], n: str) -> dict[str, str]:
        final = _target(n)
        tmp = final.with_suffix(".part")
        with open(tmp, "wb") as fh:  # noqa: ASYNC230
            digest = await _hash_into(request, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return {"sha256": digest}

    return _with_healthz(chunk)


def asgi_app() -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b'{"status":"ok"}'
        if scope["method"] == "PUT":
            digest = hashlib.sha256()
            with open(_target(scope["path"].rsplit("/", 1)[-1]), "wb") as fh:  # noqa: ASYNC230
                more = True
                while more:
                    message = await receive()
                    piece = message.get("body", b"")
                    digest.update(piece)
                    fh.write(piece)
                    more = message.get("more_body", False)
            body = f'{{"sha256":"{digest.hexdigest()}"}}'.encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    import asyncio

    import uvicorn

    from homesync.server.run import bind_listener

    kind, port = sys.argv[1], int(sys.argv[2])
    app = {"litestar": litestar_app, "durable": durable_app, "asgi": asgi_app}[kind]()
    # The same server, settings and listening socket (TCP_NODELAY) as `homesync serve`.
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on", server_header=False)
    with bind_listener("127.0.0.1", port) as sock:
        asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
