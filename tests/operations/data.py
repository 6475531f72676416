"""Building a data dir with real chunk files and rows, without the upload API.

The service-level backup tests use these; the end-to-end tests upload through a real
server instead.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from homesync import clock
from homesync.services.container import Services
from homesync.store import files
from homesync.store.local_chunks import LocalChunkStore

CHUNK = 64 * 1024


def store_for(services: Services) -> LocalChunkStore:
    return LocalChunkStore(services.settings.data_path, fsync=False)


async def put_file(services: Services, user_id: str, folder: str, name: str, content: bytes,
                   *, chunk_size: int = CHUNK, file_id: str | None = None) -> str:
    """Store ``content`` as a file (or a new version of ``file_id``); its id."""
    store = store_for(services)
    hashes = []
    for start in range(0, max(len(content), 1), chunk_size):
        writer = store.writer()
        piece = content[start:start + chunk_size]
        await writer.write(piece)
        hashes.append((await writer.commit(), len(piece)))
    now = clock.now_ms()
    async with services.db.transaction() as tx:
        for h, size in hashes:
            await tx.execute("INSERT OR IGNORE INTO chunks (hash, size, created_at) VALUES (?, ?, ?)",
                             (h, size, now))
        done = await files.commit_version(
            tx, user_id=user_id, file_id=file_id, folder=folder, name=name, size=len(content),
            checksum="sha256:" + hashlib.sha256(content).hexdigest(), mime_type="image/jpeg",
            metadata={}, modified_at=now, chunk_hashes=[h for h, _ in hashes], device_id=None,
            now=now)
    return done.file_id


async def delete_file(services: Services, user_id: str, file_id: str) -> None:
    """Purge a file and its versions outright (what trash expiry does), leaving chunks to gc."""
    async with services.db.transaction() as tx:
        await tx.execute("DELETE FROM files WHERE id = ? AND user_id = ?", (file_id, user_id))


def chunk_files(root: Path) -> dict[str, Path]:
    """Every chunk file under ``root/chunks``, by hash."""
    found = {}
    for dirpath, _dirs, names in os.walk(root / "chunks"):
        for name in names:
            found[name] = Path(dirpath) / name
    return found


def flip_byte(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def photo(seed: int, size: int = 150_000) -> bytes:
    """Deterministic, incompressible test content."""
    out = bytearray()
    block = hashlib.sha256(str(seed).encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])
