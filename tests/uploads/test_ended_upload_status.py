"""``GET /upload/{id}`` of a cancelled or expired upload tells one story: its chunks were
let go, so it lists none received and counts no bytes uploaded (it counted the bytes of
the chunks it no longer listed)."""

from __future__ import annotations

import os
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.uploads.flow import file_entry, init, put_chunks

DAY = 24 * 3600


@pytest.mark.parametrize("how", ["cancelled", "expired"])
async def test_an_ended_upload_reports_nothing_received(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    how: str,
) -> None:
    start = clock.now()
    clock.set_now(lambda: start)
    await make_user()
    phone = await sign_in(client_id="phone")
    data = os.urandom(9000)
    r = await init(client, phone.auth, file_entry(data))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, data, only=[0, 1])

    if how == "cancelled":
        r = await client.delete(f"{API}/upload/{item['uploadId']}", headers=phone.auth)
        assert r.status_code == 200, r.text
    else:
        clock.set_now(lambda: start + DAY + 60)
        assert await services.gc.expire_uploads() == 1
        phone = await sign_in(client_id="phone")  # its access token ran out meanwhile

    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=phone.auth)
    assert r.status_code == 200, r.text
    state = r.json()["data"]
    assert state["status"] == how
    assert state["completedChunks"] == []
    assert state["missingChunks"] == [0, 1, 2]
    assert state["bytesUploaded"] == 0
