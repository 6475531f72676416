"""``create_app(settings)``: the Litestar application. No settings are read at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.config.compression import CompressionConfig
from litestar.plugins import PluginProtocol
from litestar.plugins.core import MsgspecDIPlugin

from homesync.api.deps import dependencies
from homesync.api.errors import exception_handlers
from homesync.api.observability import install as install_observability
from homesync.api.request_metrics import metrics_for
from homesync.api.routes import MOBILE_PREFIX, mobile_route_handlers, root_route_handlers
from homesync.config import Settings
from homesync.services.container import Services

__all__ = ["create_app"]

# Chunk bodies are streamed and limited per chunk by the upload routes; everything else
# is read through api.wire.read_body with the JSON limits. This is the outer cap.
_MAX_REQUEST_BODY = 64 * 1024 * 1024


class _MsgspecOnlyLitestar(Litestar):
    """Litestar without the pydantic and attrs plugins it adds when those are installed.

    homesync's wire types are all msgspec Structs. typer depends on pydantic, so it is
    always installed, and Litestar's pydantic plugin would import it (and ``pydantic.v1``)
    for nothing: 8 MiB of the server's resident memory (bench/upload.py, idle RSS).
    ``tests/test_app.py`` checks that this hook still exists in the installed Litestar.
    """

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        return [*plugins, MsgspecDIPlugin()]


def create_app(settings: Settings, services: Services | None = None) -> Litestar:
    """The server for ``settings``. Pass ``services`` to share an already open instance."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        owned = services is None
        svc = services if services is not None else await Services.open(settings)
        app.state.services = svc
        if owned:
            await svc.start_background()
        await metrics.start(settings, svc)
        try:
            yield
        finally:
            try:
                await metrics.stop()
            finally:  # stop() re-raises a cancellation: the services close all the same
                if owned:
                    await svc.close()

    metrics = metrics_for(settings)
    mobile = Router(path=MOBILE_PREFIX, route_handlers=mobile_route_handlers())
    app = _MsgspecOnlyLitestar(
        route_handlers=[mobile, *root_route_handlers()],
        dependencies=dependencies,
        exception_handlers=exception_handlers,
        lifespan=[lifespan],
        compression_config=CompressionConfig(
            backend="brotli", brotli_gzip_fallback=True, minimum_size=1024,
            brotli_quality=4, gzip_compress_level=6,
            # Downloads are already compressed media, and Range needs exact byte offsets.
            exclude=[r"/content$", r"/upload/chunk/"],
        ),
        request_max_body_size=_MAX_REQUEST_BODY,
        openapi_config=None,
        logging_config=None,
        debug=False,
        on_app_init=[],
    )
    app.state.metrics = metrics
    # Outermost, around routing: 404s and errors get a request id, a log line and a count.
    install_observability(app, metrics, settings.server.access_log,
                          settings.server.trusted_proxies)
    return app
