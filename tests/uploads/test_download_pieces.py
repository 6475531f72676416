"""A download of many small chunks reads them joined into pieces of about READ_PIECE, one
trip to a worker thread per piece, not two per chunk; every byte and range stays exact.

(A file of 10 000 chunks of 4 KiB took about 3.5 s that way: bench/download.py.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from homesync.app import create_app
from homesync.store.chunks import READ_PIECE
from tests.helpers import API
from tests.uploads.flow import random_bytes, upload

CHUNK = 4096  # flow.upload's chunk size
SIZE = 40 * CHUNK + 1234  # 41 chunks, the last one short


class BodyPieces:
    """The ASGI app, noting the size of each body message it sends."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sizes: list[int] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def noted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                self.sizes.append(len(message["body"]))
            await send(message)
        await self.app(scope, receive, noted)


@pytest.fixture
async def pieces(services) -> AsyncIterator[tuple[httpx.AsyncClient, BodyPieces]]:
    """A client on the test's event loop (as tests/sync's live_client), and the sizes of the
    body messages its downloads came in."""
    app = create_app(services.settings, services)
    app.state.services = services
    noted = BodyPieces(app)
    transport = httpx.ASGITransport(app=noted)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as c:
        yield c, noted


@pytest.fixture
async def stored(client, make_user, sign_in) -> tuple[dict[str, str], bytes, str]:
    await make_user()
    dev = await sign_in()
    data = random_bytes(SIZE)
    done = await upload(client, dev.auth, data, name="clip.bin")
    return dev.auth, data, f"{API}/files/{done['fileId']}/content"


def thread_trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to a worker thread from now on, by name."""
    loop = asyncio.get_running_loop()
    sent: list[str] = []
    run_in_executor = loop.run_in_executor

    def counted(executor: Any, fn: Any, *args: Any) -> Any:
        # asyncio.to_thread sends partial(context.run, function, ...)
        target = fn.args[0] if getattr(fn, "args", None) else fn
        sent.append(getattr(target, "__name__", repr(target)))
        return run_in_executor(executor, fn, *args)

    monkeypatch.setattr(loop, "run_in_executor", counted)
    return sent


# Ranges that start, end, or both, inside a chunk, on a boundary, or in the short last one.
RANGES = ["0-0", "4095-4096", "4000-12500", "8192-16383", "10000-29999", "163839-163840",
          "5-165073", "-5000", "100000-", "0-"]


@pytest.mark.parametrize("piece", [READ_PIECE, 10_000, 3000], ids=["default", "10000", "3000"])
async def test_a_many_chunk_file_and_its_ranges_come_byte_identical(
        client, services, stored, monkeypatch, piece):
    # 10 000: pieces end inside chunks; 3000: a chunk spans pieces.
    monkeypatch.setattr(services.chunks, "read_piece", piece)
    auth, data, url = stored
    r = await client.get(url, headers=auth)
    assert r.status_code == 200
    assert r.content == data
    for wanted in RANGES:
        r = await client.get(url, headers={**auth, "Range": f"bytes={wanted}"})
        first, _, last = wanted.partition("-")
        if not first:
            start, end = SIZE - int(last), SIZE - 1
        else:
            start, end = int(first), int(last) if last else SIZE - 1
        assert r.status_code == 206, wanted
        assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}", wanted
        assert r.content == data[start:end + 1], wanted


async def test_small_chunks_are_read_in_one_trip_per_piece(services, stored, pieces,
                                                           monkeypatch):
    """41 chunks of 4 KiB (164 KiB) fit one piece: one trip to a thread reads them all
    (it was two per chunk, an open and a read: 82), and they go out as one body message."""
    auth, data, url = stored
    client, noted = pieces
    trips = thread_trips(monkeypatch)
    r = await client.get(url, headers=auth)
    monkeypatch.undo()
    assert r.status_code == 200 and r.content == data
    # The other trip checks that every chunk is there, before the first byte.
    assert len(trips) == 2, trips
    assert noted.sizes == [SIZE]


async def test_pieces_never_hold_more_than_a_piece(services, stored, pieces, monkeypatch):
    """Memory stays bounded by the piece size, not by how many chunks a piece joins."""
    auth, data, url = stored
    client, noted = pieces
    monkeypatch.setattr(services.chunks, "read_piece", 10_000)
    r = await client.get(url, headers={**auth, "Range": "bytes=1000-"})
    assert r.status_code == 206 and r.content == data[1000:]
    assert noted.sizes == [10_000] * 16 + [SIZE - 1000 - 160_000]
