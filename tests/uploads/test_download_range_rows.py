"""A download reads the manifest rows its range needs, found by where each chunk begins
(``version_chunks.byte_offset``), and gives the same bytes as reading them all would."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from homesync import clock
from homesync.config import Settings
from homesync.store import files, manifest_spans
from homesync.store.db import Database, execute, fetchall
from tests.helpers import API, database_at, make_settings, schema_before
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import random_bytes, upload

CHUNK = 4096


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # Every range of a file in turn: many requests, none of them to be refused as too many.
    return make_settings(tmp_path / "data", uploads=SMALL_CHUNKS, storage={"disk_reserve": "0"},
                         auth={"api_requests_per_second": 0})


@pytest.fixture
async def forty_chunks(client, make_user, sign_in):
    """A file of 40 chunks of 4 KiB: (device, its bytes, its content URL, its version)."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(40 * CHUNK)
    done = await upload(client, dev.auth, data, name="big.bin")
    version = (await client.get(f"{API}/files/{done['fileId']}", headers=dev.auth)).json()
    return dev, data, f"{API}/files/{done['fileId']}/content", version["data"]["versionId"]


@pytest.fixture
def spans_read(monkeypatch):
    """How many chunk spans each download read from the manifest; reading the whole
    manifest fails."""
    counts: list[int] = []
    read = manifest_spans.fetchall

    async def counted(conn, sql, params=()):
        rows = await read(conn, sql, params)
        counts.append(len(rows))
        return rows

    async def whole(conn, version_id):
        raise AssertionError("the whole manifest was read")

    monkeypatch.setattr(manifest_spans, "fetchall", counted)
    monkeypatch.setattr(files, "manifest", whole)
    return counts


@pytest.mark.parametrize(("header", "first", "last", "chunks"), [
    ("bytes=65536-73727", 16 * CHUNK, 18 * CHUNK - 1, 2),  # chunks 16-17
    ("bytes=70000-70010", 70000, 70010, 1),  # inside chunk 17
    ("bytes=-5000", 40 * CHUNK - 5000, 40 * CHUNK - 1, 2),  # chunks 38-39, the last
    ("bytes=0-0", 0, 0, 1),
])
async def test_a_range_reads_only_its_chunks_from_the_manifest(client, forty_chunks, spans_read,
                                                               header, first, last, chunks):
    dev, data, url, _ = forty_chunks
    r = await client.get(url, headers={**dev.auth, "Range": header})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert r.content == data[first:last + 1]
    assert spans_read == [chunks]


async def test_the_whole_file_reads_each_row_once_without_the_whole_manifest(
        client, forty_chunks, spans_read):
    dev, data, url, _ = forty_chunks
    r = await client.get(url, headers=dev.auth)
    assert r.status_code == 200 and r.content == data
    assert spans_read == [40]


async def _commit_pieces(services, user_id: str, pieces: list[bytes],
                         name: str = "uneven.bin") -> str:
    """A file made of chunks of these (uneven) sizes, as no upload makes them: its id."""
    now = clock.now_ms()
    hashes = []
    for piece in pieces:
        writer = services.chunks.writer()
        await writer.write(piece)
        hashes.append(await writer.commit())
    content = b"".join(pieces)
    async with services.db.transaction() as tx:
        for chunk_hash, piece in zip(hashes, pieces, strict=True):
            await execute(tx, "INSERT OR IGNORE INTO chunks (hash, size, created_at)"
                              " VALUES (?, ?, ?)", (chunk_hash, len(piece), now))
        done = await files.commit_version(
            tx, user_id=user_id, file_id=None, folder="/", name=name,
            size=len(content), checksum="sha256:" + hashlib.sha256(content).hexdigest(),
            mime_type="application/octet-stream", metadata={}, modified_at=now,
            chunk_hashes=hashes, device_id=None, now=now)
    return done.file_id


async def test_chunks_of_uneven_sizes_give_every_range_exactly(client, services, make_user,
                                                               sign_in):
    # Sizes as only a hand-made manifest has them, one chunk used twice.
    sizes = [3, 5000, 1, 4096, 7, 1, 300]
    pieces = [random_bytes(n) for n in sizes]
    pieces.append(pieces[1])
    user_id = await make_user()
    dev = await sign_in()
    file_id = await _commit_pieces(services, user_id, pieces)
    data = b"".join(pieces)
    url = f"{API}/files/{file_id}/content"
    bounds = sorted({0, len(data) - 1} | {
        p + d for p in [sum(len(x) for x in pieces[:n]) for n in range(len(pieces))]
        for d in (-1, 0, 1) if 0 <= p + d < len(data)})
    for first in bounds:
        for last in bounds:
            if last < first:
                continue
            r = await client.get(url, headers={**dev.auth, "Range": f"bytes={first}-{last}"})
            assert r.status_code == 206, (first, last, r.text)
            assert r.content == data[first:last + 1], (first, last)
    r = await client.get(url, headers=dev.auth)
    assert r.status_code == 200 and r.content == data


async def test_a_range_costs_the_same_in_a_file_ten_times_longer(client, services, make_user,
                                                                sign_in, monkeypatch):
    """The rows of a range are found where they are (chunks of one size, as any upload
    has them), not by walking the manifest: the same range of a file of 20 chunks and of
    200 takes SQLite the same number of steps."""
    user_id = await make_user()
    dev = await sign_in()
    urls = []
    for n in (20, 200):
        file_id = await _commit_pieces(services, user_id,
                                       [random_bytes(CHUNK) for _ in range(n)], f"{n}.bin")
        urls.append(f"{API}/files/{file_id}/content")
    steps: list[int] = []
    read = manifest_spans.fetchall

    async def counted(conn, sql, params=()):
        count = 0

        def step() -> int:
            nonlocal count
            count += 1
            return 0  # go on

        await conn.set_progress_handler(step, 1)
        try:
            return await read(conn, sql, params)
        finally:
            await conn.set_progress_handler(None, 1)
            steps.append(count)

    monkeypatch.setattr(manifest_spans, "fetchall", counted)
    for url in urls:
        r = await client.get(url, headers={**dev.auth, "Range": "bytes=65536-73727"})
        assert r.status_code == 206 and len(r.content) == 2 * CHUNK
    assert len(steps) == 2 and steps[0] == steps[1], steps


@pytest.mark.parametrize("size_off_by", [1, -1])
@pytest.mark.parametrize("header", [None, "bytes=-100", "bytes=0-99"])
async def test_a_version_whose_chunks_do_not_add_up_to_its_size_is_damaged(
        client, services, forty_chunks, size_off_by, header):
    # Requests that need the last chunk are refused before the first byte (500). As with
    # a missing chunk, a range that does not need it is served: its bytes are right.
    dev, data, url, version_id = forty_chunks
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE file_versions SET size = size + ? WHERE id = ?",
                      (size_off_by, version_id))
        await execute(tx, "UPDATE files SET size = size + ? WHERE version_id = ?",
                      (size_off_by, version_id))
    r = await client.get(url, headers={**dev.auth, **({"Range": header} if header else {})})
    if header == "bytes=0-99":
        assert r.status_code == 206 and r.content == data[:100]
    else:
        assert r.status_code == 500, (r.status_code, len(r.content))
        assert "do not add up to its size" in r.json()["error"]["message"]


async def test_a_manifest_without_offsets_is_read_whole(client, services, forty_chunks):
    # Rows the migration could not fill (a chunk row missing) fall back to the old way.
    dev, data, url, version_id = forty_chunks
    async with services.db.transaction() as tx:
        await execute(tx, "UPDATE version_chunks SET byte_offset = NULL WHERE version_id = ?",
                      (version_id,))
    r = await client.get(url, headers={**dev.auth, "Range": "bytes=70000-80000"})
    assert r.status_code == 206 and r.content == data[70000:80001]


async def test_the_upgrade_fills_in_where_each_chunk_begins(tmp_path: Path) -> None:
    """Manifests written before the column get their offsets; a version with a chunk that
    has no chunks row (which the foreign key forbids) keeps none."""
    path = tmp_path / "db.sqlite3"
    conn = database_at(path, schema_before("_version_chunk_offsets.sql"))
    conn.executescript(
        "INSERT INTO users (id, email, name, password_hash, created_at, password_changed_at)"
        " VALUES ('user_1', 'a@example.com', 'A', 'x', 0, 0);"
        "INSERT INTO files (id, user_id, kind, folder, name, name_key, modified_at,"
        " created_at, created_seq, seq) VALUES ('file_1', 'user_1', 'file', '/', 'a', 'a',"
        " 0, 0, 1, 1);"
        "INSERT INTO chunks (hash, size, created_at) VALUES ('a', 10, 0), ('b', 3, 0),"
        " ('c', 7, 0);")
    for version, manifest in (("ver_1", "abca"), ("ver_2", "c"), ("ver_3", "axb")):
        conn.execute("INSERT INTO file_versions (id, file_id, user_id, size, checksum,"
                     " mime_type, modified_at, created_at) VALUES (?, 'file_1', 'user_1', 0,"
                     " 'x', 'x', 0, 0)", (version,))
        conn.executemany("INSERT INTO version_chunks (version_id, idx, chunk_hash)"
                         " VALUES (?, ?, ?)", [(version, i, h) for i, h in enumerate(manifest)])
    conn.close()
    db = await Database.open(path)
    try:
        rows = await fetchall(db.reader, "SELECT version_id, idx, byte_offset"
                                         " FROM version_chunks ORDER BY version_id, idx")
    finally:
        await db.close()
    assert [tuple(r) for r in rows] == [
        ("ver_1", 0, 0), ("ver_1", 1, 10), ("ver_1", 2, 13), ("ver_1", 3, 20),
        ("ver_2", 0, 0),
        ("ver_3", 0, None), ("ver_3", 1, None), ("ver_3", 2, None)]
