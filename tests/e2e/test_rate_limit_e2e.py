"""The per-device API rate limit of a real `homesync serve`, set through its environment."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, sign_in, start_with_accounts
from tests.helpers import API


async def test_a_burst_past_the_limit_gets_429_with_retry_after(make_server: MakeServer) -> None:
    # A burst of 5 and 1 a second: the sixth call, made well within a second, is refused.
    server = make_server({**ENV, "HOMESYNC_AUTH_API_REQUESTS_PER_SECOND": "1",
                          "HOMESYNC_AUTH_API_REQUEST_BURST": "5"})
    start_with_accounts(server)
    async with httpx.AsyncClient(base_url=server.base, timeout=30) as http:
        phone = await sign_in(http, "alice@example.com", "phone")
        laptop = await sign_in(http, "alice@example.com", "laptop")
        answers = [await http.get(f"{API}/devices", headers=phone.auth) for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        limited = answers[-1]
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.json()["error"]["code"] == "RATE_LIMITED"
        assert (await http.get(f"{API}/devices", headers=laptop.auth)).status_code == 200
