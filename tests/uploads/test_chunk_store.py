"""LocalChunkStore: content addressing, durability order, temp handling, ENOSPC."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
from pathlib import Path

import pytest

from homesync.errors import DiskFull
from homesync.store import local_chunk_writer
from homesync.store.chunks import is_chunk_hash
from homesync.store.local_chunks import LocalChunkStore


async def store_bytes(store: LocalChunkStore, data: bytes, piece: int = 7000) -> str:
    writer = store.writer()
    for i in range(0, len(data), piece):
        await writer.write(data[i:i + piece])
    return await writer.commit()


async def test_chunk_stored_once_under_its_sha256(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=True)
    data = os.urandom(100_000)
    digest = hashlib.sha256(data).hexdigest()
    assert await store_bytes(store, data) == digest
    assert await store_bytes(store, data, piece=65536) == digest
    path = tmp_path / "chunks" / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == data
    assert [c.hash async for c in store.list_chunks()] == [digest]
    assert os.listdir(tmp_path / "tmp") == []
    assert await store.size(digest) == len(data)
    assert await store.verify(digest)


def record_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What os.fsync and the rename into chunks/ are called on, in order (paths)."""
    log: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        log.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        log.append(f"rename {dst}")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return log


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
async def test_an_existing_chunk_directory_is_made_durable_before_its_first_chunk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """chunks/ab/cd made by someone else (a process that crashed before its fsyncs, or
    another writer still at them) is fsynced into its parent before a chunk lands in it:
    an acknowledged chunk must not vanish with an unsynced directory in a power cut."""
    data = os.urandom(5000)
    digest = hashlib.sha256(data).hexdigest()
    chunks = tmp_path / "chunks"
    (chunks / digest[:2] / digest[2:4]).mkdir(parents=True)  # there, never synced
    store = LocalChunkStore(tmp_path, fsync=True)
    log = record_syncs(monkeypatch)
    await store_bytes(store, data)
    renamed = log.index(f"rename {chunks / digest[:2] / digest[2:4] / digest}")
    assert f"fsync {chunks}" in log[:renamed], log
    assert f"fsync {chunks / digest[:2]}" in log[:renamed], log

    # Once per directory: the next chunk there (here the same one again) pays only its
    # own two fsyncs.
    log.clear()
    await store_bytes(store, data)
    assert [e.split(" ")[0] for e in log] == ["fsync", "rename", "fsync"], log
    assert log[-1] == f"fsync {chunks / digest[:2] / digest[2:4]}"


async def test_a_chunk_directory_removed_by_hand_is_made_again(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=True)
    data = os.urandom(5000)
    digest = await store_bytes(store, data)
    (tmp_path / "chunks" / digest[:2] / digest[2:4] / digest).unlink()
    (tmp_path / "chunks" / digest[:2] / digest[2:4]).rmdir()
    (tmp_path / "chunks" / digest[:2]).rmdir()
    assert await store_bytes(store, data) == digest
    assert await store.verify(digest)


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="Linux: fadvise starts writeback")
async def test_writeback_starts_while_the_chunk_arrives(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """With fsync on, every WRITEBACK_STEP bytes are handed to the kernel as they come, once
    each and in order; the chunk itself is unchanged. With fsync off, nothing is."""
    calls: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def record(fd: int, offset: int, length: int, advice: int) -> None:
        calls.append((offset, length, advice))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    data = os.urandom(local_chunk_writer.WRITEBACK_STEP * 3 + 1000)
    digest = await store_bytes(LocalChunkStore(tmp_path / "on", fsync=True), data, piece=65536)
    assert (tmp_path / "on" / "chunks" / digest[:2] / digest[2:4] / digest).read_bytes() == data
    assert calls == [(i * local_chunk_writer.WRITEBACK_STEP, local_chunk_writer.WRITEBACK_STEP, os.POSIX_FADV_DONTNEED)
                     for i in range(3)]
    calls.clear()
    await store_bytes(LocalChunkStore(tmp_path / "off", fsync=False), data, piece=65536)
    assert calls == []


async def test_read_ranges_and_whole_hash(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    a, b = os.urandom(3 * 1024 * 1024 + 5), os.urandom(10)
    ha, hb = await store_bytes(store, a), await store_bytes(store, b)
    got = b"".join([p async for p in store.read(ha, 1000, 2 * 1024 * 1024 + 17)])
    assert got == a[1000:2 * 1024 * 1024 + 17]
    assert b"".join([p async for p in store.read(hb)]) == b
    digest, size = await store.sha256_of([ha, hb, ha])
    assert (digest, size) == (hashlib.sha256(a + b + a).hexdigest(), 2 * len(a) + len(b))


async def test_abort_and_stale_temp_cleanup(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    live = store.writer()
    await live.write(b"still being written")
    dead = store.writer()
    await dead.write(b"abandoned")
    # A crashed process leaves an unlocked temp file behind; simulate by closing the fd.
    os.close(dead._fd)  # type: ignore[attr-defined]
    dead._fd = None  # type: ignore[attr-defined]
    assert len(os.listdir(tmp_path / "tmp")) == 2
    assert await store.remove_stale_temp() == 1  # the live writer's file is locked
    digest = await live.commit()
    assert os.listdir(tmp_path / "tmp") == []
    assert await store.exists(digest)
    aborted = store.writer()
    await aborted.write(b"x")
    await aborted.abort()
    await aborted.abort()
    assert os.listdir(tmp_path / "tmp") == []


async def test_a_temp_file_cleaned_up_before_its_writer_locked_it_is_made_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc's cleanup between a writer's mkstemp and its flock: the file looks abandoned
    (unlocked) and is deleted. The writer must not then write into an unlinked file and
    fail at commit; it makes a new one."""
    store = LocalChunkStore(tmp_path, fsync=False)
    real_flock = fcntl.flock
    cleaned: list[int] = []

    def cleanup_first(fd: int, operation: int) -> None:
        if operation == fcntl.LOCK_EX and not cleaned:  # the writer's lock, not gc's try
            cleaned.append(store._remove_stale_temp())
        real_flock(fd, operation)

    monkeypatch.setattr(fcntl, "flock", cleanup_first)
    writer = store.writer()
    await writer.write(b"photo bytes")
    digest = await writer.commit()
    assert cleaned == [1]  # it did take the first file
    assert b"".join([p async for p in store.read(digest)]) == b"photo bytes"
    assert os.listdir(tmp_path / "tmp") == []


async def test_delete_respects_cutoff(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    digest = await store_bytes(store, b"hello")
    path = store.path_for(digest)
    mtime = path.stat().st_mtime
    assert not await store.delete_if_older(digest, int(mtime * 1000) - 1)
    assert await store.delete_if_older(digest, int(mtime * 1000) + 1)
    assert not await store.exists(digest)
    assert not await store.delete_if_older(digest, 10**15)


async def test_damage_is_detected(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    digest = await store_bytes(store, b"precious photo")
    store.path_for(digest).write_bytes(b"precious phot0")
    assert not await store.verify(digest)
    assert not await store.verify("0" * 64)


def test_only_hashes_name_paths(tmp_path: Path) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    for bad in ("../../etc/passwd", "A" * 64, "0" * 63, "", "0" * 64 + "/x"):
        assert not is_chunk_hash(bad)
        with pytest.raises(ValueError):
            store.path_for(bad)


async def test_enospc_is_disk_full_and_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalChunkStore(tmp_path, fsync=False)
    writer = store.writer()
    await writer.write(b"a" * 1000)
    real_write = os.write

    def full(fd: int, data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFull):
        await writer.write(b"b" * 1000)
    monkeypatch.setattr(os, "write", real_write)
    assert os.listdir(tmp_path / "tmp") == []
    assert [c async for c in store.list_chunks()] == []
