"""``homesync fsck``: re-hash every stored chunk and say which files any damage touches.

A chunk missing from storage is damage only while something uses it. One that nothing
uses has lost its bytes to gc: a gc round that was interrupted (killed between deleting
the bytes and committing, which leaves the row) or that ran beside this check (deleting
row and bytes after this check read the row). Those are counted apart, not as damage.
So are damaged bytes of a chunk nothing uses (a deleted file's, waiting for gc): no file
can read them, and an upload sending that chunk again writes it anew.

It also checks every manifest's chunk offsets (where each chunk begins, which Range
downloads go by: a wrong one serves wrong bytes without an error) and that its chunks
add up to its version's size; with ``repair_offsets`` it writes the right offsets back
(they follow from the chunk sizes). See :mod:`homesync.store.manifest_offsets`.
"""

from __future__ import annotations

import msgspec

from homesync.paths import join
from homesync.services.maintenance.chunk_problem import ChunkProblem
from homesync.services.maintenance.progress import NO_PROGRESS, Progress
from homesync.store import chunk_index, manifest_offsets
from homesync.store.chunks import ChunkStore, is_chunk_hash
from homesync.store.db import Database, Row

__all__ = ["Fsck", "FsckReport", "ManifestProblem"]

_PAGE = 500


class ManifestProblem(msgspec.Struct, kw_only=True, rename="camel"):
    """A version whose manifest is wrong: ``file`` as ``email:/path`` (``(older version)``
    when it is not the file's current one), and what is wrong with it."""

    file: str
    version_id: str
    problem: str
    wrong_offsets: int = 0  # rows whose offset is not the chunk sizes before it, added up
    repaired: bool = False  # those offsets were recomputed (--repair-offsets)
    damaged: bool = False  # its chunks do not add up to its size: no recomputing mends it


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
    checked_offsets: int = 0  # manifest rows whose chunk offset was checked
    manifests: list[ManifestProblem] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.damaged and not any(m.damaged or (m.wrong_offsets and not m.repaired)
                                            for m in self.manifests)


class Fsck:
    def __init__(self, db: Database, chunks: ChunkStore) -> None:
        self._db = db
        self._chunks = chunks

    async def run(self, progress: Progress = NO_PROGRESS, *,
                  repair_offsets: bool = False) -> FsckReport:
        """Check every manifest's chunk offsets (recomputing wrong ones with
        ``repair_offsets``), then every chunk the database knows: present, right size,
        right sha256."""
        report = FsckReport()
        await self._check_offsets(report, progress, repair=repair_offsets)
        total_chunks, total_bytes = await chunk_index.count_and_bytes(self._db.reader)
        progress.phase("Hash chunks", total_bytes=total_bytes, total_items=total_chunks)
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
        progress.phase("Find unknown files")
        known_on_disk: list[str] = []
        async for chunk in self._chunks.list_chunks():
            known_on_disk.append(chunk.hash)
            progress.advance(items=1)  # a count moving: 100 000 files take a while
            if len(known_on_disk) >= _PAGE:
                report.unknown_files += await self._unknown(known_on_disk)
                known_on_disk = []
        report.unknown_files += await self._unknown(known_on_disk)
        report.stray_files = await self._chunks.list_strays()
        return report

    async def _check_offsets(self, report: FsckReport, progress: Progress, *,
                             repair: bool) -> None:
        rows = await manifest_offsets.count_rows(self._db.reader)
        progress.phase("Check offsets", total_items=rows)
        bad = await manifest_offsets.find_bad(self._db.reader)
        progress.advance(items=rows)
        report.checked_offsets = rows
        report.manifests = [_manifest_problem(row) for row in bad]
        wrong = [m for m in report.manifests if m.wrong_offsets]
        if not (repair and wrong):
            return
        progress.phase("Fix offsets", total_items=len(wrong))
        # Recomputed from the chunk sizes as they are now, in one write transaction
        # (safe beside the server: a version is never changed once written).
        async with self._db.transaction() as tx:
            await manifest_offsets.recompute(tx, [m.version_id for m in wrong])
        for m in wrong:
            m.repaired = True
        progress.advance(items=len(wrong))

    async def _check(self, chunk_hash: str, size: int) -> str | None:
        if not is_chunk_hash(chunk_hash):  # a row edited in by hand: no file has that name
            return "not a chunk hash (no chunk file can have it)"
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
        # One a version uses without a row is that version's problem (its manifest's
        # line), not a file gc removes.
        known = await chunk_index.known_or_used(self._db.reader, hashes)
        return len(hashes) - len(known)


def _manifest_problem(row: Row) -> ManifestProblem:
    """What is wrong with one version's manifest, in words (see manifest_offsets.find_bad)."""
    file = (f"{row['email']}:{join(row['folder'], row['name'])}"
            + ("" if row["is_current"] else " (older version)"))
    unknown = row["chunk_count"] - row["known"]
    wrong = 0 if unknown else int(row["wrong"])
    problems = []
    if unknown:
        problems.append(f"{unknown:,} of its chunks have no row in the database")
    elif row["total"] != row["size"]:
        problems.append(f"its chunks add up to {row['total']:,} bytes, not its size"
                        f" {row['size']:,}")
    if wrong:
        problems.append(f"{wrong:,} of its {row['chunk_count']:,} chunk offsets are wrong"
                        f" (the first at chunk {row['first_wrong']}): a Range download"
                        " of it returns wrong bytes")
    return ManifestProblem(file=file, version_id=row["version_id"], problem="; ".join(problems),
                           wrong_offsets=wrong, damaged=bool(unknown) or row["total"] != row["size"])
