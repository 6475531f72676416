"""Per-device limits on upload work (reliability-plan §2): chunk PUTs in flight and open
upload sessions; past them 429 with Retry-After, and nothing changes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync.config import Settings
from homesync.services.container import Services
from tests.auth_helpers import concurrent_client
from tests.conftest import MakeUser, SignIn
from tests.helpers import make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import complete, file_entry, init, path_of, put_chunks, random_bytes


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data", storage={"disk_reserve": "0"}, uploads={
        **SMALL_CHUNKS, "max_chunk_puts_per_device": 1, "max_chunk_puts": 2,
        "max_open_sessions_per_device": 2})


async def _open_uploads(services: Services) -> int:
    row = await services.db.fetchone("SELECT count(*) FROM uploads")
    assert row is not None
    return int(row[0])


async def test_a_device_past_its_open_sessions_gets_429_until_one_ends(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    phone, tablet = await sign_in(), await sign_in(client_id="tablet")
    files = [random_bytes(5000) for _ in range(4)]
    first = await init(client, phone.auth, file_entry(files[0], name="a.jpg"))
    await init(client, phone.auth, file_entry(files[1], name="b.jpg"))
    before = await _open_uploads(services)

    r = await init(client, phone.auth, file_entry(files[2], name="c.jpg"))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "RATE_LIMITED"
    assert r.headers["retry-after"] == "60"
    assert await _open_uploads(services) == before  # nothing recorded

    # Another device of the same user has its own sessions.
    assert (await init(client, tablet.auth, file_entry(files[2], name="c.jpg"))).status_code == 200
    # Completing one frees its session.
    entry = first.json()["data"]["files"][0]
    await put_chunks(client, entry, files[0], phone.auth)
    assert (await complete(client, phone.auth, entry["uploadId"], files[0])).status_code == 200
    assert (await init(client, phone.auth, file_entry(files[3], name="d.jpg"))).status_code == 200


async def test_chunk_puts_in_flight_are_limited_per_device_and_in_all(
    services: Services, make_user: MakeUser, sign_in: SignIn,
) -> None:
    await make_user()
    await make_user("bob@example.com", "Bob")
    phone, tablet = await sign_in(), await sign_in(client_id="tablet")
    bobs = await sign_in("bob@example.com", client_id="bobs-phone")
    data = random_bytes(3 * 4096)
    async with concurrent_client(services) as http:
        entries = {}
        for device in (phone, tablet, bobs):
            r = await init(http, device.auth, file_entry(data, name=f"{device.client_id}.jpg"))
            entries[device.client_id] = r.json()["data"]["files"][0]
        release = asyncio.Event()

        def slow_body(streaming: asyncio.Event) -> AsyncIterator[bytes]:
            async def body() -> AsyncIterator[bytes]:  # half a chunk, then waits
                yield data[:4096 // 2]
                streaming.set()
                await release.wait()
                yield data[4096 // 2:4096]
            return body()

        def put(device_id: str, index: int, body: Any) -> Any:
            url = path_of(entries[device_id]["chunks"][index]["uploadUrl"])
            return http.put(url, content=body)

        streaming = asyncio.Event()
        held = asyncio.create_task(put("app-install-1", 0, slow_body(streaming)))
        await streaming.wait()
        busy = await put("app-install-1", 1, data[4096:8192])  # same device: no slot
        assert busy.status_code == 429, busy.text
        assert busy.headers["retry-after"] == "1"
        assert (await put("tablet", 0, data[:4096])).status_code == 200  # its own slot

        streaming = asyncio.Event()
        blocked = asyncio.create_task(put("tablet", 1, slow_body(streaming)))
        await streaming.wait()  # now both of the server's slots are taken
        full = await put("bobs-phone", 0, data[:4096])
        assert full.status_code == 429, full.text

        release.set()
        assert (await held).status_code == 200
        assert (await blocked).status_code == 200
        assert services.uploads.receiver.slots.in_flight() == 0
        assert (await put("app-install-1", 1, data[4096:8192])).status_code == 200
        assert (await put("bobs-phone", 0, data[:4096])).status_code == 200
    status = await services.uploads.status(phone.user_id, entries["app-install-1"]["uploadId"])
    assert status.completed_chunks == [0, 1]  # the refused PUT was not counted
