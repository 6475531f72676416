"""``homesync fsck``: re-hash every stored chunk and say which files any damage touches.

A chunk missing from storage is damage only while something uses it. One that nothing
uses has lost its bytes to gc: a gc round that was interrupted (killed between deleting
the bytes and committing, which leaves the row) or that ran beside this check (deleting
row and bytes after this check read the row). Those are counted apart, not as damage.
So are damaged bytes of a chunk nothing uses (a deleted file's, waiting for gc): no file
can read them, and an upload sending that chunk again writes it anew.
"""

from __future__ import annotations

import msgspec

from homesync.paths import join
from homesync.services.maintenance.chunk_problem import ChunkProblem
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.store import chunk_index
from homesync.store.chunks import ChunkStore
from homesync.store.db import Database

__all__ = ["Fsck", "FsckReport"]

_PAGE = 500


class FsckReport(msgspec.Struct, kw_only=True, rename="camel"):
    checked_chunks: int = 0
    checked_bytes: int = 0
    damaged: list[ChunkProblem] = msgspec.field(default_factory=list)
    unknown_files: int = 0  # chunk files no row refers to (gc removes them after the grace)
    # Rows whose bytes gc already deleted, used by nothing (the next gc forgets them).
    unused_missing: int = 0
    # Chunks used by nothing whose bytes are wrong (gc deletes them after the grace).
    unused_damaged: int = 0
    # Anything else under chunks/ (``notes.txt``, ``ab/x``): not chunks, so not damage to
    # anyone's files; left alone by gc; listed so the operator can look (paths under chunks/).
    stray_files: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged


class Fsck:
    def __init__(self, db: Database, chunks: ChunkStore) -> None:
        self._db = db
        self._chunks = chunks

    async def run(self, progress: Progress = NO_PROGRESS) -> FsckReport:
        """Check every chunk the database knows: present, right size, right sha256."""
        total_chunks, total_bytes = await chunk_index.count_and_bytes(self._db.reader)
        progress.phase("Re-hashing chunks", total_bytes=total_bytes, total_items=total_chunks)
        report = FsckReport()
        after = ""
        while True:
            rows = await chunk_index.page(self._db.reader, after=after, limit=_PAGE)
            for row in rows:
                problem = await self._check(row["hash"], row["size"])
                if problem and not await chunk_index.is_referenced(self._db.reader,
                                                                   row["hash"]):
                    if problem == "missing":
                        report.unused_missing += 1
                    else:
                        report.unused_damaged += 1
                    problem = None
                if problem:
                    report.damaged.append(ChunkProblem(
                        hash=row["hash"], problem=problem,
                        files=await self._users_of(row["hash"])))
                report.checked_chunks += 1
                report.checked_bytes += row["size"]
                progress.advance(nbytes=row["size"], items=1)
            if len(rows) < _PAGE:
                break
            after = rows[-1]["hash"]
        progress.phase("Looking for chunk files the database does not know")
        known_on_disk: list[str] = []
        async for chunk in self._chunks.list_chunks():
            known_on_disk.append(chunk.hash)
            if len(known_on_disk) >= _PAGE:
                report.unknown_files += await self._unknown(known_on_disk)
                known_on_disk = []
        report.unknown_files += await self._unknown(known_on_disk)
        report.stray_files = await self._chunks.list_strays()
        return report

    async def _check(self, chunk_hash: str, size: int) -> str | None:
        try:
            stored = await self._chunks.size(chunk_hash)
            if stored is None:
                return "missing"
            if stored != size:
                return f"wrong size ({stored} bytes, expected {size})"
            if not await self._chunks.verify(chunk_hash):
                return "content does not match its hash"
        except OSError as exc:  # a bad sector, say: this chunk's damage, not the end of the check
            return f"unreadable ({exc.strerror or exc})"
        return None

    async def _users_of(self, chunk_hash: str) -> list[str]:
        rows = await chunk_index.referenced_by(self._db.reader, chunk_hash)
        return [f"{r['email']}:{join(r['folder'], r['name'])}"
                + ("" if r["is_current"] else " (older version)") for r in rows]

    async def _unknown(self, hashes: list[str]) -> int:
        if not hashes:
            return 0
        known = await chunk_index.known(self._db.reader, hashes)
        return len(hashes) - len(known)
