"""Shared test helpers: settings for a tmp data dir, users and signed-in devices."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from homesync.config import Settings, load_settings
from homesync.store.migrate import migrations

API = "/api/mobile"
PASSWORD = "correct horse battery"


def examples(n: int) -> int:
    """A property test's number of examples: ``n``, times ``PROPERTY_EXAMPLES_SCALE`` when
    that is set (a soak: ``PROPERTY_EXAMPLES_SCALE=50 pytest tests/sync/test_sync_properties.py``;
    a HOMESYNC_* name would be read as a server option)."""
    return n * int(os.environ.get("PROPERTY_EXAMPLES_SCALE", "1"))


def make_settings(data_dir: Path, **sections: dict[str, Any]) -> Settings:
    """Settings for tests: fsync off, cheapest argon2 (except where a test says otherwise).

    The per-device limits (20 requests a second in bursts of 60, 30 refreshes a minute)
    stay at their defaults, so tests see what a server does. That cannot make them flaky:
    no test makes more than 60 counted calls from one device without moving the frozen
    clock on (checked by running the suite with refill switched off); one that needs more
    says so in its settings.
    """
    overrides: dict[str, Any] = {
        "data_dir": str(data_dir),
        "storage": {"fsync": False},
        "auth": {"argon2_time_cost": 1, "argon2_memory_kib": 8, "argon2_parallelism": 1},
    }
    for name, values in sections.items():
        overrides.setdefault(name, {}).update(values)
    return load_settings(None, environ={}, overrides=overrides)


def device_info(device_id: str = "app-install-1", **extra: Any) -> dict[str, Any]:
    info = {"platform": "android", "model": "Pixel 7", "osVersion": "14", "appVersion": "1.2.0",
            "deviceId": device_id}
    info.update(extra)
    return info


@dataclass
class Device:
    """A signed-in device as a test sees it."""

    user_id: str
    email: str
    device_id: str
    client_id: str
    access: str
    refresh: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access}"}


def device_from(body: dict[str, Any], email: str, client_id: str) -> Device:
    return Device(user_id=body["user"]["id"], email=email, device_id=body["device"]["id"],
                  client_id=client_id, access=body["tokens"]["accessToken"],
                  refresh=body["tokens"]["refreshToken"])


def free_port() -> int:
    """A port free on 127.0.0.1 just now. Anything may take it before it is used: whatever
    listens on it later must cope (:class:`ServerProcess`, :func:`port_attempts`)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


IN_USE = "Address already in use"  # strerror(EADDRINUSE), as homesync and nginx report it


class PortTaken(RuntimeError):
    """Something could not listen: another process took its port first."""

    def __init__(self, port: int) -> None:
        super().__init__(f"127.0.0.1:{port} was taken by another process")
        self.port = port


def port_taken(output: str, port: int) -> bool:
    """Whether ``output`` (a log, an error) says listening on ``port`` failed because the
    port is in use: only then may another port be tried."""
    return re.search(rf"127\.0\.0\.1:{port}\b.*{IN_USE}", output) is not None


class PortAttempt:
    """One try at listening on fresh free ports: see :func:`port_attempts`."""

    def __init__(self, count: int, last: bool) -> None:
        self.ports = tuple(free_port() for _ in range(count))
        self.last = last
        self.succeeded = False

    def __enter__(self) -> tuple[int, ...]:
        return self.ports

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> bool:
        if exc is None:
            self.succeeded = True
            return False
        # Swallowed (so the next attempt runs) only when provably "one of these is in use".
        taken = isinstance(exc, PortTaken) and exc.port in self.ports or \
            any(port_taken(str(exc), port) for port in self.ports)
        return taken and not self.last


def port_attempts(count: int = 1, tries: int = 5) -> Iterator[PortAttempt]:
    """Listen on ``count`` free ports, and on others while one picked was taken meanwhile
    (by another test worker, say: a free port is only free until someone listens on it)::

        for attempt in port_attempts():
            with attempt as (port,):
                start_listening_on(port)  # raises PortTaken, or an error naming the port in use

    Works for sync and async code alike; the last attempt's error is raised."""
    for n in range(tries):
        attempt = PortAttempt(count, last=n == tries - 1)
        yield attempt
        if attempt.succeeded:
            return


class ServerProcess:
    """A real `homesync serve` on a free port, for end-to-end tests.

    With ``metrics``, it also serves Prometheus metrics at :attr:`metrics_url` (on a port
    of its own, which a restart may move: read the attribute when scraping). ``program``
    runs another build of homesync (the zipapp) instead of this checkout's.
    """

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, *,
                 metrics: bool = False, program: tuple[str, ...] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.metrics_port = free_port() if metrics else None
        self.program = program or (sys.executable, "-m", "homesync")
        self.env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = False

    @property
    def metrics_url(self) -> str:
        assert self.metrics_port is not None, "made without metrics=True"
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"server-{self.port}.log"

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.program, *args, "--data-dir", str(self.data_dir)],
            input=input, capture_output=True, text=True, env=self.env, timeout=60,
        )

    def start(self) -> None:
        # The ports were free when picked, but any other process (another test worker's
        # server above all) may have taken one since. Then the server exits ("cannot
        # listen", "cannot serve metrics"), and a health check alone would have been
        # answered by that other server: the test would talk to someone else's. So
        # readiness also needs our server's own "serving" line, and a taken port is
        # replaced by another free one: the metrics port always, the HTTP port on a
        # first start only (a restart keeps it: URLs handed out name it).
        for attempt in range(5):
            start_at = self.log_path.stat().st_size if self.log_path.exists() else 0
            env = self.env
            if self.metrics_port is not None:
                env = {**env, "HOMESYNC_SERVER_METRICS_ADDRESS": f"127.0.0.1:{self.metrics_port}"}
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [*self.program, "serve", "--data-dir", str(self.data_dir),
                     "--port", str(self.port)],
                    stdout=log, stderr=subprocess.STDOUT, env=env,
                )
            try:
                self._wait_ready(start_at)
                self._started = True
                return
            except PortTaken as taken:
                if attempt == 4:
                    raise
                if taken.port == self.metrics_port:
                    self.metrics_port = free_port()
                elif self._started:
                    raise
                else:
                    self.port = free_port()
                    self.base = f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, start_at: int, timeout: float = 30) -> None:
        # Polling is the only signal a separate process gives us.
        serving = f"homesync serving http://127.0.0.1:{self.port} ".encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            exited = self.proc.poll() is not None  # before reading: its last words are in
            with open(self.log_path, "rb") as fh:
                fh.seek(start_at)
                output = fh.read()
            if exited:
                text = output.decode(errors="replace")
                for port in (self.port, self.metrics_port):
                    if port is not None and port_taken(text, port):
                        raise PortTaken(port)
                raise RuntimeError(f"server exited with {self.proc.returncode}: {text[-2000:]}")
            try:
                if serving in output and \
                        httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become ready")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def schema_before(migration: str) -> int:
    """The schema version just before the migration whose file name ends with ``migration``
    (``"_version_chunk_offsets.sql"``)."""
    return next(n for n, name, _ in migrations() if name.endswith(migration)) - 1


def database_at(path: Path, version: int) -> sqlite3.Connection:
    """A new database at ``path`` as a homesync of schema ``version`` made it (migrations 1
    to ``version``), and an autocommit connection to it, for the rows an upgrade must keep."""
    conn = sqlite3.connect(path, isolation_level=None)
    for number, _name, sql in migrations()[:version]:
        conn.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
    return conn


@contextmanager
def write_lock_held_elsewhere(db_path: Path) -> Iterator[None]:
    """The database's write lock held by another connection, as a long ``homesync gc``
    or ``user add`` in another process holds it, until the block ends."""
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()
