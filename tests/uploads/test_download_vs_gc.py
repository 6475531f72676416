"""A download running while its version is dropped and gc runs (here or in another process).

The test client buffers whole responses, so these drive the ASGI app by hand: the body
is held after its first chunk (the later chunks' files are not opened yet), the version
is dropped and gc runs, then the rest is read. Deterministic, no timing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from homesync import clock
from homesync.services.container import Services
from homesync.store import manifest_spans, tree
from homesync.store.db import fetchall
from tests.helpers import API
from tests.sync.helpers import change, push
from tests.uploads.flow import random_bytes, upload

DAY = 86400
CHUNK = 4096  # flow.upload's chunk size


@pytest.fixture(autouse=True)
def one_chunk_a_piece(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads join small chunks into pieces of up to 1 MiB: here a piece is one chunk, so
    the body held after its first piece has not opened the later chunks' files."""
    monkeypatch.setattr(services.chunks, "read_piece", CHUNK)


class HeldDownload:
    """``GET /files/{id}/content`` through the app, paused after its first body piece."""

    def __init__(self, app: Any, file_id: str, auth: dict[str, str]) -> None:
        headers = [(k.lower().encode(), v.encode()) for k, v in auth.items()]
        path = f"{API}/files/{file_id}/content"
        self.scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "root_path": "", "query_string": b"", "headers": headers,
            "client": ("127.0.0.1", 5000), "server": ("testserver.local", 80),
        }
        self.status = 0
        self.body = bytearray()
        self.finished = False  # the app sent its last body message (more_body false)
        self.asked = False
        self.first = asyncio.Event()
        self.done = asyncio.Event()
        self.resume = asyncio.Event()
        self.task = asyncio.create_task(app(self.scope, self._receive, self._send))

    async def _receive(self) -> dict[str, Any]:
        if self.asked:  # as uvicorn does: the client is "gone" once the response is done
            await self.done.wait()
            return {"type": "http.disconnect"}
        self.asked = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def _send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")
            self.finished = not message.get("more_body", False)
            if self.finished:
                self.done.set()
            if self.body and not self.first.is_set():
                self.first.set()
                await self.resume.wait()

    async def started(self) -> None:
        await asyncio.wait_for(self.first.wait(), 10)
        assert self.status == 200 and 0 < len(self.body) < 2 * CHUNK

    async def rest(self) -> BaseException | None:
        """Let the body go on; what the app raised, if anything."""
        self.resume.set()
        try:
            await asyncio.wait_for(self.task, 10)
        except TimeoutError:
            raise AssertionError(f"the download hung after {len(self.body)} bytes"
                                 f" (finished: {self.finished})") from None
        except Exception as exc:
            return exc
        return None


async def chunk_hashes(services: Services, file_id: str) -> list[str]:
    rows = await fetchall(services.db.reader,
                          "SELECT vc.chunk_hash FROM version_chunks vc JOIN files f"
                          " ON f.version_id = vc.version_id WHERE f.id = ? ORDER BY vc.idx",
                          (file_id,))
    return [r[0] for r in rows]


def age(services: Services, hashes: list[str], seconds: float) -> None:
    """Pretend these chunks' files were written ``seconds`` ago."""
    t = time.time() - seconds
    for chunk_hash in hashes:
        os.utime(services.chunks.path_for(chunk_hash), (t, t))


async def drop_by_new_version_and_prune(client, services, dev, file_id, start) -> None:
    await upload(client, dev.auth, random_bytes(5000), name="movie.mp4", fileId=file_id)
    clock.set_now(lambda: start + 31 * DAY)  # past [sync] version_retention (30 d)
    report = await services.sync.retention.run_once()
    assert report.version_bytes > 0


async def purge(client, dev, file_id) -> None:
    """Delete the file, then empty it out of the trash (its versions go)."""
    await push(client, dev, None, change("delete", fileId=file_id))
    r = await client.delete(f"{API}/trash/{file_id}", headers=dev.auth)
    assert r.status_code == 200, r.text


async def drop_by_purging_from_trash(client, services, dev, file_id, start) -> None:
    await push(client, dev, None, change("delete", fileId=file_id))
    clock.set_now(lambda: start + 31 * DAY)  # (the phone's token has expired by now)
    assert await services.sync.trash.purge(dev.user_id, file_id) > 0


async def drop_by_removing_the_account(client, services, dev, file_id, start) -> None:
    clock.set_now(lambda: start + 31 * DAY)
    await services.accounts.remove_user(dev.email)


Drop = Callable[..., Any]


@pytest.mark.parametrize("drop", [drop_by_new_version_and_prune, drop_by_purging_from_trash,
                                  drop_by_removing_the_account])
@pytest.mark.parametrize("gc_here", [True, False], ids=["server-gc", "gc-in-another-process"])
async def test_a_download_survives_its_version_being_dropped_and_gc(
        client, services, make_user, sign_in, drop: Drop, gc_here: bool):
    """The file is a month old, so its chunks are far past gc's grace by age; they were
    let go only now, so gc must keep them for the grace from now, and the download that
    was under way completes with every byte."""
    await make_user()
    dev = await sign_in()
    start = clock.now()
    data = random_bytes(5 * CHUNK)
    file_id = (await upload(client, dev.auth, data, name="movie.mp4"))["fileId"]
    old_chunks = await chunk_hashes(services, file_id)
    assert len(old_chunks) == 5
    download = HeldDownload(client.app, file_id, dev.auth)
    await download.started()

    await drop(client, services, dev, file_id, start)
    age(services, old_chunks, 31 * DAY)
    if gc_here:
        report = await services.gc.collect()
    else:  # `homesync gc` beside the server: its own services on the same data dir
        other = await Services.open(services.settings)
        try:
            report = await other.gc.collect()
        finally:
            await other.close()
    assert report.removed_chunks == 0

    assert await download.rest() is None
    assert download.finished and bytes(download.body) == data

    # The chunks were garbage all the same: once the grace has passed since they were
    # let go, gc takes them.
    clock.set_now(lambda: start + 34 * DAY)
    age(services, old_chunks, 34 * DAY)
    report = await services.gc.collect()
    assert report.removed_chunks == 5
    assert [h for h in old_chunks if await services.chunks.exists(h)] == []


async def test_gc_with_no_grace_cuts_a_download_loudly(client, services, make_user, sign_in,
                                                        caplog):
    """``homesync gc --grace 0s`` takes the chunks of a version dropped a moment ago, even
    under a running download: it cannot finish, so it must fail (the connection is cut
    short of its Content-Length), never end as if the body were whole."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(5 * CHUNK)
    file_id = (await upload(client, dev.auth, data, name="movie.mp4"))["fileId"]
    download = HeldDownload(client.app, file_id, dev.auth)
    await download.started()
    await purge(client, dev, file_id)
    report = await services.gc.collect(grace_ms=0)
    assert report.removed_chunks == 5

    failure = await download.rest()
    assert failure is not None and not download.finished
    assert len(download.body) < len(data) and data.startswith(bytes(download.body))
    assert "download of movie.mp4 cut short: gc removed chunk" in caplog.text


async def test_a_version_dropped_as_the_download_opens_is_404_not_an_empty_body(
        client, services, make_user, sign_in, monkeypatch):
    """The file is purged between the download reading its version and its manifest: the
    answer is 404, not a 200 whose body is empty under a Content-Length of the size."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(5 * CHUNK)
    file_id = (await upload(client, dev.auth, data, name="movie.mp4"))["fileId"]
    read_spans = manifest_spans.spans

    async def purged_first(conn, version_id, *where):  # (no request may run inside a request)
        async with services.db.transaction() as tx:
            row = await tree.get(tx, dev.user_id, file_id)
            await tree.trash(tx, user_id=dev.user_id, row=row, device_id=dev.device_id,
                             now=clock.now_ms())
        await services.sync.trash.purge(dev.user_id, file_id)
        return await read_spans(conn, version_id, *where)

    monkeypatch.setattr(manifest_spans, "spans", purged_first)
    r = await client.get(f"{API}/files/{file_id}/content", headers=dev.auth)
    assert r.status_code == 404, (r.status_code, len(r.content))
    assert r.json()["error"]["code"] == "NOT_FOUND"
