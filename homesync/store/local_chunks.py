"""The chunk store in a local directory: chunks at ``<data_dir>/chunks/ab/cd/<64 hex>``,
in-flight writes in ``<data_dir>/tmp/`` (the same filesystem, so the final rename is
atomic). The guarantees are :mod:`homesync.store.chunks`'."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import re
import stat
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Executor
from pathlib import Path

from homesync.store.access import may
from homesync.store.chunks import (
    READ_PIECE,
    ChunkStore,
    ChunkWriter,
    Digest,
    StoredChunk,
    is_chunk_hash,
)
from homesync.store.durable_files import fsync_dir
from homesync.store.local_chunk_reader import SpanReader, chunk_path
from homesync.store.local_chunk_writer import LocalChunkWriter, to_the_end_on_a_thread

__all__ = ["LocalChunkStore", "holds_chunks"]

_FAN_OUT = re.compile(r"^[0-9a-f]{2}$")  # the ab/ and cd/ levels of chunks/ab/cd/<hash>
# Up to this many chunks (a 64 MiB video at 4 MiB chunks) are looked at on the event
# loop: each stat costs a few µs, the trip to a thread ~100 µs.
_STATS_ON_THE_LOOP = 16


class LocalChunkStore(ChunkStore):
    """Chunks as files under ``<root>/chunks``, temp files under ``<root>/tmp``."""

    def __init__(self, root: Path, *, fsync: bool = True, read_piece: int = READ_PIECE) -> None:
        self.root = root
        self.chunk_dir = root / "chunks"
        self.tmp_dir = root / "tmp"
        self.fsync = fsync
        # Reads fill pieces this big, from as many small chunks as that takes.
        self.read_piece = read_piece
        self.chunk_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # Which chunks/ab and chunks/ab/cd directories this process has made durable: a
        # bit each (256 + 65,536), and one lock for making them (rare: once per directory).
        self._durable_tops = bytearray(256)
        self._durable_dirs = bytearray(65536 // 8)
        self._dirs_lock = threading.Lock()
        # chunks/ab/cd directories that refused a chunk (see refused_dir). Their own lock:
        # the event loop takes it, and _dirs_lock is held across fsyncs.
        self._refused: set[Path] = set()
        self._refused_lock = threading.Lock()

    def local_dirs(self) -> dict[str, Path]:
        # tmp/ deleted by hand is made again by the next chunk (see local_chunk_writer),
        # but a monitor told "not ready" for it would keep that chunk away: made here too.
        # Only beside chunks/: a data dir that is gone (a disk not mounted, leaving its
        # empty mount point) must stay a reason, and not get a tmp/ of its own.
        if not self.tmp_dir.is_dir() and self.chunk_dir.is_dir():
            with contextlib.suppress(OSError):  # then the check says why
                self.tmp_dir.mkdir()
        return {"chunksDir": self.chunk_dir, "tmpDir": self.tmp_dir}

    def refused_dir(self) -> Path | None:
        # Each remembered directory is asked of the kernel (access(2), no write) until it
        # passes, then forgotten: a probe costs one call per directory put right since.
        with self._refused_lock:
            for path in sorted(self._refused):
                if not _may_write_into(path, self.chunk_dir):
                    return path
                self._refused.discard(path)
        return None

    def note_refused(self, chunk_hash: str) -> None:
        """Writing ``chunk_hash`` into its directory was refused: remember the directory."""
        with self._refused_lock:
            self._refused.add(self.path_for(chunk_hash).parent)

    def path_for(self, chunk_hash: str) -> Path:
        """Where a chunk lives; refuses anything that is not a sha256 hex (no path tricks)."""
        if not is_chunk_hash(chunk_hash):
            raise ValueError(f"not a chunk hash: {chunk_hash!r}")
        return self.chunk_dir / chunk_hash[:2] / chunk_hash[2:4] / chunk_hash

    # -- writing (each chunk by a LocalChunkWriter, which uses these) ------------------

    def writer(self) -> ChunkWriter:
        return LocalChunkWriter(self)

    def sync_dir(self, path: Path) -> None:
        """Make ``path``'s entries durable (with ``storage.fsync`` on)."""
        if self.fsync:
            fsync_dir(path)

    def ensure_dir(self, path: Path) -> None:
        """Make ``path`` (``chunks/ab/cd``) and ``chunks/ab`` exist durably, before a chunk is
        renamed into it.

        A directory that already exists is not enough: another writer may have just made
        it and not yet fsynced its parent, or a process that crashed made it and never
        did; a chunk acknowledged in it could then vanish with it in a power cut. So each
        is fsynced into its parent once per process, under a lock, before its first use.
        """
        top, key = int(path.parent.name, 16), int(path.parent.name + path.name, 16)
        if self._durable_dirs[key >> 3] & (1 << (key & 7)):
            return
        with self._dirs_lock:
            if self._durable_dirs[key >> 3] & (1 << (key & 7)):
                return
            if not self._durable_tops[top]:
                path.parent.mkdir(exist_ok=True)
                self.sync_dir(self.chunk_dir)
                self._durable_tops[top] = 1
            path.mkdir(exist_ok=True)
            self.sync_dir(path.parent)
            self._durable_dirs[key >> 3] |= 1 << (key & 7)

    def forget_dir(self, path: Path) -> None:
        """``path`` was removed under us (by hand): make it again at the next chunk."""
        top, key = int(path.parent.name, 16), int(path.parent.name + path.name, 16)
        with self._dirs_lock:
            self._durable_dirs[key >> 3] &= ~(1 << (key & 7)) & 0xFF
            self._durable_tops[top] = 0

    # -- reading --------------------------------------------------------------------

    async def exists(self, chunk_hash: str) -> bool:
        # One stat of a local path: cheaper than the trip to a worker thread.
        return self.path_for(chunk_hash).is_file()

    async def first_missing(self, chunk_hashes: Sequence[str]) -> str | None:
        # A few stats (most files) on the event loop, as exists() does: cheaper than the
        # trip to a thread. Many in one trip to a thread: a file of 10 000 chunks took
        # 10 000 stats on the event loop (a third of a second no other request moved).
        if len(chunk_hashes) <= _STATS_ON_THE_LOOP:
            return self._first_missing(chunk_hashes)
        return await asyncio.to_thread(self._first_missing, list(chunk_hashes))

    def _first_missing(self, chunk_hashes: Sequence[str]) -> str | None:
        root = str(self.chunk_dir)
        # access(2), not stat: no stat result to build; with each hash looked at once (a
        # file of zeros names one chunk many times) the check of 10 000 chunks takes
        # ~55 ms of CPU instead of ~85. It tells that something is there, not that it is
        # a regular file: anything else under a chunk's name fails its read.
        access, present = os.access, os.F_OK
        for chunk_hash in dict.fromkeys(chunk_hashes):
            if not access(chunk_path(root, chunk_hash), present):
                return chunk_hash
        return None

    async def size(self, chunk_hash: str) -> int | None:
        path = self.path_for(chunk_hash)
        try:
            st = await asyncio.to_thread(path.stat)
        except FileNotFoundError:
            return None
        # A directory in its place holds none of its bytes (fsck said 'wrong size (4096
        # bytes ...)'): not there, as exists() says.
        return st.st_size if stat.S_ISREG(st.st_mode) else None

    def read(self, chunk_hash: str, start: int = 0,
             end: int | None = None) -> AsyncIterator[bytes]:
        return self._read(SpanReader(str(self.chunk_dir), [(chunk_hash, start, end)],
                                     self.read_piece))

    def read_spans(self, spans: Sequence[tuple[str, int, int]]) -> AsyncIterator[bytes]:
        return self._read(SpanReader(str(self.chunk_dir), list(spans), self.read_piece))

    async def _read(self, reader: SpanReader) -> AsyncIterator[bytes]:
        try:
            while not reader.done:
                # Waited for to its end even when the download is cancelled (the client
                # went away): closing the reader under a trip would close the fd it reads.
                piece = await to_the_end_on_a_thread(reader.next_piece)
                if piece:  # (an empty span gives none)
                    yield piece
        finally:
            reader.close()

    def _hash_files(self, digest: Digest, chunk_hashes: Sequence[str]) -> int:
        total = 0
        buf = bytearray(READ_PIECE)
        view = memoryview(buf)
        for chunk_hash in chunk_hashes:
            with open(self.path_for(chunk_hash), "rb", buffering=0) as fh:
                while n := fh.readinto(buf):
                    digest.update(view[:n])
                    total += n
        return total

    async def hash_into(self, digest: Digest, chunk_hashes: Sequence[str], *,
                        executor: Executor | None = None) -> int:
        # One thread call for the whole pass: hashlib releases the GIL, the loop stays free.
        return await asyncio.get_running_loop().run_in_executor(
            executor, self._hash_files, digest, list(chunk_hashes))

    async def verify(self, chunk_hash: str) -> bool:
        try:
            digest, _ = await self.sha256_of([chunk_hash])
        except FileNotFoundError:
            return False
        return digest == chunk_hash

    async def list_chunks(self) -> AsyncIterator[StoredChunk]:
        # Listed one ab/ directory at a time so a huge store is never all in memory.
        for first in await asyncio.to_thread(_subdirs, self.chunk_dir):
            found = await asyncio.to_thread(_list_two_levels, first)
            for chunk in found:
                yield chunk

    async def list_strays(self) -> list[str]:
        return await asyncio.to_thread(_strays, self.chunk_dir)

    # -- deleting -------------------------------------------------------------------

    async def delete_if_older(self, chunk_hash: str, cutoff_ms: int) -> bool:
        return await to_the_end_on_a_thread(self._delete_if_older, chunk_hash, cutoff_ms)

    def _delete_if_older(self, chunk_hash: str, cutoff_ms: int) -> bool:
        path = self.path_for(chunk_hash)
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                # A directory (made by hand) where a chunk belongs is no chunk's bytes:
                # left for the operator as fsck lists it; unlink failed gc at it, each round.
                return False
            if st.st_mtime * 1000 >= cutoff_ms:
                return False  # written (again) recently: maybe by an upload in flight
            path.unlink()
        except FileNotFoundError:
            return False
        except PermissionError:  # its directory another user's (a `sudo` run's): left
            return False
        # Not fsynced: gc deletes inside the write transaction, and a directory fsync per
        # chunk held every writer ~6 ms a chunk. A deletion a crash undoes leaves a chunk
        # file without a row, which gc removes again (its orphans).
        return True

    async def remove_stale_temp(self) -> int:
        return await asyncio.to_thread(self._remove_stale_temp)

    def _remove_stale_temp(self) -> int:
        removed = 0
        try:
            entries = list(os.scandir(self.tmp_dir))
        except FileNotFoundError:  # removed by hand: nothing to clean (writers remake it)
            return 0
        for entry in entries:
            if not entry.is_file():
                continue
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            except PermissionError:  # another user's (a `sudo` run's): cannot tell if live
                continue
            try:
                # A live writer holds an exclusive lock on its temp file (any process).
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                # Unlinked while we hold the lock: a writer that made the file just now
                # and had not locked it yet finds it unlinked once it has (_new_temp_file).
                os.unlink(entry.path)
                removed += 1
            except (BlockingIOError, FileNotFoundError):
                continue
            finally:
                os.close(fd)
        return removed

    async def free_bytes(self) -> int:
        # Checked before every chunk; statvfs is one quick system call, no thread needed.
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize


def holds_chunks(root: Path) -> bool:
    """Whether ``<root>/chunks`` holds at least one chunk file (stops at the first)."""
    if not (root / "chunks").is_dir():
        return False
    for first in _subdirs(root / "chunks"):
        for second in _subdirs(first):
            if any(e.is_file() and is_chunk_hash(e.name) for e in _entries(second)):
                return True
    return False


def _may_write_into(path: Path, chunk_dir: Path) -> bool:
    """Whether a chunk could be written into ``path`` now: it, or the nearest of its
    parents that exists (where it would be made), may be listed, entered and written."""
    while path != chunk_dir and not path.is_dir():
        path = path.parent
    return may(path, os.R_OK | os.W_OK | os.X_OK)


def _entries(path: Path | str) -> list[os.DirEntry[str]]:
    """The entries of a directory of ``chunks/``; none of one this user may not list
    (chmod 000, another user's): fsck names each known chunk in it unreadable, and one
    such directory ended the whole fsck or gc run, its report lost."""
    try:
        return list(os.scandir(path))
    except PermissionError:
        return []


def _subdirs(path: Path) -> list[Path]:
    return sorted(Path(e.path) for e in _entries(path) if e.is_dir() and len(e.name) == 2)


def _list_two_levels(first: Path) -> list[StoredChunk]:
    found: list[StoredChunk] = []
    for second in _subdirs(first):
        for entry in _entries(second):
            if entry.is_file() and is_chunk_hash(entry.name) \
                    and entry.name.startswith(first.name + second.name):
                try:
                    st = entry.stat()
                except FileNotFoundError:  # deleted since it was listed (the server's gc)
                    continue
                found.append(StoredChunk(entry.name, st.st_size, int(st.st_mtime * 1000)))
    found.sort(key=lambda c: c.hash)
    return found


def _strays(chunk_dir: Path) -> list[str]:
    """Entries of ``chunks/`` outside the ``ab/cd/<hash>`` layout, as ``ab/notes.txt``.

    A directory that does not belong is named once (``zz/``), not walked.
    """
    found: list[str] = []

    def walk(path: Path, rel: str, depth: int) -> None:
        for entry in _entries(path):
            name = f"{rel}{entry.name}"
            if depth < 2:
                if entry.is_dir() and _FAN_OUT.match(entry.name):
                    walk(Path(entry.path), f"{name}/", depth + 1)
                else:
                    found.append(f"{name}/" if entry.is_dir() else name)
            elif not (entry.is_file() and is_chunk_hash(entry.name)
                      and entry.name.startswith(rel.replace("/", ""))):
                found.append(f"{name}/" if entry.is_dir() else name)

    walk(chunk_dir, "", 0)
    return sorted(found)
