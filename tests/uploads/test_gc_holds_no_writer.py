"""gc finds its work with a reader, so a round over a big store holds up no writer.

Inside a write transaction every other writer waits, and in the server the event loop
too (a transaction's statements run on it, see store.connections): a round that looked
for unreferenced chunks there read the whole chunk table (~15 s at a million chunks),
and one that forgot old upload sessions looked each one up in a scan of every upload
(~40 s at 20 000 uploads), every hour.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from homesync import clock
from homesync.services.container import Services
from homesync.store.db import fetchone
from tests.helpers import API
from tests.uploads.flow import file_entry, init, put_chunks, random_bytes

HOUR_MS = 3_600_000
_STEP = 100  # VM instructions between two calls of the progress handler


@contextmanager
def writer_steps(services: Services) -> Iterator[list[int]]:
    """Count the SQLite VM instructions the writer connection runs meanwhile (in
    hundreds): what gc does inside write transactions. Readers are not counted."""
    counted = [0]

    def tick() -> int:
        counted[0] += 1
        return 0  # go on

    raw = services.db._writer._conn  # the sqlite3 connection under aiosqlite
    raw.set_progress_handler(tick, _STEP)
    try:
        yield counted
    finally:
        raw.set_progress_handler(None, _STEP)


async def test_looking_for_unreferenced_chunks_happens_outside_the_write_transaction(
        client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    assert r.status_code == 200, r.text
    # Its two chunks are past the grace; a big store's 20 000 others are not.
    now = clock.now_ms()
    async with services.db.transaction() as tx:
        await tx.execute("UPDATE chunks SET created_at = ?", (now - 2 * HOUR_MS,))
        await tx.executemany("INSERT INTO chunks (hash, size, created_at) VALUES (?, ?, ?)",
                             [(f"{i:064x}", 1, now) for i in range(1, 20_001)])
    for chunk in [c async for c in services.chunks.list_chunks()]:
        os.utime(services.chunks.path_for(chunk.hash), (time.time() - 7200,) * 2)
    with writer_steps(services) as steps:
        report = await services.gc.collect(grace_ms=HOUR_MS)
    assert report.removed_chunks == 2
    row = await fetchone(services.db.reader, "SELECT count(*) FROM chunks")
    assert row[0] == 20_000
    # Deleting two chunks is a handful of statements; reading 20 000 rows is ~1 000 000
    # instructions (it was ~25 000 steps of 100 here).
    assert steps[0] * _STEP < 20_000, steps[0]


async def test_forgetting_old_upload_sessions_does_not_scan_every_upload(
        client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    day = 86_400_000
    now = clock.now_ms()
    sessions, rows = [], []
    # 2 000 uploads that ended 40 days ago (forgotten now), 3 000 that ended yesterday,
    # one init each.
    for i in range(5000):
        at = now - (40 if i < 2000 else 1) * day
        sessions.append((f"session_{i}", dev.user_id, dev.device_id, 0, 3, 4096, at))
        rows.append((f"upload_{i}", f"session_{i}", dev.user_id, dev.device_id, "l", "/",
                     f"n{i}", f"n{i}", 1, "x", "sha256:x", "normal", None, 4096, 1,
                     "completed", at, at, at, at))
    async with services.db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO upload_sessions (id, user_id, device_id, wifi_only, max_retries,"
            " chunk_size, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)", sessions)
        await tx.executemany(
            "INSERT INTO uploads (id, session_id, user_id, device_id, local_id, folder, name,"
            " name_key, size, mime_type, checksum, priority, target_file_id, chunk_size,"
            " total_chunks, status, created_at, updated_at, expires_at, finished_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    with writer_steps(services) as steps:
        report = await services.gc.collect()
    assert report.forgotten_uploads == 2000
    left = await fetchone(services.db.reader, "SELECT (SELECT count(*) FROM uploads),"
                                              " (SELECT count(*) FROM upload_sessions)")
    assert tuple(left) == (3000, 3000)
    # Each forgotten upload and session is a few index lookups (~300 000 instructions
    # in all here), not a scan of the 3 000 uploads left (~66 000 000).
    assert steps[0] * _STEP < 5_000_000, steps[0]


async def test_deleting_chunks_waits_for_no_fsync_per_chunk(
        client, services, make_user, sign_in, monkeypatch):
    """With storage.fsync on (the default), each chunk gc deleted was followed by an
    fsync of its directory, inside the write transaction: ~1.3 s per batch of 200 here,
    every other writer waiting. Not needed: a deletion a crash undoes leaves a chunk
    file without a row, which gc removes again as any such file."""
    await make_user()
    dev = await sign_in()
    data = random_bytes(40_960)  # 10 chunks
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    r = await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    assert r.status_code == 200, r.text
    monkeypatch.setattr(services.chunks, "fsync", True)
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = await services.gc.collect(grace_ms=0)
    assert report.removed_chunks == 10
    chunk_dir = str(services.chunks.chunk_dir)
    assert [p for p in synced if p.startswith(chunk_dir)] == []


@contextmanager
def longest_transaction(services: Services) -> Iterator[list[int]]:
    """The most SQLite VM instructions (in hundreds) one write transaction ran meanwhile:
    how long gc held the writer (and, in the server, the event loop) at a stretch."""
    longest, current = [0], [0]

    def statement(sql: str) -> None:
        if sql.startswith("BEGIN"):
            current[0] = 0

    def tick() -> int:
        current[0] += 1
        longest[0] = max(longest[0], current[0])
        return 0

    raw = services.db._writer._conn
    raw.set_trace_callback(statement)
    raw.set_progress_handler(tick, _STEP)
    try:
        yield longest
    finally:
        raw.set_progress_handler(None, _STEP)
        raw.set_trace_callback(None)


async def test_a_month_of_finished_uploads_is_forgotten_a_batch_at_a_time(
        client, services, make_user, sign_in):
    """The first gc round 30 days after a phone's first backup (its whole camera roll)
    forgets that many uploads: in one transaction it held the event loop ~2 s at 60 000
    (measured with bench-like rows on this box); now a thousand at a time."""
    await make_user()
    dev = await sign_in()
    at = clock.now_ms() - 40 * 86_400_000
    async with services.db.transaction() as tx:
        await tx.executemany(
            "INSERT INTO upload_sessions (id, user_id, device_id, wifi_only, max_retries,"
            " chunk_size, created_at) VALUES (?, ?, ?, 0, 3, 4096, ?)",
            [(f"session_{i}", dev.user_id, dev.device_id, at) for i in range(10_000)])
        await tx.executemany(
            "INSERT INTO uploads (id, session_id, user_id, device_id, local_id, folder, name,"
            " name_key, size, mime_type, checksum, priority, chunk_size, total_chunks, status,"
            " created_at, updated_at, expires_at, finished_at) VALUES (?, ?, ?, ?, 'l', '/',"
            " ?, ?, 1, 'x', 'sha256:x', 'normal', 4096, 1, 'completed', ?, ?, ?, ?)",
            [(f"upload_{i}", f"session_{i}", dev.user_id, dev.device_id, f"n{i}", f"n{i}",
              at, at, at, at) for i in range(10_000)])
    with longest_transaction(services) as longest:
        report = await services.gc.collect()
    assert report.forgotten_uploads == 10_000
    left = await fetchone(services.db.reader, "SELECT (SELECT count(*) FROM uploads),"
                                              " (SELECT count(*) FROM upload_sessions)")
    assert tuple(left) == (0, 0)
    # ~160 000 instructions a batch; all at once, one transaction took ~1 400 000 here.
    assert longest[0] * _STEP < 500_000, longest[0]
