"""The e2e harness itself: a server whose port another process took first is never
mistaken for ready because that other process answers on the port, and a metrics port
taken first moves to a free one, at a first start and at a restart alike."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.e2e.devices import ParkedPolls
from tests.helpers import ServerProcess

pytestmark = pytest.mark.e2e


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def impostor() -> Iterator[int]:
    """Another HTTP server (another test's, say) answering 200 on every path."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield int(httpd.server_address[1])
    httpd.shutdown()
    httpd.server_close()


def test_a_taken_port_is_not_taken_for_our_server(tmp_path: Path, impostor: int) -> None:
    server = ServerProcess(tmp_path / "data")
    server.port, server.base = impostor, f"http://127.0.0.1:{impostor}"  # taken since
    try:
        server.start()
        assert server.port != impostor
        r = httpx.get(f"{server.base}/readyz", timeout=10)
        assert r.status_code == 200 and r.json()["data"]["status"] == "ready", r.text
    finally:
        server.stop()


def parked_now(parked: ParkedPolls) -> int:
    async def count() -> int:
        async with httpx.AsyncClient(timeout=10) as http:
            return await parked.count(http)
    return asyncio.run(count())


def test_a_taken_metrics_port_moves_to_a_free_one(tmp_path: Path, impostor: int) -> None:
    server = ServerProcess(tmp_path / "data", metrics=True)
    parked = ParkedPolls(server)
    server.metrics_port = impostor  # taken since
    try:
        server.start()
        assert server.metrics_port != impostor
        assert parked_now(parked) == 0  # our server's metrics, not the impostor's "ok"
    finally:
        server.stop()


def test_a_restart_whose_metrics_port_was_taken_keeps_its_http_port(
        tmp_path: Path, impostor: int) -> None:
    server = ServerProcess(tmp_path / "data", metrics=True)
    parked = ParkedPolls(server)
    try:
        server.start()
        port = server.port
        server.stop()
        server.metrics_port = impostor  # taken while it was down
        server.start()
        assert (server.port, server.base) == (port, f"http://127.0.0.1:{port}")
        assert server.metrics_port != impostor
        assert parked_now(parked) == 0
    finally:
        server.stop()
