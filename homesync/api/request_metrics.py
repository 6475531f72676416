"""What the request middleware and the app's lifespan ask of the metrics, and the stand-in
used while ``server.metrics_address`` is empty (the default): requests are not counted
and prometheus_client is never imported (api/metrics.py has the real ones)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from homesync.config import Settings

if TYPE_CHECKING:
    from homesync.services.container import Services

__all__ = ["MetricsListenError", "NoMetrics", "RequestMetrics", "metrics_for"]


class MetricsListenError(RuntimeError):
    """``server.metrics_address`` cannot be listened on (in use, not this host's):
    ``cause`` is the OSError, ``port`` the port asked for (what to do depends on both)."""

    def __init__(self, message: str, cause: OSError, port: int) -> None:
        super().__init__(message)
        self.cause = cause
        self.port = port


class RequestMetrics(Protocol):
    in_flight: int  # requests being handled now

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None: ...

    def observe_upload(self, received: int) -> None: ...

    def listen(self, settings: Settings) -> None: ...

    async def start(self, settings: Settings, services: Services) -> None: ...

    async def stop(self) -> None: ...


class NoMetrics:
    """Metrics off: nothing is kept, nothing is served."""

    def __init__(self) -> None:
        self.in_flight = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        pass

    def observe_upload(self, received: int) -> None:
        pass

    def listen(self, settings: Settings) -> None:
        pass

    async def start(self, settings: Settings, services: Services) -> None:
        pass

    async def stop(self) -> None:
        pass


def metrics_for(settings: Settings) -> RequestMetrics:
    """Prometheus metrics when ``server.metrics_address`` is set, else :class:`NoMetrics`
    (prometheus_client, ~1.3 MiB of an idle server's memory, stays out of it)."""
    if not settings.server.metrics_address:
        return NoMetrics()
    from homesync.api.metrics import Metrics

    return Metrics()
