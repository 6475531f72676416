"""The sync horizon end to end: `homesync gc` compacts the history of a running server's
data dir, and a device whose token is older then syncs from scratch (reset: true)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.e2e.conftest import MakeServer
from tests.e2e.devices import ENV, put, sign_in, start_with_accounts
from tests.helpers import API, ServerProcess
from tests.sync.helpers import Replica, change, pull, push

pytestmark = pytest.mark.e2e


def test_gc_compacts_history_and_an_old_token_resets(make_server: MakeServer) -> None:
    # The setting is read from the environment (a server keeps half a year by default);
    # gc's --history-retention 1s then compacts all of it once a second has passed (0s
    # would keep it, as "0d" does in the config).
    server = make_server({**ENV, "HOMESYNC_SYNC_HISTORY_RETENTION": "1d"})
    start_with_accounts(server, (("alice@example.com", "Alice Liddell"),))
    asyncio.run(_scenario(server))


async def _scenario(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base, timeout=60) as http:
        phone = await sign_in(http, "alice@example.com", "phone")
        kept = await put(http, phone, b"kept", "kept.txt")
        gone = await put(http, phone, b"gone", "gone.txt")
        view = Replica()
        await view.sync(http, phone)
        old_token = view.token
        await push(http, phone, None, change("delete", fileId=gone))
        r = await http.delete(f"{API}/trash/{gone}", headers=phone.auth)
        assert r.status_code in (200, 204), r.text

        await asyncio.sleep(1.1)  # every entry is now older than the 1s retention
        done = server.cli("gc", "--history-retention", "1s", "--json")
        assert done.returncode == 0, done.stderr
        history = json.loads(done.stdout)["history"]
        assert history["tombstones"] == 1 and history["journal"] > 0
        assert history["kept"] is False and history["retention"] == "1s"

        data = await pull(http, phone, old_token)
        assert data["reset"] is True and data["changes"]["deleted"] == []
        view.apply(data)  # replaces what the device had
        assert set(view.entries) >= {kept} and gone not in view.entries
        # From the new token on, deltas are exact again, deletions included.
        await push(http, phone, view.token, change("delete", fileId=kept))
        data = await pull(http, phone, view.token)
        assert data["reset"] is False
        assert [e["id"] for e in data["changes"]["deleted"]] == [kept]
