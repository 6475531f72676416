"""A caller cancelled while the chunk store's work runs on a worker thread (a download
whose client hung up: Litestar cancels its stream; a stop past its grace; gc stopped with
the server): the thread cannot be stopped, so nothing may go on as if it had."""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from homesync.app import create_app
from homesync.services.container import Services
from homesync.store import chunk_index
from homesync.store.db import fetchone
from homesync.store.local_chunks import LocalChunkStore
from tests.helpers import API
from tests.uploads.flow import random_bytes, upload


class _Held:
    """Stands in for ``real`` (os.fsync, os.open, ...) and holds the first call that
    ``matches`` on its worker thread until :meth:`release`. Released, the call still waits
    for the loop to run what was ready before (the cancelled caller's next step), so a
    caller that does not wait for the thread is seen going on before the call is made."""

    def __init__(self, real: Callable[..., Any], matches: Callable[..., bool]) -> None:
        self._real = real
        self._matches = matches
        self._loop = asyncio.get_running_loop()
        self._held = False
        self._release = threading.Event()
        self.reached = asyncio.Event()
        self.done = threading.Event()
        self.before_call: Callable[..., None] = lambda *args: None

    def __call__(self, *args: Any) -> Any:
        if self._held or not self._matches(*args):
            return self._real(*args)
        self._held = True
        try:
            self._loop.call_soon_threadsafe(self.reached.set)
            self._release.wait(10)
            turn = threading.Event()
            self._loop.call_soon_threadsafe(turn.set)
            turn.wait(10)
            self.before_call(*args)
            return self._real(*args)
        finally:
            self.done.set()

    def release(self) -> None:
        self._release.set()

    async def finished(self) -> None:
        assert await asyncio.to_thread(self.done.wait, 10)


def _hold_opening(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[_Held, list[int]]:
    """``os.open`` of ``path`` held on its thread (:class:`_Held`); the fds it opens."""
    opened: list[int] = []
    real_open = os.open

    def open_noting(*args: Any) -> int:
        fd = real_open(*args)
        opened.append(fd)
        return fd

    held = _Held(open_noting, lambda file, *rest: str(file) == str(path))
    monkeypatch.setattr(os, "open", held)
    return held, opened


def _is_open_on(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), path.stat())
    except OSError:
        return False


async def test_a_chunk_commit_cancelled_mid_fsync_finishes_before_its_writer_is_aborted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chunk PUT's ``finally: abort()`` ran while the commit was still fsyncing and
    renaming the temp file on its thread: abort closed that fd (which the thread then
    fsynced closed, or, reused, someone else's) and removed the temp file under it."""
    store = LocalChunkStore(tmp_path, fsync=True)
    data = os.urandom(100_000)
    writer = store.writer()
    await writer.write(data)
    (temp,) = (tmp_path / "tmp").iterdir()
    fsynced_the_chunk: list[bool] = []
    held = _Held(os.fsync, lambda fd: fd == writer._fd)  # type: ignore[attr-defined]
    held.before_call = lambda fd: fsynced_the_chunk.append(_is_open_on(fd, temp))
    monkeypatch.setattr(os, "fsync", held)

    async def put() -> None:
        try:
            await writer.commit()
        finally:
            await writer.abort()

    task = asyncio.create_task(put())
    await held.reached.wait()
    task.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    await held.finished()
    assert fsynced_the_chunk == [True]
    digest = hashlib.sha256(data).hexdigest()
    assert await store.verify(digest)  # the commit went through whole
    assert list((tmp_path / "tmp").iterdir()) == []


async def test_a_chunk_read_cancelled_while_opening_leaves_no_open_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A download cancelled (its client hung up) while the chunk's open ran on a thread:
    the fd the thread opened was dropped, never closed: one leaked per such hang-up."""
    store = LocalChunkStore(tmp_path, fsync=False)
    writer = store.writer()
    await writer.write(b"x" * 5000)
    chunk_hash = await writer.commit()
    path = store.path_for(chunk_hash)
    held, opened = _hold_opening(path, monkeypatch)

    async def download() -> None:
        async for _ in store.read(chunk_hash):
            pass

    task = asyncio.create_task(download())
    await held.reached.wait()
    task.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    await held.finished()
    monkeypatch.undo()
    try:
        assert len(opened) == 1 and not _is_open_on(opened[0], path)
    finally:
        if _is_open_on(opened[0], path):
            os.close(opened[0])


async def test_gc_cancelled_mid_delete_ends_its_transaction_only_after_the_delete(
        services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc deletes a chunk's bytes only inside its write transaction, so an upload
    recording the same chunk (which checks the bytes are there, in its own transaction)
    either waits for the delete and is told to send the chunk again, or comes first and
    the chunk is kept. Cancelled (the server stopping) while the delete ran on its thread,
    gc rolled back and let the writer go at once, the delete still to come: an upload
    could then record the chunk and be told it is stored, and lose its bytes."""
    store, db = services.chunks, services.db
    assert isinstance(store, LocalChunkStore)
    writer = store.writer()
    await writer.write(b"y" * 6000)
    chunk_hash = await writer.commit()
    path = store.path_for(chunk_hash)
    old = time.time() - 3600
    os.utime(path, (old, old))
    async with db.transaction() as tx:  # known, and nothing refers to it
        await chunk_index.add(tx, chunk_hash, 6000, int(old * 1000))

    held = _Held(os.unlink, lambda file, *rest: str(file) == str(path))
    monkeypatch.setattr(os, "unlink", held)
    rollbacks: list[bool] = []  # per rollback of a write transaction: was the delete done?
    execute = db._writer.execute

    def noting_rollback(sql: str, *args: Any) -> Any:
        if sql == "ROLLBACK":
            rollbacks.append(held.done.is_set())
        return execute(sql, *args)

    monkeypatch.setattr(db._writer, "execute", noting_rollback)
    task = asyncio.create_task(services.gc.collect(grace_ms=0))
    await held.reached.wait()
    task.cancel()
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await task
    await held.finished()
    assert rollbacks == [True]
    assert not path.exists()


async def test_a_download_whose_client_hangs_up_while_a_chunk_opens_leaves_no_open_file(
        services: Services, client: Any, make_user: Any, sign_in: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Litestar cancels a streamed body when the client hangs up (``http.disconnect``);
    a hang-up while the next chunk was being opened on a thread leaked its fd."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    file_id = (await upload(client, dev.auth, data, name="a.jpg"))["fileId"]
    first = await fetchone(services.db.reader,
                           "SELECT chunk_hash FROM version_chunks WHERE idx = 0")
    assert first is not None
    chunk_hash = first["chunk_hash"]
    assert isinstance(services.chunks, LocalChunkStore)
    path = services.chunks.path_for(chunk_hash)
    # A piece of one chunk (4 KiB), so the trip held opening the first chunk is the only one.
    monkeypatch.setattr(services.chunks, "read_piece", 4096)
    held, opened = _hold_opening(path, monkeypatch)
    app = create_app(services.settings, services)
    app.state.services = services  # what the lifespan does when the server starts
    asgi: Any = app  # called by hand, as a server would
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await held.reached.wait()
        asyncio.get_running_loop().call_soon(held.release)  # once the stream is cancelled
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    url = f"{API}/files/{file_id}/content"
    await asgi({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                "method": "GET", "scheme": "http", "path": url, "raw_path": url.encode(),
                "query_string": b"", "root_path": "", "client": ("127.0.0.1", 50000),
                "server": ("testserver.local", 80),
                "headers": [(b"host", b"testserver.local"),
                            *((k.lower().encode(), v.encode()) for k, v in dev.auth.items())]},
               receive, send)
    await held.finished()
    monkeypatch.undo()
    assert sent[0]["status"] == 200
    try:
        assert len(opened) == 1 and not _is_open_on(opened[0], path)
    finally:
        if _is_open_on(opened[0], path):
            os.close(opened[0])
