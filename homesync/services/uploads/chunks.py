"""Chunk PUTs of an upload: authorised (Bearer or signed URL), streamed into the chunk
store as they arrive, and counted only once durable (see :mod:`.service`)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable
from typing import Protocol

from homesync import clock
from homesync.errors import (
    ChecksumMismatch,
    ChunkSizeMismatch,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
    UploadExpired,
    ValidationError,
)
from homesync.services.sharing.access import upload_place_now
from homesync.services.uploads.digest import RunningDigests
from homesync.services.uploads.init import normalize_checksum
from homesync.services.uploads.limits import ChunkSlots
from homesync.services.uploads.quota import Quota
from homesync.services.uploads.resent import completed_chunk_digest
from homesync.services.uploads.types import ChunkReceipt, ChunkTarget
from homesync.services.uploads.urls import ChunkUrlSigner
from homesync.store import chunk_index, tokens, uploads
from homesync.store.chunks import ChunkStore
from homesync.store.db import Conn, Database, Row

__all__ = ["ChunkReceiver", "check_open", "check_still_shared", "parse_index"]


class ChunkReceiver:
    def __init__(self, db: Database, chunks: ChunkStore, quota: Quota, signer: ChunkUrlSigner,
                 slots: ChunkSlots, digests: RunningDigests, *, session_ttl_ms: int,
                 sign_ins: tokens.SignInLifetimes) -> None:
        self._db = db
        self._chunks = chunks
        self._quota = quota
        self._signer = signer
        self.slots = slots
        self._digests = digests
        self._ttl_ms = session_ttl_ms
        self._sign_ins = sign_ins

    async def chunk_target(self, upload_id: str, index: str | int | None,
                           byte_range: tuple[int, int, int | None] | None = None, *,
                           user_id: str | None, url_exp: str | None = None,
                           url_sig: str | None = None) -> ChunkTarget:
        """Authorise a chunk PUT (owner's Bearer, or the upload's signed URL) and locate it.

        The chunk is named by ``index``, or by ``byte_range`` (first, last inclusive, total
        size or None, from a ``Content-Range``) which must cover exactly one chunk.
        404 for someone else's upload (or none), 401 for a bad signature or a signed URL
        whose device is removed or signed out (its sign-in ended or ran out), 410 when
        expired,
        409 when the upload was cancelled, 400 for an index or range outside the upload,
        404/403 when it goes into a share since revoked or turned to read.
        A completed upload is a target too: a chunk sent again is compared, not stored.
        """
        # Server ids are short ASCII; anything else cannot name an upload.
        # A lookup by primary key on every chunk PUT: inline (see store.connections).
        row = (await uploads.get(self._db.inline, upload_id)
               if upload_id.isascii() and len(upload_id) <= 100 else None)
        if user_id is not None:
            if row is None or row["user_id"] != user_id:
                raise NotFound("No such upload")
        elif url_exp is not None and url_sig is not None:
            if not self._signer.verify(upload_id, url_exp, url_sig):
                raise Unauthorized("Invalid chunk URL signature")
            if row is None:
                raise NotFound("No such upload")
            if row["device_removed_at"] is not None:
                raise Unauthorized("The device of this upload was removed")
            # The URL outlives access tokens on purpose, not the device's sign-in: after a
            # logout, a password change or a caught refresh-token theft, a background
            # uploader (on a phone perhaps stolen) must not go on writing into the account;
            # nor after the sign-in ran out, which only a refresh attempt would record.
            if not await tokens.device_signed_in(self._db.inline, row["device_id"],
                                                 self._sign_ins, clock.now_ms()):
                raise Unauthorized("The device of this upload is signed out; sign in again"
                                   " to resume it")
        else:
            raise Unauthorized("Use Authorization: Bearer <accessToken> or a signed chunk URL")
        if row["status"] != "completed":
            check_open(row, clock.now_ms())
            await check_still_shared(self._db.reader, row)
        chunk_size, size = row["chunk_size"], row["size"]
        if byte_range is not None:
            index = byte_range[0] // chunk_size
        idx = parse_index("" if index is None else index, row["total_chunks"])
        start = idx * chunk_size
        length = min(size, start + chunk_size) - start
        if byte_range is not None:
            first, last, total = byte_range
            if (first, last) != (start, start + length - 1) or total not in (None, size):
                raise ValidationError("Content-Range must cover exactly one chunk of the upload",
                                      expectedStart=start, expectedEnd=start + length - 1)
        return ChunkTarget(upload_id=upload_id, user_id=row["user_id"],
                           device_id=row["device_id"], index=idx, start=start, length=length,
                           replaceable=bool(row["checksum_failed"]),
                           completed=row["status"] == "completed",
                           expires_at=row["expires_at"])

    async def receive_chunk(self, target: ChunkTarget, body: AsyncIterable[bytes], *,
                            checksum: str | None = None) -> ChunkReceipt:
        """Stream one chunk's body into the store and count it once it is durable.

        The body is hashed and written as it arrives and cut off (413) the moment it passes
        the chunk's length; short bodies (400), a wrong ``checksum`` (422) and different
        bytes for an index that already has a chunk (409) are refused and not counted.
        To a completed upload the body is only hashed (see :meth:`_resent_after_complete`).
        """
        expected = normalize_checksum(checksum)[7:] if checksum else None
        with self.slots.hold(target.device_id):
            if target.completed:
                digest = await _take(target, body, _HashOnly(), expected)
                return await self._resent_after_complete(target, digest)
            return await self._receive(target, body, expected)

    async def _receive(self, target: ChunkTarget, body: AsyncIterable[bytes],
                       expected: str | None) -> ChunkReceipt:
        await self._quota.check_disk(target.length)
        await self._keep_open_while_streaming(target)
        writer = self._chunks.writer()
        try:
            digest = await _take(target, body, writer, expected)
            await writer.commit()
            try:
                receipt = await self._record(target, digest)
            except _CompletedMeanwhile:  # a retry that lost the race to complete
                return await self._resent_after_complete(target, digest)
            self._digests.chunk_stored(target.upload_id)  # hashes the file as it arrives
            return receipt
        finally:
            await writer.abort()  # no-op once committed

    async def _keep_open_while_streaming(self, target: ChunkTarget) -> None:
        """A chunk PUT is a sign of life from when it begins, as asking to complete is: an
        upload near its expiry gets a fresh ``session_ttl`` before the bytes stream in, so
        the expiry (or a gc round) passing while a big chunk arrives over a slow link does
        not refuse it at the end. Only then: one write more, after hours idle."""
        now = clock.now_ms()
        if target.expires_at - now < self._ttl_ms // 2:
            async with self._db.transaction() as tx:
                await uploads.keep_open(tx, target.upload_id, now, now + self._ttl_ms)

    async def _record(self, target: ChunkTarget, digest: str) -> ChunkReceipt:
        # A handful of statements in one transaction: every chunk PUT pays for these, so
        # the checks ride on the writes (conflict and openness come back as row counts).
        now = clock.now_ms()
        async with self._db.transaction() as tx:
            await chunk_index.add(tx, digest, target.length, now)
            # gc deletes bytes only inside a write transaction; checking here, in ours, means
            # the chunk cannot vanish between this check and the commit that protects it.
            if not await self._chunks.exists(digest):
                raise ServiceUnavailable("The chunk was cleaned up while arriving; send it again")
            added = await uploads.put_chunk(
                tx, upload_id=target.upload_id, idx=target.index, chunk_hash=digest,
                size=target.length, replace=target.replaceable, now=now)
            counted = None
            if added is not None:
                counted = await uploads.count_received(tx, target.upload_id, added_bytes=added,
                                                       now=now, expires_at=now + self._ttl_ms)
            if counted is None:
                row = await uploads.get(tx, target.upload_id)
                assert row is not None
                if row["status"] == "completed":
                    raise _CompletedMeanwhile()  # rolls back the row put_chunk added
                check_open(row, now)  # cancelled or expired meanwhile
                raise Conflict(f"Chunk {target.index} was already received with other bytes",
                               index=target.index)
        return ChunkReceipt(upload_id=target.upload_id, index=target.index,
                            bytes_received=target.length,
                            completed_chunks=counted["received_chunks"],
                            total_chunks=counted["total_chunks"], status=counted["status"])

    async def _resent_after_complete(self, target: ChunkTarget, digest: str) -> ChunkReceipt:
        """A chunk of a completed upload sent again (a background uploader's retry whose
        answer was lost): the usual answer when it holds the bytes the upload had at that
        index, and nothing changes; 409 when its bytes differ (or can no longer be told)."""
        row = await uploads.get(self._db.reader, target.upload_id)
        if row is None:  # forgotten since (gc): as for any unknown upload
            raise NotFound("No such upload")
        held = await completed_chunk_digest(self._db.reader, self._chunks, row,
                                            start=target.start, length=target.length)
        if held is None:
            raise Conflict("This upload is already completed", fileId=row["file_id"])
        if held != digest:
            raise Conflict(f"This upload is already completed, and these bytes differ from"
                           f" its chunk {target.index}", fileId=row["file_id"], index=target.index)
        return ChunkReceipt(upload_id=target.upload_id, index=target.index,
                            bytes_received=target.length, completed_chunks=row["total_chunks"],
                            total_chunks=row["total_chunks"], status=row["status"])


class _CompletedMeanwhile(Exception):
    """The upload was completed while the chunk arrived: judged as sent after it."""


class _Sink(Protocol):
    size: int

    async def write(self, data: bytes) -> None: ...

    def hexdigest(self) -> str: ...


class _HashOnly:
    """A sink that hashes and keeps nothing: a completed upload stores no more chunks."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    async def write(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


async def _take(target: ChunkTarget, body: AsyncIterable[bytes], sink: _Sink,
                expected: str | None) -> str:
    """Stream ``body`` into ``sink``, cut off (413) the moment it passes the chunk's
    length; 400 when short, 422 when not the ``expected`` sha256. The body's sha256."""
    async for piece in body:
        if sink.size + len(piece) > target.length:
            raise PayloadTooLarge(f"Chunk {target.index} has {target.length} bytes",
                                  expected=target.length)
        if piece:
            await sink.write(piece)
    if sink.size != target.length:
        raise ChunkSizeMismatch(
            f"Chunk {target.index} must have {target.length} bytes, got {sink.size}",
            expected=target.length, received=sink.size)
    digest = sink.hexdigest()
    if expected is not None and digest != expected:
        raise ChecksumMismatch("X-Chunk-Checksum does not match the chunk's bytes",
                               expected=f"sha256:{expected}", actual=f"sha256:{digest}")
    return digest


def check_open(row: Row, now: int) -> None:
    """410 when the upload expired, 409 when it was completed or cancelled."""
    status = row["status"]
    if status == "expired" or (status in uploads.OPEN_STATUSES and row["expires_at"] <= now):
        raise UploadExpired()
    if status == "completed":
        raise Conflict("This upload is already completed", fileId=row["file_id"])
    if status == "cancelled":
        raise Conflict("This upload was cancelled; start a new one")


async def check_still_shared(conn: Conn, row: Row) -> None:
    """404 when the upload goes into something no longer shared with its uploader, 403
    when only for reading: its chunks (and its keeping alive) are writes into the owner's
    storage, whose quota holds the upload's bytes while it is open."""
    if row["owner_id"] is not None:
        await upload_place_now(conn, row["user_id"], owner_id=row["owner_id"],
                               folder=row["folder"], file_id=row["target_file_id"],
                               root_id=row["share_root_id"])


def parse_index(index: str | int, total: int) -> int:
    text = str(index)
    # isascii(): isdigit() alone accepts "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValidationError("Chunk index must be a whole number", field="index")
    idx = int(text)
    if total == 0:  # an empty file: complete it without sending anything
        raise ValidationError("This upload is of an empty file: it has no chunks",
                              field="index", totalChunks=0)
    if idx >= total:
        raise ValidationError(f"This upload has chunks 0 to {total - 1}", field="index",
                              totalChunks=total)
    return idx
