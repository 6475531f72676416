"""complete's whole-file check, mostly worked out while the chunks arrive
(services/uploads/digest.py): the same answers as hashing everything at complete.

These drive the uploads service directly, on the test's own event loop, so they can wait
for the background passes (the HTTP test client runs the app on a loop of its own)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from homesync.errors import ChecksumMismatch
from homesync.services.container import Services
from homesync.services.uploads.types import FileRequest, UploadOptions
from homesync.store import uploads as uploads_store
from tests.helpers import Device
from tests.uploads.flow import checksum, random_bytes

CHUNK = 4096


class Phone:
    """One device's uploads through the service, as the API would make them."""

    def __init__(self, services: Services, device: Device) -> None:
        self.uploads = services.uploads
        self.dev = device

    async def start(self, data: bytes, name: str) -> str:
        result = await self.uploads.init(
            user_id=self.dev.user_id, device_id=self.dev.device_id,
            requests=[FileRequest(local_id=name, name=name, folder="/videos", size=len(data),
                                  checksum=checksum(data))],
            options=UploadOptions(chunk_size=CHUNK))
        upload_id = result.entries[0].upload_id
        assert upload_id is not None
        return upload_id

    async def send(self, upload_id: str, data: bytes, *indexes: int) -> None:
        for index in indexes or range((len(data) + CHUNK - 1) // CHUNK):
            target = await self.uploads.receiver.chunk_target(upload_id, index,
                                                              user_id=self.dev.user_id)
            await self.uploads.receiver.receive_chunk(
                target, _body(data[index * CHUNK:(index + 1) * CHUNK]))

    async def complete(self, upload_id: str, data: bytes) -> str:
        done = await self.uploads.complete(
            user_id=self.dev.user_id, device_id=self.dev.device_id, upload_id=upload_id,
            checksum=checksum(data), metadata={})
        return done.file.id


async def _body(piece: bytes) -> AsyncIterator[bytes]:
    yield piece


async def content(services: Services, user_id: str, file_id: str) -> bytes:
    stored = await services.downloads.open_content(user_id, file_id)
    return b"".join([piece async for piece in stored.body])


async def manifest(services: Services, upload_id: str) -> list[str]:
    return [r["chunk_hash"] for r in await uploads_store.received(services.db.reader, upload_id)]


@pytest.fixture
async def phone(services: Services, make_user: Any, sign_in: Any) -> Phone:
    await make_user()
    return Phone(services, await sign_in())


async def test_complete_uses_the_hash_made_while_chunks_arrived(
    services: Services, phone: Phone, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = random_bytes(5 * CHUNK + 100)
    upload_id = await phone.start(data, "clip.mp4")
    await phone.send(upload_id, data)
    await services.uploads.digests.settled()

    async def no_full_pass(chunk_hashes: Any) -> tuple[str, int]:
        raise AssertionError("complete hashed the whole file again")

    monkeypatch.setattr(services.chunks, "sha256_of", no_full_pass)
    file_id = await phone.complete(upload_id, data)
    assert await content(services, phone.dev.user_id, file_id) == data


async def test_damaged_content_is_still_refused_then_mended(
    services: Services, phone: Phone,
) -> None:
    data = random_bytes(4 * CHUNK)
    upload_id = await phone.start(data, "scan.pdf")
    await phone.send(upload_id, data[:CHUNK] + bytes(CHUNK) + data[2 * CHUNK:])  # chunk 1 zeroed
    await services.uploads.digests.settled()
    with pytest.raises(ChecksumMismatch):
        await phone.complete(upload_id, data)
    # The app sends the chunk again: it replaces the stored one, and the check passes.
    await phone.send(upload_id, data, 1)
    await services.uploads.digests.settled()
    file_id = await phone.complete(upload_id, data)
    assert await content(services, phone.dev.user_id, file_id) == data


async def test_a_head_start_over_other_chunks_is_not_used(
    services: Services, phone: Phone,
) -> None:
    """A pass over one list of chunks says nothing about another list."""
    a, b = random_bytes(3 * CHUNK), random_bytes(3 * CHUNK)
    first, second = await phone.start(a, "a.bin"), await phone.start(b, "b.bin")
    await phone.send(first, a)
    await phone.send(second, b)
    await services.uploads.digests.settled()
    digests = services.uploads.digests
    b_chunks = await manifest(services, second)
    assert await digests.finish(first, b_chunks) == (hashlib.sha256(b).hexdigest(), len(b))
    # Same first chunks, then different ones: only the shared beginning may be reused.
    mixed = (await manifest(services, first))[:2] + b_chunks[2:]
    await phone.send(first, a, 2)  # the same bytes again: a new pass over `first`
    await digests.settled()
    assert await digests.finish(first, mixed) == (
        hashlib.sha256(a[:2 * CHUNK] + b[2 * CHUNK:]).hexdigest(), len(a))


async def test_complete_during_a_pass_gives_the_same_answer(
    services: Services, phone: Phone, monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = random_bytes(6 * CHUNK)
    gate, stalled = asyncio.Event(), asyncio.Event()
    real_hash_into = services.chunks.hash_into
    background_calls = 0

    async def stalling_hash_into(digest: Any, chunk_hashes: Any, *,
                                 executor: Any = None) -> int:
        nonlocal background_calls
        if executor is not None:  # the background pass (complete uses the default)
            background_calls += 1
            if background_calls == 3:  # it stalls on the third chunk
                stalled.set()
                await gate.wait()
        return await real_hash_into(digest, chunk_hashes, executor=executor)

    monkeypatch.setattr(services.chunks, "hash_into", stalling_hash_into)
    upload_id = await phone.start(data, "long.mov")
    await phone.send(upload_id, data)
    await asyncio.wait_for(stalled.wait(), 10)
    file_id = await phone.complete(upload_id, data)  # cuts the pass short
    gate.set()
    await services.uploads.digests.settled()
    assert await content(services, phone.dev.user_id, file_id) == data


async def test_ending_a_pass_does_not_swallow_the_callers_own_cancellation(
    services: Services, phone: Phone, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """complete (or a cancel) stops the upload's pass and waits for it to end. Cancelled
    in that wait, it went on all the same: the pass's CancelledError, suppressed as
    expected, was its own (a stop past its grace did not stop a complete)."""
    data = random_bytes(3 * CHUNK)
    stalled = asyncio.Event()

    async def stalling_hash_into(digest: Any, chunk_hashes: Any, *,
                                 executor: Any = None) -> int:
        stalled.set()
        await asyncio.Event().wait()  # until cancelled
        return 0

    monkeypatch.setattr(services.chunks, "hash_into", stalling_hash_into)
    upload_id = await phone.start(data, "stalled.mov")
    await phone.send(upload_id, data, 0)
    await stalled.wait()
    stopping = asyncio.create_task(services.uploads.digests.forget(upload_id))
    await asyncio.sleep(0)  # it has asked the pass to stop and waits for it
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await services.uploads.digests.settled()


@pytest.mark.parametrize("how", ["progress", "delete"])
async def test_a_cancelled_upload_is_no_longer_hashed(
    services: Services, phone: Phone, how: str,
) -> None:
    # Cancelled by POST /upload/progress (status cancelled) as by DELETE /upload/{id}: its
    # running hash is dropped, and no pass goes on hashing chunks nothing will complete.
    data = random_bytes(3 * CHUNK)
    upload_id = await phone.start(data, "clip.mp4")
    await phone.send(upload_id, data)
    await services.uploads.digests.settled()
    if how == "progress":
        await services.uploads.progress(phone.dev.user_id, upload_id, status="cancelled",
                                        bytes_uploaded=None)
    else:
        await services.uploads.cancel(phone.dev.user_id, upload_id)
    assert upload_id not in services.uploads.digests._prefixes
