"""``uploads`` notifications over HTTP: one per thing that happened to an upload, however
often the phone asks again."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from tests.conftest import MakeUser, SignIn
from tests.helpers import API, Device
from tests.uploads.flow import complete, file_entry, init, put_chunks


async def upload_inbox(client: AsyncTestClient[Any], dev: Device) -> list[dict[str, Any]]:
    """The uploads notifications, oldest first."""
    r = await client.get(f"{API}/notifications", headers=dev.auth, params={"category": "uploads"})
    assert r.status_code == 200, r.text
    return list(reversed(r.json()["data"]["notifications"]))


async def test_a_complete_retried_on_damaged_content_tells_of_it_once(
    client: AsyncTestClient[Any], make_user: MakeUser, sign_in: SignIn,
) -> None:
    """A phone that lost the 422 (a timeout while a big file was hashed) asks again, and
    gets 422 again: the same damage, not news a second time on its lock screen."""
    await make_user()
    phone = await sign_in()
    data = os.urandom(9000)
    r = await init(client, phone.auth, file_entry(data))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]
    await put_chunks(client, item, os.urandom(9000))  # arrives damaged
    for _ in range(2):
        r = await complete(client, phone.auth, item["uploadId"], data)
        assert r.status_code == 422 and r.json()["error"]["code"] == "CHECKSUM_MISMATCH", r.text
    assert [n["kind"] for n in await upload_inbox(client, phone)] == ["upload_failed"]

    await put_chunks(client, item, data)  # sent again, whole: it completes
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    r = await complete(client, phone.auth, item["uploadId"], data)  # a retry: answered the same
    assert r.status_code == 200, r.text
    assert [n["kind"] for n in await upload_inbox(client, phone)] == [
        "upload_failed", "upload_completed"]
