"""A real `homesync serve` through its life: one server per data dir, a graceful stop
with work in flight, a start after `kill -9`."""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.test_upload_e2e import ENV, sign_in
from tests.helpers import API, ServerProcess, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(make_server: MakeServer) -> ServerProcess:
    return make_server(ENV)


def second_serve(server: ServerProcess) -> subprocess.CompletedProcess[str]:
    """Another `homesync serve` on the same data dir (another port); it must not stay up."""
    return subprocess.run(
        [sys.executable, "-m", "homesync", "serve", "--data-dir", str(server.data_dir),
         "--port", str(free_port())],
        capture_output=True, text=True, env=server.env, timeout=30)


def test_a_second_server_on_the_same_data_dir_refuses_and_the_first_keeps_serving(
        server: ServerProcess) -> None:
    server.start()
    with httpx.Client(base_url=server.base, timeout=10) as http:
        auth = sign_in(server, http)
        second = second_serve(server)
        assert second.returncode == 4, second.stdout + second.stderr
        assert f"pid {server.proc.pid}" in second.stderr  # type: ignore[union-attr]
        assert "already running" in second.stderr
        assert http.get(f"{API}/devices", headers=auth).status_code == 200
    # The kernel drops the lock with the process: a killed server is no obstacle.
    server.kill9()
    server.start()
    assert httpx.get(f"{server.base}/readyz", timeout=10).status_code == 200
