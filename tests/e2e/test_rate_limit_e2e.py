"""The per-device API rate limit of a real `homesync serve`, set through its environment."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, sign_in, start_with_accounts
from tests.helpers import API

pytestmark = pytest.mark.e2e


async def test_a_burst_past_the_limit_gets_429_with_retry_after(make_server: MakeServer) -> None:
    # Bursts of 5, then 1 a second.
    server = make_server({**ENV, "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "1",
                          "HOMESYNC_AUTH_API_REQUEST_BURST": "5"})
    start_with_accounts(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        phone = await sign_in(http, "alice@example.com", "phone")
        laptop = await sign_in(http, "alice@example.com", "laptop")
        answers: list[httpx.Response] = []
        started = time.monotonic()
        while len(answers) < 50 and (not answers or answers[-1].status_code == 200):
            answers.append(await http.get(f"{API}/devices", headers=phone.auth))
        elapsed = time.monotonic() - started
        # The burst, plus what refilled while the calls went (however slow the machine).
        accepted = len(answers) - 1
        assert 5 <= accepted <= 5 + int(elapsed) + 1, (accepted, elapsed)
        limited = answers[-1]
        assert limited.status_code == 429, limited.text
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert (await http.get(f"{API}/devices", headers=laptop.auth)).status_code == 200
