"""Shared test helpers: settings for a tmp data dir, users and signed-in devices."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from homesync.config import Settings, load_settings

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
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PortTaken(RuntimeError):
    """The server could not listen: another process took its port first."""


class ServerProcess:
    """A real `homesync serve` on a free port, for end-to-end tests."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "HOMESYNC_STORAGE_FSYNC": "false", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self._started = False

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "homesync", *args, "--data-dir", str(self.data_dir)],
            input=input, capture_output=True, text=True, env=self.env, timeout=60,
        )

    def start(self) -> None:
        # The port was free when this object was made, but any other process (another
        # test worker's server above all) may have taken it since. Then the server exits
        # ("cannot listen"), and a health check alone would have been answered by that
        # other server: the test would talk to someone else's. So readiness also needs our
        # server's own "serving" line, and a first start whose port was taken moves on to
        # another free one (a restart keeps its port: URLs handed out name it).
        for attempt in range(5):
            log_path = self.data_dir.parent / f"server-{self.port}.log"
            start_at = log_path.stat().st_size if log_path.exists() else 0
            with open(log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "homesync", "serve", "--data-dir",
                     str(self.data_dir), "--port", str(self.port)],
                    stdout=log, stderr=subprocess.STDOUT, env=self.env,
                )
            try:
                self._wait_ready(log_path, start_at)
                self._started = True
                return
            except PortTaken:
                if self._started or attempt == 4:
                    raise
                self.port = free_port()
                self.base = f"http://127.0.0.1:{self.port}"

    def _wait_ready(self, log_path: Path, start_at: int, timeout: float = 30) -> None:
        # Polling is the only signal a separate process gives us.
        serving = f"homesync serving http://127.0.0.1:{self.port} ".encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            exited = self.proc.poll() is not None  # before reading: its last words are in
            with open(log_path, "rb") as fh:
                fh.seek(start_at)
                output = fh.read()
            if exited:
                if b"Address already in use" in output:
                    raise PortTaken(self.port)
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{output.decode(errors='replace')[-2000:]}")
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
