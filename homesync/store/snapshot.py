"""Database snapshots for backups, and the questions a backup asks of one.

A snapshot is taken with SQLite's online backup API in a single step, which holds one
read transaction on the live database for the whole copy: the copy is the database as of
one commit, while the server keeps writing to its WAL (reliability row B1). The copy is
then switched to ``journal_mode=DELETE`` so it is one self-contained file.

These functions are blocking (plain ``sqlite3``) and are meant to run in a worker thread:
a snapshot file is not the live database and never goes through ``Database``.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import msgspec

__all__ = [
    "ChunkRef",
    "SnapshotCounts",
    "files_using_chunks",
    "integrity_problems",
    "open_readonly",
    "referenced_chunks",
    "schema_version",
    "snapshot_counts",
    "take_snapshot",
]

# Chunks a snapshot needs: every chunk of every stored version (current, old versions,
# trash) and every chunk already received for an unfinished upload, so that an upload in
# flight at backup time can resume after a restore instead of failing at `complete`.
_REFERENCED = """
    SELECT c.hash, c.size FROM chunks c
    WHERE c.hash IN (SELECT chunk_hash FROM version_chunks {uploads})
    ORDER BY c.hash
"""


class ChunkRef(msgspec.Struct, frozen=True):
    hash: str
    size: int


class SnapshotCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What a snapshot holds, for its manifest and for ``homesync status``."""

    schema_version: int
    users: int
    files: int
    versions: int
    journal_seq: int


@contextmanager
def open_readonly(path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a database file (a snapshot, or the live one)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=10000")
        yield conn
    finally:
        conn.close()


def take_snapshot(live_db: Path, target: Path, *, fsync: bool) -> None:
    """Copy the live database at ``live_db`` to a new file ``target``, consistently."""
    with open_readonly(live_db) as source, closing(sqlite3.connect(target)) as copy:
        # pages=-1: the whole database in one step, under one read transaction.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
        copy.commit()
    if fsync:
        with open(target, "rb") as fh:
            os.fsync(fh.fileno())


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                       (name,)).fetchone()
    return row is not None


def referenced_chunks(snapshot: Path) -> list[ChunkRef]:
    """Every chunk the snapshot's database refers to, sorted by hash."""
    with open_readonly(snapshot) as conn:
        # Snapshots taken before the uploads schema existed have no upload_chunks table.
        uploads = ("UNION SELECT chunk_hash FROM upload_chunks"
                   if _has_table(conn, "upload_chunks") else "")
        rows = conn.execute(_REFERENCED.format(uploads=uploads)).fetchall()
    return [ChunkRef(str(h), int(s)) for h, s in rows]


def schema_version(snapshot: Path) -> int:
    """The migration the snapshot's database was last brought to (``PRAGMA user_version``)."""
    with open_readonly(snapshot) as conn:
        row = conn.execute("PRAGMA user_version").fetchone()
    return int(row[0]) if row else 0


def snapshot_counts(snapshot: Path) -> SnapshotCounts:
    with open_readonly(snapshot) as conn:
        def one(sql: str) -> int:
            row = conn.execute(sql).fetchone()
            return int(row[0] or 0) if row else 0

        return SnapshotCounts(
            schema_version=one("PRAGMA user_version"),
            users=one("SELECT count(*) FROM users"),
            files=one("SELECT count(*) FROM files WHERE kind = 'file' AND deleted_at IS NULL"),
            versions=one("SELECT count(*) FROM file_versions"),
            journal_seq=one("SELECT max(seq) FROM journal"),
        )


def integrity_problems(path: Path) -> list[str]:
    """SQLite's own integrity and foreign-key checks; empty when the database is sound."""
    try:
        with open_readonly(path) as conn:
            problems = [str(r[0]) for r in conn.execute("PRAGMA integrity_check").fetchall()
                        if r[0] != "ok"]
            for table, rowid, parent, _fk in conn.execute("PRAGMA foreign_key_check"):
                problems.append(f"{table} row {rowid} refers to a missing {parent} row")
    except sqlite3.DatabaseError as exc:
        return [f"not a readable SQLite database: {exc}"]
    return problems


def files_using_chunks(snapshot: Path, hashes: Iterable[str]) -> dict[str, list[str]]:
    """For each chunk hash, the files whose stored versions use it (``email:/folder/name``)."""
    wanted = sorted(set(hashes))
    found: dict[str, list[str]] = {h: [] for h in wanted}
    if not wanted:
        return found
    with open_readonly(snapshot) as conn:
        for start in range(0, len(wanted), 500):
            batch = wanted[start:start + 500]
            marks = ",".join("?" * len(batch))
            rows = conn.execute(
                "SELECT DISTINCT vc.chunk_hash, u.email, f.folder, f.name"
                " FROM version_chunks vc"
                " JOIN file_versions v ON v.id = vc.version_id"
                " JOIN files f ON f.id = v.file_id"
                " JOIN users u ON u.id = f.user_id"
                f" WHERE vc.chunk_hash IN ({marks})"
                " ORDER BY u.email, f.folder, f.name", batch,
            ).fetchall()
            for chunk_hash, email, folder, name in rows:
                path = folder.rstrip("/") + "/" + name
                found[chunk_hash].append(f"{email}:{path}")
    return found
