"""Expiry and gc (services), and the ``homesync gc`` / ``homesync fsck`` commands."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from homesync import clock
from homesync.cli import app
from homesync.services.container import Services
from homesync.services.maintenance.gc import GcReport
from homesync.services.uploads.types import FileRequest, UploadOptions
from homesync.store import chunk_index
from homesync.store.backup_lock import gc_lock, hold_for_backup
from homesync.store.db import fetchall, fetchone
from tests.helpers import API, PASSWORD, make_settings
from tests.uploads.conftest import SMALL_CHUNKS
from tests.uploads.flow import file_entry, init, put_chunks, random_bytes, upload

HOUR = 3600


def age(path: Path, seconds: float) -> None:
    """Pretend a chunk file was written ``seconds`` ago."""
    t = time.time() - seconds
    os.utime(path, (t, t))


async def test_expired_upload_chunks_collected_after_grace(client, services, make_user, sign_in):
    uid = await make_user()
    dev = await sign_in()
    kept = random_bytes(6000)
    done = await upload(client, dev.auth, kept, name="kept.jpg")
    data = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth, only=[0, 1])
    assert len([c async for c in services.chunks.list_chunks()]) == 4
    start = clock.now()
    clock.set_now(lambda: start + 25 * HOUR)
    report = await services.gc.collect()
    assert report.expired_uploads == 1 and report.removed_chunks == 0  # still inside the grace
    row = await fetchone(services.db.reader, "SELECT status FROM uploads WHERE id = ?",
                         (item["uploadId"],))
    assert row[0] == "expired"
    events = await fetchall(services.db.reader, "SELECT kind FROM notifications WHERE user_id = ?"
                            " AND category = 'uploads' ORDER BY created_at", (uid,))
    assert [e[0] for e in events] == ["upload_completed", "upload_expired"]
    clock.set_now(lambda: start + 49 * HOUR)
    for chunk in [c async for c in services.chunks.list_chunks()]:
        age(services.chunks.path_for(chunk.hash), 49 * HOUR)
    report = await services.gc.collect()
    assert report.removed_chunks == 2 and report.freed_bytes == 8192
    remaining = [c.hash async for c in services.chunks.list_chunks()]
    assert len(remaining) == 2
    clock.set_now(None)
    dev = await sign_in()
    got = await client.get(f"{API}/files/{done['fileId']}/content", headers=dev.auth)
    assert got.content == kept


async def test_an_upload_reported_failed_is_not_announced_again_when_it_expires(
        client, services, make_user, sign_in):
    """The app said it failed (and its device was told "Upload failed"): its expiry later
    is no news, while an upload left unfinished without a word is announced as expired."""
    uid = await make_user()
    dev = await sign_in()
    failed, idle = random_bytes(9000), random_bytes(7000)
    entries = (await init(client, dev.auth, file_entry(failed, name="failed.jpg", local_id="l1"),
                          file_entry(idle, name="idle.jpg", local_id="l2"))).json()["data"]["files"]
    r = await client.post(f"{API}/upload/progress", headers=dev.auth, json={
        "uploadId": entries[0]["uploadId"], "completedChunks": [], "bytesUploaded": 0,
        "status": "failed"})
    assert r.status_code == 200, r.text
    start = clock.now()
    clock.set_now(lambda: start + 25 * HOUR)
    try:
        assert (await services.gc.collect()).expired_uploads == 2
    finally:
        clock.set_now(None)
    events = await fetchall(services.db.reader, "SELECT kind, data FROM notifications"
                            " WHERE user_id = ? AND category = 'uploads' ORDER BY created_at",
                            (uid,))
    assert [(e[0], json.loads(e[1])["uploadId"]) for e in events] == [
        ("upload_failed", entries[0]["uploadId"]), ("upload_expired", entries[1]["uploadId"])]


async def test_orphans_temp_and_fresh_chunks(services):
    store = services.chunks
    old = store.writer()
    await old.write(b"written, renamed, then the process died before the commit")
    orphan = await old.commit()
    age(store.path_for(orphan), 49 * HOUR)
    fresh = store.writer()
    await fresh.write(b"written a second ago")
    fresh_hash = await fresh.commit()
    async with services.db.transaction() as tx:  # its upload committed: the database knows
        await chunk_index.add(tx, fresh_hash, 20, clock.now_ms())  # chunks (unknownKept)
    dead = store.writer()
    await dead.write(b"a writer that died")
    os.close(dead._fd)  # type: ignore[attr-defined]
    dead._fd = None  # type: ignore[attr-defined]
    report = await services.gc.collect()
    assert (report.orphan_files, report.removed_temp) == (1, 1)
    assert not await store.exists(orphan) and await store.exists(fresh_hash)
    assert os.listdir(store.tmp_dir) == []


async def test_gc_leaves_chunks_alone_during_a_backup(client, services, make_user, sign_in):
    await make_user()
    dev = await sign_in()
    data = random_bytes(5000)
    item = (await init(client, dev.auth, file_entry(data))).json()["data"]["files"][0]
    await put_chunks(client, item, data, dev.auth)
    await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    with hold_for_backup(services.settings.data_path):
        report = await services.gc.collect(grace_ms=0)
    assert report.backup_running and report.removed_chunks == 0
    report = await services.gc.collect(grace_ms=0)
    assert report.removed_chunks == 2
    assert await fetchone(services.db.reader, "SELECT 1 FROM chunks") is None


async def test_gc_killed_before_its_commit_leaves_no_damage(client, services, make_user,
                                                            sign_in, monkeypatch):
    """gc deletes an unused chunk's bytes, then dies before its commit (kill -9 of the
    server or of `homesync gc`): the row stays without bytes. Nothing uses it, so fsck
    must not call it damage (it did: exit 1, "restore from a backup"); the next gc forgets
    it. A missing chunk that something uses is still damage."""
    await make_user()
    dev = await sign_in()
    kept = random_bytes(5000)
    await upload(client, dev.auth, kept, name="kept.jpg")
    dropped = random_bytes(9000)
    item = (await init(client, dev.auth, file_entry(dropped))).json()["data"]["files"][0]
    await put_chunks(client, item, dropped, dev.auth)
    await client.delete(f"{API}/upload/{item['uploadId']}", headers=dev.auth)
    parked = random_bytes(4096)
    open_item = (await init(client, dev.auth, file_entry(parked, name="parked.jpg"))
                 ).json()["data"]["files"][0]
    await put_chunks(client, open_item, parked, dev.auth)

    def killed(tx, chunk_hash):  # the bytes are gone; the process dies before the commit
        raise RuntimeError("killed")

    monkeypatch.setattr(chunk_index, "delete", killed)
    with pytest.raises(RuntimeError, match="killed"):
        await services.gc.collect(grace_ms=0)
    monkeypatch.undo()
    rows = {r[0] for r in await fetchall(services.db.reader, "SELECT hash FROM chunks")}
    lost = [h for h in rows if not await services.chunks.exists(h)]
    assert len(lost) == 1 and not await chunk_index.is_referenced(services.db.reader, lost[0])

    report = await services.fsck.run()
    assert report.ok and report.damaged == [] and report.unused_missing == 1

    # The bytes of the open upload's chunk go missing: that is damage.
    [(in_use,)] = await fetchall(services.db.reader, "SELECT chunk_hash FROM upload_chunks")
    services.chunks.path_for(in_use).unlink()
    report = await services.fsck.run()
    assert not report.ok and [d.hash for d in report.damaged] == [in_use]
    assert report.damaged[0].problem == "missing"

    gc = await services.gc.collect(grace_ms=0)
    assert gc.removed_chunks == 2  # the rest of the dropped upload's chunks
    assert lost[0] not in {r[0] for r in await fetchall(services.db.reader,
                                                        "SELECT hash FROM chunks")}
    assert (await services.fsck.run()).unused_missing == 0


# -- the commands ----------------------------------------------------------------------


def run_cli(data_dir: Path, *args: str):
    env = {"HOMESYNC_STORAGE_FSYNC": "false", "HOMESYNC_UPLOADS_MIN_CHUNK_SIZE": "4KiB",
           "HOMESYNC_UPLOADS_DEFAULT_CHUNK_SIZE": "4KiB"}
    return CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)], env=env,
                              catch_exceptions=False)


def store_a_file(data_dir: Path, data: bytes) -> list[str]:
    """Upload through the service layer; the chunk hashes of the file."""
    settings = make_settings(data_dir, uploads=SMALL_CHUNKS)

    async def go() -> list[str]:
        services = await Services.open(settings)
        try:
            user = await services.accounts.create_user("alice@example.com", PASSWORD)
            async with services.db.transaction() as tx:
                await tx.execute("INSERT INTO devices (id, user_id, client_id, name, platform,"
                                 " model, os_version, app_version, registered_at, last_active_at)"
                                 " VALUES ('device_x', ?, 'c', 'd', 'android', 'm', '1', '1', 0, 0)",
                                 (user.id,))
            entry = file_entry(data, name="holiday.jpg")
            result = await services.uploads.init(
                user_id=user.id, device_id="device_x",
                requests=[FileRequest(local_id="l", name=entry["name"], folder=entry["folder"],
                                      size=len(data), checksum=entry["checksum"])],
                options=UploadOptions(chunk_size=4096))
            state = result.entries[0].upload
            assert state is not None
            for span in state.spans():
                target = await services.uploads.receiver.chunk_target(state.id, span.index,
                                                             user_id=user.id)

                async def body(s=span):
                    yield data[s.start:s.end + 1]

                await services.uploads.receiver.receive_chunk(target, body())
            await services.uploads.complete(user_id=user.id, device_id="device_x",
                                            upload_id=state.id, checksum=entry["checksum"],
                                            metadata={})
            rows = await fetchall(services.db.reader, "SELECT chunk_hash FROM version_chunks"
                                  " ORDER BY idx")
            return [r[0] for r in rows]
        finally:
            await services.close()

    return asyncio.run(go())


def test_fsck_reports_damage_and_the_files_it_touches(tmp_path: Path):
    data_dir = tmp_path / "data"
    hashes = store_a_file(data_dir, random_bytes(10_000))
    result = run_cli(data_dir, "fsck")
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout
    victim = data_dir / "chunks" / hashes[1][:2] / hashes[1][2:4] / hashes[1]
    damaged = bytearray(victim.read_bytes())
    damaged[10] ^= 0xFF
    victim.write_bytes(bytes(damaged))
    result = run_cli(data_dir, "fsck")
    assert result.exit_code == 1
    assert hashes[1] in result.output and "alice@example.com:/photos/holiday.jpg" in result.output
    report = json.loads(run_cli(data_dir, "fsck", "--json").stdout)
    assert report["ok"] is False and report["checkedChunks"] == 3
    assert report["damaged"][0]["hash"] == hashes[1]
    (data_dir / "chunks" / hashes[2][:2] / hashes[2][2:4] / hashes[2]).unlink()
    report = json.loads(run_cli(data_dir, "fsck", "--json").stdout)
    assert sorted(d["problem"] for d in report["damaged"]) == [
        "content does not match its hash", "missing"]


def test_gc_command_summary_and_json(tmp_path: Path):
    data_dir = tmp_path / "data"
    store_a_file(data_dir, random_bytes(9000))
    stray = data_dir / "chunks" / "ab" / "cd"
    stray.mkdir(parents=True)
    (stray / ("abcd" + "0" * 60)).write_bytes(b"left by a crash")
    result = run_cli(data_dir, "gc")
    assert result.exit_code == 0, result.output
    assert "Unreferenced chunks removed" in result.stdout
    out = json.loads(run_cli(data_dir, "gc", "--grace", "0s", "--json").stdout)
    assert out["orphanFiles"] == 1 and out["removedChunks"] == 0
    assert run_cli(data_dir, "fsck").exit_code == 0
    assert run_cli(data_dir, "gc", "--grace", "soon").exit_code == 2


async def test_a_gc_interval_of_0_switches_the_background_gc_off(tmp_path: Path, monkeypatch):
    """``gc_interval = "0s"`` reads as "off" (``homesync gc`` by hand), as 0 does for the
    trash and history retentions: it ran gc rounds back to back, without a pause, for as
    long as the server ran."""
    svc = await Services.open(make_settings(tmp_path / "data", uploads={"gc_interval": "0s"}))
    rounds = 0

    async def counted(**kw):
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            raise asyncio.CancelledError  # what stopping the server does
        return GcReport()

    try:
        monkeypatch.setattr(svc.gc, "collect", counted)
        await svc.gc.run_forever()  # returns at once: nothing to run
    finally:
        await svc.close()
    assert rounds == 0


async def test_a_gc_round_deleting_is_not_taken_for_a_backup(services):
    """While a gc round deletes chunks (the server's, or `homesync gc` in another process)
    it holds the backup lock exclusively. That is no backup: `homesync status` and the
    backup_running gauge said one ran for as long as the round took, and another gc round
    meanwhile reported 'a backup is running'. A real backup still reads as one."""
    data = services.settings.data_path
    with gc_lock(data):  # a round that may delete, deleting
        assert not (await services.status.report()).backup_running
        report = await services.gc.collect(grace_ms=0)
        assert not report.backup_running and report.other_gc_running
    with hold_for_backup(data):
        assert (await services.status.report()).backup_running
        assert (await services.gc.collect(grace_ms=0)).backup_running
