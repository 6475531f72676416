"""A chunk PUT that begins before its upload's expiry is a sign of life, as asking to
complete is: the expiry (and a gc round) passing while its bytes stream in (a big chunk on a slow link,
after the upload sat idle for most of a day) does not refuse the chunk once every byte
has arrived."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from homesync import clock
from homesync.services.container import Services
from tests.conftest import MakeUser, SignIn
from tests.helpers import API
from tests.uploads.flow import complete, file_entry, init, path_of

DAY = 24 * 3600


async def test_a_chunk_whose_upload_expires_while_it_streams_is_kept(
    client: AsyncTestClient[Any], services: Services, make_user: MakeUser, sign_in: SignIn,
    monkeypatch: Any,
) -> None:
    start = clock.now()
    clock.set_now(lambda: start)
    await make_user()
    phone = await sign_in(client_id="phone")
    data = os.urandom(5000)
    r = await init(client, phone.auth, file_entry(data))
    assert r.status_code == 200, r.text
    item = r.json()["data"]["files"][0]

    # Idle for nearly a day; the expiry passes while the chunk's bytes arrive.
    now = [start + DAY - 1]
    clock.set_now(lambda: now[0])
    make_writer, expired = services.chunks.writer, []

    def writer() -> Any:
        made = make_writer()
        commit = made.commit

        async def commit_later() -> None:
            now[0] = start + DAY + 60  # the last byte came in a minute after the expiry
            expired.append(await services.gc.expire_uploads())  # and a gc round ran
            await commit()

        made.commit = commit_later  # type: ignore[method-assign]
        return made

    monkeypatch.setattr(services.chunks, "writer", writer)
    chunk = item["chunks"][0]
    r = await client.put(path_of(chunk["uploadUrl"]), content=data[:4096])
    assert r.status_code == 200, r.text
    assert expired == [0]
    r = await client.put(path_of(item["chunks"][1]["uploadUrl"]), content=data[4096:])
    assert r.status_code == 200, r.text
    phone = await sign_in(client_id="phone")  # its access token ran out meanwhile
    r = await complete(client, phone.auth, item["uploadId"], data)
    assert r.status_code == 200, r.text
    r = await client.get(f"{API}/upload/{item['uploadId']}", headers=phone.auth)
    assert r.json()["data"]["status"] == "completed"
