"""Prometheus metrics, served on their own address (``server.metrics_address``).

Two kinds of figures:

* counted as requests pass (by the observability middleware): requests by route and
  status, their durations, upload bytes received, long-polls parked right now;
* read from the database every ``server.metrics_refresh`` through the same status
  service as ``homesync status``: accounts, files, chunks, stored and logical bytes,
  dedup savings, open uploads, the outbox, the last backup, free disk.

Every app gets its own registry (no process globals), so tests may build many. The
listener is prometheus_client's small threaded HTTP server: it keeps answering even when
the event loop is busy, which is when you want to look.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from homesync import __version__, clock
from homesync.api.request_metrics import MetricsListenError
from homesync.config import Settings, parse_duration
from homesync.services.container import Services
from homesync.to_the_end import run_to_the_end

__all__ = ["Metrics", "parse_address"]

log = logging.getLogger("homesync.metrics")

# Buckets for a home server: most requests take milliseconds, long-polls up to minutes.
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:9464"`` or ``"[::1]:9464"`` → (host, port)."""
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


class Metrics:
    """The metrics of one app: its registry, the per-request instruments and the gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        Info("homesync_build", "Version of this homesync server.", registry=r).info(
            {"version": __version__})
        self.requests = Counter("homesync_http_requests", "HTTP requests answered.",
                                ("method", "route", "status"), registry=r)
        self.duration = Histogram("homesync_http_request_duration_seconds",
                                  "Time to answer HTTP requests.", ("method", "route"),
                                  buckets=_DURATION_BUCKETS, registry=r)
        # Plain ints read when scraped: a gauge's inc/dec takes a lock on every request.
        self.in_flight = 0
        # Set by start(): the sync notifier's own count, so the gauge shows polls that
        # really wait for a change (not ones still reading the journal).
        self._parked_long_polls: Callable[[], int] = lambda: 0
        Gauge("homesync_http_requests_in_flight", "HTTP requests being handled now.",
              registry=r).set_function(lambda: self.in_flight)
        self.upload_bytes = Counter("homesync_upload_bytes",
                                    "Chunk bytes received by successful chunk uploads.",
                                    registry=r)
        Gauge("homesync_sync_long_polls_parked",
              "Sync long-polls (wait=N) waiting for a change now.",
              registry=r).set_function(lambda: self._parked_long_polls())
        # labels() looks the child up under a lock; each (method, route, status) is kept.
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(f"homesync_{name}", doc, registry=r)

        self.users = gauge("users", "Accounts.")
        self.devices = gauge("devices", "Signed-up devices (not removed).")
        self.files = gauge("files", "Live files (not in the trash).")
        self.chunks = gauge("chunks_stored", "Chunks in the chunk store.")
        self.stored_bytes = gauge("stored_bytes", "Bytes the chunk store takes on disk.")
        self.logical_bytes = gauge("logical_bytes", "Sum of every stored version's size.")
        self.dedup_saved = gauge("dedup_saved_bytes", "Bytes deduplication saves (logical - stored).")
        self.open_uploads = gauge("open_uploads", "Upload sessions still open (resumable).")
        self.outbox_depth = gauge("outbox_depth", "Notifications and pushes waiting to be sent.")
        self.push_retrying = gauge("push_deliveries_retrying",
                                   "Pushes that failed at least once and will be retried.")
        self.push_failed = gauge("push_deliveries_failed",
                                 "Pushes given up on, or whose endpoint is gone.")
        self.last_backup = gauge("last_backup_timestamp_seconds",
                                 "When the last backup finished (0: never).")
        self.backup_running = gauge("backup_running", "1 while a backup of this data dir runs.")
        self.disk_free = gauge("disk_free_bytes", "Free space on the data dir's filesystem.")
        self.refreshed = gauge("metrics_refreshed_timestamp_seconds",
                               "When the database-derived gauges were last refreshed.")
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._refresher: asyncio.Task[None] | None = None

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._request_children.get(key)
        if children is None:
            children = (self.requests.labels(method, route, str(status)),
                        self.duration.labels(method, route))
            self._request_children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def observe_upload(self, received: int) -> None:
        """A chunk upload of ``received`` bytes succeeded."""
        self.upload_bytes.inc(received)

    async def refresh(self, services: Services) -> None:
        """Set the database-derived gauges from a fresh status report."""
        report = await services.status.report()
        self.users.set(report.users)
        self.devices.set(report.devices)
        self.files.set(report.files)
        self.chunks.set(report.chunks)
        self.stored_bytes.set(report.stored_bytes)
        self.logical_bytes.set(report.logical_bytes)
        self.dedup_saved.set(report.saved_bytes)
        self.open_uploads.set(report.open_uploads)
        self.outbox_depth.set(report.pending_notifications)
        self.push_retrying.set(report.retrying_pushes)
        self.push_failed.set(report.failed_pushes)
        self.backup_running.set(int(report.backup_running))
        self.disk_free.set(report.disk_free_bytes)
        if report.last_backup is not None:
            self.last_backup.set(clock.from_rfc3339(report.last_backup.finished_at) / 1000)
        self.refreshed.set(clock.now())

    def listen(self, settings: Settings) -> None:
        """Serve on ``server.metrics_address`` (once; :meth:`start` does it when nobody did
        before). ``homesync serve`` calls it before it says it is serving, so a taken port
        ends the start with one clear line, as the HTTP port's does.

        Raises:
            MetricsListenError: the address cannot be listened on (in use, not this host's).
        """
        if self._server is not None:
            return
        address = settings.server.metrics_address
        host, port = parse_address(address)
        try:
            self._server, self._thread = start_http_server(port, host, registry=self.registry)
        except OSError as exc:
            raise MetricsListenError(f"cannot serve metrics on {address} "
                                     f"(server.metrics_address): {exc.strerror or exc}",
                                     exc, port) from None
        # The port bound, not the one asked for: with ":0" that is the only way to know it.
        log.info("metrics on http://%s:%d/metrics", f"[{host}]" if ":" in host else host,
                 self._server.server_port)

    async def start(self, settings: Settings, services: Services) -> None:
        """Serve on ``server.metrics_address`` and keep the gauges fresh (made only when it
        is set: :func:`homesync.api.request_metrics.metrics_for`)."""
        self._parked_long_polls = services.sync.notifier.parked
        self.listen(settings)
        interval = parse_duration(settings.server.metrics_refresh)

        async def keep_fresh() -> None:
            while True:
                try:
                    await self.refresh(services)
                except Exception:  # a bad refresh must not take the server down
                    log.exception("refreshing metrics failed")
                await asyncio.sleep(interval)

        self._refresher = asyncio.create_task(keep_fresh(), name="homesync:metrics")

    async def stop(self) -> None:
        """Stop refreshing and serving. A caller cancelled meanwhile still gets both done
        (the port freed), then sees its cancellation."""
        await run_to_the_end(self._stop())

    async def _stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)  # its own end
            self._refresher = None
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(server.shutdown)
            server.server_close()
