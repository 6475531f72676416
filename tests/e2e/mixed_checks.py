"""What the mixed crash test checks after each restart: the storage is sound, every
acknowledged version is there byte for byte, open uploads report the chunks that arrived,
and, at the end, gc leaves no chunk behind."""

from __future__ import annotations

import os
import sqlite3

from tests.e2e.mixed_phones import CHUNK, Device, Model
from tests.helpers import ServerProcess
from tests.uploads.flow import checksum as sha


def read_db(server: ServerProcess) -> sqlite3.Connection:
    """The server's database, read-only (the checks never change what they look at)."""
    return sqlite3.connect(f"file:{server.data_dir / 'homesync.sqlite3'}?mode=ro", uri=True)


def stored_content(server: ServerProcess, db: sqlite3.Connection, version_id: str) -> bytes:
    """A version's bytes read back from the chunk store by its manifest, not over HTTP."""
    chunks = [h for (h,) in db.execute(
        "SELECT chunk_hash FROM version_chunks WHERE version_id = ? ORDER BY idx", (version_id,))]
    root = server.data_dir / "chunks"
    return b"".join((root / h[:2] / h[2:4] / h).read_bytes() for h in chunks)


def check_storage(server: ServerProcess) -> None:
    """SQLite's integrity and foreign keys, the rows that must agree with each other, and
    ``homesync fsck``."""
    db = read_db(server)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute(
            "SELECT f.id FROM files f JOIN version_chunks vc ON vc.version_id = f.version_id"
            " JOIN chunks c ON c.hash = vc.chunk_hash GROUP BY f.id HAVING sum(c.size) != f.size"
        ).fetchall() == []
        # A file's row agrees with its current version.
        assert db.execute(
            "SELECT f.id FROM files f LEFT JOIN file_versions v ON v.id = f.version_id"
            " WHERE f.kind = 'file' AND f.purged_at IS NULL AND (v.id IS NULL"
            " OR v.file_id != f.id OR v.checksum != f.checksum OR v.size != f.size)"
        ).fetchall() == []
        # Every live entry is in a live folder (none is out of every listing's reach).
        assert db.execute(
            "SELECT f.id, f.folder FROM files f WHERE f.deleted_at IS NULL AND f.folder != '/'"
            " AND NOT EXISTS (SELECT 1 FROM files p WHERE p.user_id = f.user_id"
            " AND p.kind = 'folder' AND p.deleted_at IS NULL AND f.folder ="
            " (CASE p.folder WHEN '/' THEN '/' || p.name ELSE p.folder || '/' || p.name END))"
        ).fetchall() == []
        # The running counts agree with what they count.
        assert db.execute(
            "SELECT u.id, u.used_bytes FROM users u WHERE u.used_bytes !="
            " (SELECT coalesce(sum(v.size), 0) FROM file_versions v WHERE v.user_id = u.id)"
        ).fetchall() == []
        assert db.execute(
            "SELECT u.id FROM uploads u WHERE u.status IN ('pending', 'uploading', 'paused',"
            " 'failed') AND (u.received_chunks !="
            " (SELECT count(*) FROM upload_chunks c WHERE c.upload_id = u.id)"
            " OR u.received_bytes != (SELECT coalesce(sum(c.size), 0) FROM upload_chunks c"
            " WHERE c.upload_id = u.id))"
        ).fetchall() == []
    finally:
        db.close()
    fsck = server.cli("fsck")
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr


def check_files(server: ServerProcess, model: Model, dev: Device, blurred: set[str],
                purging: set[str]) -> None:
    """Everything acknowledged is there; ``blurred`` files may differ in what the requests
    in flight may or may not have done (their versions must still all be there, unless
    that request was emptying them out of the trash: ``purging``)."""
    db = read_db(server)
    try:
        with model.lock:
            entries = list(model.files.values())
        for e in entries:
            row = db.execute("SELECT folder, name, checksum, deleted_at, purged_at FROM files"
                             " WHERE id = ?", (e.id,)).fetchone()
            assert row is not None, f"{e} is gone"
            folder, name, checksum, deleted_at, purged_at = row
            versions: dict[str, str] = dict(db.execute(
                "SELECT checksum, id FROM file_versions WHERE file_id = ?", (e.id,)).fetchall())
            if e.id not in purging:
                for c in e.versions:  # byte-identical, read back by the manifest
                    assert c in versions, f"version {c} of {e} is gone"
                    assert sha(stored_content(server, db, versions[c])) == c, (e, c)
            if e.id in blurred:
                continue
            if e.state == "purged":
                assert purged_at is not None, e
                continue
            assert (deleted_at is not None, purged_at is not None) == (e.state == "trash", False), \
                (e, row)
            assert (folder, name, checksum) == (e.folder, e.name, e.current), (e, row)
            if e.state == "live":
                got = dev.call("GET", f"/files/{e.id}/content")
                assert got.content == model.blobs[e.current], e
    finally:
        db.close()


def check_uploads(model: Model, dev: Device) -> None:
    """``GET /upload/{id}`` reports the acknowledged chunks, and of the chunk PUTs in flight
    at the crash, those that it says arrived are whole (or the upload completed, if its
    complete was in flight)."""
    with model.lock:
        jobs = list(model.jobs.items())
    for upload_id, job in jobs:
        state = dev.data("GET", f"/upload/{upload_id}")
        if state["status"] == "completed":
            assert job.completing, (upload_id, state)
            continue
        if state["status"] == "cancelled":
            assert job.cancelling, (upload_id, state)
            continue
        reported = set(state["completedChunks"])
        assert job.acked <= reported <= job.acked | job.inflight, (upload_id, job.acked,
                                                                    job.inflight, reported)
        job.acked, job.inflight = reported, set()
        assert state["bytesUploaded"] == sum(
            min(CHUNK, len(job.data) - i * CHUNK) for i in reported), state


def check_no_leaked_chunks(server: ServerProcess) -> None:
    """After ``homesync gc --grace 0s`` with every upload closed, the chunk files on disk are
    exactly the chunks the remaining versions use."""
    db = read_db(server)
    try:
        used = {h for (h,) in db.execute("SELECT chunk_hash FROM version_chunks")}
        known = {h for (h,) in db.execute("SELECT hash FROM chunks")}
        open_chunks = db.execute("SELECT count(*) FROM upload_chunks").fetchone()[0]
    finally:
        db.close()
    on_disk = {p.name for p in (server.data_dir / "chunks").rglob("*") if p.is_file()}
    assert open_chunks == 0
    assert on_disk == used == known  # purged versions' chunks went; nothing else did
    assert os.listdir(server.data_dir / "tmp") == []
