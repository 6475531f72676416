"""A request that a stop cuts off after its grace period gets the envelope's 503 (with
Retry-After), not uvicorn's plain-text 500: under a real uvicorn, with the server's own
HTTP protocol, and a grace period short enough for a test."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
import uvicorn

from homesync.app import create_app
from homesync.http_protocol import EnvelopeHttpToolsProtocol
from homesync.server.run import bind_listener
from homesync.services.container import Services
from tests.conftest import MakeUser
from tests.helpers import API, PASSWORD, device_info
from tests.sync.helpers import parked


async def test_a_request_cut_off_by_a_stop_answers_503_in_the_envelope(
        services: Services, make_user: MakeUser, caplog: pytest.LogCaptureFixture) -> None:
    user_id = await make_user()
    sock = bind_listener("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(services.settings, services), lifespan="on",
                            http=EnvelopeHttpToolsProtocol, timeout_graceful_shutdown=1,
                            log_config=None)
    server = uvicorn.Server(config)  # not GracefulServer: nothing wakes the poll early
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        # The socket already listens: connections wait for the server to take them.
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            r = await http.post(f"{API}/auth/register", json={
                "email": "alice@example.com", "password": PASSWORD,
                "deviceInfo": device_info()})
            auth = {"Authorization": f"Bearer {r.json()['tokens']['accessToken']}"}
            token = (await http.get(f"{API}/sync/status", headers=auth)).json()["data"][
                "nextSyncToken"]
            poll = asyncio.create_task(http.get(f"{API}/sync/status", headers=auth,
                                                params={"syncToken": token, "wait": 60}))
            await parked(services, user_id)
            server.should_exit = True
            with caplog.at_level(logging.ERROR, logger="uvicorn.error"):
                answer = await poll
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "10"
        assert answer.json() == {"success": False, "error": {
            "code": "UNAVAILABLE",
            "message": "The server is stopping; send the request again shortly", "details": {}}}
        # Answered as it should be: no "Exception in ASGI application" and its traceback
        # for each request a stop cuts off (uvicorn's one line saying it cancels them stays).
        assert [r.getMessage() for r in caplog.records] == [
            "Cancel 1 running task(s), timeout graceful shutdown exceeded"]
    finally:
        server.should_exit = True
        await serving
        sock.close()
