"""Chunks are shared: a copy made from stored content (init's ``deduplicated``) and another
account's file with the same bytes use the very same chunk files. Purging one of them and
running gc with no grace must leave every other file whole; only when the last file using
a chunk is gone may gc take it."""

from __future__ import annotations

import time

from homesync import clock
from tests.helpers import API
from tests.sync.helpers import change, push
from tests.uploads.flow import random_bytes, upload


async def purge(client, dev, file_id) -> None:
    await push(client, dev, None, change("delete", fileId=file_id))
    r = await client.delete(f"{API}/trash/{file_id}", headers=dev.auth)
    assert r.status_code == 200, r.text


async def test_gc_after_a_purge_keeps_the_chunks_other_files_use(client, services, make_user,
                                                                  sign_in):
    await make_user()
    await make_user("bob@example.com", "Bob Builder")
    alice = await sign_in()
    bob = await sign_in("bob@example.com", client_id="bob-phone")
    data = random_bytes(12_000)  # three chunks
    original = (await upload(client, alice.auth, data, name="IMG_1.jpg"))["fileId"]
    copy = await upload(client, alice.auth, data, name="IMG_1.jpg", folder="/album")
    assert copy.get("deduplicated"), copy  # made from the stored chunks: no bytes sent
    bobs = (await upload(client, bob.auth, data, name="same.jpg"))["fileId"]
    chunks = {c.hash async for c in services.chunks.list_chunks()}
    assert len(chunks) == 3  # one set of chunk files for all three

    start = time.time()
    try:
        await purge(client, alice, original)
        clock.set_now(lambda: start + 60)  # past the purge: nothing is young any more
        await services.gc.collect(grace_ms=0)
        for dev, file_id in ((alice, copy["fileId"]), (bob, bobs)):
            got = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
            assert got.status_code == 200 and got.content == data
        assert {c.hash async for c in services.chunks.list_chunks()} == chunks
        assert all([await services.chunks.verify(h) for h in chunks])

        # The last two go: now gc may take the chunks (so the round above could have).
        await purge(client, alice, copy["fileId"])
        await purge(client, bob, bobs)
        clock.set_now(lambda: start + 120)
        await services.gc.collect(grace_ms=0)
        assert [c async for c in services.chunks.list_chunks()] == []
    finally:
        clock.set_now(None)
