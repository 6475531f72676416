"""The content-addressed chunk store: every chunk stored once, under its own sha256.

:class:`ChunkStore` is the contract (a local directory today, an S3-compatible bucket
later); :mod:`homesync.store.local_chunks` is the local directory.

What callers rely on, whatever the implementation:

- A chunk's bytes are never modified in place. Storing a chunk that already exists is
  harmless (the same bytes land under the same name).
- :meth:`ChunkWriter.commit` returns only once the chunk is durable (when
  ``storage.fsync`` is on): temp file → fsync → rename → fsync the directory. The
  database row that refers to the chunk must be committed *after* that, so a crash can
  leave an unreferenced chunk (which ``gc`` removes) but never a row without its bytes.
- A writer that is aborted, or whose process dies, leaves at most a temp file that
  :meth:`ChunkStore.remove_stale_temp` deletes once no writer holds it.
- Chunks are deleted only by ``gc`` (:meth:`ChunkStore.delete_if_older`), and only when
  they were last written before a cutoff: a chunk being stored right now is never taken.
- ENOSPC while writing becomes :class:`homesync.errors.DiskFull` with nothing left behind.
"""

from __future__ import annotations

import errno
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = ["READ_PIECE", "ChunkStore", "ChunkWriter", "Digest", "StoredChunk", "is_chunk_hash"]

_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
# Reads are handed out in pieces this big: large enough that the thread hop is noise,
# small enough that a download never holds much of a file in memory.
READ_PIECE = 1024 * 1024


class Digest(Protocol):
    """What :meth:`ChunkStore.hash_into` feeds (a ``hashlib`` object)."""

    def update(self, data: bytes | memoryview, /) -> None: ...


def is_chunk_hash(value: str) -> bool:
    """True for 64 lowercase hex digits, the only names a chunk can have."""
    return bool(_HASH_RE.match(value))


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as found in the store (by listing, not from the database)."""

    hash: str
    size: int
    mtime_ms: int


class ChunkWriter(ABC):
    """Streams one chunk into the store, hashing as it writes; never holds it whole.

    Use: ``write()`` the pieces in order, then ``commit()`` (durable, returns the hash)
    or ``abort()``. ``abort()`` after ``commit()`` or twice is a no-op, so callers can put
    it in a ``finally``.
    """

    size: int

    @abstractmethod
    async def write(self, data: bytes) -> None:
        """Append ``data`` (raises DiskFull when the disk is full; the writer is then aborted)."""

    @abstractmethod
    def hexdigest(self) -> str:
        """sha256 of everything written so far."""

    @abstractmethod
    async def commit(self) -> str:
        """Store the chunk durably under its sha256 and return that hash."""

    @abstractmethod
    async def abort(self) -> None:
        """Drop what was written."""


class ChunkStore(ABC):
    """Content-addressed chunk storage. See the module docstring for the guarantees."""

    @abstractmethod
    def writer(self) -> ChunkWriter:
        """A new streaming writer."""

    @abstractmethod
    async def exists(self, chunk_hash: str) -> bool: ...

    async def first_missing(self, chunk_hashes: Sequence[str]) -> str | None:
        """The first of these chunks that is not in storage, or None when all are.

        For many chunks at once (a download checks every chunk it will send): a store
        answers them in one trip where it can.
        """
        for chunk_hash in chunk_hashes:
            if not await self.exists(chunk_hash):
                return chunk_hash
        return None

    @abstractmethod
    async def size(self, chunk_hash: str) -> int | None:
        """Stored size in bytes, or None when the chunk is not there."""

    @abstractmethod
    def read(self, chunk_hash: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start`` up to ``end`` (exclusive; None: to the end), in pieces."""

    async def read_spans(self, spans: Sequence[tuple[str, int, int]]) -> AsyncIterator[bytes]:
        """The bytes of these (chunk, start, end exclusive) spans one after another, in
        pieces of up to about ``READ_PIECE``: a store joins the spans of small chunks into
        pieces where it can. Each chunk is opened only when its bytes are due.

        Raises FileNotFoundError whose ``filename`` is the hash of a chunk not in storage.
        """
        for chunk_hash, start, end in spans:
            try:
                async for piece in self.read(chunk_hash, start, end):
                    yield piece
            except FileNotFoundError:
                raise FileNotFoundError(errno.ENOENT, "chunk not in storage", chunk_hash) from None

    @abstractmethod
    async def hash_into(self, digest: Digest, chunk_hashes: Sequence[str], *,
                        executor: Executor | None = None) -> int:
        """Feed these chunks' bytes, in order, into ``digest``; how many bytes that was.

        The reading and hashing run on ``executor`` (None: asyncio's default). Raises
        FileNotFoundError when one of them is missing.
        """

    async def sha256_of(self, chunk_hashes: Sequence[str]) -> tuple[str, int]:
        """(sha256 hex, total size) of the concatenation of these chunks, read back from storage.

        Raises FileNotFoundError when one of them is missing.
        """
        digest = hashlib.sha256()
        size = await self.hash_into(digest, chunk_hashes)
        return digest.hexdigest(), size

    @abstractmethod
    async def verify(self, chunk_hash: str) -> bool:
        """Re-hash a stored chunk: True when its bytes still match its name."""

    @abstractmethod
    def list_chunks(self) -> AsyncIterator[StoredChunk]:
        """Every chunk present in storage (including ones no database row knows)."""

    @abstractmethod
    async def list_strays(self) -> list[str]:
        """Whatever storage holds that is not a chunk where a chunk belongs (a file put
        there by hand, a misnamed one), by its path under the store; sorted.

        Never read or deleted by homesync: ``fsck`` reports them, ``gc`` leaves them.
        """

    @abstractmethod
    async def delete_if_older(self, chunk_hash: str, cutoff_ms: int) -> bool:
        """Delete a chunk last written before ``cutoff_ms``; True if it was deleted.

        Only ``gc`` calls this, inside the database's write transaction, after checking that
        nothing refers to the chunk.
        """

    @abstractmethod
    async def remove_stale_temp(self) -> int:
        """Delete temp files that no live writer holds; how many were removed."""

    def local_dirs(self) -> dict[str, Path]:
        """The local directories this store must be able to write, by readiness check
        name (``GET /readyz``), those it makes on demand made again first if they are gone;
        none for a store that keeps nothing on this machine."""
        return {}

    def refused_dir(self) -> Path | None:
        """A local directory where writing a chunk was refused (permissions, read-only,
        immutable) and that is still not writable; None if there is none. For the readiness
        check (``GET /readyz``) of directories too many to probe at every request."""
        return None

    @abstractmethod
    async def free_bytes(self) -> int:
        """Bytes still available to new chunks (before any reserve is taken off)."""
