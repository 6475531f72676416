"""The whole-file sha256 of an open upload, worked out while its chunks arrive.

``complete`` must check the whole file against its checksum before the file exists (D4).
Done only then, the phone waits after its last chunk for a pass over everything: ~0.2 s
per 256 MiB on the bench VM, half a minute for a 4 GiB video on a board without SHA
instructions; the "stuck at 100 %" other servers' users complain about, and long enough
for a phone's HTTP client to give up. So, as chunks are stored, a background pass
feeds the leading run of them (index 0, 1, 2, ... as far as they are there) into a
sha256, and ``complete`` hashes only what that pass has not reached.

What keeps it safe:

- ``complete`` uses the pass only if it covered exactly the first chunks it is
  assembling (the same hashes, in order); any other case (a chunk replaced after a
  failed check, the pass lost to a restart or crowded out) hashes everything, as before.
- The pass reads the stored chunk files, the same bytes ``complete`` would read.
- It runs on one thread of its own at the lowest CPU priority (Linux: per thread), so it
  takes only CPU that receiving chunks leaves idle (the fsync waits) and never slows
  uploads down; whatever it has not reached by ``complete`` is hashed then, at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from homesync.store import uploads
from homesync.store.chunks import ChunkStore
from homesync.store.db import Database

__all__ = ["RunningDigests"]

log = logging.getLogger("homesync.uploads")

# Chunk rows read per look at the upload (a lookup by primary key range: inline).
_ROWS_PER_LOOK = 64


class _Prefix:
    """sha256 of an upload's first ``count`` chunks, and which chunks those were."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.count = 0
        self.size = 0
        self._names = hashlib.sha256()  # of their hashes: constant memory, however many

    def add(self, digest: hashlib._Hash, chunk_hash: str, size: int) -> None:
        self.digest = digest
        self._names.update(chunk_hash.encode())
        self.count += 1
        self.size += size

    def covers(self, chunk_hashes: Sequence[str]) -> bool:
        """Whether these are the first chunks of ``chunk_hashes``, in order."""
        names = hashlib.sha256()
        for chunk_hash in chunk_hashes[:self.count]:
            names.update(chunk_hash.encode())
        return 0 < self.count <= len(chunk_hashes) and names.digest() == self._names.digest()


def _lowest_priority() -> None:
    # On Linux a thread is scheduled on its own: nice 19 for this one only.
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class RunningDigests:
    def __init__(self, db: Database, chunks: ChunkStore, max_uploads: int = 256) -> None:
        self._db = db
        self._chunks = chunks
        self._prefixes: OrderedDict[str, _Prefix] = OrderedDict()
        self._passes: dict[str, asyncio.Task[None]] = {}
        self._max_uploads = max_uploads  # beyond it the least recently fed is dropped
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="homesync-digest",
                                        initializer=_lowest_priority)

    def chunk_stored(self, upload_id: str) -> None:
        """A chunk of ``upload_id`` was just recorded: carry its pass on (in the background)."""
        if upload_id not in self._passes:
            task = asyncio.create_task(self._advance(upload_id), name="homesync:digest")
            self._passes[upload_id] = task

    async def finish(self, upload_id: str, chunk_hashes: Sequence[str]) -> tuple[str, int]:
        """(sha256 hex, size) of the chunks ``chunk_hashes``, in order: the upload's whole
        content. Raises FileNotFoundError when one of them is missing from storage."""
        await self._stop(upload_id)
        prefix = self._prefixes.pop(upload_id, None)
        if prefix is None or not prefix.covers(chunk_hashes):
            return await self._chunks.sha256_of(chunk_hashes)
        size = prefix.size + await self._chunks.hash_into(prefix.digest,
                                                           chunk_hashes[prefix.count:])
        return prefix.digest.hexdigest(), size

    async def forget(self, upload_id: str) -> None:
        """The upload ended without ``finish`` (cancelled, say)."""
        await self._stop(upload_id)
        self._prefixes.pop(upload_id, None)

    async def settled(self) -> None:
        """Until no pass is running (one more may start with the next chunk)."""
        while self._passes:
            await asyncio.gather(*self._passes.values(), return_exceptions=True)

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        for upload_id, task in list(self._passes.items()):
            if task.get_loop() is loop:  # (a test client may have run the app on another)
                await self._stop(upload_id)
        self._passes.clear()
        self._prefixes.clear()
        # Not waiting for a chunk still being hashed: nothing will use it.
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def _stop(self, upload_id: str) -> None:
        # Safe at any point: a chunk is hashed into a copy that replaces the prefix's
        # digest only once the whole chunk is in (a thread still busy with it hashes
        # into a copy nobody keeps).
        running = self._passes.get(upload_id)
        if running is not None:
            running.cancel()
            # Not `await running`: its CancelledError, suppressed, would hide ours if we
            # are cancelled meanwhile (a complete would go on past a stop's grace).
            await asyncio.wait([running])
            if self._passes.get(upload_id) is running:  # cancelled before it began
                del self._passes[upload_id]

    async def _advance(self, upload_id: str) -> None:
        try:
            while True:
                prefix = self._prefixes.get(upload_id)
                if prefix is None:
                    prefix = self._prefixes[upload_id] = _Prefix()
                    while len(self._prefixes) > self._max_uploads:
                        self._prefixes.popitem(last=False)
                self._prefixes.move_to_end(upload_id)
                rows = await uploads.received_from(self._db.inline, upload_id,
                                                   first=prefix.count, limit=_ROWS_PER_LOOK)
                run = [r["chunk_hash"] for i, r in enumerate(rows)
                       if r["idx"] == prefix.count + i]
                if not run:
                    return
                for chunk_hash in run:
                    await self._feed(prefix, chunk_hash)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - only a head start: complete hashes what is left
            log.debug("background hash of upload %s stopped", upload_id, exc_info=True)
            self._prefixes.pop(upload_id, None)
        finally:
            if self._passes.get(upload_id) is asyncio.current_task():
                del self._passes[upload_id]

    async def _feed(self, prefix: _Prefix, chunk_hash: str) -> None:
        digest = prefix.digest.copy()
        size = await self._chunks.hash_into(digest, [chunk_hash], executor=self._pool)
        prefix.add(digest, chunk_hash, size)
