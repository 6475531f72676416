"""A chunk sent again after its upload completed (an OS background uploader retrying a
PUT whose first answer was lost): which bytes the upload had at that index.

Completing lets the upload's ``upload_chunks`` go (see ``store.uploads.mark_completed``):
its content is then the version it made or matched, whose chunks may be cut elsewhere (a
version another device uploaded with another chunk size), so the index's bytes are found
by their place in the file, not by the manifest's index.
"""

from __future__ import annotations

import hashlib

from homesync.store import files
from homesync.store.chunks import ChunkStore
from homesync.store.db import Conn, Row

__all__ = ["completed_chunk_digest"]


async def completed_chunk_digest(conn: Conn, chunks: ChunkStore, row: Row, *, start: int,
                                 length: int) -> str | None:
    """The sha256 (hex) of bytes ``start`` .. ``start + length`` of the completed upload
    ``row``'s content, or None when that can no longer be told (its version was pruned or
    purged, or its bytes are gone)."""
    if row["version_id"] is None:
        return None
    end = start + length
    digest, hashed, offset = hashlib.sha256(), 0, 0
    for chunk_hash, size in await files.manifest(conn, row["version_id"]):
        if offset >= end:
            break
        if offset + size > start:
            if (offset, size) == (start, length):
                return chunk_hash  # cut as the upload cut it: the hash is the answer
            try:
                # At most one chunk's worth, in pieces: never held whole.
                async for piece in chunks.read(chunk_hash, max(start, offset) - offset,
                                               min(end, offset + size) - offset):
                    digest.update(piece)
                    hashed += len(piece)
            except FileNotFoundError:
                return None
        offset += size
    return digest.hexdigest() if hashed == length else None
